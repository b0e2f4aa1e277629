package io.inferex.executor.node;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Predicate;

/**
 * Which pending leases join the node's next inference call (micro-batching across leased shards).
 * Pure: pending leases and the time in, a decision out; no model, no threads, no Kafka.
 *
 * <p>Rules, in this order:
 * <ul>
 *   <li>The oldest pending lease (the head) always runs in the next call, whatever its size.
 *   <li>A model not known to be batch-invariant (its outputs may depend on what else is in the
 *       batch: the int8 model, any model not measured) runs its shard alone, at once.
 *   <li>Otherwise later leases of the head's model join in arrival order while the rows stay
 *       within {@code maxRows}; the first that does not fit ends the group (first come, first run).
 *   <li>The group runs now when it is full (the next lease of the model did not fit, or it holds
 *       exactly {@code maxRows}), when the head has waited {@code maxWait}, or when no more leases
 *       can arrive (the node is full and takes no new leases: waiting would only delay); else the
 *       decision is to wait until the head's {@code maxWait} is up.
 * </ul>
 */
final class MicroBatchPlan {

    /** A lease waiting to run: its model, row count and when the node took it. */
    record Pending(String leaseId, String model, int rows, long takenAtMs) {
        Pending {
            Objects.requireNonNull(leaseId, "leaseId");
            Objects.requireNonNull(model, "model");
        }
    }

    /**
     * @param run the leases of the next call, in arrival order (empty: nothing to run now)
     * @param waitMs when {@code run} is empty, how long to wait at most before asking again
     */
    record Decision(List<Pending> run, long waitMs) {
        static Decision waitFor(long ms) {
            return new Decision(List.of(), ms);
        }
    }

    private final int maxRows;
    private final long maxWaitMs;
    private final Predicate<String> batchInvariant;

    /**
     * @param maxRows most rows in one call (a single larger shard still runs, alone)
     * @param maxWait longest a lease waits for others to join it
     * @param batchInvariant whether a model's outputs are bit-identical whatever else is in its batch
     */
    MicroBatchPlan(int maxRows, Duration maxWait, Predicate<String> batchInvariant) {
        if (maxRows < 1) {
            throw new IllegalArgumentException("micro-batch max rows must be at least 1, was " + maxRows);
        }
        if (maxWait.isNegative()) {
            throw new IllegalArgumentException("micro-batch max wait must not be negative, was " + maxWait);
        }
        this.maxRows = maxRows;
        this.maxWaitMs = maxWait.toMillis();
        this.batchInvariant = Objects.requireNonNull(batchInvariant);
    }

    /** Micro-batching off: every lease runs alone, at once (one shard per inference call). */
    static MicroBatchPlan off() {
        return new MicroBatchPlan(1, Duration.ZERO, model -> false);
    }

    /**
     * @param pending leases taken and not yet run, oldest first
     * @param moreCanArrive false when the node is full (no free slot, so the feed takes no lease)
     */
    Decision next(List<Pending> pending, long nowMs, boolean moreCanArrive) {
        if (pending.isEmpty()) {
            return Decision.waitFor(maxWaitMs);
        }
        Pending head = pending.get(0);
        if (!batchInvariant.test(head.model())) {
            return new Decision(List.of(head), 0);
        }
        List<Pending> group = new ArrayList<>();
        group.add(head);
        long rows = head.rows();
        boolean full = rows >= maxRows;
        for (int i = 1; i < pending.size() && !full; i++) {
            Pending p = pending.get(i);
            if (!p.model().equals(head.model())) {
                continue;
            }
            if (rows + p.rows() > maxRows) {
                full = true;
                break;
            }
            group.add(p);
            rows += p.rows();
            full = rows >= maxRows;
        }
        long waited = nowMs - head.takenAtMs();
        if (full || waited >= maxWaitMs || !moreCanArrive) {
            return new Decision(List.copyOf(group), 0);
        }
        return Decision.waitFor(maxWaitMs - waited);
    }
}
