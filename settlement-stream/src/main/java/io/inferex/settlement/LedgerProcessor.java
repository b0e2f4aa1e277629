package io.inferex.settlement;

import io.inferex.deadletter.Unprocessable;
import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.events.Payment;
import io.inferex.events.Transfer;
import io.inferex.events.Verdict;
import io.inferex.market.Accounts;
import io.inferex.state.ExpiringKeys;
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
 *
 * <p>Validate, decide, write: {@link LedgerRules} checks the whole event and plans every balance
 * it would write (pure, nothing written); only then does this processor write the plan, so a
 * refused event leaves no trace but its dead letter. State stays bounded: payment ids are kept
 * for the replay window (older payments are refused), a job's verdict ids and paid shards are
 * deleted when the job completes or expires, and deadlines sit in a time index.
 */
final class LedgerProcessor implements Processor<String, SpecificRecord, String, Object>, LedgerRules.LedgerState {
    static final Duration EXPIRY_CHECK = Duration.ofSeconds(5);
    private final SettlementTopology.Config config;
    private final LedgerRules rules;
    private ProcessorContext<String, Object> context;
    private KeyValueStore<String, Long> balances;
    private KeyValueStore<String, JobStatus> jobs;
    private KeyValueStore<String, Long> applied;
    /** Payment ids applied, each until the replay window has passed. */
    private ExpiringKeys payments;
    /** Open jobs by completion deadline. */
    private ExpiringKeys deadlines;

    LedgerProcessor(SettlementTopology.Config config) {
        this.config = config;
        this.rules = new LedgerRules(config.feeBps(), config.paymentReplayWindow());
    }

    @Override
    public void init(ProcessorContext<String, Object> context) {
        this.context = context;
        this.balances = context.getStateStore(SettlementTopology.BALANCES_STORE);
        this.jobs = context.getStateStore(SettlementTopology.JOBS_STORE);
        this.applied = context.getStateStore(SettlementTopology.APPLIED_STORE);
        this.payments = new ExpiringKeys(applied, "payment");
        this.deadlines = new ExpiringKeys(applied, "deadline");
        // Wall clock: a job must expire and old payment ids must go even when no event arrives.
        context.schedule(EXPIRY_CHECK, PunctuationType.WALL_CLOCK_TIME, now -> {
            deadlines.expire(now, (jobId, at) -> write(rules.expire(jobId, now, this), null, jobId, now));
            payments.expire(now, (id, at) -> { });
        });
    }

    @Override
    public void process(Record<String, SpecificRecord> record) {
        SpecificRecord event = record.value();
        long ts = record.timestamp();
        LedgerRules.Decision decision;
        if (event instanceof Payment p) {
            decision = rules.payment(p, ts, this);
        } else if (event instanceof JobSubmitted j) {
            decision = rules.job(j, ts, this);
        } else if (event instanceof Verdict v) {
            decision = rules.verdict(v, ts, this);
        } else {
            decision = LedgerRules.Decision.refuse("settlement does not handle " + event.getClass().getSimpleName());
        }
        write(decision, event, jobIdOf(event), ts);
    }

    private static String jobIdOf(SpecificRecord event) {
        return event instanceof JobSubmitted j ? j.getJobId() : event instanceof Verdict v ? v.getJobId() : null;
    }

    /** Writes a decision the rules have fully checked: balances and transfers, markers, then the job's status. */
    private void write(LedgerRules.Decision d, SpecificRecord event, String jobId, long ts) {
        if (d.refusal() != null) {
            if (event != null) {
                unprocessable(event, ts, d.refusal());
            }
            return;
        }
        if (d.ignored()) {
            return;
        }
        d.balances().forEach(balances::put);
        d.transfers().forEach(t -> context.forward(new Record<>(t.getTransferId(), t, ts)));
        if (d.paymentId() != null) {
            payments.put(d.paymentId(), ts + config.paymentReplayWindow().toMillis());
        }
        if (d.deadlineMs() != null) {
            deadlines.put(jobId, d.deadlineMs());
        }
        if (d.jobClosed()) {
            // Terminal: verdicts for the job are ignored from now on, so its markers can go.
            deadlines.remove(jobId);
            List<String> marks = new ArrayList<>();
            try (var it = applied.prefixScan(jobMarks(jobId), new StringSerializer())) {
                it.forEachRemaining(kv -> marks.add(kv.key));
            }
            marks.forEach(applied::delete);
        } else {
            if (d.verdictId() != null) {
                applied.put(jobMarks(jobId) + "verdict:" + d.verdictId(), ts);
            }
            if (d.paidTaskId() != null) {
                applied.put(jobMarks(jobId) + "paid:" + d.paidTaskId(), ts);
            }
        }
        if (d.status() != null) {
            jobs.put(d.status().getJobId(), d.status());
            context.forward(new Record<>(d.status().getJobId(), JobStatus.newBuilder(d.status()).build(), d.status().getUpdatedAtMs()));
        }
    }

    /** Key prefix of a job's applied verdict ids and paid shards (job ids hold no '/'). */
    static String jobMarks(String jobId) {
        return "job:" + jobId + "/";
    }

    @Override
    public long balance(String account) {
        Long b = balances.get(account);
        return b == null ? 0L : b;
    }

    @Override
    public JobStatus job(String jobId) {
        return jobs.get(jobId);
    }

    @Override
    public boolean paymentApplied(String paymentId) {
        return payments.contains(paymentId);
    }

    @Override
    public boolean verdictApplied(String jobId, String verdictId) {
        return applied.get(jobMarks(jobId) + "verdict:" + verdictId) != null;
    }

    @Override
    public boolean shardPaid(String jobId, String taskId) {
        return applied.get(jobMarks(jobId) + "paid:" + taskId) != null;
    }

    private void unprocessable(SpecificRecord event, long ts, String reason) {
        context.forward(Unprocessable.letter(context, event, reason, SettlementTopology.APPLICATION_ID, ts));
    }
}
