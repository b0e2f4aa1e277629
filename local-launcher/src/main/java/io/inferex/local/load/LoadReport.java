package io.inferex.local.load;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.ToLongFunction;
import org.HdrHistogram.Histogram;

/**
 * The figures of one run: per-stage latency (HdrHistogram, ms), per-stage throughput, the baseline
 * hop and each stage's ratio to it, the SLO gate, the checker's anomalies; written as a JSON
 * summary and a self-contained HTML page (inline SVG, no scripts, no external files).
 */
public final class LoadReport {
    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    /** Latency of one stage: from one observed time of a shard to a later one. */
    record Stage(String name, ToLongFunction<StageObserver.Shard> from, ToLongFunction<StageObserver.Shard> to) {}

    static final List<Stage> STAGES = List.of(
            new Stage("accepted-assigned", s -> s.accepted, s -> s.assigned),
            new Stage("assigned-result", s -> s.assigned, s -> s.result),
            new Stage("result-verdict", s -> s.result, s -> s.verdict),
            new Stage("verdict-final", s -> s.verdict, s -> s.resolved),
            new Stage("final-paid", s -> s.resolved, s -> s.paid),
            new Stage("accepted-paid", s -> s.accepted, s -> s.paid));

    private final Scenario scenario;
    private final Map<String, Object> summary;
    private final Map<String, Histogram> histograms;
    private final Histogram baseline;
    private final List<StageObserver.Shard> shards;
    private final long start;
    private final List<String> sloMisses = new ArrayList<>();

    private LoadReport(Scenario scenario, Map<String, Object> summary, Map<String, Histogram> histograms, Histogram baseline,
            List<StageObserver.Shard> shards, long start) {
        this.scenario = scenario;
        this.summary = summary;
        this.histograms = histograms;
        this.baseline = baseline;
        this.shards = shards;
        this.start = start;
    }

