package io.inferex.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.inferex.local.load.LoadRun;
import io.inferex.local.load.Scenario;
import io.inferex.local.load.ScenarioParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * CI's load check (run by {@link EndToEndIT} as its last test, on its stack): the {@code smoke}
 * scenario with the simulated fleet. One run proves both gates: the checker accounts for every
 * shard, and the SLO gate passes the smoke file's own objectives while failing the run (exit code
 * 1) on one more objective that no pipeline can meet (accepted → paid within 1 ms). The same run
 * fields two undercutting cheaters whose answers pass every form check: over the real stack, each
 * must be caught by re-execution and slashed, and no honest node convicted (the checker's
 * {@code honest-node-convicted}).
 */
final class LoadSmoke {
    private LoadSmoke() {}

    /** The smoke scenario plus the objective no pipeline can meet. */
    static Scenario gated(Path root) throws Exception {
        Scenario smoke = ScenarioParser.parse(root.resolve("load-tests/scenarios/smoke.yaml"));
        Map<String, Double> slos = new LinkedHashMap<>(smoke.slos());
        slos.put("accepted-paid.max", 1.0); // impossible
        return smoke.withSlos(slos);
    }

    /**
     * Adds the load run's service properties to a stack's; a key both set must mean the same
     * (equal, or equal numbers such as "1" and "1.0"), or the shared stack would not be the one
     * either test needs.
     */
    static void merge(Map<String, String> stack, Map<String, String> load) {
        load.forEach((key, value) -> {
            String mine = stack.putIfAbsent(key, value);
            if (mine != null && !mine.equals(value) && !sameNumber(mine, value)) {
                throw new IllegalStateException("the stack sets " + key + "=" + mine + ", the load run needs " + value);
            }
        });
    }

    private static boolean sameNumber(String a, String b) {
        try {
            return Double.parseDouble(a) == Double.parseDouble(b);
        } catch (NumberFormatException notNumbers) {
            return false;
        }
    }

    /** What the smoke run must have shown, from its outcome, its JSON summary, its HTML report and its console. */
    static void assertOutcome(LoadRun.Outcome outcome, String console) throws Exception {
        assertEquals("ALL-SHARDS-ACCOUNTED", outcome.checker(), console);
        assertTrue(console.contains("ALL-SHARDS-ACCOUNTED"));
        assertEquals(LoadRun.SLO_MISSED, outcome.exitCode(), console);
        assertEquals(1, outcome.sloMisses().size(), outcome.sloMisses().toString());
        assertTrue(outcome.sloMisses().get(0).startsWith("accepted-paid.max:"), outcome.sloMisses().toString());

        JsonNode summary = new ObjectMapper().readTree(outcome.summary().toFile());
        assertTrue(summary.get("shards").asLong() > 0, "shards went through");
        long shards = summary.get("shards").asLong();
        long fraud = summary.path("verification").path("outcomes").path("FRAUD").asLong();
        for (String stage : List.of("accepted-assigned", "assigned-result", "result-verdict", "verdict-final")) {
            assertEquals(shards, summary.path("latency-ms").path(stage).path("count").asLong(), stage);
        }
        for (String stage : List.of("final-paid", "accepted-paid")) {
            assertEquals(shards - fraud, summary.path("latency-ms").path(stage).path("count").asLong(),
                    stage + ": every shard is paid except those found fraudulent (" + fraud + ")");
        }
        assertTrue(summary.path("slo").path("accepted-paid.p99").path("ok").asBoolean(), "the smoke file's own SLO is met");
        assertTrue(summary.path("baseline-bare-hop-ms").path("count").asLong() > 0, "baseline measured");
        assertEquals(0, summary.get("submit-errors").asInt());
        Map<String, JsonNode> cheaters = new HashMap<>();
        summary.get("cheaters").forEach(c -> cheaters.put(c.get("mode").asText(), c));
        assertEquals(Set.of("random-vectors", "corrupt-fraction:0.1"), cheaters.keySet(), summary.get("cheaters").toString());
        for (JsonNode c : cheaters.values()) {
            assertTrue(c.get("wrong-results-accepted").asLong() > 0, "it undercuts everyone, so it won work: " + c);
            assertTrue(c.get("caught").asBoolean(), "caught by sampled re-execution and a referee majority: " + c);
            assertEquals(0L, c.get("stake-left-micros").asLong(), "slashed: " + c);
        }
        assertTrue(summary.path("verification").path("outcomes").path("FRAUD").asLong() >= 2, summary.get("verification").toString());
        // The services' own metrics, read by the run at its end (docs/architecture.md, "Metrics").
        JsonNode metrics = summary.path("service-metrics");
        assertTrue(metrics.path("matcher").path("inferex_assignments_total{revoked=\"false\"}").asDouble() > 0, metrics.toString());
        assertTrue(metrics.path("matcher").has("inferex_store_entries{app=\"matcher\",store=\"open-leases\"}"), metrics.toString());
        assertTrue(metrics.path("verifier").path("inferex_verification_outcomes_total{kind=\"FRAUD\"}").asDouble() >= 2, metrics.toString());
        assertTrue(metrics.path("settlement").path("inferex_ledger_transfer_micros_total{kind=\"PAYOUT\"}").asDouble() > 0,
                metrics.toString());
        assertEquals(1.0, metrics.path("settlement").path("inferex_settlement_conserved").asDouble(), metrics.toString());
        // Heap and disk of each service, sampled during the run (ServiceResources).
        JsonNode resources = summary.path("resources");
        for (String service : new String[] {"ingest", "matcher", "verifier", "settlement"}) {
            assertTrue(resources.path(service).path("heap-used-peak-bytes").asLong() > 0, service + ": " + resources);
        }
        assertTrue(resources.path("matcher").path("state-peak-bytes").asLong() > 0, "the matcher's RocksDB state: " + resources);
        // The age of each app's input at poll (docs/architecture.md, "Metrics"): the hop into each stage.
        for (String[] hop : new String[][] {{"matcher", "shard-tasks"}, {"verifier", "results"}, {"settlement", "verdicts"}}) {
            assertTrue(metrics.path(hop[0]).path("inferex_input_age_seconds_count{topic=\"" + hop[1] + "\"}").asDouble() > 0,
                    hop[0] + " measures the age of " + hop[1] + ": " + metrics);
        }
        String html = Files.readString(outcome.html());
        assertTrue(html.contains("<svg") && html.contains("ALL-SHARDS-ACCOUNTED"), "report written");
    }

    /** Writes to two streams: the console (for the CI log) and a buffer (for assertions). */
    static final class TeeStream extends java.io.OutputStream {
        private final java.io.OutputStream a;
        private final java.io.OutputStream b;

        TeeStream(java.io.OutputStream a, java.io.OutputStream b) {
            this.a = a;
            this.b = b;
        }

        @Override
        public void write(int c) throws java.io.IOException {
            a.write(c);
            b.write(c);
        }

        @Override
        public void write(byte[] buf, int off, int len) throws java.io.IOException {
            a.write(buf, off, len);
            b.write(buf, off, len);
        }
    }
}
