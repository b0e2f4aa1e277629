package io.inferex.ledger;

import io.inferex.events.Challenge;
import io.inferex.events.ChallengeBond;
import io.inferex.events.ChallengeBondStatus;
import io.inferex.events.JobCancelRequested;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.events.NodeStake;
import io.inferex.events.OutcomeKind;
import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.market.Accounts;
import io.inferex.market.Money;
import io.inferex.market.TaskIds;
import io.inferex.market.VerificationIds;
import io.inferex.verification.ChallengeBonds;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Pattern;
import org.apache.avro.specific.SpecificRecord;

/**
 * The ledger's decisions, pure: an event and a read-only view of the ledger in, a {@link Decision}
 * out. Every check (ids, accounts, amounts, the task's membership in its job, and every balance
 * the decision would write, with exact arithmetic) runs before the decision exists, so the
 * processor either writes all of a decision or, for a refusal, nothing at all.
 *
 * <p>A shard's life: its form-ACCEPTED {@link Verdict} counts it as accepted (no money moves; once
 * every shard is accepted the job is FINALIZING); its {@link VerificationOutcome} FINAL pays it
 * (rows x lease price, less the fee) and FRAUD slashes its node and resolves it unpaid; once every
 * shard is resolved the job is COMPLETED and the rest of its escrow goes back to the customer.
 */
public final class LedgerRules {
    /** What the rules read. */
    public interface LedgerState {
        long balance(String account);

        /** The job book entry, or null. */
        JobStatus job(String jobId);

        boolean paymentApplied(String paymentId);

        /** A mark of an open job (see {@link Marks}), or null; a job's marks go when it closes. */
        Long jobMark(String jobId, String mark);

        /** Whether this verification lease was paid (remembered for the payment replay window). */
        boolean verificationPaid(String leaseId);

        /** The node's stake as last published, or null when it never staked. */
        NodeStake stake(String nodeId);

        /** The open (LOCKED, not yet settled) bond of a challenge, without its evidence, or null. */
        ChallengeBond bond(String challengeId);
    }

    /** Names of the marks kept for an open job; the processor deletes them all when it closes. */
    public static final class Marks {
        private Marks() {}

        /** Present once the verdict id was applied. */
        public static String verdict(String verdictId) {
            return "verdict:" + verdictId;
        }

        /** The shard counts as accepted; the value is its row count. */
        public static String accepted(String taskId) {
            return "accepted:" + taskId;
        }

        /** The shard is resolved: paid on FINAL, or unpaid on FRAUD. */
        public static String resolved(String taskId) {
            return "resolved:" + taskId;
        }

        /** Present once the challenge was answered (bond locked or challenge refused) while the job was open. */
        static String challenge(String challengeId) {
            return "challenge:" + challengeId;
        }

        /** The job's maximum price per row (what a challenge's bond is sized on). */
        static final String MAX_PRICE = "max-price";
        /** How many shards are resolved. */
        public static final String RESOLVED_COUNT = "resolved";
        /** The job's completion window passed and it got its one finality grace period. */
        public static final String GRACE = "grace";
    }

    /**
     * One decision. {@code refusal} set: dead-letter the event with that reason, write nothing.
     * Otherwise write, in this order: {@code balances}, the {@code transfers} (already reflected in
     * the balances), the ids and marks, the {@code stakes}, then {@code status}. {@code ignored}:
     * nothing to do (a duplicate, or an event that moves no money).
     */
    public record Decision(String refusal, boolean ignored, Map<String, Long> balances, List<Transfer> transfers,
            String paymentId, String verificationLeaseId, String jobId, Map<String, Long> jobMarks, Long deadlineMs,
            boolean jobClosed, List<NodeStake> stakes, JobStatus status, List<ChallengeBond> bondAnswers,
            List<String> bondsClosed) {

        public static Decision refuse(String reason) {
            return new Decision(reason, false, Map.of(), List.of(), null, null, null, Map.of(), null, false, List.of(), null,
                    List.of(), List.of());
        }

        public static Decision ignore() {
            return new Decision(null, true, Map.of(), List.of(), null, null, null, Map.of(), null, false, List.of(), null,
                    List.of(), List.of());
        }
    }