    static LoadReport of(Scenario scenario, long seed, List<StageObserver.Shard> shards, Histogram baselineMicros, long start,
            long submitEnd, long end, StageObserver observer, SimulatedFleet.Counts fleet, int batches, long rows,
            int submitErrors, List<String> submitErrorSamples, List<ShardChecker.Anomaly> anomalies, List<Map<String, Object>> cheaters) {
        Map<String, Histogram> hs = new LinkedHashMap<>();
        Map<String, Object> stages = new LinkedHashMap<>();
        double baseP50 = baselineMicros.getTotalCount() == 0 ? 0 : baselineMicros.getValueAtPercentile(50) / 1000.0;
        for (Stage st : STAGES) {
            Histogram h = new Histogram(3_600_000L, 3);
            for (StageObserver.Shard s : shards) {
                long a = st.from().applyAsLong(s);
                long b = st.to().applyAsLong(s);
                if (a > 0 && b > 0) {
                    h.recordValue(Math.max(0, b - a));
                }
            }
            hs.put(st.name(), h);
            Map<String, Object> m = percentiles(h, 1.0);
            if (baseP50 > 0 && h.getTotalCount() > 0) {
                m.put("p50-over-baseline-p50", round(h.getValueAtPercentile(50) / baseP50));
            }
            stages.put(st.name(), m);
        }
        Map<String, Object> throughput = new LinkedHashMap<>();
        String[] names = {"accepted", "assigned", "verdict", "final", "paid"};
        List<ToLongFunction<StageObserver.Shard>> at = List.of(s -> s.accepted, s -> s.assigned, s -> s.verdict, s -> s.resolved,
                s -> s.paid);
        for (int i = 0; i < names.length; i++) {
            long first = Long.MAX_VALUE;
            long last = 0;
            long n = 0;
            for (StageObserver.Shard s : shards) {
                long t = at.get(i).applyAsLong(s);
                if (t > 0) {
                    first = Math.min(first, t);
                    last = Math.max(last, t);
                    n++;
                }
            }
            double secs = Math.max(0.001, (last - first) / 1000.0);
            throughput.put(names[i] + "-shards-per-s", n < 2 ? 0.0 : round(n / secs));
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("scenario", scenario.name());
        summary.put("seed", seed);
        summary.put("load-seconds", round((submitEnd - start) / 1000.0));
        summary.put("total-seconds", round((end - start) / 1000.0));
        summary.put("batches", batches);
        summary.put("rows", rows);
        summary.put("shards", shards.stream().filter(s -> s.accepted > 0).count());
        summary.put("submit-errors", submitErrors);
        summary.put("submit-error-samples", submitErrorSamples);
        summary.put("latency-ms", stages);
        summary.put("throughput", throughput);
        summary.put("baseline-bare-hop-ms", percentiles(baselineMicros, 1000.0));
        summary.put("reassigned-shards", shards.stream().filter(s -> s.assignments > 1).count());
        summary.put("rejected-verdicts", shards.stream().mapToLong(s -> s.rejectedVerdicts).sum());
        StageObserver.Verification v = observer.verification();
        long acceptedShards = shards.stream().filter(s -> s.verdict > 0).count();
        Map<String, Object> verification = new LinkedHashMap<>();
        verification.put("challenge-window-ms", scenario.challengeWindow().toMillis());
        verification.put("re-execution-leases", v.leases());
        verification.put("re-executions-accepted", v.accepted());
        verification.put("re-execution-payouts", v.payouts());
        verification.put("re-executions-per-accepted-shard", acceptedShards == 0 ? 0.0 : round((double) v.accepted() / acceptedShards));
        Map<String, Long> kinds = new TreeMap<>();
        v.outcomes().forEach((k, n) -> kinds.put(k.name(), n));
        verification.put("outcomes", kinds);
        summary.put("verification", verification);
        summary.put("cheaters", cheaters);
        summary.put("dead-letters", observer.deadLetters());
        summary.put("dead-letter-reasons", new TreeMap<>(observer.deadLetterReasons()));
        summary.put("undecodable-stage-records", observer.undecodable());
        Map<String, Object> fleetSummary = new LinkedHashMap<>(Map.of("nodes", scenario.fleet().nodes(), "principals",
                scenario.fleet().principals(), "registrations", fleet.registrations(), "heartbeats", fleet.heartbeats(), "results",
                fleet.results(), "adversarial-results", fleet.adversarialResults(), "revocations-seen", fleet.revokedSkipped(),
                "send-errors", fleet.sendErrors()));
        if (scenario.churn() != null) {
            fleetSummary.put("vanished-nodes", fleet.vanishedNodes());
            fleetSummary.put("leases-abandoned-by-vanished-nodes", fleet.leasesAbandoned());
            fleetSummary.put("returned-nodes", fleet.returnedNodes());
        }
        summary.put("fleet", fleetSummary);
        summary.put("checker", ShardChecker.summary(anomalies));
        summary.put("anomalies", anomalies.stream().map(a -> Map.of("kind", a.kind(), "ids", a.ids(), "detail", a.detail())).toList());
        LoadReport r = new LoadReport(scenario, summary, hs, baselineMicros, shards, start);
        summary.put("slo", r.gate(throughput));
        summary.put("slo-missed", r.sloMisses);
        return r;
    }

    private Map<String, Object> gate(Map<String, Object> throughput) {
        Map<String, Object> out = new LinkedHashMap<>();
        scenario.slos().forEach((key, limit) -> {
            Map<String, Object> m = new LinkedHashMap<>();
            double actual;
            boolean ok;
            if (key.equals("min-paid-shards-per-s")) {
                actual = ((Number) throughput.get("paid-shards-per-s")).doubleValue();
                ok = actual >= limit;
            } else {
                String stage = key.substring(0, key.lastIndexOf('.'));
                String pct = key.substring(key.lastIndexOf('.') + 1);
                Histogram h = histograms.get(stage);
                actual = h.getTotalCount() == 0 ? Double.POSITIVE_INFINITY : value(h, pct);
                ok = actual <= limit;
            }
            m.put("limit", limit);
            m.put("actual", Double.isInfinite(actual) ? "no data" : actual);
            m.put("ok", ok);
            out.put(key, m);
            if (!ok) {
                sloMisses.add(key + ": " + (Double.isInfinite(actual) ? "no data" : actual) + " vs limit " + limit);
            }
        });
        return out;
    }

    private static double value(Histogram h, String pct) {
        return switch (pct) {
            case "p50" -> h.getValueAtPercentile(50);
            case "p90" -> h.getValueAtPercentile(90);
            case "p99" -> h.getValueAtPercentile(99);
            case "p999" -> h.getValueAtPercentile(99.9);
            default -> h.getMaxValue();
        };
    }

    private static Map<String, Object> percentiles(Histogram h, double divisor) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("count", h.getTotalCount());
        if (h.getTotalCount() > 0) {
            for (String p : Scenario.PERCENTILES) {
                m.put(p, round(value(h, p) / divisor));
            }
            m.put("mean", round(h.getMean() / divisor));
        }
        return m;
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }

