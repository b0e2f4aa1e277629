package io.inferex.verification;

import io.inferex.events.NodeReputation;
import io.inferex.events.ReputationEventKind;

/**
 * A node's reputation: an EWMA in [0, 1], {@code score' = (1 - ALPHA) * score + ALPHA * target}, with
 * target 1 for a good event (form ACCEPTED, sample agreed, referee in the majority) and 0 for a bad
 * one (form REJECTED, referee outvoted, sampler outvoted by the referees, lease left unanswered). A new
 * node starts at {@link #INITIAL_SCORE}. FRAUD bans the node for good (score 0); a banned node's
 * record no longer changes. Pure.
 */
public final class ReputationRules {
    public static final double ALPHA = 0.05;
    public static final double INITIAL_SCORE = 0.5;

    private ReputationRules() {}

    /** +1 good, -1 bad, 0 for FRAUD (bans) and UNKNOWN (not applicable). */
    public static int sign(ReputationEventKind kind) {
        return switch (kind) {
            case FORM_ACCEPTED, SAMPLE_AGREED, REFEREE_MAJORITY -> 1;
            case FORM_REJECTED, REFEREE_OUTVOTED, SAMPLER_OUTVOTED, LEASE_UNANSWERED -> -1;
            case FRAUD, UNKNOWN -> 0;
        };
    }

    /**
     * The reputation after {@code kind} ({@code current} null: a node never scored). UNKNOWN is refused
     * (the caller dead-letters it).
     */
    public static NodeReputation apply(NodeReputation current, String nodeId, ReputationEventKind kind, String reason, long atMs) {
        if (kind == ReputationEventKind.UNKNOWN) {
            throw new IllegalArgumentException("reputation event of an unknown kind");
        }
        NodeReputation base = current != null ? current : NodeReputation.newBuilder().setNodeId(nodeId).setScore(INITIAL_SCORE)
                .setObservations(0).setBanned(false).setReason(null).setUpdatedAtMs(atMs).build();
        if (base.getBanned()) {
            return base;
        }
        NodeReputation.Builder next = NodeReputation.newBuilder(base).setObservations(base.getObservations() + 1).setUpdatedAtMs(atMs);
        if (kind == ReputationEventKind.FRAUD) {
            return next.setBanned(true).setScore(0.0).setReason(reason == null ? "fraud" : reason).build();
        }
        double target = sign(kind) > 0 ? 1.0 : 0.0;
        return next.setScore((1 - ALPHA) * base.getScore() + ALPHA * target).build();
    }
}
