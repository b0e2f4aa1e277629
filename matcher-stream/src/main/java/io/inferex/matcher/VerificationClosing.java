package io.inferex.matcher;

import io.inferex.events.ShardTask;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.VerificationIds;
import java.util.ArrayList;
import java.util.List;

/**
 * When the verifier's decision on a shard closes its verification, and which of the matcher's
 * re-execution tasks that decision closes: pure. A decided dispute (FRAUD, UPHELD, INCONCLUSIVE)
 * needs none of its referee rounds still out, and a sampled result made FINAL needs no sample any
 * more (a sample nobody answered in time is given up). The matcher then revokes their open leases
 * at once, as unneeded (no fault of the node), rather than leave them to their deadline.
 */
final class VerificationClosing {
    private VerificationClosing() {}

    /** True for an outcome after which no re-execution of its shard asked before it is needed. */
    static boolean closes(VerificationOutcome outcome) {
        return switch (outcome.getKind()) {
            case FRAUD, UPHELD, INCONCLUSIVE -> true;
            case FINAL -> outcome.getSampled();
            default -> false; // DISPUTED opens rounds; CHALLENGE_REFUSED and UNKNOWN close nothing here
        };
    }

    /** The ids of every re-execution the matcher may hold for the outcome's shard: its sample and each referee round. */
    static List<String> verificationIdsOf(VerificationOutcome outcome) {
        String shard = outcome.getTaskId();
        if (shard == null || shard.isEmpty() || VerificationIds.isVerification(shard) || shard.indexOf(VerificationIds.SEPARATOR) >= 0) {
            return List.of(); // not a shard id: names nothing the matcher holds
        }
        List<String> ids = new ArrayList<>(VerificationIds.MAX_ROUND + 1);
        ids.add(VerificationIds.sample(shard));
        for (int round = 1; round <= VerificationIds.MAX_ROUND; round++) {
            ids.add(VerificationIds.referee(shard, round));
        }
        return ids;
    }

    /**
     * Whether {@code task}, one of {@link #verificationIdsOf}, is closed by the outcome: only a
     * re-execution the verifier asked for before it decided (a later dispute of the same shard, say
     * on a customer's challenge, asks again and is not closed by an older decision).
     */
    static boolean closesTask(VerificationOutcome outcome, ShardTask task) {
        return task.getCreatedAtMs() <= outcome.getDecidedAtMs();
    }
}