    public List<String> sloMisses() {
        return List.copyOf(sloMisses);
    }

    /** The services' metrics at the end of the run ({@link ServiceMetrics}), as {@code service-metrics} in the JSON summary. */
    /** The faults and churn of the run, each with when it happened and how long the pipeline took to move again. */
    void addChaos(List<Map<String, Object>> events) {
        summary.put("chaos", events);
    }

    /** Heap and state size per service ({@link ServiceResources#summary}). */
    void addResources(Map<String, Object> byService) {
        summary.put("resources", byService);
    }

    void addServiceMetrics(Map<String, Object> byService) {
        summary.put("service-metrics", byService);
    }

    Map<String, Object> summary() {
        return summary;
    }

    Path writeJson(Path file) throws IOException {
        JSON.writeValue(file.toFile(), summary);
        return file;
    }

    /** The table printed at the end of a run. */
    @SuppressWarnings("unchecked")
    String text() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format(Locale.ROOT, "scenario %s: %s batches, %s rows, %s shards in %s s (+ drain, %s s in all)%n",
                summary.get("scenario"), summary.get("batches"), summary.get("rows"), summary.get("shards"),
                summary.get("load-seconds"), summary.get("total-seconds")));
        sb.append(String.format(Locale.ROOT, "%-18s %7s %9s %9s %9s %9s %9s %9s%n", "stage (ms)", "count", "p50", "p90", "p99",
                "p99.9", "max", "p50/bare"));
        Map<String, Object> lat = (Map<String, Object>) summary.get("latency-ms");
        lat.forEach((stage, v) -> {
            Map<String, Object> m = (Map<String, Object>) v;
            sb.append(String.format(Locale.ROOT, "%-18s %7s %9s %9s %9s %9s %9s %9s%n", stage, m.get("count"), m.get("p50"),
                    m.get("p90"), m.get("p99"), m.get("p999"), m.get("max"), m.getOrDefault("p50-over-baseline-p50", "-")));
        });
        Map<String, Object> b = (Map<String, Object>) summary.get("baseline-bare-hop-ms");
        sb.append(String.format(Locale.ROOT, "%-18s %7s %9s %9s %9s %9s %9s%n", "bare hop (base)", b.get("count"), b.get("p50"),
                b.get("p90"), b.get("p99"), b.get("p999"), b.get("max")));
        sb.append("throughput ").append(summary.get("throughput")).append('\n');
        sb.append("verification ").append(summary.get("verification")).append('\n');
        for (Object c : (List<?>) summary.get("cheaters")) {
            sb.append("cheater ").append(c).append('\n');
        }
        Object chaos = summary.get("chaos");
        if (chaos instanceof List<?> events) {
            for (Object e : events) {
                sb.append("chaos ").append(e).append('\n');
            }
        }
        if (summary.get("resources") instanceof Map<?, ?> resources) {
            resources.forEach((service, v) -> {
                Map<String, Object> m = (Map<String, Object>) v;
                sb.append(String.format(Locale.ROOT, "resources %-10s heap peak %s, live after GC peak %s, state on disk peak %s, at end %s%n",
                        service, mib(m.get("heap-used-peak-bytes")), mib(m.get("live-after-gc-peak-bytes")),
                        mib(m.get("state-peak-bytes")), mib(m.get("state-last-bytes"))));
            });
        }
        sb.append("reassigned shards ").append(summary.get("reassigned-shards")).append(", rejected verdicts ")
                .append(summary.get("rejected-verdicts")).append(", dead letters ").append(summary.get("dead-letters"))
                .append(' ').append(summary.get("dead-letter-reasons")).append('\n');
        return sb.toString();
    }

    /** Bytes as MiB with one decimal, "-" when not measured. */
    static String mib(Object bytes) {
        return bytes instanceof Number n && n.longValue() >= 0 ? String.format(Locale.ROOT, "%.1f MiB", n.longValue() / 1048576.0) : "-";
    }

    Path writeHtml(Path file) throws IOException {
        StringBuilder h = new StringBuilder();
        h.append("<!doctype html><html><head><meta charset=\"utf-8\"><title>Inferex load: ").append(esc(scenario.name()))
                .append("</title><style>body{font:14px sans-serif;margin:2em;max-width:1000px}table{border-collapse:collapse}"
                        + "td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}"
                        + ".bad{color:#b00;font-weight:bold}.ok{color:#070}</style></head><body>");
        h.append("<h1>Inferex load run: ").append(esc(scenario.name())).append("</h1>");
        String checker = String.valueOf(summary.get("checker"));
        h.append("<p>Checker: <span class=\"").append(checker.equals(ShardChecker.ALL_ACCOUNTED) ? "ok" : "bad").append("\">")
                .append(esc(checker)).append("</span></p>");
        h.append("<p>SLO: ").append(sloMisses.isEmpty() ? "<span class=\"ok\">all met</span>"
                : "<span class=\"bad\">missed: " + esc(String.join("; ", sloMisses)) + "</span>").append("</p>");
        h.append("<h2>Latency per stage (ms, observer receipt times)</h2><pre>").append(esc(text())).append("</pre>");
        h.append("<h2>Accepted → paid latency over the run</h2>").append(scatter());
        h.append("<h2>Shards paid per second</h2>").append(bars());
        h.append("<h2>Summary (JSON)</h2><pre>").append(esc(JSON.writeValueAsString(summary))).append("</pre></body></html>");
        Files.writeString(file, h);
        return file;
    }

    private String scatter() {
        int w = 900;
        int ht = 260;
        long maxT = 1;
        long maxL = 1;
        for (StageObserver.Shard s : shards) {
            if (s.accepted > 0 && s.paid > 0) {
                maxT = Math.max(maxT, s.accepted - start);
                maxL = Math.max(maxL, s.paid - s.accepted);
            }
        }
        StringBuilder sb = new StringBuilder("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + (ht + 30)
                + "\"><rect x=\"40\" y=\"0\" width=\"" + (w - 40) + "\" height=\"" + ht + "\" fill=\"#fafafa\" stroke=\"#999\"/>");
        for (StageObserver.Shard s : shards) {
            if (s.accepted > 0 && s.paid > 0) {
                double x = 40 + (double) (s.accepted - start) / maxT * (w - 50);
                double y = ht - (double) (s.paid - s.accepted) / maxL * (ht - 10);
                sb.append(String.format(Locale.ROOT, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"2\" fill=\"#36c\"/>", x, y));
            }
        }
        sb.append("<text x=\"0\" y=\"12\" font-size=\"11\">").append(maxL).append(" ms</text><text x=\"0\" y=\"").append(ht)
                .append("\" font-size=\"11\">0</text><text x=\"40\" y=\"").append(ht + 20).append("\" font-size=\"11\">0 s</text><text x=\"")
                .append(w - 60).append("\" y=\"").append(ht + 20).append("\" font-size=\"11\">").append(maxT / 1000).append(" s</text></svg>");
        return sb.toString();
    }

    private String bars() {
        TreeMap<Long, Integer> perSecond = new TreeMap<>();
        for (StageObserver.Shard s : shards) {
            if (s.paid > 0) {
                perSecond.merge((s.paid - start) / 1000, 1, Integer::sum);
            }
        }
        if (perSecond.isEmpty()) {
            return "<p>none paid</p>";
        }
        int w = 900;
        int ht = 200;
        long seconds = Math.max(1, perSecond.lastKey() + 1);
        int max = perSecond.values().stream().max(Integer::compare).orElse(1);
        double bw = (w - 40.0) / seconds;
        StringBuilder sb = new StringBuilder("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + w + "\" height=\"" + (ht + 30) + "\">");
        perSecond.forEach((sec, n) -> sb.append(String.format(Locale.ROOT,
                "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#3a3\"><title>%d s: %d</title></rect>",
                40 + sec * bw, ht - (double) n / max * ht, Math.max(1, bw - 1), (double) n / max * ht, sec, n)));
        sb.append("<text x=\"0\" y=\"12\" font-size=\"11\">").append(max).append("/s</text><text x=\"40\" y=\"").append(ht + 20)
                .append("\" font-size=\"11\">0 s</text><text x=\"").append(w - 60).append("\" y=\"").append(ht + 20)
                .append("\" font-size=\"11\">").append(seconds).append(" s</text></svg>");
        return sb.toString();
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }
}
