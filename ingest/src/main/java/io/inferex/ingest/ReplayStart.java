package io.inferex.ingest;

import java.util.Collection;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;

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
 *
 * <p><b>Challenges</b> ({@code challenge-bonds}, {@code verification-outcomes}): from the same
 * checkpoint's offsets when it has them and they fit both topics ({@link #challengesFrom});
 * verification-outcomes from the earlier of its offset and where the job topics start, because the
 * followed batches' verification needs their outcomes too (outcomes the restored challenges already
 * reflect are read again harmlessly: {@link ChallengeBook} only moves forward). Otherwise both from
 * their beginning, as when a checkpoint has no challenges.
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

    /** Offsets per partition number of {@code challenge-bonds} and {@code verification-outcomes}. */
    public record ChallengeStart(Map<Integer, Long> bonds, Map<Integer, Long> outcomes) {}

    /**
     * Where the challenge topics are read from, the checkpoint's challenges being restored; empty
     * when there are none to restore (no checkpoint, one without challenges, or offsets that do not
     * fit a topic as it is now): both then from their beginning.
     *
     * @param bondEnds end offset per {@code challenge-bonds} partition now
     * @param outcomeEnds end offset per {@code verification-outcomes} partition now
     * @param outcomesAtJobStart per {@code verification-outcomes} partition, the first offset at the
     *     job topics' start time ({@link #jobTopicsFromMs}; its end when nothing is that recent)
     */
    public static Optional<ChallengeStart> challengesFrom(LedgerCheckpoint.Challenges checkpoint, Map<Integer, Long> bondEnds,
            Map<Integer, Long> outcomeEnds, Map<Integer, Long> outcomesAtJobStart) {
        if (checkpoint == null || checkpoint.views() == null || checkpoint.bonds() == null || checkpoint.outcomes() == null
                || !checkpointFits(checkpoint.bonds(), bondEnds) || !checkpointFits(checkpoint.outcomes(), outcomeEnds)) {
            return Optional.empty();
        }
        Map<Integer, Long> outcomes = new TreeMap<>();
        checkpoint.outcomes().forEach((p, at) -> outcomes.put(p, Math.min(at, outcomesAtJobStart.getOrDefault(p, at))));
        return Optional.of(new ChallengeStart(checkpoint.bonds(), outcomes));
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
