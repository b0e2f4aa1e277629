package io.inferex.local.load;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Iterator;
import java.util.List;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reads a scenario file. Every error names the file, the key and why; an unknown key is an error
 * (a typo must not silently fall back to a default), and so is a feature the runner does not
 * support yet (an external cluster from the file): the run
 * is refused rather than measured without it.
 */
public final class ScenarioParser {
    /** A scenario file that cannot be run as written. */
    public static final class ScenarioException extends RuntimeException {
        public ScenarioException(String message) {
            super(message);
        }
    }

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Pattern DURATION = Pattern.compile("(\\d+(?:\\.\\d+)?)(ms|s|m|h)");
    private static final Set<String> TOP = Set.of("name", "description", "duration", "customers", "arrival", "batch-rows",
            "fleet", "adversary-fraction", "cheaters", "drain-timeout", "challenge-window", "sampling-new-node-p", "slo", "churn", "faults", "real-executors", "unsupported");
    /** Keys a scenario may name that this runner refuses, with why. */
    private static final Map<String, String> NOT_YET = Map.of(
            "unsupported", "the scenario itself says it needs runner features that do not exist yet");

    private final String file;

    private ScenarioParser(String file) {
        this.file = file;
    }

    public static Scenario parse(Path path) {
        String text;
        try {
            text = Files.readString(path);
        } catch (IOException e) {
            throw new ScenarioException(path + ": cannot read: " + e.getMessage());
        }
        return parse(path.toString(), text);
    }

    public static Scenario parse(String fileName, String yaml) {
        return new ScenarioParser(fileName).read(yaml);
    }

    private Scenario read(String yaml) {
        JsonNode root;
        try {
            root = YAML.readTree(yaml);
        } catch (IOException e) {
            throw fail("", "not valid YAML: " + e.getMessage().lines().findFirst().orElse(""));
        }
        if (root == null || !root.isObject()) {
            throw fail("", "must be a YAML mapping");
        }
        keys(root, "", TOP);
        for (var e : NOT_YET.entrySet()) {
            JsonNode n = root.get(e.getKey());
            if (n != null && !isOff(n)) {
                throw fail(e.getKey(), e.getValue() + " (" + n + ")");
            }
        }
        String name = text(root, "name");
        Duration duration = duration(root, "duration");
        int customers = intIn(root, "customers", 1, 10_000);
        Scenario.Arrival arrival = arrival(required(root, "arrival", "arrival"));
        Scenario.Distribution rows = distribution(required(root, "batch-rows", "batch-rows"), "batch-rows", 1, 50_000);
        Scenario.Fleet fleet = fleet(required(root, "fleet", "fleet"));
        double adversary = root.has("adversary-fraction") ? number(root.get("adversary-fraction"), "adversary-fraction", 0, 0.9) : 0;
        Duration drain = root.has("drain-timeout") ? duration(root, "drain-timeout") : Duration.ofSeconds(60);
        Duration window = root.has("challenge-window") ? duration(root, "challenge-window") : Scenario.DEFAULT_CHALLENGE_WINDOW;
        if (window.isZero()) {
            throw fail("challenge-window", "must be positive");
        }
        Map<String, Double> slos = slos(root.get("slo"));
        List<Scenario.Cheater> cheaters = cheaters(root.get("cheaters"));
        Double newNodeP = root.has("sampling-new-node-p")
                ? number(root.get("sampling-new-node-p"), "sampling-new-node-p", 0.015, 1.0) : null;
        Scenario.Churn churn = churn(root.get("churn"), duration);
        List<Scenario.Fault> faults = faults(root.get("faults"), duration);
        Scenario.RealExecutors real = realExecutors(root.get("real-executors"));
        return new Scenario(name, duration, customers, arrival, rows, fleet, adversary, drain, slos, window, cheaters, newNodeP,
                churn, faults, real);
    }

    /** {@code real-executors: {nodes: N, batch-fraction: F}}: 2–8 nodes (a sampled result needs another node to re-run it). */
    private Scenario.RealExecutors realExecutors(JsonNode n) {
        if (n == null || isOff(n)) {
            return null;
        }
        if (!n.isObject()) {
            throw fail("real-executors", "must be {nodes: N, batch-fraction: F}");
        }
        keys(n, "real-executors", Set.of("nodes", "batch-fraction"));
        int nodes = intIn(n, "nodes", "real-executors.nodes", 2, 8);
        double fraction = number(n.get("batch-fraction"), "real-executors.batch-fraction", 0.01, 1.0);
        return new Scenario.RealExecutors(nodes, fraction);
    }

