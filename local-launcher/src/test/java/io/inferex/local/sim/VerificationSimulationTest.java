package io.inferex.local.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** A smoke of the simulation (the full run is {@code ./inferex simulate-verification}; figures in docs/verification.md). */
class VerificationSimulationTest {
    @Test
    void everyCheatIsCaughtWithinTheHorizonNoHonestNodeIsConvictedAndOverheadStaysSmall() {
        var d = VerificationSimulation.Config.defaults(7);
        var config = d.sized(3_000, 30, 100, d.horizon(), d.warmup());
        VerificationSimulation.Report r = new VerificationSimulation(config).run();
        String text = VerificationSimulation.text(r);
        System.out.print(text);
        assertEquals(0, r.fleet().falseFraud(), text);
        assertEquals(3, r.fleet().cheaterShardsUntilCaught().size(), "each fleet cheater caught: " + text);
        for (VerificationSimulation.Detection det : r.detection()) {
            assertTrue(det.probability() >= (det.warmup() == 0 ? 0.99 : 0.95), det + "\n" + text);
        }
        assertTrue(r.fleet().overhead() < 0.25, "re-executions per result in a young fleet: " + text);
    }
}
