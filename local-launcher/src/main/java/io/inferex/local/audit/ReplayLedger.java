package io.inferex.local.audit;

import io.inferex.events.ChallengeBond;
import io.inferex.events.ChallengeBondStatus;
import io.inferex.events.JobStatus;
import io.inferex.events.NodeStake;
import io.inferex.ledger.LedgerConfig;
import io.inferex.ledger.LedgerRules;
import java.util.HashMap;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;

/**
 * Fresh, in-memory ledger state driven by the settlement's own {@link LedgerRules}: events and
 * timers in, {@link LedgerRules.Decision}s out. It writes each decision the way the settlement's
 * {@code LedgerProcessor} writes it into its stores (balances and transfers, ids and marks, the
 * job's deadline, stakes and unstake releases, then the job status); the rules themselves are not
 * re-implemented here.
 */
public final class ReplayLedger implements LedgerRules.LedgerState {
    private final LedgerConfig config;
    private final LedgerRules rules;
    final Map<String, Long> balances = new HashMap<>();
    private final Map<String, JobStatus> jobs = new HashMap<>();
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
        this.config = config;
        this.rules = new LedgerRules(config);
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
        if (d.refusal() != null || d.ignored()) {
            return;
        }
        balances.putAll(d.balances());
        if (d.paymentId() != null) {
            payments.put(d.paymentId(), ts + config.paymentReplayWindow().toMillis());
        }
        if (d.verificationLeaseId() != null) {
            verificationLeases.put(d.verificationLeaseId(), ts + config.paymentReplayWindow().toMillis());
        }
        String jobId = d.jobId();
        if (jobId != null && d.jobClosed()) {
            deadlines.remove(jobId);
            marks.remove(jobId);
        } else if (jobId != null) {
            if (d.deadlineMs() != null) {
                deadlines.put(jobId, d.deadlineMs());
            }
            marks.computeIfAbsent(jobId, j -> new HashMap<>()).putAll(d.jobMarks());
        }
        for (NodeStake s : d.stakes()) {
            stakes.put(s.getNodeId(), s);
            if (s.getUnlockingMicros() > 0) {
                unstakes.put(s.getNodeId(), s.getUnlockAtMs());
            } else {
                unstakes.remove(s.getNodeId());
            }
        }
        for (ChallengeBond b : d.bondAnswers()) {
            if (b.getStatus() == ChallengeBondStatus.LOCKED) {
                bonds.put(b.getChallenge().getChallengeId(), b);
                bondTimeouts.put(b.getChallenge().getChallengeId(), ts + config.finalityGrace().toMillis());
            }
        }
        for (String challengeId : d.bondsClosed()) {
            bonds.remove(challengeId);
            bondTimeouts.remove(challengeId);
        }
        if (d.status() != null) {
            jobs.put(d.status().getJobId(), d.status());
        }
    }

    public Map<String, Long> balances() {
        return balances;
    }

    @Override
    public long balance(String account) {
        return balances.getOrDefault(account, 0L);
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
