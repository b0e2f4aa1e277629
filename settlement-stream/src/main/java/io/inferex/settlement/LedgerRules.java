package io.inferex.settlement;

import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.events.Payment;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.market.Accounts;
import io.inferex.market.Money;
import io.inferex.market.TaskIds;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.regex.Pattern;

/**
 * The ledger's decisions, pure: an event and a read-only view of the ledger in, a {@link Decision}
 * out. Every check (ids, accounts, amounts, the task's membership in its job, and every balance
 * the decision would write, with exact arithmetic) runs before the decision exists, so the
 * processor either writes all of a decision or, for a refusal, nothing at all.
 */
final class LedgerRules {
    /** What the rules read. */
    interface LedgerState {
        long balance(String account);

        /** The job book entry, or null. */
        JobStatus job(String jobId);

        boolean paymentApplied(String paymentId);

        boolean verdictApplied(String jobId, String verdictId);

        boolean shardPaid(String jobId, String taskId);
    }

    /**
     * One decision. {@code refusal} set: dead-letter the event with that reason, write nothing.
     * Otherwise write, in this order: {@code balances}, the {@code transfers} (already reflected in
     * the balances), the markers, then {@code status}. {@code ignored}: nothing to do (a duplicate).
     */
    record Decision(String refusal, boolean ignored, Map<String, Long> balances, List<Transfer> transfers,
            String paymentId, String verdictId, String paidTaskId, JobStatus status, Long deadlineMs, boolean jobClosed) {

        static Decision refuse(String reason) {
            return new Decision(reason, false, Map.of(), List.of(), null, null, null, null, null, false);
        }

        static Decision ignore() {
            return new Decision(null, true, Map.of(), List.of(), null, null, null, null, null, false);
        }
    }

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9_.~@-][A-Za-z0-9_.~@:-]{0,199}");
    private static final Pattern WINDOW = Pattern.compile("(\\d{1,4})h");
    private final int feeBps;
    private final Duration paymentReplayWindow;

    LedgerRules(int feeBps, Duration paymentReplayWindow) {
        this.feeBps = feeBps;
        this.paymentReplayWindow = paymentReplayWindow;
    }

    /** "24h" → 24 hours; the OpenAI Batch API's only window today, but any whole number of hours is read. */
    static Duration window(String completionWindow) {
        var m = WINDOW.matcher(completionWindow == null ? "" : completionWindow.trim());
        return m.matches() ? Duration.ofHours(Long.parseLong(m.group(1))) : Duration.ofHours(24);
    }

    /**
     * Accounts a payment may name: a customer's or a node's own account. Never {@code external}
     * (a deposit to it would move money from the outside world to itself), {@code treasury},
     * {@code escrow:*} or {@code stake:*}: those move only as a consequence of the market's rules.
     */
    static boolean isParticipantAccount(String account) {
        return account != null && (account.startsWith("customer:") || account.startsWith("node:"))
                && ID.matcher(account.substring(account.indexOf(':') + 1)).matches();
    }

    Decision payment(Payment p, long now, LedgerState state) {
        long amount = p.getAmountMicros();
        String account = p.getAccountId();
        if (p.getPaymentId() == null || p.getPaymentId().isBlank()) {
            return Decision.refuse("payment without an id");
        }
        if (state.paymentApplied(p.getPaymentId())) {
            return Decision.ignore();
        }
        if (p.getAtMs() < now - paymentReplayWindow.toMillis()) {
            // Applied ids are kept for the replay window only: an older payment cannot be told from a replay.
            return Decision.refuse("payment " + p.getPaymentId() + " made at " + p.getAtMs() + " is older than the "
                    + paymentReplayWindow.toDays() + "-day replay window");
        }
        if (amount <= 0) {
            return Decision.refuse("payment " + p.getPaymentId() + " has non-positive amount " + amount);
        }
        if (!isParticipantAccount(account)) {
            return Decision.refuse("payment " + p.getPaymentId() + " names account " + account
                    + ": only customer:<id> and node:<id> accounts take deposits, withdrawals and stakes");
        }
        Plan plan = new Plan(state, now);
        switch (p.getKind()) {
            case DEPOSIT -> plan.move(Accounts.EXTERNAL, account, amount, TransferKind.DEPOSIT, null, p.getPaymentId());
            case WITHDRAWAL -> {
                if (state.balance(account) < amount) {
                    return Decision.refuse("withdrawal of " + Money.format(amount) + " exceeds balance "
                            + Money.format(state.balance(account)));
                }
                plan.move(account, Accounts.EXTERNAL, amount, TransferKind.WITHDRAWAL, null, p.getPaymentId());
            }
            case STAKE -> {
                if (!account.startsWith("node:")) {
                    return Decision.refuse("only node accounts stake, not " + account);
                }
                if (state.balance(account) < amount) {
                    return Decision.refuse("stake of " + Money.format(amount) + " exceeds balance "
                            + Money.format(state.balance(account)));
                }
                plan.move(account, Accounts.stake(account.substring("node:".length())), amount, TransferKind.STAKE_LOCK,
                        null, p.getPaymentId());
            }
        }
        return plan.refusal != null ? Decision.refuse(plan.refusal)
                : new Decision(null, false, plan.balances, plan.transfers, p.getPaymentId(), null, null, null, null, false);
    }

    Decision job(JobSubmitted j, long now, LedgerState state) {
        if (j.getJobId() == null || !ID.matcher(j.getJobId()).matches() || j.getJobId().contains(":")) {
            return Decision.refuse("job id " + j.getJobId() + " is not a plain id");
        }
        if (state.job(j.getJobId()) != null) {
            return Decision.ignore(); // already applied (a replayed or duplicated acceptance)
        }
        if (j.getCustomerId() == null || !ID.matcher(j.getCustomerId()).matches()) {
            return Decision.refuse("job " + j.getJobId() + ": customer id " + j.getCustomerId() + " is not a plain id");
        }
        if (j.getRowCount() < 1 || j.getShardCount() < 1 || j.getShardCount() > j.getRowCount()) {
            return Decision.refuse("job " + j.getJobId() + ": " + j.getRowCount() + " rows in " + j.getShardCount()
                    + " shards: need 1 <= shards <= rows");
        }
        long deadline;
        long escrowNeeded;
        try {
            escrowNeeded = Math.multiplyExact((long) j.getRowCount(), j.getMaxPricePerRowMicros());
            deadline = Math.addExact(j.getSubmittedAtMs(), window(j.getCompletionWindow()).toMillis());
        } catch (ArithmeticException overflow) {
            return Decision.refuse("job " + j.getJobId() + ": amount or deadline overflows a long: " + overflow.getMessage());
        }
        if (j.getMaxPricePerRowMicros() < 0 || j.getEscrowMicros() != escrowNeeded) {
            return Decision.refuse("job " + j.getJobId() + ": escrow " + j.getEscrowMicros() + " is not rows x max price "
                    + j.getRowCount() + " x " + j.getMaxPricePerRowMicros());
        }
        String customer = Accounts.customer(j.getCustomerId());
        JobStatus status = JobStatus.newBuilder().setJobId(j.getJobId()).setCustomerId(j.getCustomerId())
                .setState(JobState.IN_PROGRESS).setRowCount(j.getRowCount()).setCompletedRows(0).setFailedRows(0)
                .setShardCount(j.getShardCount()).setShardsDone(0).setSpentMicros(0).setUpdatedAtMs(now).build();
        if (state.balance(customer) < j.getEscrowMicros()) {
            status.setState(JobState.FAILED);
            status.setFailedRows(j.getRowCount());
            status.setError("insufficient funds: balance " + Money.format(state.balance(customer))
                    + " < escrow " + Money.format(j.getEscrowMicros()));
            return new Decision(null, false, Map.of(), List.of(), null, null, null, status, null, false);
        }
        Plan plan = new Plan(state, now);
        plan.move(customer, Accounts.escrow(j.getJobId()), j.getEscrowMicros(), TransferKind.ESCROW, j.getJobId(), j.getJobId());
        return plan.refusal != null ? Decision.refuse(plan.refusal)
                : new Decision(null, false, plan.balances, plan.transfers, null, null, null, status, deadline, false);
    }

    Decision verdict(Verdict v, long now, LedgerState state) {
        JobStatus job = state.job(v.getJobId());
        if (job == null) {
            return Decision.refuse("verdict " + v.getVerdictId() + " for unknown job " + v.getJobId());
        }
        if (job.getState() != JobState.IN_PROGRESS || v.getOutcome() != VerdictOutcome.ACCEPTED
                || state.verdictApplied(v.getJobId(), v.getVerdictId())) {
            return Decision.ignore(); // rejections move no money; a closed or failed job pays nothing
        }
        OptionalInt index = TaskIds.indexOf(v.getJobId(), v.getTaskId(), job.getShardCount());
        if (index.isEmpty()) {
            return Decision.refuse("verdict " + v.getVerdictId() + ": task " + v.getTaskId() + " is not one of the "
                    + job.getShardCount() + " shards ingest published for job " + v.getJobId());
        }
        if (state.shardPaid(v.getJobId(), v.getTaskId())) {
            return Decision.ignore(); // a shard is paid once
        }
        if (v.getNodeId() == null || !ID.matcher(v.getNodeId()).matches()) {
            return Decision.refuse("verdict " + v.getVerdictId() + " names node " + v.getNodeId());
        }
        if (v.getRowCount() < 1 || v.getRowCount() > job.getRowCount() - job.getCompletedRows() || v.getPricePerRowMicros() < 0) {
            return Decision.refuse("verdict " + v.getVerdictId() + ": " + v.getRowCount() + " rows at " + v.getPricePerRowMicros()
                    + " for a job with " + (job.getRowCount() - job.getCompletedRows()) + " rows left");
        }
        String escrow = Accounts.escrow(v.getJobId());
        long amount;
        try {
            amount = Math.multiplyExact((long) v.getRowCount(), v.getPricePerRowMicros());
        } catch (ArithmeticException overflow) {
            return Decision.refuse("payout overflows a long: " + overflow.getMessage());
        }
        if (amount > state.balance(escrow)) {
            return Decision.refuse("payout " + Money.format(amount) + " exceeds escrow left " + Money.format(state.balance(escrow)));
        }
        long fee = Money.basisPoints(amount, feeBps);
        Plan plan = new Plan(state, now);
        plan.move(escrow, Accounts.node(v.getNodeId()), amount - fee, TransferKind.PAYOUT, v.getJobId(), v.getVerdictId());
        plan.move(escrow, Accounts.TREASURY, fee, TransferKind.FEE, v.getJobId(), v.getVerdictId());
        JobStatus next = JobStatus.newBuilder(job).setShardsDone(job.getShardsDone() + 1)
                .setCompletedRows(job.getCompletedRows() + v.getRowCount()).setUpdatedAtMs(now).build();
        boolean closed = next.getShardsDone() >= next.getShardCount();
        try {
            next.setSpentMicros(Math.addExact(job.getSpentMicros(), amount));
        } catch (ArithmeticException overflow) {
            return Decision.refuse("spent amount overflows a long: " + overflow.getMessage());
        }
        if (closed) {
            plan.move(escrow, Accounts.customer(job.getCustomerId()), plan.balance(escrow), TransferKind.REFUND, v.getJobId(),
                    v.getJobId() + "/release");
            next.setState(JobState.COMPLETED);
        }
        return plan.refusal != null ? Decision.refuse(plan.refusal)
                : new Decision(null, false, plan.balances, plan.transfers, null, v.getVerdictId(), v.getTaskId(), next, null, closed);
    }

    /** The job's window has passed while it is still open: what was accepted stays paid, the rest goes back. */
    Decision expire(String jobId, long now, LedgerState state) {
        JobStatus job = state.job(jobId);
        if (job == null || job.getState() != JobState.IN_PROGRESS) {
            return Decision.ignore();
        }
        String escrow = Accounts.escrow(jobId);
        Plan plan = new Plan(state, now);
        plan.move(escrow, Accounts.customer(job.getCustomerId()), state.balance(escrow), TransferKind.REFUND, jobId,
                jobId + "/expired");
        JobStatus next = JobStatus.newBuilder(job).setState(JobState.EXPIRED)
                .setFailedRows(job.getRowCount() - job.getCompletedRows())
                .setError("completion window passed with " + job.getShardsDone() + " of " + job.getShardCount() + " shards done")
                .setUpdatedAtMs(now).build();
        return plan.refusal != null ? Decision.refuse(plan.refusal)
                : new Decision(null, false, plan.balances, plan.transfers, null, null, null, next, null, true);
    }

    /**
     * Transfers planned on top of the ledger's balances, in memory: nothing is written here. A
     * transfer between one account and itself, or one that would overflow or take an account
     * other than {@code external} below zero, refuses the whole plan.
     */
    static final class Plan {
        final LedgerState state;
        final long at;
        final Map<String, Long> balances = new LinkedHashMap<>();
        final List<Transfer> transfers = new ArrayList<>();
        String refusal;

        Plan(LedgerState state, long at) {
            this.state = state;
            this.at = at;
        }

        long balance(String account) {
            Long b = balances.get(account);
            return b != null ? b : state.balance(account);
        }

        /** A zero amount moves nothing and emits nothing. */
        void move(String from, String to, long amount, TransferKind kind, String jobId, String cause) {
            if (refusal != null || amount == 0) {
                return;
            }
            if (from.equals(to)) {
                refusal = "transfer of " + Money.format(amount) + " from " + from + " to itself";
                return;
            }
            if (amount < 0) {
                refusal = "negative transfer " + amount + " from " + from + " to " + to;
                return;
            }
            long fromAfter;
            long toAfter;
            try {
                fromAfter = Math.subtractExact(balance(from), amount);
                toAfter = Math.addExact(balance(to), amount);
            } catch (ArithmeticException overflow) {
                refusal = "amount overflows a long balance: " + overflow.getMessage();
                return;
            }
            if (fromAfter < 0 && !from.equals(Accounts.EXTERNAL)) {
                refusal = "transfer of " + Money.format(amount) + " would overdraw " + from;
                return;
            }
            balances.put(from, fromAfter);
            balances.put(to, toAfter);
            transfers.add(Transfer.newBuilder().setTransferId(cause + "/" + kind.name().toLowerCase() + "/" + to)
                    .setDebitAccount(from).setCreditAccount(to).setAmountMicros(amount).setKind(kind)
                    .setJobId(jobId).setCause(cause).setAtMs(at).build());
        }
    }
}
