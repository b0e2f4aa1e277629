package io.inferex.settlement;

import io.inferex.deadletter.Unprocessable;
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
import org.apache.avro.specific.SpecificRecord;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Applies payments, accepted jobs and verdicts to the ledger. Every movement is a {@link Transfer}
 * from one account to another, so the sum of all balances (with {@link Accounts#EXTERNAL}) is
 * always zero; nothing is created or destroyed. Each payment id and verdict id is applied once,
 * and each shard is paid once whatever verdicts follow.
 */
final class LedgerProcessor implements Processor<String, SpecificRecord, String, Object> {
    static final Duration EXPIRY_CHECK = Duration.ofSeconds(5);
    /** Key prefix in the applied store: deadline (epoch ms) of each open job. */
    private static final String DEADLINE = "deadline:";
    private final SettlementTopology.Config config;
    private ProcessorContext<String, Object> context;
    private KeyValueStore<String, Long> balances;
    private KeyValueStore<String, JobStatus> jobs;
    private KeyValueStore<String, Long> applied;

    LedgerProcessor(SettlementTopology.Config config) {
        this.config = config;
    }

    @Override
    public void init(ProcessorContext<String, Object> context) {
        this.context = context;
        this.balances = context.getStateStore(SettlementTopology.BALANCES_STORE);
        this.jobs = context.getStateStore(SettlementTopology.JOBS_STORE);
        this.applied = context.getStateStore(SettlementTopology.APPLIED_STORE);
        // Wall clock: a job must expire even when no event for it (or at all) arrives.
        context.schedule(EXPIRY_CHECK, PunctuationType.WALL_CLOCK_TIME, this::expireJobs);
    }

    @Override
    public void process(Record<String, SpecificRecord> record) {
        SpecificRecord event = record.value();
        try {
            apply(event, record.timestamp());
        } catch (ArithmeticException overflow) {
            // Amounts near Long.MAX_VALUE: refuse the event rather than stop the ledger for good
            // (under EOS the same record would fail again on every restart).
            unprocessable(event, record.timestamp(), "amount overflows a long balance: " + overflow.getMessage());
        }
    }

    private void apply(SpecificRecord event, long ts) {
        if (event instanceof Payment p) {
            onPayment(p, ts);
        } else if (event instanceof JobSubmitted j) {
            onJob(j, ts);
        } else if (event instanceof Verdict v) {
            onVerdict(v, ts);
        } else {
            unprocessable(event, ts, "settlement does not handle " + event.getClass().getSimpleName());
        }
    }

    private void onPayment(Payment p, long ts) {
        if (!firstTime("payment:" + p.getPaymentId(), ts)) {
            return;
        }
        long amount = p.getAmountMicros();
        if (amount <= 0) {
            unprocessable(p, ts, "payment " + p.getPaymentId() + " has non-positive amount " + amount);
            return;
        }
        String account = p.getAccountId();
        switch (p.getKind()) {
            case DEPOSIT -> transfer(Accounts.EXTERNAL, account, amount, TransferKind.DEPOSIT, null, p.getPaymentId(), ts);
            case WITHDRAWAL -> {
                if (balance(account) < amount) {
                    unprocessable(p, ts, "withdrawal of " + Money.format(amount) + " exceeds balance " + Money.format(balance(account)));
                } else {
                    transfer(account, Accounts.EXTERNAL, amount, TransferKind.WITHDRAWAL, null, p.getPaymentId(), ts);
                }
            }
            case STAKE -> {
                if (!account.startsWith("node:")) {
                    unprocessable(p, ts, "only node accounts stake, not " + account);
                } else if (balance(account) < amount) {
                    unprocessable(p, ts, "stake of " + Money.format(amount) + " exceeds balance " + Money.format(balance(account)));
                } else {
                    transfer(account, Accounts.stake(account.substring("node:".length())), amount,
                            TransferKind.STAKE_LOCK, null, p.getPaymentId(), ts);
                }
            }
        }
    }

    private void onJob(JobSubmitted j, long ts) {
        if (jobs.get(j.getJobId()) != null) {
            return; // already applied (a replayed or duplicated acceptance)
        }
        String customer = Accounts.customer(j.getCustomerId());
        JobStatus status = JobStatus.newBuilder().setJobId(j.getJobId()).setCustomerId(j.getCustomerId())
                .setState(JobState.IN_PROGRESS).setRowCount(j.getRowCount()).setCompletedRows(0).setFailedRows(0)
                .setShardCount(j.getShardCount()).setShardsDone(0).setSpentMicros(0).setUpdatedAtMs(ts).build();
        if (j.getEscrowMicros() < 0 || balance(customer) < j.getEscrowMicros()) {
            status.setState(JobState.FAILED);
            status.setFailedRows(j.getRowCount());
            status.setError("insufficient funds: balance " + Money.format(balance(customer))
                    + " < escrow " + Money.format(j.getEscrowMicros()));
        } else {
            transfer(customer, Accounts.escrow(j.getJobId()), j.getEscrowMicros(), TransferKind.ESCROW, j.getJobId(),
                    j.getJobId(), ts);
            applied.put(DEADLINE + j.getJobId(), Math.addExact(j.getSubmittedAtMs(), window(j.getCompletionWindow()).toMillis()));
        }
        saveStatus(status);
    }

    private void onVerdict(Verdict v, long ts) {
        JobStatus job = jobs.get(v.getJobId());
        if (job == null) {
            unprocessable(v, ts, "verdict " + v.getVerdictId() + " for unknown job " + v.getJobId());
            return;
        }
        if (!firstTime("verdict:" + v.getVerdictId(), ts) || v.getOutcome() != VerdictOutcome.ACCEPTED) {
            return; // rejections move no money; the matcher re-leases the shard
        }
        if (job.getState() != JobState.IN_PROGRESS || applied.get("paid:" + v.getTaskId()) != null) {
            return; // a shard is paid once; a failed job pays nothing
        }
        long amount = Math.multiplyExact((long) v.getRowCount(), v.getPricePerRowMicros());
        String escrow = Accounts.escrow(v.getJobId());
        if (amount < 0 || amount > balance(escrow)) {
            unprocessable(v, ts, "payout " + Money.format(amount) + " exceeds escrow left " + Money.format(balance(escrow)));
            return;
        }
        applied.put("paid:" + v.getTaskId(), ts);
        long fee = Money.basisPoints(amount, config.feeBps());
        transfer(escrow, Accounts.node(v.getNodeId()), amount - fee, TransferKind.PAYOUT, v.getJobId(), v.getVerdictId(), ts);
        transfer(escrow, Accounts.TREASURY, fee, TransferKind.FEE, v.getJobId(), v.getVerdictId(), ts);
        job.setShardsDone(job.getShardsDone() + 1);
        job.setCompletedRows(job.getCompletedRows() + v.getRowCount());
        job.setSpentMicros(job.getSpentMicros() + amount);
        job.setUpdatedAtMs(ts);
        if (job.getShardsDone() >= job.getShardCount()) {
            transfer(escrow, Accounts.customer(job.getCustomerId()), balance(escrow), TransferKind.REFUND,
                    v.getJobId(), v.getJobId() + "/release", ts);
            job.setState(JobState.COMPLETED);
            applied.delete(DEADLINE + v.getJobId());
        }
        saveStatus(job);
    }

    /**
     * A job still IN_PROGRESS when its completion window has passed expires: what was accepted
     * stays paid, the rest of the escrow goes back to the customer, and the matcher drops the
     * job's remaining shards when it sees the EXPIRED status.
     */
    private void expireJobs(long now) {
        List<String> due = new ArrayList<>();
        try (var it = applied.prefixScan(DEADLINE, new StringSerializer())) {
            it.forEachRemaining(kv -> {
                if (kv.value <= now) {
                    due.add(kv.key.substring(DEADLINE.length()));
                }
            });
        }
        for (String jobId : due) {
            applied.delete(DEADLINE + jobId);
            JobStatus job = jobs.get(jobId);
            if (job == null || job.getState() != JobState.IN_PROGRESS) {
                continue;
            }
            String escrow = Accounts.escrow(jobId);
            transfer(escrow, Accounts.customer(job.getCustomerId()), balance(escrow), TransferKind.REFUND, jobId,
                    jobId + "/expired", now);
            job.setState(JobState.EXPIRED);
            job.setFailedRows(job.getRowCount() - job.getCompletedRows());
            job.setError("completion window passed with " + job.getShardsDone() + " of " + job.getShardCount() + " shards done");
            job.setUpdatedAtMs(now);
            saveStatus(job);
        }
    }

    /** "24h" → 24 hours; the OpenAI Batch API's only window today, but any whole number of hours is read. */
    static Duration window(String completionWindow) {
        var m = java.util.regex.Pattern.compile("(\\d{1,4})h").matcher(completionWindow == null ? "" : completionWindow.trim());
        return m.matches() ? Duration.ofHours(Long.parseLong(m.group(1))) : Duration.ofHours(24);
    }

    /** Moves {@code amount} (≥ 0) and emits the ledger line; a zero amount moves nothing and emits nothing. */
    private void transfer(String from, String to, long amount, TransferKind kind, String jobId, String cause, long ts) {
        if (amount == 0) {
            return;
        }
        long fromAfter = Math.subtractExact(balance(from), amount); // both computed before either is written
        long toAfter = Math.addExact(balance(to), amount);
        balances.put(from, fromAfter);
        balances.put(to, toAfter);
        Transfer t = Transfer.newBuilder().setTransferId(cause + "/" + kind.name().toLowerCase() + "/" + to)
                .setDebitAccount(from).setCreditAccount(to).setAmountMicros(amount).setKind(kind)
                .setJobId(jobId).setCause(cause).setAtMs(ts).build();
        context.forward(new Record<>(t.getTransferId(), t, ts));
    }

    private void saveStatus(JobStatus status) {
        jobs.put(status.getJobId(), status);
        context.forward(new Record<>(status.getJobId(), JobStatus.newBuilder(status).build(), status.getUpdatedAtMs()));
    }

    private long balance(String account) {
        Long b = balances.get(account);
        return b == null ? 0L : b;
    }

    private boolean firstTime(String id, long ts) {
        if (applied.get(id) != null) {
            return false;
        }
        applied.put(id, ts);
        return true;
    }

    private void unprocessable(SpecificRecord event, long ts, String reason) {
        context.forward(Unprocessable.letter(context, event, reason, SettlementTopology.APPLICATION_ID, ts));
    }

}
