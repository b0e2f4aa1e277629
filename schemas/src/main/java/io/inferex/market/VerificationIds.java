package io.inferex.market;

import java.util.Optional;
import java.util.OptionalInt;

/**
 * Ids of re-executions. The verifier asks for a shard to be run again under an id derived from the
 * shard's task id: {@code taskId + "~s"} for the sampled re-execution, {@code taskId + "~r" + round}
 * (round 1..{@link #MAX_ROUND}) for a referee of a dispute. The matcher leases it like a shard
 * (lease id {@code verificationId + "#" + attempt}), the node answers it like a shard, and every
 * reader tells it from a shard by the {@code '~'}, which a {@link TaskIds} id never contains.
 */
public final class VerificationIds {
    private VerificationIds() {}

    /** Separator between the shard's task id and the verification suffix. */
    public static final char SEPARATOR = '~';
    /** Highest referee round: k = 3 votes plus replacements for referees that could not count. */
    public static final int MAX_ROUND = 9;

    public static String sample(String taskId) {
        return checkedShard(taskId) + SEPARATOR + "s";
    }

    public static String referee(String taskId, int round) {
        if (round < 1 || round > MAX_ROUND) {
            throw new IllegalArgumentException("referee round " + round + " is outside 1.." + MAX_ROUND);
        }
        return checkedShard(taskId) + SEPARATOR + "r" + round;
    }

    /** True for an id of this form (it may still name a shard that does not exist). */
    public static boolean isVerification(String id) {
        return round(id).isPresent();
    }

    /** The shard's task id of a verification id, or empty when {@code id} is not one. */
    public static Optional<String> shardOf(String id) {
        return round(id).isPresent() ? Optional.of(id.substring(0, id.lastIndexOf(SEPARATOR))) : Optional.empty();
    }

    /** 0 for the sampled re-execution, the round for a referee, empty when {@code id} is not a verification id. */
    public static OptionalInt round(String id) {
        if (id == null) {
            return OptionalInt.empty();
        }
        int at = id.indexOf(SEPARATOR);
        if (at <= 0 || at != id.lastIndexOf(SEPARATOR)) {
            return OptionalInt.empty();
        }
        String suffix = id.substring(at + 1);
        if (suffix.equals("s")) {
            return OptionalInt.of(0);
        }
        if (suffix.length() == 2 && suffix.charAt(0) == 'r' && suffix.charAt(1) >= '1' && suffix.charAt(1) <= '0' + MAX_ROUND) {
            return OptionalInt.of(suffix.charAt(1) - '0');
        }
        return OptionalInt.empty();
    }

    private static String checkedShard(String taskId) {
        if (taskId == null || taskId.isEmpty() || taskId.indexOf(SEPARATOR) >= 0) {
            throw new IllegalArgumentException("not a shard task id: " + taskId);
        }
        return taskId;
    }
}
