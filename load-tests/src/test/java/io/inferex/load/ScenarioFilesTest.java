package io.inferex.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.local.load.Scenario;
import io.inferex.local.load.ScenarioParser;
import io.inferex.local.load.ScenarioParser.ScenarioException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The shipped scenario files parse (or are refused for the feature they need), and bad files say file, key and why. */
class ScenarioFilesTest {
    static final Path DIR = Path.of("scenarios");

    @Test
    void runnableScenariosParseWithTheirSettings() {
        Scenario smoke = ScenarioParser.parse(DIR.resolve("smoke.yaml"));
        assertEquals("smoke", smoke.name());
        assertEquals(Duration.ofSeconds(8), smoke.duration());
        assertEquals("constant", smoke.arrival().process());
        assertEquals(20, smoke.fleet().nodes());
        assertEquals(2, smoke.fleet().principals());
        assertEquals(0.1, smoke.adversaryFraction());
        assertEquals(2, smoke.cheaters().size());
        assertEquals(1.0, smoke.newNodeSamplingP());
        assertEquals(30000.0, smoke.slos().get("accepted-paid.p99"));
        assertEquals("poisson", ScenarioParser.parse(DIR.resolve("steady-1k-shards-per-s.yaml")).arrival().process());
        Scenario burst = ScenarioParser.parse(DIR.resolve("burst.yaml"));
        assertEquals(40, burst.arrival().batchesPerArrival());
        assertEquals("exponential", burst.batchRows().kind());
        assertEquals(Scenario.DEFAULT_CHALLENGE_WINDOW, burst.challengeWindow());
        Scenario cheaters = ScenarioParser.parse(DIR.resolve("cheaters.yaml"));
        assertEquals(List.of("random-vectors", "corrupt-fraction:0.1", "drop"),
                cheaters.cheaters().stream().map(c -> c.mode().toString()).toList());
        assertEquals(10L, cheaters.cheaters().get(0).pricePerRowMicros());
        assertEquals(new Scenario.RealExecutors(2, 0.25), ScenarioParser.parse(DIR.resolve("mixed-real-executors.yaml")).realExecutors());
        assertEquals(null, smoke.realExecutors(), "the smoke runs on the simulated fleet only");
    }

    @Test
    void cheatersAndTheChallengeWindowAreCheckedWithTheKeyAndWhy() {
        assertEquals(Duration.ofSeconds(30), ScenarioParser.parse("t.yaml", valid("name: t", "name: t\nchallenge-window: 30s"))
                .challengeWindow());
        assertTrue(error(valid("name: t", "name: t\ncheaters: [{mode: lie, nodes: 1}]"))
                .startsWith("t.yaml: cheaters[0].mode: 'lie' is not one of"));
        assertTrue(error(valid("name: t", "name: t\ncheaters: [{mode: \"corrupt-fraction:2\", nodes: 1}]"))
                .startsWith("t.yaml: cheaters[0].mode: corrupt-fraction needs a fraction in (0, 1]"));
        assertTrue(error(valid("name: t", "name: t\ncheaters: [{mode: drop}]")).startsWith("t.yaml: cheaters[0].nodes: is required"));
        assertTrue(error(valid("name: t", "name: t\ncheaters: {mode: drop}")).startsWith("t.yaml: cheaters: must be a list"));
    }

    @Test
    void churnAndEachChaosScenarioParseWithTheirFaults() {
        Scenario churn = ScenarioParser.parse(DIR.resolve("churn.yaml"));
        assertEquals(new Scenario.Churn(0.3, Duration.ofSeconds(15), Duration.ofSeconds(30)), churn.churn());
        for (String target : Scenario.KILL_TARGETS) {
            Scenario chaos = ScenarioParser.parse(DIR.resolve("chaos-" + target + ".yaml"));
            assertEquals(List.of(new Scenario.Fault("kill", target, Duration.ofSeconds(12))), chaos.faults(), target);
        }
        assertTrue(error(valid("name: t", "name: t\nfaults: [{kill: zookeeper, at: 1s}]"))
                .startsWith("t.yaml: faults[0].kill: 'zookeeper' is not one of [broker,"));
        assertTrue(error(valid("name: t", "name: t\nfaults: [{kill: broker, at: 9s}]"))
                .startsWith("t.yaml: faults[0].at: must fall within the duration"));
        assertTrue(error(valid("name: t", "name: t\nchurn: {vanish-fraction: 0.3, at: 3s, back-at: 2s}"))
                .startsWith("t.yaml: churn.back-at: must be after churn.at"));
    }

