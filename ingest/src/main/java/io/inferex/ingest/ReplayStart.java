package io.inferex.ingest;

import java.util.Collection;
import java.util.Map;

/**
 * Where the market tracker starts reading, so that a start does not grow with the whole history.
 * Pure: the decisions, with the Kafka look-ups done by the tracker.
 *
 * <p><b>Job topics</b> ({@code results}, {@code verdicts}, {@code job-status}): only the batches
 * this instance still follows need them (running, or completed with a provisional output whose
 * verification is not over). Everything about a batch is published after it was created, so
 * reading from the earliest creation time among them (or now, when there is none), less a margin
 * for the clocks of the producers that stamp the records, sees all of it.
 *
 * <p><b>Ledger</b>: from a {@link LedgerCheckpoint} when it covers exactly the ledger's partitions
 * and none of its offsets lies past a partition's end (a ledger recreated under the same name):
 * otherwise from the beginning.
 */
public final class ReplayStart {
    private ReplayStart() {}

    /**
     * The record time (epoch ms) from which the job topics are read: the earliest creation of a
     * followed batch, or now when there is none (a batch created while the reader starts is then
     * still covered), less {@code marginMs}.
     */
    public static long jobTopicsFromMs(Collection<StoredBatch> batches, long nowMs, long marginMs) {
        long from = nowMs;
        for (StoredBatch b : batches) {
            if (!b.finalized() || b.awaitsVerification()) {
                from = Math.min(from, Math.multiplyExact(b.createdAt(), 1000L));
            }
        }
        return Math.max(0, from - marginMs);
    }

    /** Whether a checkpoint's offsets fit the ledger as it is now ({@code ends}: partition → end offset). */
    public static boolean checkpointFits(Map<Integer, Long> checkpoint, Map<Integer, Long> ends) {
        if (!checkpoint.keySet().equals(ends.keySet())) {
            return false;
        }
        for (Map.Entry<Integer, Long> e : checkpoint.entrySet()) {
            if (e.getValue() < 0 || e.getValue() > ends.get(e.getKey())) {
                return false;
            }
        }
        return true;
    }
}
