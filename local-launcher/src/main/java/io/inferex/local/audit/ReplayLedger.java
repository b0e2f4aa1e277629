package io.inferex.local.audit;

import io.inferex.events.ChallengeBond;
import io.inferex.events.JobStatus;
import io.inferex.events.NodeStake;
import io.inferex.ledger.LedgerConfig;
import io.inferex.ledger.LedgerRules;
import io.inferex.ledger.LedgerWriter;
import java.util.HashMap;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;

/**
 * Fresh, in-memory ledger state driven by the settlement's own {@link LedgerRules}: events and
 * timers in, {@link LedgerRules.Decision}s out. It writes each decision through the same
 * {@link LedgerWriter} as the settlement's {@code LedgerProcessor}, into maps instead of state
 * stores; neither the rules nor the way a decision is written are re-implemented here.
 */
public final class ReplayLedger implements LedgerRules.LedgerState {
    private final LedgerConfig config;
    private final LedgerRules rules;
    private final IdIndex<long[]> balances;
    private final IdIndex<JobStatus> jobs;
    private final Map<String, Long> payments = new HashMap<>();
    private final Map<String, Long> verificationLeases = new HashMap<>();
    private final Map<String, Map<String, Long>> marks = new HashMap<>();
    final Map<String, Long> deadlines = new HashMap<>();
    private final Map<String, NodeStake> stakes = new HashMap<>();
    final Map<String, Long> unstakes = new HashMap<>();
    private final Map<String, ChallengeBond> bonds = new HashMap<>();
    /** Open challenge bonds by the time they are returned if the verifier never answers. */
    final Map<String, Long> bondTimeouts = new HashMap<>();
    /** The time of the step being applied: applied ids count until their expiry passes. */
    private long now;

    public ReplayLedger(LedgerConfig config) {
        this(config, 1 << 15);
    }

    /**
     * A replay of a log with about {@code expectedJobs} jobs: its tables are sized for them once
     * (an escrow account per job besides the participants'), instead of growing and re-hashing
     * every id on the way.
     */
    public ReplayLedger(LedgerConfig config, int expectedJobs) {
        this.config = config;
        this.rules = new LedgerRules(config);
        int jobsExpected = Math.max(1 << 10, expectedJobs);
        this.jobs = new IdIndex<>(jobsExpected);
        this.balances = new IdIndex<>(jobsExpected + jobsExpected / 4);
    }

    /** Decides and writes one input event at its record timestamp, as the settlement does. */
    public LedgerRules.Decision event(SpecificRecord event, long ts) {
        now = ts;
        LedgerRules.Decision d = rules.decide(event, ts, this);
        write(d, ts);
        return d;
    }

    /** The job's completion deadline (or grace end) now pending, or null. */
    public Long deadline(String jobId) {
        return deadlines.get(jobId);
    }

    /** When the node's unlocking stake is due for release, or null. */
    public Long releaseAt(String nodeId) {
        return unstakes.get(nodeId);
    }

    /** The expiry punctuation for a job at {@code at}; the caller has checked it was due. */
    public LedgerRules.Decision expire(String jobId, long at) {
        now = at;
        deadlines.remove(jobId);
        LedgerRules.Decision d = rules.expire(jobId, at, this);
        write(d, at);
        return d;
    }

    /** The unstake-release punctuation for a node at {@code at}; the caller has checked it was due. */
    public LedgerRules.Decision release(String nodeId, long at) {
        now = at;
        unstakes.remove(nodeId);
        LedgerRules.Decision d = rules.release(nodeId, at, this);
        write(d, at);
        return d;
    }

    /** When an open challenge bond is due to be returned unanswered, or null. */
    public Long bondTimeout(String challengeId) {
        return bondTimeouts.get(challengeId);
    }

    /** The bond-timeout punctuation for a challenge at {@code at}; the caller has checked it was due. */
    public LedgerRules.Decision releaseBond(String challengeId, long at) {
        now = at;
        bondTimeouts.remove(challengeId);
        LedgerRules.Decision d = rules.releaseBond(challengeId, at, this);
        write(d, at);
        return d;
    }

    private void write(LedgerRules.Decision d, long ts) {
        if (d.refusal() == null && !d.ignored()) {
            LedgerWriter.write(d, ts, config, store);
        }
    }

    /** The replay's state, written exactly as the settlement writes its stores ({@link LedgerWriter}). */
    private final LedgerWriter.Store store = new LedgerWriter.Store() {
        @Override
        public void balance(String account, long micros) {
            long[] b = balances.get(account);
            if (b == null) {
                balances.putIfAbsent(account, new long[] {micros});
            } else {
                b[0] = micros;
            }
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
            marks.remove(jobId);
        }

        @Override
        public void deadline(String jobId, long atMs) {
            deadlines.put(jobId, atMs);
        }

        @Override
        public void mark(String jobId, String mark, long value) {
            marks.computeIfAbsent(jobId, j -> new HashMap<>()).put(mark, value);
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
            bonds.remove(challengeId);
            bondTimeouts.remove(challengeId);
        }

        @Override
        public void job(JobStatus status) {
            jobs.put(status.getJobId(), status);
        }
    };

    /** How many accounts the replay has written. */
    public int accounts() {
        return balances.size();
    }

    /** Every account the replay has written and its balance, in no particular order. */
    public void forEachBalance(java.util.function.ObjLongConsumer<String> action) {
        balances.forEach((account, b) -> action.accept(account, b[0]));
    }

    @Override
    public long balance(String account) {
        long[] b = balances.get(account);
        return b == null ? 0 : b[0];
    }

    @Override
    public JobStatus job(String jobId) {
        return jobs.get(jobId);
    }

    @Override
    public boolean paymentApplied(String paymentId) {
        Long until = payments.get(paymentId);
        return until != null && until > now;
    }

    @Override
    public Long jobMark(String jobId, String mark) {
        Map<String, Long> m = marks.get(jobId);
        return m == null ? null : m.get(mark);
    }

    @Override
    public boolean verificationPaid(String leaseId) {
        Long until = verificationLeases.get(leaseId);
        return until != null && until > now;
    }

    @Override
    public NodeStake stake(String nodeId) {
        return stakes.get(nodeId);
    }

    @Override
    public ChallengeBond bond(String challengeId) {
        return bonds.get(challengeId);
    }
}