    private Scenario.Churn churn(JsonNode n, Duration runFor) {
        if (n == null || isOff(n)) {
            return null;
        }
        keys(n, "churn", Set.of("vanish-fraction", "at", "back-at"));
        double fraction = number(n.get("vanish-fraction"), "churn.vanish-fraction", 0.01, 0.9);
        Duration at = duration(n, "at", "churn.at");
        Duration back = duration(n, "back-at", "churn.back-at");
        if (back.compareTo(at) <= 0) {
            throw fail("churn.back-at", "must be after churn.at");
        }
        if (at.compareTo(runFor) >= 0) {
            throw fail("churn.at", "must fall within the duration (" + runFor.toSeconds() + " s)");
        }
        return new Scenario.Churn(fraction, at, back);
    }

    private static final String FAULT_FORMS = "{kill: TARGET, at: DURATION} or {network: SERVICE, at: DURATION, for: DURATION,"
            + " latency-ms: N [, jitter-ms: N, direction: D] | drop: true | blackhole: true}";

    private List<Scenario.Fault> faults(JsonNode n, Duration runFor) {
        if (n == null || isOff(n)) {
            return List.of();
        }
        if (!n.isArray()) {
            throw fail("faults", "must be a list of " + FAULT_FORMS);
        }
        List<Scenario.Fault> out = new java.util.ArrayList<>();
        for (int i = 0; i < n.size(); i++) {
            String key = "faults[" + i + "]";
            JsonNode f = n.get(i);
            if (!f.isObject()) {
                throw fail(key, "must be " + FAULT_FORMS);
            }
            if (f.has("network") && f.has("kill")) {
                throw fail(key, "a fault is a kill or a network fault, not both");
            }
            if (f.has("network")) {
                Scenario.Fault fault = network(f, key, runFor);
                for (int j = 0; j < out.size(); j++) {
                    Scenario.Fault o = out.get(j);
                    if (o.network() != null && o.target().equals(fault.target()) && fault.at().compareTo(o.end()) < 0
                            && o.at().compareTo(fault.end()) < 0) {
                        throw fail(key, "overlaps faults[" + j + "] on " + fault.target()
                                + "'s link: one network fault per link at a time (the end of one restores the link)");
                    }
                }
                out.add(fault);
                continue;
            }
            keys(f, key, Set.of("kill", "at"));
            String target = text(f, key + ".kill", "kill");
            if (!Scenario.KILL_TARGETS.contains(target)) {
                throw fail(key + ".kill", "'" + target + "' is not one of " + Scenario.KILL_TARGETS);
            }
            Duration at = duration(f, "at", key + ".at");
            if (at.compareTo(runFor) >= 0) {
                throw fail(key + ".at", "must fall within the duration (" + runFor.toSeconds() + " s)");
            }
            out.add(new Scenario.Fault("kill", target, at));
        }
        return List.copyOf(out);
    }

    /** {@code {network: SERVICE, at, for, latency-ms [, jitter-ms, direction] | drop: true | blackhole: true}}. */
    private Scenario.Fault network(JsonNode f, String key, Duration runFor) {
        keys(f, key, Set.of("network", "at", "for", "latency-ms", "jitter-ms", "direction", "drop", "blackhole"));
        String target = text(f, key + ".network", "network");
        if (!Scenario.NETWORK_TARGETS.contains(target)) {
            throw fail(key + ".network", "'" + target + "' is not one of " + Scenario.NETWORK_TARGETS
                    + " (the link between that service, or the simulated fleet, and the broker; the broker itself: use kill)");
        }
        Duration at = duration(f, "at", key + ".at");
        Duration lasting = duration(f, "for", key + ".for");
        if (at.plus(lasting).compareTo(runFor) >= 0) {
            throw fail(key + ".for", "the fault must end within the duration (" + runFor.toSeconds()
                    + " s), so the time to progress after it is measured under load; it ends at " + at.plus(lasting).toMillis() / 1000.0 + " s");
        }
        List<String> modes = new java.util.ArrayList<>();
        for (String m : List.of("latency-ms", "drop", "blackhole")) {
            if (f.has(m)) {
                modes.add(m);
            }
        }
        if (modes.size() != 1) {
            throw fail(key, "needs exactly one of latency-ms, drop: true, blackhole: true (has " + (modes.isEmpty() ? "none" : modes) + ")");
        }
        String mode = modes.get(0);
        if (!mode.equals("latency-ms")) {
            for (String latencyOnly : List.of("jitter-ms", "direction")) {
                if (f.has(latencyOnly)) {
                    throw fail(key + "." + latencyOnly, "applies to latency-ms only, not to " + mode);
                }
            }
            JsonNode on = f.get(mode);
            if (!on.isBoolean() || !on.asBoolean()) {
                throw fail(key + "." + mode, "must be true (leave the fault out to have none), was '" + on.asText() + "'");
            }
            return new Scenario.Fault("network", target, at, lasting, Scenario.Network.of(mode));
        }
        long latency = intIn(f, "latency-ms", key + ".latency-ms", 1, 60_000);
        long jitter = f.has("jitter-ms") ? intIn(f, "jitter-ms", key + ".jitter-ms", 0, 60_000) : 0;
        String direction = f.has("direction") ? text(f, key + ".direction", "direction") : "both";
        if (!Scenario.DIRECTIONS.contains(direction)) {
            throw fail(key + ".direction", "'" + direction + "' is not one of " + Scenario.DIRECTIONS);
        }
        return new Scenario.Fault("network", target, at, lasting, Scenario.Network.latency(latency, jitter, direction));
    }