    @Test
    void networkChaosScenariosParseWithTheirWindowsAndProxiedServices() {
        Scenario latency = ScenarioParser.parse(DIR.resolve("chaos-network-latency.yaml"));
        assertEquals(List.of(
                new Scenario.Fault("network", "matcher", Duration.ofSeconds(8), Duration.ofSeconds(10),
                        Scenario.Network.latency(200, 50, "both")),
                new Scenario.Fault("network", "ingest", Duration.ofSeconds(20), Duration.ofSeconds(6),
                        Scenario.Network.latency(100, 100, "to-broker"))), latency.faults());
        assertEquals(java.util.Set.of("ingest", "matcher"), latency.proxiedServices());
        Scenario partition = ScenarioParser.parse(DIR.resolve("chaos-network-partition.yaml"));
        assertEquals(List.of(
                new Scenario.Fault("network", "verifier", Duration.ofSeconds(8), Duration.ofSeconds(8), Scenario.Network.of("drop")),
                new Scenario.Fault("network", "settlement", Duration.ofSeconds(18), Duration.ofSeconds(8),
                        Scenario.Network.of("blackhole"))), partition.faults());
        assertEquals(Duration.ofSeconds(26), partition.faults().get(1).end());
        Scenario fleet = ScenarioParser.parse(DIR.resolve("chaos-network-fleet.yaml"));
        assertEquals(List.of(
                new Scenario.Fault("network", "fleet", Duration.ofSeconds(6), Duration.ofSeconds(8),
                        Scenario.Network.latency(300, 100, "both")),
                new Scenario.Fault("network", "fleet", Duration.ofSeconds(18), Duration.ofSeconds(6), Scenario.Network.of("drop"))),
                fleet.faults());
        // the simulated nodes' clients go behind the fleet's proxy, no service does
        assertEquals(java.util.Set.of("fleet"), fleet.proxiedServices());
        // a kill scenario puts nothing behind a proxy
        assertEquals(java.util.Set.of(), ScenarioParser.parse(DIR.resolve("chaos-matcher.yaml")).proxiedServices());
    }

    @Test
    void badNetworkFaultsAreRefusedWithTheKeyAndWhy() {
        String ok = "{network: matcher, at: 1s, for: 2s, latency-ms: 50}";
        assertEquals(Duration.ofSeconds(3), ScenarioParser.parse("t.yaml", faults(ok)).faults().get(0).end());
        assertTrue(error(faults("{network: broker, at: 1s, for: 2s, drop: true}"))
                .startsWith("t.yaml: faults[0].network: 'broker' is not one of [ingest, matcher, verifier, settlement, fleet]"));
        assertTrue(error(faults("{network: matcher, at: 1s, latency-ms: 50}")).startsWith("t.yaml: faults[0].for: is required"));
        assertTrue(error(faults("{network: matcher, at: 3s, for: 2s, drop: true}"))
                .startsWith("t.yaml: faults[0].for: the fault must end within the duration (5 s)"));
        assertTrue(error(faults("{network: matcher, at: 1s, for: 2s}"))
                .startsWith("t.yaml: faults[0]: needs exactly one of latency-ms, drop: true, blackhole: true (has none)"));
        assertTrue(error(faults("{network: matcher, at: 1s, for: 2s, drop: true, blackhole: true}"))
                .startsWith("t.yaml: faults[0]: needs exactly one of latency-ms, drop: true, blackhole: true (has [drop, blackhole])"));
        assertTrue(error(faults("{network: matcher, at: 1s, for: 2s, drop: false}"))
                .startsWith("t.yaml: faults[0].drop: must be true"));
        assertTrue(error(faults("{network: matcher, at: 1s, for: 2s, blackhole: true, jitter-ms: 5}"))
                .startsWith("t.yaml: faults[0].jitter-ms: applies to latency-ms only"));
        assertTrue(error(faults("{network: matcher, at: 1s, for: 2s, latency-ms: 0}"))
                .startsWith("t.yaml: faults[0].latency-ms: 0 is outside [1, 60000]"));
        assertTrue(error(faults("{network: matcher, at: 1s, for: 2s, latency-ms: 1.5}"))
                .startsWith("t.yaml: faults[0].latency-ms: must be a whole number"));
        assertTrue(error(faults("{network: matcher, at: 1s, for: 2s, latency-ms: 5, direction: sideways}"))
                .startsWith("t.yaml: faults[0].direction: 'sideways' is not one of [both, to-broker, from-broker]"));
        assertTrue(error(faults("{network: matcher, at: 1s, for: 2s, latency-ms: 5, loss: 0.1}"))
                .startsWith("t.yaml: faults[0].loss: unknown key"));
        assertTrue(error(faults("{network: matcher, kill: matcher, at: 1s}")).startsWith("t.yaml: faults[0]: a fault is a kill or a network fault"));
        assertTrue(error(faults(ok + ", {network: matcher, at: 2s, for: 1s, drop: true}"))
                .startsWith("t.yaml: faults[1]: overlaps faults[0] on matcher's link"));
        // back to back on one link, or overlapping on two links, is fine
        assertEquals(3, ScenarioParser.parse("t.yaml", faults(ok + ", {network: matcher, at: 3s, for: 1s, drop: true},"
                + " {network: verifier, at: 1s, for: 1s, blackhole: true}")).faults().size());
    }

