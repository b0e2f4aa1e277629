package io.inferex.verification;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.NodeReputation;
import io.inferex.events.ReputationEventKind;
import org.junit.jupiter.api.Test;

class SamplingPolicyTest {
    static final SamplingPolicy.Config D = SamplingPolicy.DEFAULTS;

    static NodeReputation rep(double score, long observations, boolean banned) {
        return NodeReputation.newBuilder().setNodeId("n").setScore(score).setObservations(observations).setBanned(banned).setUpdatedAtMs(0).build();
    }

    @Test
    void aNewNodeIsSampledAtTheNewNodeRateAndAnEstablishedTrustedOneAtTheFloor() {
        assertEquals(D.newNodeP(), SamplingPolicy.probability(D, null));
        assertEquals(D.newNodeP(), SamplingPolicy.probability(D, rep(1.0, 0, false)));
        assertEquals(D.floor(), SamplingPolicy.probability(D, rep(0.95, 1_000, false)));
        assertEquals(1.0, SamplingPolicy.probability(D, rep(0.0, 1_000, true)));
    }

    @Test
    void lowReputationRaisesPAndPNeverFallsBelowTheFloorNorAboveTheNewNodeRate() {
        double good = SamplingPolicy.probability(D, rep(0.89, 1_000, false));
        double poor = SamplingPolicy.probability(D, rep(0.5, 1_000, false));
        assertTrue(D.floor() < good && good < poor && poor < D.newNodeP(), good + " " + poor);
        for (double s = 0; s <= 1.0; s += 0.05) {
            for (long n : new long[] {0, 10, 50, 99, 100, 10_000}) {
                double p = SamplingPolicy.probability(D, rep(s, n, false));
                assertTrue(p >= D.floor() && p <= D.newNodeP(), "p " + p + " for score " + s + ", " + n + " observations");
            }
        }
    }

    @Test
    void theDefaultsCatchANodeCheatingOnEveryShardWithin500ShardsAtThe999PercentLevelEvenAtTheFloor() {
        assertTrue(SamplingPolicy.undetected(D.floor(), 500) <= 0.001, "undetected " + SamplingPolicy.undetected(D.floor(), 500));
        assertTrue(D.floor() <= 0.05, "an honest established fleet pays at most 5 % extra executions");
    }

    @Test
    void anHonestNewNodeReachesTheFloorAfterItsWarmUp() {
        NodeReputation r = null;
        for (int i = 0; i < D.warmupObservations(); i++) {
            r = ReputationRules.apply(r, "n", ReputationEventKind.FORM_ACCEPTED, null, i);
        }
        assertEquals(D.floor(), SamplingPolicy.probability(D, r), 1e-12);
    }

    @Test
    void nonsenseKnobsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> new SamplingPolicy.Config(0, 0.25, 100, 0.9));
        assertThrows(IllegalArgumentException.class, () -> new SamplingPolicy.Config(0.3, 0.25, 100, 0.9));
        assertThrows(IllegalArgumentException.class, () -> new SamplingPolicy.Config(0.01, 1.5, 100, 0.9));
    }
}
