package io.inferex.verification;

import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * Who may vote in a dispute and when it is decided. A dispute opens when a sampled re-execution
 * disagrees with the executor; {@link #REFEREES} referees re-execute the shard, and it is decided as
 * soon as {@link #MAJORITY} counted votes agree with each other: UPHELD when they agree with the
 * executor; FRAUD when they disagree with the executor <em>and agree with each other</em> (the same
 * {@code group}: rows within the model's tolerance of one another). Two referees who each answer
 * something different from the executor and from each other (two independent cheaters, say) prove
 * nothing and convict no one: more referees are asked. A referee counts once, and only if it is
 * neither the executor nor the sampler. Pure.
 */
public final class DisputeTally {
    /** Referees asked for at once. */
    public static final int REFEREES = 3;
    /** Agreeing votes that decide. */
    public static final int MAJORITY = REFEREES / 2 + 1;

    /**
     * One counted referee vote. {@code group} is {@link #AGREES} when its rows agree with the
     * executor's, otherwise the number of the alternative answer it agrees with (votes with the same
     * group agree with one another within the model's tolerance).
     */
    public record Vote(String nodeId, String leaseId, String outputDigest, int group) {
        public boolean agreesWithExecutor() {
            return group == AGREES;
        }
    }

    /** The group of a vote that agrees with the executor. */
    public static final int AGREES = -1;

    public enum Decision { OPEN, FRAUD, UPHELD }

    private DisputeTally() {}

    /** Empty when {@code referee}'s vote may count, else why it may not. */
    public static Optional<String> refusal(String referee, String executor, String sampler, Collection<String> voted) {
        return refusal(referee, executor, sampler, null, voted);
    }

    /**
     * As above, for a dispute a challenge is part of: {@code challengerNode} is the node id behind the
     * challenger's account when it is a node's ({@code node:<id>}), else null; such a node cannot
     * referee the dispute it raised.
     */
    public static Optional<String> refusal(String referee, String executor, String sampler, String challengerNode,
            Collection<String> voted) {
        if (referee.equals(challengerNode)) {
            return Optional.of("referee " + referee + " is the node of the challenger of the disputed result");
        }
        if (referee.equals(executor)) {
            return Optional.of("referee " + referee + " is the executor of the disputed result");
        }
        if (referee.equals(sampler)) {
            return Optional.of("referee " + referee + " is the sampler whose re-execution opened the dispute");
        }
        if (voted.contains(referee)) {
            return Optional.of("referee " + referee + " has already voted in this dispute");
        }
        return Optional.empty();
    }

    public static Decision decide(List<Vote> votes) {
        return decidingGroup(votes).map(g -> g == AGREES ? Decision.UPHELD : Decision.FRAUD).orElse(Decision.OPEN);
    }

    /** The group with {@link #MAJORITY} votes, if any (the first to reach it, in vote order). */
    private static Optional<Integer> decidingGroup(List<Vote> votes) {
        java.util.Map<Integer, Integer> counts = new java.util.HashMap<>();
        for (Vote v : votes) {
            if (counts.merge(v.group(), 1, Integer::sum) >= MAJORITY) {
                return Optional.of(v.group());
            }
        }
        return Optional.empty();
    }

    /**
     * The first vote of {@code decision}'s side, e.g. the referee whose result corrects a fraud: for
     * FRAUD, of the alternative answer that has the majority (else the first alternative).
     */
    public static Optional<Vote> majorityVote(List<Vote> votes, Decision decision) {
        if (decision == Decision.OPEN) {
            return Optional.empty();
        }
        if (decision == Decision.UPHELD) {
            return votes.stream().filter(Vote::agreesWithExecutor).findFirst();
        }
        Optional<Integer> group = decidingGroup(votes).filter(g -> g != AGREES)
                .or(() -> votes.stream().filter(v -> !v.agreesWithExecutor()).map(Vote::group).findFirst());
        return group.flatMap(g -> votes.stream().filter(v -> v.group() == g).findFirst());
    }
}
