package io.inferex.ingest;

import io.inferex.events.ChallengeBond;
import io.inferex.events.ChallengeBondStatus;
import io.inferex.events.VerificationOutcome;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What became of each customer challenge, as ingest learns it: filed here, then settlement's answer
 * on {@code challenge-bonds} (bond locked, or refused), then the verifier's outcomes that name it
 * (disputed, and upheld, fraud, inconclusive or refused). At start it is restored from the tracker's
 * checkpoint ({@link #restore}) and the log is read on from the offsets it covers (or rebuilt from
 * the log's beginning when there is none). A challenge only moves forward (filed, answered,
 * disputed, decided), so a bond or an outcome read again changes nothing: a start may re-read
 * outcomes the checkpoint already reflects. It keeps one small {@link View} per challenge filed
 * (bonded, so rare); a decided challenge whose batch has been over for {@link #RETENTION_MS} is
 * dropped ({@link #prune}). Thread-safe (one monitor).
 */
public final class ChallengeBook {
    /** Where a challenge stands, as the API shows it. */
    public enum Status {
        /** Filed; settlement has not answered yet. */
        SUBMITTED,
        /** Settlement refused it (nothing was locked). */
        REFUSED,
        /** The bond is locked; the verifier has not opened the dispute yet. */
        BOND_LOCKED,
        /** Referees are re-executing the shard. */
        DISPUTED,
        /** The referees agreed with the executor: the bond is forfeited. */
        UPHELD,
        /** The referees found the result wrong: the bond is returned and the challenger rewarded from the slash. */
        FRAUD,
        /** Not enough referees in time: the bond is returned. */
        INCONCLUSIVE,
        /** The verifier could not take the challenge (result already decided, window closed, already challenged): the bond is returned. */
        VERIFIER_REFUSED;

        boolean terminal() {
            return this == REFUSED || this == UPHELD || this == FRAUD || this == INCONCLUSIVE || this == VERIFIER_REFUSED;
        }
    }

    /** One challenge. {@code customId}: the line the customer named, when this instance saw it filed. */
    public record View(String id, String batchId, String taskId, String customId, String customerAccount, long bondMicros,
            Status status, String reason, String detail, long createdAtMs, long updatedAtMs) {
        View with(Status next, String why, long at) {
            return new View(id, batchId, taskId, customId, customerAccount, bondMicros, next, reason, why, createdAtMs, at);
        }
    }

    /** How long a decided challenge is kept after its batch is over (and after its decision). */
    public static final long RETENTION_MS = 30L * 24 * 3600_000;

    private final Map<String, View> byId = new HashMap<>();

    public synchronized void filed(View v) {
        byId.putIfAbsent(v.id(), v);
    }

    /** Settlement's answer. */
    public synchronized void onBond(ChallengeBond b) {
        var c = b.getChallenge();
        View v = byId.get(c.getChallengeId());
        if (v == null) {
            v = new View(c.getChallengeId(), c.getJobId(), c.getTaskId(), null, c.getChallengerId(), c.getBondMicros(), Status.SUBMITTED,
                    c.getReason(), "", c.getCreatedAtMs(), c.getCreatedAtMs());
        } else if (v.customerAccount() == null) { // known from an outcome read first: the challenge's own facts now
            v = new View(v.id(), c.getJobId(), c.getTaskId(), v.customId(), c.getChallengerId(), c.getBondMicros(), v.status(),
                    c.getReason(), v.detail(), c.getCreatedAtMs(), v.updatedAtMs());
        }
        if (v.status() == Status.SUBMITTED) { // else a later stage was already seen (or a replayed answer)
            v = v.with(b.getStatus() == ChallengeBondStatus.LOCKED ? Status.BOND_LOCKED : Status.REFUSED, b.getReason(), b.getAtMs());
        }
        byId.put(v.id(), v);
    }

    /**
     * A verification outcome that names a challenge. The two topics are read side by side, so it may
     * come before the bond: the challenge is then known from the outcome until the bond fills in its
     * facts, and ends the same whatever the order.
     */
    public synchronized void onOutcome(VerificationOutcome o) {
        if (o.getChallengeId() == null) {
            return;
        }
        Status next = switch (o.getKind()) {
            case DISPUTED -> Status.DISPUTED;
            case UPHELD -> Status.UPHELD;
            case FRAUD -> Status.FRAUD;
            case INCONCLUSIVE -> Status.INCONCLUSIVE;
            case CHALLENGE_REFUSED -> Status.VERIFIER_REFUSED;
            default -> null;
        };
        View v = byId.get(o.getChallengeId());
        if (next == null) {
            return;
        }
        if (v == null) {
            byId.put(o.getChallengeId(), new View(o.getChallengeId(), o.getJobId(), o.getTaskId(), null, null, 0, next, "",
                    o.getReason(), o.getDecidedAtMs(), o.getDecidedAtMs()));
        } else if (!v.status().terminal() && next != v.status()) { // the same dispute read again: nothing moves
            byId.put(v.id(), v.with(next, o.getReason(), o.getDecidedAtMs()));
        }
    }

    public synchronized Optional<View> get(String id) {
        return Optional.ofNullable(byId.get(id));
    }

    /** A batch's challenges, oldest first. */
    public synchronized List<View> ofBatch(String batchId) {
        List<View> out = new ArrayList<>();
        for (View v : byId.values()) {
            if (v.batchId().equals(batchId)) {
                out.add(v);
            }
        }
        out.sort(Comparator.comparingLong(View::createdAtMs).thenComparing(View::id));
        return out;
    }

    public synchronized void forgetBatch(String batchId) {
        byId.values().removeIf(v -> v.batchId().equals(batchId));
    }

    /** Every challenge known, by id: what a checkpoint keeps. */
    public synchronized List<View> views() {
        List<View> out = new ArrayList<>(byId.values());
        out.sort(Comparator.comparing(View::id));
        return out;
    }

    /**
     * The challenges of a checkpoint; one already known here is kept as it is (this book has read
     * at least as far as the checkpoint when the tracker's consumer is replaced).
     */
    public synchronized void restore(Collection<View> views) {
        views.forEach(v -> byId.putIfAbsent(v.id(), v));
    }

    /**
     * Drops the decided challenges decided before {@code nowMs - RETENTION_MS} whose batch
     * {@code over} says has been over (final, verification done) since before then. Returns how
     * many were dropped. Run with a checkpoint, not per record.
     */
    public synchronized int prune(long nowMs, java.util.function.BiPredicate<String, Long> over) {
        long before = nowMs - RETENTION_MS;
        int n = byId.size();
        byId.values().removeIf(v -> v.status().terminal() && v.updatedAtMs() < before && over.test(v.batchId(), before));
        return n - byId.size();
    }

    public synchronized int size() {
        return byId.size();
    }
}