    private static boolean isOff(JsonNode n) {
        return n.isNull() || (n.isBoolean() && !n.asBoolean()) || (n.isNumber() && n.asDouble() == 0)
                || (n.isTextual() && n.asText().equals("none"));
    }

    private Scenario.Arrival arrival(JsonNode n) {
        keys(n, "arrival", Set.of("process", "batches-per-second", "every", "batches"));
        String process = text(n, "arrival.process", "process");
        return switch (process) {
            case "constant", "poisson" -> new Scenario.Arrival(process,
                    number(required(n, "batches-per-second", "arrival.batches-per-second"), "arrival.batches-per-second", 0.001, 10_000),
                    null, 1);
            case "burst" -> new Scenario.Arrival(process, 0, duration(n, "every", "arrival.every"),
                    intIn(n, "batches", "arrival.batches", 1, 100_000));
            default -> throw fail("arrival.process", "'" + process + "' is not one of constant, poisson, burst");
        };
    }

    private Scenario.Fleet fleet(JsonNode n) {
        keys(n, "fleet", Set.of("nodes", "principals", "slots", "ms-per-row", "price-per-row-micros"));
        int nodes = intIn(n, "nodes", "fleet.nodes", 1, 5_000);
        int principals = n.has("principals") ? intIn(n, "principals", "fleet.principals", 1, 64) : 1;
        if (principals > nodes) {
            throw fail("fleet.principals", principals + " principals for " + nodes + " nodes: at most one principal per node");
        }
        int slots = intIn(n, "slots", "fleet.slots", 1, 64);
        Scenario.Distribution speed = n.has("ms-per-row") ? distribution(n.get("ms-per-row"), "fleet.ms-per-row", 0, 60_000)
                : Scenario.Distribution.constant(0);
        Scenario.Distribution price = distribution(required(n, "price-per-row-micros", "fleet.price-per-row-micros"),
                "fleet.price-per-row-micros", 0, 1_000_000);
        return new Scenario.Fleet(nodes, principals, slots, speed, price);
    }

    /** A number (constant) or {@code {constant|uniform: [min, max]|exponential: {mean, max}}}. */
    private Scenario.Distribution distribution(JsonNode n, String key, double lo, double hi) {
        if (n.isNumber()) {
            return Scenario.Distribution.constant(number(n, key, lo, hi));
        }
        if (!n.isObject() || n.size() != 1) {
            throw fail(key, "must be a number or one of {constant: N}, {uniform: [MIN, MAX]}, {exponential: {mean: M, max: X}}");
        }
        String kind = n.fieldNames().next();
        JsonNode v = n.get(kind);
        switch (kind) {
            case "constant":
                return Scenario.Distribution.constant(number(v, key + ".constant", lo, hi));
            case "uniform":
                if (!v.isArray() || v.size() != 2) {
                    throw fail(key + ".uniform", "must be [MIN, MAX]");
                }
                double min = number(v.get(0), key + ".uniform[0]", lo, hi);
                double max = number(v.get(1), key + ".uniform[1]", lo, hi);
                if (max < min) {
                    throw fail(key + ".uniform", "MAX " + max + " is below MIN " + min);
                }
                return new Scenario.Distribution("uniform", min, max, (min + max) / 2);
            case "exponential":
                keys(v, key + ".exponential", Set.of("mean", "max"));
                double mean = number(required(v, "mean", key + ".exponential.mean"), key + ".exponential.mean", lo, hi);
                double cap = v.has("max") ? number(v.get("max"), key + ".exponential.max", mean, hi) : hi;
                return new Scenario.Distribution("exponential", lo, cap, mean);
            default:
                throw fail(key, "'" + kind + "' is not one of constant, uniform, exponential");
        }
    }

    private Map<String, Double> slos(JsonNode n) {
        Map<String, Double> slos = new LinkedHashMap<>();
        if (n == null) {
            return slos;
        }
        if (!n.isObject()) {
            throw fail("slo", "must be a mapping of <stage>.<percentile>: milliseconds");
        }
        for (Iterator<String> it = n.fieldNames(); it.hasNext();) {
            String k = it.next();
            int dot = k.lastIndexOf('.');
            String stage = dot < 0 ? k : k.substring(0, dot);
            String pct = dot < 0 ? "" : k.substring(dot + 1);
            boolean ok = k.equals("min-paid-shards-per-s")
                    || (Scenario.STAGES.contains(stage) && Scenario.PERCENTILES.contains(pct));
            if (!ok) {
                throw fail("slo." + k, "not a known objective: use <stage>.<percentile> (stages " + Scenario.STAGES
                        + ", percentiles " + Scenario.PERCENTILES + ") or min-paid-shards-per-s");
            }
            slos.put(k, number(n.get(k), "slo." + k, 0, 1e9));
        }
        return slos;
    }

