package io.inferex.verifier;

import io.inferex.deadletter.Unprocessable;
import io.inferex.events.AcceptedResult;
import io.inferex.events.Assignment;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ReputationEventKind;
import io.inferex.events.ShardResult;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.market.SignedPayloads;
import io.inferex.market.VerificationIds;
import io.inferex.state.ExpiringKeys;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Optional;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * Stage 1 of the verifier, per node. Keeps verified registrations and open leases, and turns each
 * result into exactly one verdict; an ACCEPTED one (provisional) is also forwarded, keyed by its
 * shard, to stage 2 ({@link ShardVerifier}) as an {@code AcceptedResult}, and every verdict and
 * unanswered revoked lease becomes a reputation event for stage 3 ({@link ReputationKeeper}).
 * A result whose lease this task has not seen yet (the assignment may still be in flight on
 * another partition of the task) is parked and judged when the lease arrives, or rejected after
 * {@code leaseWait} of wall-clock time.
 */
final class ResultJudge implements Processor<String, SpecificRecord, String, Object> {
    /** How long after its deadline an unanswered lease is still kept for a late answer. */
    static final long LATE_GRACE_MS = Duration.ofMinutes(10).toMillis();
    /** How long a judged or revoked lease id is remembered (a later result for it finds no lease and is dead-lettered anyway). */
    static final long MEMORY_MS = Duration.ofHours(1).toMillis();
    private final VerifierTopology.Config config;
    private ProcessorContext<String, Object> context;
    private KeyValueStore<String, NodeRegistered> nodes;
    private KeyValueStore<String, Assignment> leases;
    private KeyValueStore<String, ShardResult> parked;
    /** Parked results by the time they give up waiting for their lease (a time index, no full scans). */
    private ExpiringKeys parkedUntil;
    /** Open leases by the time they are forgotten: deadline + {@link #LATE_GRACE_MS}. */
    private ExpiringKeys leaseExpiry;
    /** Leases judged (one verdict per lease) and leases the matcher revoked, each with a time index. */
    private ExpiringKeys judged;
    private ExpiringKeys revoked;
    /** The model registry: the built-ins and the global store of {@code models}. */
    private io.inferex.market.ModelRegistry models;

    ResultJudge(VerifierTopology.Config config) {
        this.config = config;
    }

    @Override
    public void init(ProcessorContext<String, Object> context) {
        this.context = context;
        nodes = context.getStateStore(VerifierTopology.NODES_STORE);
        models = VerifierTopology.registry(context.getStateStore(VerifierTopology.MODELS_GLOBAL_STORE));
        leases = context.getStateStore(VerifierTopology.LEASES_STORE);
        parked = context.getStateStore(VerifierTopology.PARKED_STORE);
        parkedUntil = new ExpiringKeys(context.getStateStore(VerifierTopology.PARKED_AT_STORE), "parked");
        KeyValueStore<String, Long> memory = context.getStateStore(VerifierTopology.JUDGED_STORE);
        judged = new ExpiringKeys(memory, "judged");
        revoked = new ExpiringKeys(memory, "revoked");
        leaseExpiry = new ExpiringKeys(memory, "lease");
        // Wall-clock, not stream time: a lone parked result must time out even if nothing else arrives.
        context.schedule(Duration.ofSeconds(1), PunctuationType.WALL_CLOCK_TIME, this::expire);
    }

    @Override
    public void process(Record<String, SpecificRecord> record) {
        SpecificRecord event = record.value();
        if (event instanceof NodeRegistered reg) {
            Optional<String> problem = SignedPayloads.registrationProblem(reg);
            NodeRegistered known = nodes.get(reg.getNodeId());
            if (problem.isPresent()) {
                unprocessable(reg, record.timestamp(), "registration of " + reg.getNodeId() + " rejected: " + problem.get());
            } else if (known != null && reg.getRegisteredAtMs() <= known.getRegisteredAtMs()) {
                unprocessable(reg, record.timestamp(), "registration of " + reg.getNodeId() + " rejected: epoch "
                        + reg.getRegisteredAtMs() + " not above " + known.getRegisteredAtMs() + " (a replayed or older registration)");
            } else {
                nodes.put(reg.getNodeId(), reg);
            }
        } else if (event instanceof Assignment lease && lease.getRevoked()) {
            // The matcher took the lease back: an answer seen from now on is late and is never judged (never paid).
            // One taken back because its task was decided without it (unneeded) is no fault of its node.
            Assignment unanswered = leases.delete(lease.getLeaseId());
            if (unanswered != null && !lease.getUnneeded()) {
                long now = context.currentSystemTimeMs();
                context.forward(new Record<>(unanswered.getNodeId(), ShardCases.rep(unanswered.getNodeId(),
                        ReputationEventKind.LEASE_UNANSWERED, unanswered.getLeaseId(), "lease revoked unanswered", now), record.timestamp()));
            }
            leaseExpiry.remove(lease.getLeaseId());
            revoked.put(lease.getLeaseId(), context.currentSystemTimeMs() + MEMORY_MS);
            ShardResult waiting = parked.delete(lease.getLeaseId());
            parkedUntil.remove(lease.getLeaseId());
            if (waiting != null) {
                lateOnRevoked(waiting, record.timestamp());
            }
        } else if (event instanceof Assignment lease) {
            leases.put(lease.getLeaseId(), lease);
            long deadline = lease.getLeaseDeadlineMs();
            leaseExpiry.put(lease.getLeaseId(), deadline > Long.MAX_VALUE - LATE_GRACE_MS ? Long.MAX_VALUE : deadline + LATE_GRACE_MS);
            ShardResult waiting = parked.delete(lease.getLeaseId());
            parkedUntil.remove(lease.getLeaseId());
            if (waiting != null) {
                judge(waiting, lease, record.timestamp());
            }
        } else if (event instanceof ShardResult result) {
            Optional<String> forged = ResultCheck.attributionProblems(result, nodes.get(result.getNodeId()));
            if (forged.isPresent()) {
                // Not provably the named node's: no verdict (it would blame or exclude that node),
                // the lease stays open for the real answer, the record goes to the dead letters.
                unprocessable(result, record.timestamp(), "result for lease " + result.getLeaseId() + " rejected unjudged: "
                        + forged.get());
                return;
            }
            if (revoked.contains(result.getLeaseId())) {
                lateOnRevoked(result, record.timestamp());
                return;
            }
            if (judged.contains(result.getLeaseId())) {
                return; // one verdict per lease; a duplicate result is ignored
            }
            Assignment lease = leases.get(result.getLeaseId());
            if (lease == null) {
                parked.put(result.getLeaseId(), result);
                parkedUntil.put(result.getLeaseId(), context.currentSystemTimeMs() + config.leaseWait().toMillis());
            } else {
                judge(result, lease, record.timestamp());
            }
        }
    }

