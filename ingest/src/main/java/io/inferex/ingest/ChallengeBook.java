package io.inferex.ingest;

import io.inferex.events.ChallengeBond;
import io.inferex.events.ChallengeBondStatus;
import io.inferex.events.VerificationOutcome;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * What became of each customer challenge, as ingest learns it: filed here, then settlement's answer
 * on {@code challenge-bonds} (bond locked, or refused), then the verifier's outcomes that name it
 * (disputed, and upheld, fraud, inconclusive or refused). Rebuilt from the log at start, like the
 * rest of the tracker's state; challenges are bonded and rare, and a batch's are forgotten with it.
 * Thread-safe (one monitor).
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

    private final Map<String, View> byId = new HashMap<>();

    public synchronized void filed(View v) {
        byId.putIfAbsent(v.id(), v);
    }

    /** Settlement's answer. */
    public synchronized void onBond(ChallengeBond b) {
        var c = b.getChallenge();
        View v = byId.computeIfAbsent(c.getChallengeId(), id -> new View(id, c.getJobId(), c.getTaskId(), null,
                c.getChallengerId(), c.getBondMicros(), Status.SUBMITTED, c.getReason(), "", c.getCreatedAtMs(), c.getCreatedAtMs()));
        if (v.status() != Status.SUBMITTED) {
            return; // a later stage was already seen (or a replayed answer)
        }
        Status next = b.getStatus() == ChallengeBondStatus.LOCKED ? Status.BOND_LOCKED : Status.REFUSED;
        byId.put(v.id(), v.with(next, b.getReason(), b.getAtMs()));
    }

    /** A verification outcome that names a challenge. */
    public synchronized void onOutcome(VerificationOutcome o) {
        if (o.getChallengeId() == null) {
            return;
        }
        View v = byId.get(o.getChallengeId());
        if (v == null || v.status().terminal()) {
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
        if (next != null) {
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
}
