package io.inferex.verification;

import java.util.Collection;
import java.util.List;
import java.util.Optional;

/**
 * Who may vote in a dispute and when it is decided. A dispute opens when a sampled re-execution
 * disagrees with the executor; {@link #REFEREES} referees re-execute the shard, and it is decided as
 * soon as {@link #MAJORITY} counted votes agree: FRAUD when they disagree with the executor, UPHELD
 * when they agree with it. A referee counts once, and only if it is neither the executor nor the
 * sampler. Pure.
 */
public final class DisputeTally {
    /** Referees asked for at once. */
    public static final int REFEREES = 3;
    /** Agreeing votes that decide. */
    public static final int MAJORITY = REFEREES / 2 + 1;

    /** One counted referee vote. */
    public record Vote(String nodeId, String leaseId, String outputDigest, boolean agreesWithExecutor) {}

    public enum Decision { OPEN, FRAUD, UPHELD }

    private DisputeTally() {}

    /** Empty when {@code referee}'s vote may count, else why it may not. */
    public static Optional<String> refusal(String referee, String executor, String sampler, Collection<String> voted) {
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
        long agree = votes.stream().filter(Vote::agreesWithExecutor).count();
        long disagree = votes.size() - agree;
        if (disagree >= MAJORITY) {
            return Decision.FRAUD;
        }
        if (agree >= MAJORITY) {
            return Decision.UPHELD;
        }
        return Decision.OPEN;
    }

    /** A vote of the deciding side (the first), e.g. the referee whose result corrects a fraud. */
    public static Optional<Vote> majorityVote(List<Vote> votes, Decision decision) {
        if (decision == Decision.OPEN) {
            return Optional.empty();
        }
        boolean agrees = decision == Decision.UPHELD;
        return votes.stream().filter(v -> v.agreesWithExecutor() == agrees).findFirst();
    }
}