    private void judge(ShardResult result, Assignment lease, long ts) {
        if (!result.getNodeId().equals(lease.getNodeId())) {
            // Signed, but for someone else's lease: judging it would close that node's lease.
            unprocessable(result, ts, "lease " + lease.getLeaseId() + " belongs to node " + lease.getNodeId()
                    + ", not " + result.getNodeId());
            return;
        }
        Optional<String> problem = ResultCheck.problems(result, lease, nodes.get(result.getNodeId()), models);
        emit(result, lease, problem.isEmpty() ? VerdictOutcome.ACCEPTED : VerdictOutcome.REJECTED,
                problem.orElse("signature, lease, model digest, shape and output digest check"), ts);
        leases.delete(lease.getLeaseId());
        leaseExpiry.remove(lease.getLeaseId());
    }

    /** Recorded in the dead letters with the reason; no verdict, so nothing is paid for it. */
    private void lateOnRevoked(ShardResult result, long ts) {
        unprocessable(result, ts, "result for lease " + result.getLeaseId() + " arrived after the matcher revoked the lease;"
                + " a late answer is not judged and not paid");
    }

    private void emit(ShardResult result, Assignment lease, VerdictOutcome outcome, String reason, long ts) {
        judged.put(result.getLeaseId(), context.currentSystemTimeMs() + MEMORY_MS);
        Verdict v = Verdict.newBuilder()
                .setVerdictId(result.getLeaseId() + "/verdict")
                .setTaskId(lease.getTaskId())
                .setJobId(lease.getJobId())
                .setLeaseId(result.getLeaseId())
                .setNodeId(result.getNodeId())
                .setPoolKey(lease.getPoolKey())
                .setOutcome(outcome)
                .setReason(reason)
                .setRowCount(lease.getRows().size())
                .setPricePerRowMicros(lease.getPricePerRowMicros())
                .setOutputDigest(result.getOutputDigest())
                .setDecidedAtMs(ts)
                .build();
        context.forward(new Record<>(v.getJobId(), v, ts));
        long now = context.currentSystemTimeMs();
        boolean accepted = outcome == VerdictOutcome.ACCEPTED;
        context.forward(new Record<>(result.getNodeId(), ShardCases.rep(result.getNodeId(),
                accepted ? ReputationEventKind.FORM_ACCEPTED : ReputationEventKind.FORM_REJECTED, result.getLeaseId(),
                accepted ? null : reason, now), ts));
        if (accepted) {
            // Provisional: stage 2 (keyed by the shard) samples, compares and finalizes it.
            String shard = VerificationIds.shardOf(lease.getTaskId()).orElse(lease.getTaskId());
            AcceptedResult a = AcceptedResult.newBuilder().setLeaseId(result.getLeaseId()).setTaskId(lease.getTaskId())
                    .setShardTaskId(shard).setJobId(lease.getJobId()).setShardIndex(lease.getShardIndex()).setNodeId(result.getNodeId())
                    .setPoolKey(lease.getPoolKey()).setModel(lease.getModel()).setPricePerRowMicros(lease.getPricePerRowMicros())
                    .setRowCount(lease.getRows().size()).setOutputDigest(result.getOutputDigest()).setAcceptedAtMs(now)
                    .setInputRows(new ArrayList<>(lease.getRows())).setRows(new ArrayList<>(result.getRows())).build();
            context.forward(new Record<>(shard, a, ts));
        }
    }

    /**
     * Housekeeping on the wall clock. A lease nobody answered is forgotten {@link #LATE_GRACE_MS}
     * after its deadline (the matcher has re-leased the shard by then; a later answer is parked
     * and dead-lettered like any result without a lease), so the store does not grow forever.
     * Every expiry reads a time index up to now, never a whole store.
     */
    private void expire(long now) {
        leaseExpiry.expire(now, (leaseId, at) -> leases.delete(leaseId));
        judged.expire(now, (leaseId, at) -> { });
        revoked.expire(now, (leaseId, at) -> { });
        // Parked results whose lease never showed up within leaseWait (verifier's clock) go to the dead letters.
        parkedUntil.expire(now, (leaseId, at) -> {
            ShardResult r = parked.delete(leaseId);
            if (r != null) {
                unprocessable(r, now, "no lease " + leaseId + " was seen within " + config.leaseWait().toSeconds() + " s");
            }
        });
    }

    private void unprocessable(SpecificRecord event, long ts, String reason) {
        context.forward(Unprocessable.letter(context, event, reason, VerifierTopology.APPLICATION_ID, ts));
    }
}
