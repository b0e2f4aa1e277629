package io.inferex.verification;

import io.inferex.events.NodeReputation;

/**
 * How likely a result is to be re-executed: adaptive, higher for new and low-reputation nodes, never
 * below a floor.
 *
 * <pre>
 * newness  = max(0, 1 - observations / warmupObservations)        (1 for a node never scored)
 * distrust = clamp((trustedScore - score) / trustedScore, 0, 1)
 * p        = floor + (newNodeP - floor) * max(newness, distrust)    (1 for a banned node)
 * </pre>
 *
 * With the defaults (floor 0.015, newNodeP 0.25, warmup 100 observations, trusted score 0.9) an
 * established honest node (score above 0.9 after its first ~30 good results) is sampled at 1.5 %,
 * which is the fleet's verification overhead in extra executions; a node that cheats on every shard
 * stays undetected for 500 shards with probability at most {@code (1 - 0.015)^500 = 5.2e-4}, i.e. it
 * is caught with probability above 99.9 % even at the floor (a new one much sooner). Pure.
 */
public final class SamplingPolicy {
    /**
     * The policy's knobs.
     *
     * @param floor lowest p for any node
     * @param newNodeP p of a node with no history (and the most distrust)
     * @param warmupObservations observations after which a node no longer counts as new
     * @param trustedScore reputation score from which a node is fully trusted (p = floor)
     */
    public record Config(double floor, double newNodeP, long warmupObservations, double trustedScore) {
        public Config {
            if (!(floor > 0 && floor <= newNodeP && newNodeP <= 1) || warmupObservations < 1 || !(trustedScore > 0 && trustedScore <= 1)) {
                throw new IllegalArgumentException("sampling policy needs 0 < floor <= newNodeP <= 1, warmup >= 1, 0 < trustedScore <= 1: "
                        + floor + ", " + newNodeP + ", " + warmupObservations + ", " + trustedScore);
            }
        }
    }

    public static final Config DEFAULTS = new Config(0.015, 0.25, 100, 0.9);

    private SamplingPolicy() {}

    /** p for a node with this reputation ({@code null}: never scored, a new node). */
    public static double probability(Config c, NodeReputation reputation) {
        if (reputation == null) {
            return c.newNodeP();
        }
        if (reputation.getBanned()) {
            return 1.0;
        }
        double newness = Math.max(0.0, 1.0 - (double) reputation.getObservations() / c.warmupObservations());
        double score = Double.isFinite(reputation.getScore()) ? reputation.getScore() : 0.0;
        double distrust = Math.min(1.0, Math.max(0.0, (c.trustedScore() - score) / c.trustedScore()));
        return c.floor() + (c.newNodeP() - c.floor()) * Math.max(newness, distrust);
    }

    /** Probability that a node cheating on every one of {@code shards} results sampled at {@code p} is never sampled. */
    public static double undetected(double p, int shards) {
        return Math.pow(1.0 - p, shards);
    }
}