    private void keys(JsonNode n, String where, Set<String> allowed) {
        if (!n.isObject()) {
            throw fail(where, "must be a mapping");
        }
        for (Iterator<String> it = n.fieldNames(); it.hasNext();) {
            String k = it.next();
            if (!allowed.contains(k)) {
                throw fail(where.isEmpty() ? k : where + "." + k, "unknown key (known: " + new java.util.TreeSet<>(allowed) + ")");
            }
        }
    }

    private JsonNode required(JsonNode n, String field, String key) {
        JsonNode v = n.get(field);
        if (v == null || v.isNull()) {
            throw fail(key, "is required");
        }
        return v;
    }

    private String text(JsonNode n, String key) {
        return text(n, key, key);
    }

    private String text(JsonNode n, String key, String field) {
        JsonNode v = required(n, field, key);
        if (!v.isTextual() || v.asText().isBlank()) {
            throw fail(key, "must be a non-empty string");
        }
        return v.asText();
    }

    private Duration duration(JsonNode n, String key) {
        return duration(n, key, key);
    }

    private Duration duration(JsonNode n, String field, String key) {
        try {
            return parseDuration(required(n, field, key).asText());
        } catch (IllegalArgumentException e) {
            throw fail(key, e.getMessage());
        }
    }

    /** A positive duration such as 500ms, 30s, 5m or 1h. */
    static Duration parseDuration(String s) {
        Matcher m = DURATION.matcher(s);
        if (!m.matches()) {
            throw new IllegalArgumentException("'" + s + "' is not a duration such as 500ms, 30s, 5m or 1h");
        }
        double v = Double.parseDouble(m.group(1));
        long ms = (long) (v * switch (m.group(2)) {
            case "ms" -> 1;
            case "s" -> 1_000;
            case "m" -> 60_000;
            default -> 3_600_000;
        });
        if (ms <= 0) {
            throw new IllegalArgumentException("must be positive");
        }
        return Duration.ofMillis(ms);
    }

    private List<Scenario.Cheater> cheaters(JsonNode n) {
        if (n == null || n.isNull()) {
            return List.of();
        }
        if (!n.isArray()) {
            throw fail("cheaters", "must be a list of {mode: MODE, nodes: N}");
        }
        List<Scenario.Cheater> out = new java.util.ArrayList<>();
        for (int i = 0; i < n.size(); i++) {
            String key = "cheaters[" + i + "]";
            JsonNode c = n.get(i);
            if (!c.isObject()) {
                throw fail(key, "must be {mode: MODE, nodes: N}");
            }
            keys(c, key, Set.of("mode", "nodes", "price-per-row-micros"));
            CheatMode mode;
            try {
                mode = CheatMode.parse(text(c, key + ".mode", "mode"));
            } catch (IllegalArgumentException e) {
                throw fail(key + ".mode", e.getMessage());
            }
            Long price = c.has("price-per-row-micros")
                    ? (long) number(c.get("price-per-row-micros"), key + ".price-per-row-micros", 0, 1_000_000) : null;
            out.add(new Scenario.Cheater(mode, intIn(c, "nodes", key + ".nodes", 1, 1_000), price));
        }
        return List.copyOf(out);
    }

    private int intIn(JsonNode n, String key, int lo, int hi) {
        return intIn(n, key, key, lo, hi);
    }

    private int intIn(JsonNode n, String field, String key, int lo, int hi) {
        JsonNode v = required(n, field, key);
        if (!v.isIntegralNumber()) {
            throw fail(key, "must be a whole number, was '" + v.asText() + "'");
        }
        long x = v.asLong();
        if (x < lo || x > hi) {
            throw fail(key, x + " is outside [" + lo + ", " + hi + "]");
        }
        return (int) x;
    }

    private double number(JsonNode v, String key, double lo, double hi) {
        if (v == null || !v.isNumber()) {
            throw fail(key, "must be a number, was '" + (v == null ? "nothing" : v.asText()) + "'");
        }
        double x = v.asDouble();
        if (!(x >= lo && x <= hi)) {
            throw fail(key, x + " is outside [" + lo + ", " + hi + "]");
        }
        return x;
    }

    private ScenarioException fail(String key, String why) {
        return new ScenarioException(file + (key.isEmpty() ? "" : ": " + key) + ": " + why);
    }
}