    static String faults(String list) {
        return valid("name: t", "name: t\nfaults: [" + list + "]");
    }

    @Test
    void scenariosNeedingMissingRunnerFeaturesAreRefusedByName() {
        ScenarioException scale = assertThrows(ScenarioException.class, () -> ScenarioParser.parse(DIR.resolve("scale-1m.yaml")));
        assertTrue(scale.getMessage().contains("scale-1m.yaml: unsupported:"), scale.getMessage());
    }

    static String valid(String replace, String with) {
        String yaml = """
                name: t
                duration: 5s
                customers: 1
                arrival: {process: constant, batches-per-second: 2}
                batch-rows: 16
                fleet: {nodes: 2, slots: 1, price-per-row-micros: 100}
                slo: {accepted-paid.p99: 1000}
                """;
        assertTrue(yaml.contains(replace), replace);
        return yaml.replace(replace, with);
    }

    static String error(String yaml) {
        return assertThrows(ScenarioException.class, () -> ScenarioParser.parse("t.yaml", yaml)).getMessage();
    }

    @Test
    void errorsNameTheFileTheKeyAndWhy() {
        assertEquals(5, ScenarioParser.parse("t.yaml", valid("name: t", "name: t")).duration().toSeconds());
        assertTrue(error(valid("duration: 5s", "duration: 5 minutes")).startsWith("t.yaml: duration: '5 minutes' is not a duration"));
        assertTrue(error(valid("customers: 1", "customers: 0")).startsWith("t.yaml: customers: 0 is outside"));
        assertTrue(error(valid("customers: 1", "customer: 1")).startsWith("t.yaml: customer: unknown key"));
        assertTrue(error(valid("process: constant", "process: sometimes")).startsWith("t.yaml: arrival.process: 'sometimes' is not one of"));
        assertTrue(error(valid("batch-rows: 16", "batch-rows: {uniform: [64, 16]}")).startsWith("t.yaml: batch-rows.uniform: MAX"));
        assertTrue(error(valid("slots: 1, ", "")).startsWith("t.yaml: fleet.slots: is required"));
        assertTrue(error(valid("accepted-paid.p99", "accepted-paid.p42")).startsWith("t.yaml: slo.accepted-paid.p42: not a known objective"));
        assertTrue(error(valid("name: t", "name: t\nfaults: [kill-broker]")).startsWith("t.yaml: faults[0]: must be {kill: TARGET"));
        assertTrue(error("[1, 2]").startsWith("t.yaml: must be a YAML mapping"));
        assertTrue(error("name: [").startsWith("t.yaml: not valid YAML"));
    }

    @Test
    void zeroChurnIsAllowedSinceItAsksForNothing() {
        assertEquals("t", ScenarioParser.parse("t.yaml", valid("name: t", "name: t\nchurn: none")).name());
    }

    @Test
    void loadCommandRefusesAScenarioItCannotRunWithExitCode3() {
        int code = new picocli.CommandLine(new io.inferex.local.InferexCli()).execute("load", DIR.resolve("scale-1m.yaml").toString());
        assertEquals(io.inferex.local.load.LoadRun.REFUSED, code);
        assertEquals(io.inferex.local.load.LoadRun.REFUSED,
                new picocli.CommandLine(new io.inferex.local.InferexCli()).execute("load", "no-such-scenario"));
    }
}
