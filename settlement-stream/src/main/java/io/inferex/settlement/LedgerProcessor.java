package io.inferex.settlement;

import io.inferex.deadletter.Unprocessable;
import io.inferex.events.ChallengeBond;
import io.inferex.events.JobStatus;
import io.inferex.events.NodeStake;
import io.inferex.events.Transfer;
import io.inferex.ledger.LedgerConfig;
import io.inferex.ledger.LedgerRules;
import io.inferex.ledger.LedgerWriter;
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
 * Applies payments, accepted jobs, verdicts, verification outcomes and challenges to the ledger. Every
 * movement is a {@link Transfer} from one account to another, so the sum of all balances (with
 * {@link Accounts#EXTERNAL}) is always zero; nothing is created or destroyed. Each payment id and
 * verdict id is applied once, each shard is accepted once and resolved (paid or slashed) once,
 * each verification lease is paid once.
 *
 * <p>Validate, decide, write: {@link LedgerRules} checks the whole event and plans every balance
 * it would write (pure, nothing written); only then does this processor write the plan, so a
 * refused event leaves no trace but its dead letter. State stays bounded: payment ids and paid
 * verification leases are kept for the replay window (older ones are refused), a job's marks are
 * deleted when the job completes or expires, and deadlines and unstake releases sit in time
 * indexes; the stakes store holds one record per node that ever staked or was slashed; the bonds
 * store holds the open challenge bonds only (settled ones are deleted; one the verifier never
 * answers is returned after the finality grace).
 */
final class LedgerProcessor implements Processor<String, SpecificRecord, String, Object>, LedgerRules.LedgerState {
    static final Duration EXPIRY_CHECK = Duration.ofSeconds(5);
    private final LedgerConfig config;
    private final LedgerRules rules;
    private ProcessorContext<String, Object> context;
    private KeyValueStore<String, Long> balances;
    private KeyValueStore<String, JobStatus> jobs;
    private KeyValueStore<String, Long> applied;
    private KeyValueStore<String, NodeStake> stakes;
    private KeyValueStore<String, ChallengeBond> bonds;
    /** Payment ids applied, each until the replay window has passed. */
    private ExpiringKeys payments;
    /** Verification leases paid, each until the replay window has passed. */
    private ExpiringKeys verificationLeases;
    /** Open jobs by completion deadline. */
    private ExpiringKeys deadlines;
    /** Nodes with unlocking stake, by release time. */
    private ExpiringKeys unstakes;
    /** Open challenge bonds, by the time they are returned if the verifier never answers. */
    private ExpiringKeys bondTimeouts;

    LedgerProcessor(LedgerConfig config) {
        this.config = config;
        this.rules = new LedgerRules(config);
    }

    @Override
    public void init(ProcessorContext<String, Object> context) {
        this.context = context;
        this.balances = context.getStateStore(SettlementTopology.BALANCES_STORE);
        this.jobs = context.getStateStore(SettlementTopology.JOBS_STORE);
        this.applied = context.getStateStore(SettlementTopology.APPLIED_STORE);
        this.stakes = context.getStateStore(SettlementTopology.STAKES_STORE);
        this.bonds = context.getStateStore(SettlementTopology.BONDS_STORE);
        this.payments = new ExpiringKeys(applied, "payment");
        this.verificationLeases = new ExpiringKeys(applied, "verification-lease");
        this.deadlines = new ExpiringKeys(applied, "deadline");
        this.unstakes = new ExpiringKeys(applied, "unstake");
        this.bondTimeouts = new ExpiringKeys(applied, "bond");
        // Wall clock: jobs expire, stake is released and old ids go even when no event arrives.
        context.schedule(EXPIRY_CHECK, PunctuationType.WALL_CLOCK_TIME, now -> {
            deadlines.expire(now, (jobId, at) -> write(rules.expire(jobId, now, this), null, now));
            unstakes.expire(now, (nodeId, at) -> write(rules.release(nodeId, now, this), null, now));
            bondTimeouts.expire(now, (challengeId, at) -> write(rules.releaseBond(challengeId, now, this), null, now));
            payments.expire(now, (id, at) -> { });
            verificationLeases.expire(now, (id, at) -> { });
        });
    }

    @Override
    public void process(Record<String, SpecificRecord> record) {
        SpecificRecord event = record.value();
        long ts = record.timestamp();
        LedgerRules.Decision decision = rules.decide(event, ts, this);
        write(decision, event, ts);
    }

    /** Writes a decision the rules have fully checked: balances and transfers, ids and marks, stakes, then the job's status. */
    private void write(LedgerRules.Decision d, SpecificRecord event, long ts) {
        if (d.refusal() != null) {
            if (event != null) {
                unprocessable(event, ts, d.refusal());
            }
            return;
        }
        if (d.ignored()) {
            return;
        }
        LedgerWriter.write(d, ts, config, store);
        d.transfers().forEach(t -> context.forward(new Record<>(t.getTransferId(), t, ts)));
        d.stakes().forEach(s -> context.forward(new Record<>(s.getNodeId(), NodeStake.newBuilder(s).build(), ts)));
        d.bondAnswers().forEach(b -> context.forward(new Record<>(b.getChallenge().getTaskId(), b, ts)));
        if (d.status() != null) {
            context.forward(new Record<>(d.status().getJobId(), JobStatus.newBuilder(d.status()).build(), d.status().getUpdatedAtMs()));
        }
    }

    /** This processor's stores, as {@link LedgerWriter} writes a decision into them. */
    private final LedgerWriter.Store store = new LedgerWriter.Store() {
        @Override
        public void balance(String account, long micros) {
            balances.put(account, micros);
        }

        @Override
        public void paymentApplied(String paymentId, long untilMs) {
            payments.put(paymentId, untilMs);
        }

        @Override
        public void verificationPaid(String leaseId, long untilMs) {
            verificationLeases.put(leaseId, untilMs);
        }

        @Override
        public void jobClosed(String jobId) {
            deadlines.remove(jobId);
            List<String> marks = new ArrayList<>();
            try (var it = applied.prefixScan(jobMarks(jobId), new StringSerializer())) {
                it.forEachRemaining(kv -> marks.add(kv.key));
            }
            marks.forEach(applied::delete);
        }

        @Override
        public void deadline(String jobId, long atMs) {
            deadlines.put(jobId, atMs);
        }

        @Override
        public void mark(String jobId, String mark, long value) {
            applied.put(jobMarks(jobId) + mark, value);
        }

        @Override
        public void stake(NodeStake stake, Long releaseAtMs) {
            stakes.put(stake.getNodeId(), stake);
            if (releaseAtMs != null) {
                unstakes.put(stake.getNodeId(), releaseAtMs);
            } else {
                unstakes.remove(stake.getNodeId());
            }
        }

        @Override
        public void bondOpened(ChallengeBond bond, long timeoutAtMs) {
            bonds.put(bond.getChallenge().getChallengeId(), bond);
            bondTimeouts.put(bond.getChallenge().getChallengeId(), timeoutAtMs);
        }

        @Override
        public void bondClosed(String challengeId) {
            bonds.delete(challengeId);
            bondTimeouts.remove(challengeId);
        }

        @Override
        public void job(JobStatus status) {
            jobs.put(status.getJobId(), status);
        }
    };

    /** Key prefix of an open job's marks (job ids hold no '/'). */
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
    public Long jobMark(String jobId, String mark) {
        return applied.get(jobMarks(jobId) + mark);
    }

    @Override
    public boolean verificationPaid(String leaseId) {
        return verificationLeases.contains(leaseId);
    }

    @Override
    public NodeStake stake(String nodeId) {
        return stakes.get(nodeId);
    }

    @Override
    public ChallengeBond bond(String challengeId) {
        return bonds.get(challengeId);
    }

    private void unprocessable(SpecificRecord event, long ts, String reason) {
        context.forward(Unprocessable.letter(context, event, reason, SettlementTopology.APPLICATION_ID, ts));
    }
}