    /** Cause suffix of the refund of an expired job's escrow rest ({@code <job>/expired}). */
    public static final String EXPIRED_REFUND = "/expired";
    /** Cause suffix of the refund of a cancelled job's escrow rest ({@code <job>/cancelled}). */
    public static final String CANCELLED_REFUND = "/cancelled";
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9_.~@-][A-Za-z0-9_.~@:-]{0,199}");
    private static final Pattern WINDOW = Pattern.compile("(\\d{1,4})h");
    private final LedgerConfig config;

    public LedgerRules(LedgerConfig config) {
        this.config = config;
    }

    /** "24h" → 24 hours; the OpenAI Batch API's only window today, but any whole number of hours is read. */
    public static Duration window(String completionWindow) {
        var m = WINDOW.matcher(completionWindow == null ? "" : completionWindow.trim());
        return m.matches() ? Duration.ofHours(Long.parseLong(m.group(1))) : Duration.ofHours(24);
    }

    /**
     * Accounts a payment may name: a customer's or a node's own account. Never {@code external}
     * (a deposit to it would move money from the outside world to itself), {@code treasury} or
     * {@code escrow:*}: those move only as a consequence of the market's rules. {@code stake:<id>}
     * only as the account of an unstake (a WITHDRAWAL), see {@link #payment}.
     */
    public static boolean isParticipantAccount(String account) {
        return account != null && (account.startsWith("customer:") || account.startsWith("node:"))
                && plainId(account.substring(account.indexOf(':') + 1));
    }

    /**
     * Whether {@code id} is a plain id: what {@link #ID} matches (1 to 200 of {@code A-Z a-z 0-9 _ . ~ @ -},
     * and {@code :} after the first), checked by hand because the settlement and the audit's replay
     * check ids on every event.
     */
    static boolean plainId(String id) {
        int n = id == null ? 0 : id.length();
        if (n == 0 || n > 200) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = id.charAt(i);
            boolean ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                    || c == '_' || c == '.' || c == '~' || c == '@' || c == '-' || (c == ':' && i > 0);
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /** The pattern {@link #plainId} implements, kept as its specification (and checked against it in the tests). */
    static boolean plainIdByPattern(String id) {
        return id != null && ID.matcher(id).matches();
    }

    private static boolean open(JobStatus job) {
        return job.getState() == JobState.IN_PROGRESS || job.getState() == JobState.FINALIZING;
    }

    /**
     * The decision for one input event of the settlement at its record time {@code now}: the one
     * entry point the settlement's processor and the audit's replay both call, so an event type the
     * settlement handles is replayed the same way. An event type it does not handle is refused.
     */
    public Decision decide(SpecificRecord event, long now, LedgerState state) {
        if (event instanceof Payment p) {
            return payment(p, now, state);
        } else if (event instanceof JobSubmitted j) {
            return job(j, now, state);
        } else if (event instanceof Verdict v) {
            return verdict(v, now, state);
        } else if (event instanceof VerificationOutcome o) {
            return outcome(o, now, state);
        } else if (event instanceof Challenge c) {
            return challenge(c, now, state);
        } else if (event instanceof JobCancelRequested c) {
            return cancel(c, now, state);
        }
        return Decision.refuse("settlement does not handle " + event.getClass().getSimpleName());
    }

    public Decision payment(Payment p, long now, LedgerState state) {
        long amount = p.getAmountMicros();
        String account = p.getAccountId();
        if (p.getPaymentId() == null || p.getPaymentId().isBlank()) {
            return Decision.refuse("payment without an id");
        }
        if (state.paymentApplied(p.getPaymentId())) {
            return Decision.ignore();
        }
        if (p.getAtMs() < now - config.paymentReplayWindow().toMillis()) {
            // Applied ids are kept for the replay window only: an older payment cannot be told from a replay.
            return Decision.refuse("payment " + p.getPaymentId() + " made at " + p.getAtMs() + " is older than the "
                    + config.paymentReplayWindow().toDays() + "-day replay window");
        }
        if (amount <= 0) {
            return Decision.refuse("payment " + p.getPaymentId() + " has non-positive amount " + amount);
        }
        if (p.getKind() == PaymentKind.WITHDRAWAL && account != null && account.startsWith("stake:")
                && plainId(account.substring("stake:".length()))) {
            return unstake(p, now, state);
        }
        if (!isParticipantAccount(account)) {
            return Decision.refuse("payment " + p.getPaymentId() + " names account " + account
                    + ": only customer:<id> and node:<id> accounts take deposits, withdrawals and stakes"
                    + " (and stake:<id> an unstake, as a withdrawal)");
        }
        Plan plan = new Plan(state, now);
        plan.paymentId = p.getPaymentId();
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
                String nodeId = account.substring("node:".length());
                NodeStake current = state.stake(nodeId);
                if (current != null && current.getSlashed()) {
                    return Decision.refuse("node " + nodeId + " was slashed for fraud and is banned: its stake "
                            + p.getPaymentId() + " is refused");
                }
                if (state.balance(account) < amount) {
                    return Decision.refuse("stake of " + Money.format(amount) + " exceeds balance "
                            + Money.format(state.balance(account)));
                }
                String stake = Accounts.stake(nodeId);
                plan.move(account, stake, amount, TransferKind.STAKE_LOCK, null, p.getPaymentId());
                plan.stakes.add(nodeStake(nodeId, plan.balance(stake), current == null ? 0 : current.getUnlockingMicros(),
                        current == null ? 0 : current.getUnlockAtMs(), false, now));
            }
        }
        return plan.decision();
    }

    /**
     * An unstake: a WITHDRAWAL naming {@code stake:<node>}. Nothing moves yet: the amount is marked
     * unlocking (no longer eligible stake, still slashable) and is released to {@code node:<id>} by
     * {@link #release} once the cooldown has passed. A second request adds to the unlocking amount
     * and restarts the cooldown for all of it, so a request never shortens a wait already running.
     */
    private Decision unstake(Payment p, long now, LedgerState state) {
        String nodeId = p.getAccountId().substring("stake:".length());
        NodeStake current = state.stake(nodeId);
        if (current != null && current.getSlashed()) {
            return Decision.refuse("node " + nodeId + " was slashed for fraud: nothing to unstake");
        }
        long locked = state.balance(Accounts.stake(nodeId));
        long unlocking = current == null ? 0 : current.getUnlockingMicros();
        if (p.getAmountMicros() > locked - unlocking) {
            return Decision.refuse("unstake of " + Money.format(p.getAmountMicros()) + " from " + p.getAccountId()
                    + " exceeds its eligible stake " + Money.format(locked - unlocking) + " (locked "
                    + Money.format(locked) + ", unlocking " + Money.format(unlocking) + ")");
        }
        long unlockAt;
        try {
            unlockAt = Math.addExact(now, config.unstakeCooldown().toMillis());
        } catch (ArithmeticException overflow) {
            return Decision.refuse("unstake " + p.getPaymentId() + ": release time overflows a long");
        }
        Plan plan = new Plan(state, now);
        plan.paymentId = p.getPaymentId();
        plan.stakes.add(nodeStake(nodeId, locked, unlocking + p.getAmountMicros(), unlockAt, false, now));
        return plan.decision();
    }

    /** The unstake cooldown of {@code nodeId} has passed: its unlocking stake (what is left of it) goes back to node:<id>. */
    public Decision release(String nodeId, long now, LedgerState state) {
        NodeStake s = state.stake(nodeId);
        if (s == null || s.getUnlockingMicros() <= 0 || now < s.getUnlockAtMs()) {
            return Decision.ignore();
        }
        String stake = Accounts.stake(nodeId);
        long amount = Math.min(s.getUnlockingMicros(), state.balance(stake));
        Plan plan = new Plan(state, now);
        plan.move(stake, Accounts.node(nodeId), amount, TransferKind.STAKE_RELEASE, null, stake + "/release@" + s.getUnlockAtMs());
        plan.stakes.add(nodeStake(nodeId, plan.balance(stake), 0, 0, s.getSlashed(), now));
        return plan.decision();
    }

    public Decision job(JobSubmitted j, long now, LedgerState state) {
        if (j.getJobId() == null || !plainId(j.getJobId()) || j.getJobId().contains(":")) {
            return Decision.refuse("job id " + j.getJobId() + " is not a plain id");
        }
        if (state.job(j.getJobId()) != null) {
            return Decision.ignore(); // already applied (a replayed or duplicated acceptance)
        }
        if (!plainId(j.getCustomerId())) {
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
        Plan plan = new Plan(state, now);
        plan.status = status;
        if (state.balance(customer) < j.getEscrowMicros()) {
            status.setState(JobState.FAILED);
            status.setFailedRows(j.getRowCount());
            status.setError("insufficient funds: balance " + Money.format(state.balance(customer))
                    + " < escrow " + Money.format(j.getEscrowMicros()));
            return plan.decision();
        }
        plan.move(customer, Accounts.escrow(j.getJobId()), j.getEscrowMicros(), TransferKind.ESCROW, j.getJobId(), j.getJobId());
        plan.jobId = j.getJobId();
        plan.jobMarks.put(Marks.MAX_PRICE, j.getMaxPricePerRowMicros());
        plan.deadlineMs = deadline;
        return plan.decision();
    }

    /**
     * A verdict. Only form-ACCEPTED ones count. On a shard lease it counts the shard as accepted
     * (no money: payment waits for its FINAL outcome); on a verification lease it pays the
     * re-executing node from the treasury.
     */
    public Decision verdict(Verdict v, long now, LedgerState state) {
        JobStatus job = state.job(v.getJobId());
        if (job == null) {
            return Decision.refuse("verdict " + v.getVerdictId() + " for unknown job " + v.getJobId());
        }
        if (v.getOutcome() != VerdictOutcome.ACCEPTED) {
            return Decision.ignore(); // rejections move no money
        }
        if (VerificationIds.isVerification(v.getTaskId())) {
            return verificationVerdict(v, job, now, state);
        }
        if (!open(job) || state.jobMark(v.getJobId(), Marks.verdict(v.getVerdictId())) != null) {
            return Decision.ignore(); // a closed or failed job counts nothing
        }
        if (TaskIds.indexOf(v.getJobId(), v.getTaskId(), job.getShardCount()).isEmpty()) {
            return Decision.refuse("verdict " + v.getVerdictId() + ": task " + v.getTaskId() + " is not one of the "
                    + job.getShardCount() + " shards ingest published for job " + v.getJobId());
        }
        if (state.jobMark(v.getJobId(), Marks.accepted(v.getTaskId())) != null) {
            return Decision.ignore(); // a shard is accepted once
        }
        if (!plainId(v.getNodeId())) {
            return Decision.refuse("verdict " + v.getVerdictId() + " names node " + v.getNodeId());
        }
        String rowsProblem = rowsProblem(v.getRowCount(), v.getPricePerRowMicros(), job, null);
        if (rowsProblem != null) {
            return Decision.refuse("verdict " + v.getVerdictId() + ": " + rowsProblem);
        }
        Plan plan = new Plan(state, now);
        plan.jobId = v.getJobId();
        plan.jobMarks.put(Marks.verdict(v.getVerdictId()), now);
        plan.status = accept(plan, job, v.getTaskId(), v.getRowCount());
        return plan.decision();
    }

    /**
     * A form-ACCEPTED verification lease (a sample or a referee): {@code rows x lease price} from the
     * treasury to the node, once per lease, whatever the job's state (verification can end after
     * the job did). The treasury may go below zero for this: its deficit is the protocol's cost of
     * verification, which fees and slashes are meant to cover.
     */
    private Decision verificationVerdict(Verdict v, JobStatus job, long now, LedgerState state) {
        if (job.getState() == JobState.FAILED) {
            return Decision.refuse("verdict " + v.getVerdictId() + ": job " + v.getJobId()
                    + " failed escrow, so none of its shards was leased or verified");
        }
        String shard = VerificationIds.shardOf(v.getTaskId()).orElseThrow();
        if (TaskIds.indexOf(v.getJobId(), shard, job.getShardCount()).isEmpty()) {
            return Decision.refuse("verdict " + v.getVerdictId() + ": verification task " + v.getTaskId()
                    + " does not verify one of the " + job.getShardCount() + " shards ingest published for job " + v.getJobId());
        }
        String lease = v.getLeaseId();
        String prefix = v.getTaskId() + "#";
        if (lease == null || !lease.startsWith(prefix) || !lease.substring(prefix.length()).matches("[0-9]{1,9}")) {
            return Decision.refuse("verdict " + v.getVerdictId() + ": lease " + lease + " is not a lease of " + v.getTaskId());
        }
        if (v.getDecidedAtMs() < now - config.paymentReplayWindow().toMillis()) {
            // Paid leases are remembered for the replay window only: an older verdict cannot be told from a replay.
            return Decision.refuse("verdict " + v.getVerdictId() + " decided at " + v.getDecidedAtMs()
                    + " is older than the replay window of paid verification leases");
        }
        if (state.verificationPaid(lease)) {
            return Decision.ignore(); // a verification lease is paid once
        }
        if (!plainId(v.getNodeId())) {
            return Decision.refuse("verdict " + v.getVerdictId() + " names node " + v.getNodeId());
        }
        if (v.getRowCount() < 1 || v.getRowCount() > job.getRowCount() || v.getPricePerRowMicros() < 0) {
            return Decision.refuse("verdict " + v.getVerdictId() + ": " + v.getRowCount() + " rows at "
                    + v.getPricePerRowMicros() + " for verifying a shard of a job with " + job.getRowCount() + " rows");
        }
        long amount;
        try {
            amount = Math.multiplyExact((long) v.getRowCount(), v.getPricePerRowMicros());
        } catch (ArithmeticException overflow) {
            return Decision.refuse("verification payout overflows a long: " + overflow.getMessage());
        }
        Plan plan = new Plan(state, now);
        plan.move(Accounts.TREASURY, Accounts.node(v.getNodeId()), amount, TransferKind.PAYOUT, v.getJobId(), v.getVerdictId());
        plan.verificationLeaseId = lease;
        return plan.decision();
    }

    /** What verification finally decided about a shard's accepted result. */
    public Decision outcome(VerificationOutcome o, long now, LedgerState state) {
        if (o.getKind() == null || o.getKind() == OutcomeKind.UNKNOWN) {
            return Decision.refuse("outcome " + o.getOutcomeId() + " has a kind this build does not know");
        }
        if (o.getOutcomeId() == null || o.getOutcomeId().isBlank()) {
            return Decision.refuse("verification outcome without an id");
        }
        if (o.getKind() == OutcomeKind.DISPUTED) {
            return Decision.ignore(); // a dispute opened: no money moves until it is decided
        }
        if (o.getKind() == OutcomeKind.CHALLENGE_REFUSED) {
            return o.getChallengeId() == null ? Decision.refuse("outcome " + o.getOutcomeId() + " refuses no challenge")
                    : settleBond(o, new Plan(state, now)); // the job may be closed; the bond is returned all the same
        }
        JobStatus job = state.job(o.getJobId());
        if (job == null) {
            return Decision.refuse("outcome " + o.getOutcomeId() + " for unknown job " + o.getJobId());
        }
        if (TaskIds.indexOf(o.getJobId(), o.getTaskId(), job.getShardCount()).isEmpty()) {
            return Decision.refuse("outcome " + o.getOutcomeId() + ": task " + o.getTaskId() + " is not one of the "
                    + job.getShardCount() + " shards ingest published for job " + o.getJobId());
        }
        if (!plainId(o.getNodeId())) {
            return Decision.refuse("outcome " + o.getOutcomeId() + " names node " + o.getNodeId());
        }
        return switch (o.getKind()) {
            case FINAL -> finalOutcome(o, job, now, state);
            case FRAUD -> fraud(o, job, now, state);
            // UPHELD / INCONCLUSIVE without a challenge: recorded on the topic, no money.
            default -> o.getChallengeId() == null ? Decision.ignore() : settleBond(o, new Plan(state, now));
        };
    }

    /**
     * A customer's challenge. Malformed (ids, accounts, a task not of the job): refused to the dead
     * letters. Otherwise answered on {@code challenge-bonds}: LOCKED, the bond moved from the
     * challenger to {@code bond:<id>} (BOND_LOCK), when the job is open, the shard accepted and not
     * yet resolved, the bond at least {@link ChallengeBonds#required} and the challenger's balance
     * enough; else REFUSED with the reason, nothing moved. Each challenge id is answered once per
     * open job.
     */
    public Decision challenge(Challenge c, long now, LedgerState state) {
        if (!plainId(c.getChallengeId())) {
            return Decision.refuse("challenge with a malformed id " + c.getChallengeId());
        }
        if (!isParticipantAccount(c.getChallengerId())) {
            return Decision.refuse("challenge " + c.getChallengeId() + " names challenger account " + c.getChallengerId()
                    + ": only customer:<id> and node:<id> accounts post bonds");
        }
        if (c.getBondMicros() <= 0) {
            return Decision.refuse("challenge " + c.getChallengeId() + " has non-positive bond " + c.getBondMicros());
        }
        JobStatus job = state.job(c.getJobId());
        Plan plan = new Plan(state, now);
        if (job == null) {
            return plan.answer(c, ChallengeBondStatus.REFUSED, "job " + c.getJobId() + " is unknown to the ledger").decision();
        }
        if (TaskIds.indexOf(c.getJobId(), c.getTaskId(), job.getShardCount()).isEmpty()) {
            return Decision.refuse("challenge " + c.getChallengeId() + ": task " + c.getTaskId() + " is not one of the "
                    + job.getShardCount() + " shards of job " + c.getJobId());
        }
        if (!open(job)) {
            return plan.answer(c, ChallengeBondStatus.REFUSED, "job " + c.getJobId() + " is " + job.getState()
                    + ": its results are no longer open to challenge").decision();
        }
        if (state.jobMark(c.getJobId(), Marks.challenge(c.getChallengeId())) != null) {
            return Decision.ignore(); // answered already
        }
        plan.jobId = c.getJobId();
        plan.jobMarks.put(Marks.challenge(c.getChallengeId()), now);
        Long rows = state.jobMark(c.getJobId(), Marks.accepted(c.getTaskId()));
        if (rows == null) {
            return plan.answer(c, ChallengeBondStatus.REFUSED, "shard " + c.getTaskId() + " has no accepted result yet").decision();
        }
        if (state.jobMark(c.getJobId(), Marks.resolved(c.getTaskId())) != null) {
            return plan.answer(c, ChallengeBondStatus.REFUSED, "shard " + c.getTaskId()
                    + " is already resolved (final and paid, or decided fraudulent)").decision();
        }
        long required = ChallengeBonds.required(rows.intValue(), mark(state, c.getJobId(), Marks.MAX_PRICE));
        if (c.getBondMicros() < required) {
            return plan.answer(c, ChallengeBondStatus.REFUSED, "bond " + Money.format(c.getBondMicros()) + " is below the "
                    + Money.format(required) + " a challenge of this shard requires").decision();
        }
        if (state.balance(c.getChallengerId()) < c.getBondMicros()) {
            return plan.answer(c, ChallengeBondStatus.REFUSED, "insufficient funds: bond " + Money.format(c.getBondMicros())
                    + ", balance " + Money.format(state.balance(c.getChallengerId()))).decision();
        }
        plan.move(c.getChallengerId(), Accounts.bond(c.getChallengeId()), c.getBondMicros(), TransferKind.BOND_LOCK,
                c.getJobId(), c.getChallengeId());
        return plan.answer(c, ChallengeBondStatus.LOCKED, "bond " + Money.format(c.getBondMicros()) + " locked in "
                + Accounts.bond(c.getChallengeId())).decision();
    }

    /**
     * The verifier's decision on a challenged result moves its bond: UPHELD forfeits it
     * ({@link ChallengeBonds#executorShare} to the executor, the rest to the treasury, which paid the
     * referees); FRAUD, INCONCLUSIVE and CHALLENGE_REFUSED return it to the challenger. A bond
     * already settled (or never locked) is left alone.
     */
    private Decision settleBond(VerificationOutcome o, Plan plan) {
        ChallengeBond open = plan.state.bond(o.getChallengeId());
        if (open == null) {
            return plan.refusal != null || !plan.transfers.isEmpty() || !plan.stakes.isEmpty() ? plan.decision() : Decision.ignore();
        }
        Challenge c = open.getChallenge();
        if (!c.getTaskId().equals(o.getTaskId()) || !c.getJobId().equals(o.getJobId())) {
            return Decision.refuse("outcome " + o.getOutcomeId() + " names challenge " + o.getChallengeId() + " of "
                    + c.getTaskId() + " for task " + o.getTaskId());
        }
        String bond = Accounts.bond(o.getChallengeId());
        long held = plan.balance(bond);
        if (o.getKind() == OutcomeKind.UPHELD) {
            long toExecutor = ChallengeBonds.executorShare(held);
            plan.move(bond, Accounts.node(o.getNodeId()), toExecutor, TransferKind.BOND_FORFEIT, o.getJobId(), o.getOutcomeId());
            plan.move(bond, Accounts.TREASURY, held - toExecutor, TransferKind.BOND_FORFEIT, o.getJobId(), o.getOutcomeId());
        } else {
            plan.move(bond, c.getChallengerId(), held, TransferKind.BOND_RELEASE, o.getJobId(), o.getOutcomeId());
        }
        plan.bondsClosed.add(o.getChallengeId());
        return plan.decision();
    }

    /** A bond the verifier never answered for within the bond timeout: returned to the challenger. */
    public Decision releaseBond(String challengeId, long now, LedgerState state) {
        ChallengeBond open = state.bond(challengeId);
        if (open == null) {
            return Decision.ignore();
        }
        Plan plan = new Plan(state, now);
        Challenge c = open.getChallenge();
        plan.move(Accounts.bond(challengeId), c.getChallengerId(), state.balance(Accounts.bond(challengeId)),
                TransferKind.BOND_RELEASE, c.getJobId(), challengeId + "/timeout");
        plan.bondsClosed.add(challengeId);
        return plan.decision();
    }

    /** FINAL: pay the shard once, {@code rows x price} less the fee; it counts as accepted if its verdict has not come yet. */
    private Decision finalOutcome(VerificationOutcome o, JobStatus job, long now, LedgerState state) {
        if (!open(job) || state.jobMark(o.getJobId(), Marks.resolved(o.getTaskId())) != null) {
            return Decision.ignore(); // a shard is resolved once; a closed job pays nothing more
        }
        Long acceptedRows = state.jobMark(o.getJobId(), Marks.accepted(o.getTaskId()));
        String rowsProblem = rowsProblem(o.getRowCount(), o.getPricePerRowMicros(), job, acceptedRows);
        if (rowsProblem != null) {
            return Decision.refuse("outcome " + o.getOutcomeId() + ": " + rowsProblem);
        }
        String escrow = Accounts.escrow(o.getJobId());
        long amount;
        try {
            amount = Math.multiplyExact((long) o.getRowCount(), o.getPricePerRowMicros());
        } catch (ArithmeticException overflow) {
            return Decision.refuse("payout overflows a long: " + overflow.getMessage());
        }
        if (amount > state.balance(escrow)) {
            return Decision.refuse("payout " + Money.format(amount) + " exceeds escrow left " + Money.format(state.balance(escrow)));
        }
        long fee = Money.basisPoints(amount, config.feeBps());
        Plan plan = new Plan(state, now);
        plan.jobId = o.getJobId();
        plan.move(escrow, Accounts.node(o.getNodeId()), amount - fee, TransferKind.PAYOUT, o.getJobId(), o.getOutcomeId());
        plan.move(escrow, Accounts.TREASURY, fee, TransferKind.FEE, o.getJobId(), o.getOutcomeId());
        JobStatus next = acceptedRows == null ? accept(plan, job, o.getTaskId(), o.getRowCount())
                : JobStatus.newBuilder(job).setUpdatedAtMs(now).build();
        try {
            next.setSpentMicros(Math.addExact(job.getSpentMicros(), amount));
        } catch (ArithmeticException overflow) {
            return Decision.refuse("spent amount overflows a long: " + overflow.getMessage());
        }
        resolve(plan, next, o.getTaskId());
        return plan.decision();
    }

    /**
     * FRAUD: the node's whole stake (locked and unlocking) is slashed, {@code slashRewardBps} of it
     * to the outcome's reward account (a participant account other than the node's own; otherwise
     * the treasury) and the rest to the treasury; the node is banned. The shard, if its job is
     * still open, is resolved without paying anyone. The slash does not depend on the job's state
     * and is naturally idempotent: a banned node's stake is zero and it cannot stake again.
     */
    private Decision fraud(VerificationOutcome o, JobStatus job, long now, LedgerState state) {
        Plan plan = new Plan(state, now);
        String nodeId = o.getNodeId();
        String stake = Accounts.stake(nodeId);
        long all = state.balance(stake);
        long reward = Money.basisPoints(all, config.slashRewardBps());
        String rewardTo = o.getRewardAccount();
        if (isParticipantAccount(rewardTo) && !rewardTo.equals(Accounts.node(nodeId))) {
            plan.move(stake, rewardTo, reward, TransferKind.SLASH, o.getJobId(), o.getOutcomeId());
            plan.move(stake, Accounts.TREASURY, all - reward, TransferKind.SLASH, o.getJobId(), o.getOutcomeId());
        } else {
            plan.move(stake, Accounts.TREASURY, all, TransferKind.SLASH, o.getJobId(), o.getOutcomeId());
        }
        plan.stakes.add(nodeStake(nodeId, plan.balance(stake), 0, 0, true, now));
        if (open(job) && state.jobMark(o.getJobId(), Marks.resolved(o.getTaskId())) == null) {
            Long acceptedRows = state.jobMark(o.getJobId(), Marks.accepted(o.getTaskId()));
            String rowsProblem = rowsProblem(o.getRowCount(), o.getPricePerRowMicros(), job, acceptedRows);
            if (rowsProblem != null) {
                return Decision.refuse("outcome " + o.getOutcomeId() + ": " + rowsProblem);
            }
            plan.jobId = o.getJobId();
            JobStatus next = acceptedRows == null ? accept(plan, job, o.getTaskId(), o.getRowCount())
                    : JobStatus.newBuilder(job).setUpdatedAtMs(now).build();
            resolve(plan, next, o.getTaskId());
        }
        return o.getChallengeId() == null ? plan.decision() : settleBond(o, plan);
    }

    /**
     * The customer cancels an open job. Nothing moves yet: the job becomes FINALIZING with
     * {@code cancelRequestedAtMs} set (ingest shows it "cancelling"), so the matcher leases none of
     * its shards any more (it leases a shard only while its job is IN_PROGRESS) while shards
     * already leased may still answer, be verified and be paid; and its deadline moves to
     * {@link LedgerConfig#cancelGrace} from now (a job already in its finality grace keeps that
     * deadline). At the deadline {@link #expire} closes it as at expiry, but CANCELLED: a finality
     * grace first if accepted shards still wait for their outcome, then what was resolved stays
     * paid and the rest of the escrow goes back ({@code <job>/cancelled}). A cancel of a closed
     * job, of one already cancelling, or of one whose every shard is accepted already (there is
     * nothing left to stop) changes nothing; one by anyone but the job's owner, or of an unknown
     * job, is refused.
     */
    public Decision cancel(JobCancelRequested c, long now, LedgerState state) {
        JobStatus job = c.getJobId() == null ? null : state.job(c.getJobId());
        if (job == null) {
            return Decision.refuse("cancel of unknown job " + c.getJobId());
        }
        if (!job.getCustomerId().equals(c.getCustomerId())) {
            return Decision.refuse("customer " + c.getCustomerId() + " may not cancel job " + c.getJobId() + " of customer "
                    + job.getCustomerId());
        }
        if (!open(job) || job.getCancelRequestedAtMs() != null || job.getShardsDone() >= job.getShardCount()) {
            return Decision.ignore();
        }
        Plan plan = new Plan(state, now);
        plan.jobId = c.getJobId();
        if (state.jobMark(c.getJobId(), Marks.GRACE) == null) {
            plan.deadlineMs = now > Long.MAX_VALUE - config.cancelGrace().toMillis() ? Long.MAX_VALUE
                    : now + config.cancelGrace().toMillis();
        }
        plan.status = JobStatus.newBuilder(job).setState(JobState.FINALIZING).setCancelRequestedAtMs(now).setUpdatedAtMs(now).build();
        return plan.decision();
    }

    /**
     * The completion window has passed while the job is still open. If some accepted shard still
     * waits for its outcome, the job gets one finality grace period (state FINALIZING: no new
     * shard work, verification may still finish and FINAL still pays). Then, or at once when no
     * accepted shard is waiting: what was resolved stays paid, nothing unverified is paid, and the
     * rest of the escrow goes back to the customer (EXPIRED; CANCELLED for a job the customer
     * cancelled, see {@link #cancel}).
     */
    public Decision expire(String jobId, long now, LedgerState state) {
        JobStatus job = state.job(jobId);
        if (job == null || !open(job)) {
            return Decision.ignore();
        }
        long resolved = mark(state, jobId, Marks.RESOLVED_COUNT);
        Plan plan = new Plan(state, now);
        plan.jobId = jobId;
        if (job.getShardsDone() > resolved && state.jobMark(jobId, Marks.GRACE) == null) {
            plan.jobMarks.put(Marks.GRACE, now);
            plan.deadlineMs = now > Long.MAX_VALUE - config.finalityGrace().toMillis() ? Long.MAX_VALUE
                    : now + config.finalityGrace().toMillis();
            plan.status = JobStatus.newBuilder(job).setState(JobState.FINALIZING).setUpdatedAtMs(now).build();
            return plan.decision();
        }
        boolean cancelled = job.getCancelRequestedAtMs() != null;
        String escrow = Accounts.escrow(jobId);
        plan.move(escrow, Accounts.customer(job.getCustomerId()), state.balance(escrow), TransferKind.REFUND, jobId,
                jobId + (cancelled ? CANCELLED_REFUND : EXPIRED_REFUND));
        plan.status = JobStatus.newBuilder(job).setState(cancelled ? JobState.CANCELLED : JobState.EXPIRED)
                .setFailedRows(job.getRowCount() - job.getCompletedRows())
                .setError((cancelled ? "cancelled by the customer" : "completion window passed") + " with "
                        + job.getShardsDone() + " of " + job.getShardCount() + " shards done, " + resolved + " of them final")
                .setUpdatedAtMs(now).build();
        plan.jobClosed = true;
        return plan.decision();
    }

    private static long mark(LedgerState state, String jobId, String mark) {
        return Optional.ofNullable(state.jobMark(jobId, mark)).orElse(0L);
    }

    /** Counts the shard as accepted; FINALIZING once every shard is. */
    private static JobStatus accept(Plan plan, JobStatus job, String taskId, int rows) {
        plan.jobMarks.put(Marks.accepted(taskId), (long) rows);
        JobStatus next = JobStatus.newBuilder(job).setShardsDone(job.getShardsDone() + 1)
                .setCompletedRows(job.getCompletedRows() + rows).setUpdatedAtMs(plan.at).build();
        if (next.getShardsDone() >= next.getShardCount()) {
            next.setState(JobState.FINALIZING);
        }
        return next;
    }

    /** Marks the shard resolved; once every shard is, the job is COMPLETED and the rest of its escrow goes back. */
    private static void resolve(Plan plan, JobStatus next, String taskId) {
        long resolved = mark(plan.state, next.getJobId(), Marks.RESOLVED_COUNT) + 1;
        plan.jobMarks.put(Marks.resolved(taskId), plan.at);
        plan.jobMarks.put(Marks.RESOLVED_COUNT, resolved);
        if (resolved >= next.getShardCount()) {
            String escrow = Accounts.escrow(next.getJobId());
            plan.move(escrow, Accounts.customer(next.getCustomerId()), plan.balance(escrow), TransferKind.REFUND,
                    next.getJobId(), next.getJobId() + "/release");
            next.setState(JobState.COMPLETED);
            plan.jobClosed = true;
        }
        plan.status = next;
    }

    /**
     * Why a shard's rows cannot count, or null. Once accepted, a shard's outcome must name the rows
     * its verdict counted; before, no more rows than the job has left.
     */
    private static String rowsProblem(int rows, long price, JobStatus job, Long acceptedRows) {
        if (price < 0) {
            return "negative price " + price;
        }
        if (acceptedRows != null) {
            return rows == acceptedRows ? null : rows + " rows where the shard was accepted with " + acceptedRows;
        }
        int left = job.getRowCount() - job.getCompletedRows();
        return rows >= 1 && rows <= left ? null : rows + " rows at " + price + " for a job with " + left + " rows left";
    }

    private static NodeStake nodeStake(String nodeId, long locked, long unlocking, long unlockAt, boolean slashed, long now) {
        return NodeStake.newBuilder().setNodeId(nodeId).setLockedMicros(locked).setUnlockingMicros(unlocking)
                .setUnlockAtMs(unlocking > 0 ? unlockAt : 0).setSlashed(slashed).setUpdatedAtMs(now).build();
    }

    /**
     * A decision being planned on top of the ledger, in memory: nothing is written here. A
     * transfer between one account and itself, or one that would overflow or take an account
     * other than {@code external} or {@code treasury} below zero, refuses the whole plan.
     */
    static final class Plan {
        final LedgerState state;
        final long at;
        final Map<String, Long> balances = new LinkedHashMap<>();
        final List<Transfer> transfers = new ArrayList<>();
        final Map<String, Long> jobMarks = new LinkedHashMap<>();
        final List<NodeStake> stakes = new ArrayList<>();
        final List<ChallengeBond> bondAnswers = new ArrayList<>();
        final List<String> bondsClosed = new ArrayList<>();
        String refusal;
        String paymentId;
        String verificationLeaseId;
        String jobId;
        Long deadlineMs;
        boolean jobClosed;
        JobStatus status;

        Plan(LedgerState state, long at) {
            this.state = state;
            this.at = at;
        }

        Decision decision() {
            return refusal != null ? Decision.refuse(refusal)
                    : new Decision(null, false, balances, transfers, paymentId, verificationLeaseId, jobId, jobMarks,
                            deadlineMs, jobClosed, stakes, status, bondAnswers, bondsClosed);
        }

        /** Answers a challenge on {@code challenge-bonds}; a refused one without its evidence. */
        Plan answer(Challenge c, ChallengeBondStatus status, String reason) {
            Challenge shown = status == ChallengeBondStatus.LOCKED ? Challenge.newBuilder(c).build()
                    : Challenge.newBuilder(c).setInputRows(new ArrayList<>()).setRows(new ArrayList<>()).build();
            bondAnswers.add(ChallengeBond.newBuilder().setChallenge(shown).setStatus(status).setReason(reason).setAtMs(at).build());
            return this;
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
            // external: minus the money inside; treasury: pays verification work before fees and slashes cover it.
            if (fromAfter < 0 && !from.equals(Accounts.EXTERNAL) && !from.equals(Accounts.TREASURY)) {
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
