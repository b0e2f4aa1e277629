package io.inferex.ledger;

import io.inferex.events.Challenge;
import io.inferex.events.ChallengeBond;
import io.inferex.events.ChallengeBondStatus;
import io.inferex.events.JobStatus;
import io.inferex.events.NodeStake;
import java.util.ArrayList;

/**
 * How a {@link LedgerRules.Decision} is written into ledger state, once, for every holder of that
 * state: the settlement's stores ({@code LedgerProcessor}) and the audit's in-memory replay
 * ({@code ReplayLedger}). The holder says how to put each piece ({@link Store}); this class says
 * what goes where, in which order, and for how long (the payment replay window for applied ids,
 * the finality grace for an open bond).
 */
public final class LedgerWriter {
    private LedgerWriter() {}

    /** The ledger state a decision is written into. */
    public interface Store {
        void balance(String account, long micros);

        /** A payment id applied, remembered until {@code untilMs}. */
        void paymentApplied(String paymentId, long untilMs);

        /** A verification lease paid, remembered until {@code untilMs}. */
        void verificationPaid(String leaseId, long untilMs);

        /** The job closed: forget its deadline and every mark. */
        void jobClosed(String jobId);

        void deadline(String jobId, long atMs);

        void mark(String jobId, String mark, long value);

        /** The node's stake, and when its unlocking part is released ({@code null}: nothing unlocking). */
        void stake(NodeStake stake, Long releaseAtMs);

        /** A bond locked (without its evidence), returned at {@code timeoutAtMs} if never answered. */
        void bondOpened(ChallengeBond bond, long timeoutAtMs);

        void bondClosed(String challengeId);

        void job(JobStatus status);
    }

    /** Writes an applicable decision (not refused, not ignored): balances, ids and marks, stakes, bonds, then the job's status. */
    public static void write(LedgerRules.Decision d, long ts, LedgerConfig config, Store store) {
        if (d.refusal() != null || d.ignored()) {
            throw new IllegalArgumentException("a refused or ignored decision writes nothing");
        }
        d.balances().forEach(store::balance);
        if (d.paymentId() != null) {
            store.paymentApplied(d.paymentId(), ts + config.paymentReplayWindow().toMillis());
        }
        if (d.verificationLeaseId() != null) {
            store.verificationPaid(d.verificationLeaseId(), ts + config.paymentReplayWindow().toMillis());
        }
        String jobId = d.jobId();
        if (jobId != null && d.jobClosed()) {
            store.jobClosed(jobId); // terminal: later verdicts and outcomes of the job are ignored, so its marks can go
        } else if (jobId != null) {
            if (d.deadlineMs() != null) {
                store.deadline(jobId, d.deadlineMs());
            }
            d.jobMarks().forEach((mark, value) -> store.mark(jobId, mark, value));
        }
        for (NodeStake s : d.stakes()) {
            store.stake(s, s.getUnlockingMicros() > 0 ? s.getUnlockAtMs() : null);
        }
        for (ChallengeBond b : d.bondAnswers()) {
            if (b.getStatus() == ChallengeBondStatus.LOCKED) {
                // Kept without the evidence (the verifier gets it on the topic); until settled or timed out.
                Challenge bare = Challenge.newBuilder(b.getChallenge()).setInputRows(new ArrayList<>()).setRows(new ArrayList<>()).build();
                store.bondOpened(ChallengeBond.newBuilder(b).setChallenge(bare).build(), ts + config.finalityGrace().toMillis());
            }
        }
        d.bondsClosed().forEach(store::bondClosed);
        if (d.status() != null) {
            store.job(d.status());
        }
    }
}
