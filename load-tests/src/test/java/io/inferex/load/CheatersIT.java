package io.inferex.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.inferex.local.load.LoadRun;
import io.inferex.local.load.Scenario;
import io.inferex.local.load.ScenarioParser;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Cheaters over the real stack (every service, the embedded broker, the simulated fleet): the
 * {@code cheaters} scenario fields three undercutting nodes whose answers pass every form check
 * (random vectors, 10 % corrupt rows) or never come (drop). Sampled re-execution must catch and
 * slash each one that answers wrongly, convict no honest node, and account for every shard with
 * the ledger conserved.
 */
class CheatersIT {
    @Test
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void cheatersWhoseAnswersPassEveryFormCheckAreCaughtAndSlashedAndNoHonestNodeIs() throws Exception {
        Scenario scenario = ScenarioParser.parse(LoadSmokeIT.ROOT.resolve("load-tests/scenarios/cheaters.yaml"));
        Path runDir = Files.createTempDirectory(LoadSmokeIT.ROOT.resolve("load-tests/target"), "load-cheaters-");
        ByteArrayOutputStream captured = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(new LoadSmokeIT.TeeStream(System.out, captured), true, StandardCharsets.UTF_8);

        LoadRun.Outcome outcome = new LoadRun(scenario, LoadSmokeIT.ROOT, runDir, 7, out).run();

        String console = captured.toString(StandardCharsets.UTF_8);
        // Every shard accounted (lost, unresolved, unpaid, paid for fraud, paid twice), money
        // conserved, and no FRAUD outcome against a node that never cheated ("honest-node-convicted").
        assertEquals("ALL-SHARDS-ACCOUNTED", outcome.checker(), console);
        JsonNode summary = new ObjectMapper().readTree(outcome.summary().toFile());
        Map<String, JsonNode> byMode = new HashMap<>();
        summary.get("cheaters").forEach(c -> byMode.put(c.get("mode").asText(), c));
        assertEquals(3, byMode.size(), summary.get("cheaters").toString());
        for (String mode : new String[] {"random-vectors", "corrupt-fraction:0.1"}) {
            JsonNode c = byMode.get(mode);
            assertTrue(c.get("wrong-results-accepted").asLong() > 0, mode + " won work (it undercuts everyone): " + c);
            assertTrue(c.get("caught").asBoolean(), mode + " caught by sampled re-execution: " + c);
            assertEquals(0L, c.get("stake-left-micros").asLong(), mode + " slashed: " + c);
        }
        JsonNode drop = byMode.get("drop");
        assertTrue(drop.get("stake-left-micros").asLong() > 0, "a node that only drops leases loses work, not stake: " + drop);
        assertTrue(summary.path("verification").path("outcomes").path("FRAUD").asLong() >= 2, summary.get("verification").toString());
    }
}
