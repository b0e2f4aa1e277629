package io.inferex.local.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintStream;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** {@code real-executors}: real-model executors mixed into a scenario's simulated fleet. */
class RealExecutorsScenarioTest {
    private static Scenario parse(String extra) {
        return TrickleScenario.with(extra);
    }

    private static String refusal(String extra) {
        return assertThrows(ScenarioParser.ScenarioException.class, () -> parse(extra)).getMessage();
    }

    @Test
    void aMixedScenarioStartsThatManyRealExecutorsWithTheStackAndASimulatedOneNone() {
        Scenario mixed = parse("real-executors: {nodes: 2, batch-fraction: 0.25}\n");
        assertEquals(new Scenario.RealExecutors(2, 0.25), mixed.realExecutors());
        PrintStream quiet = new PrintStream(PrintStream.nullOutputStream());
        assertEquals(2, new LoadRun(mixed, Path.of("/home"), Path.of("/run"), 1, quiet).stackOptions().executors());
        Scenario simulated = parse("");
        assertNull(simulated.realExecutors());
        assertEquals(0, new LoadRun(simulated, Path.of("/home"), Path.of("/run"), 1, quiet).stackOptions().executors());
    }

    @Test
    void badRealExecutorSettingsAreRefusedNamingTheKeyAndWhy() {
        assertTrue(refusal("real-executors: {nodes: 1, batch-fraction: 0.5}\n").contains("real-executors.nodes"),
                "one node cannot re-execute its own sampled results");
        assertTrue(refusal("real-executors: {nodes: 2, batch-fraction: 0}\n").contains("real-executors.batch-fraction"));
        assertTrue(refusal("real-executors: {nodes: 2, batch-fraction: 1.5}\n").contains("real-executors.batch-fraction"));
        assertTrue(refusal("real-executors: {nodes: 2, batch-fraction: 0.5, model: x}\n").contains("model"));
        assertTrue(refusal("real-executors: 3\n").contains("real-executors"));
    }
}
