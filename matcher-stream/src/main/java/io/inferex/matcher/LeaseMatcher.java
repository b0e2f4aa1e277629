package io.inferex.matcher;

import io.inferex.deadletter.Unprocessable;
import io.inferex.events.Assignment;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.LeaseDeclined;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.NodeReputation;
import io.inferex.events.NodeStake;
import io.inferex.events.ShardResult;
import io.inferex.events.ShardTask;
import io.inferex.events.TaskLeaseState;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.VerificationTask;
import io.inferex.market.Pools;
import io.inferex.market.SignedPayloads;
import io.inferex.market.TaskIds;
import io.inferex.market.VerificationIds;
import io.inferex.state.ExpiringKeys;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.streams.processor.PunctuationType;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.TimestampedKeyValueStore;
import org.apache.kafka.streams.state.ValueAndTimestamp;

/**
 * One pool partition's market: registered nodes, their liveness, open shards and leases.
 * Leases and liveness run on the wall clock ({@code currentSystemTimeMs}), which tests drive.
 * Capacity is the matcher's own count of open leases against the registered slots; what a node
 * says about its free slots is not trusted.
 */
final class LeaseMatcher implements Processor<String, SpecificRecord, String, Object> {
    static final long MAX_HEARTBEAT_INTERVAL_MS = 60_000;
    private final MatcherTopology.Config config;
    private ProcessorContext<String, Object> context;
    private KeyValueStore<String, NodeRegistered> nodes;
    /** Newest registration epoch applied per "pool|node". */
    private KeyValueStore<String, Long> epochs;
    private KeyValueStore<String, NodeHeartbeat> lastHeartbeat;
    private KeyValueStore<String, Long> lastSeen;
    /** Open tasks with their lease attempts and excluded nodes, one record each ({@link OpenTasks}). */
    private KeyValueStore<String, TaskLeaseState> tasks;
    /** Pending tasks in the order they are leased ({@link MatchIndex#queueKey}: oldest first). */
    private KeyValueStore<String, Long> queue;
    private KeyValueStore<String, Assignment> leases;
    private KeyValueStore<String, Assignment> answered;
    /** Per node: its unanswered leases' count and value, kept with {@link #leases} so matching reads it by key. */
    private KeyValueStore<String, String> nodeLoad;
    /** Earlier builds' attempts per task: read once per task restored from their changelog, then deleted ({@link OpenTasks}). */
    private KeyValueStore<String, String> legacyAttempts;
    /** Task ids accepted, kept while their job is open (at least {@code acceptedRetention}): a replay is not leased again. */
    private ExpiringKeys accepted;
    private TimestampedKeyValueStore<String, JobStatus> jobStatus;
    private TimestampedKeyValueStore<String, NodeStake> nodeStake;
    private TimestampedKeyValueStore<String, NodeReputation> nodeReputation;
    private final NodeEligibility eligibility;
    /** Set by a record that may let a pending shard be leased now; the steady heartbeat of a live node does not. */
    private boolean matchable;
    /** A task that came with this record: when nothing else changed, only it can be newly leasable. */
    private TaskLeaseState fresh;
    /** Where the last matching pass stopped when it ran out of its budget (null: at the head of the queue). */
    private String resumeAfter;
    /*
     * In memory, rebuilt or reset on init (a restart, a restore, a migrated or revived task): read
     * aids only, every fact stays in the stores. Deleted keys stay in RocksDB as tombstones until
     * compaction, and a scan that starts before them walks over every one; the queue head and the
     * expiry marks keep the scans from starting there.
     */
    /** Each node's registration, last-seen time and load, deserialized, and the free-node order ({@link NodeBook}). */
    private final NodeBook book = new NodeBook();
    /** No live queue key sorts before this one (null: not known yet, scan from the start). */
    private String queueHead;
    /** Unanswered leases by deadline and by node, answered leases by verdict deadline ({@link LeaseIndex}). */
    private final LeaseIndex leaseIndex = new LeaseIndex();
    /** Most pending tasks one matching pass looks at: per-record work stays bounded whatever the queue holds. */
    static final int PASS_BUDGET = 512;
    private static final org.apache.kafka.common.serialization.StringSerializer KEYS = new org.apache.kafka.common.serialization.StringSerializer();

    LeaseMatcher(MatcherTopology.Config config) {
        this.config = config;
        this.eligibility = new NodeEligibility(config.eligibility());
    }

    @Override
    public void init(ProcessorContext<String, Object> context) {
        this.context = context;
        nodes = context.getStateStore(MatcherTopology.NODES_STORE);
        epochs = context.getStateStore(MatcherTopology.EPOCHS_STORE);
        lastHeartbeat = context.getStateStore(MatcherTopology.LAST_HEARTBEAT_STORE);
        lastSeen = context.getStateStore(MatcherTopology.LAST_SEEN_STORE);
        tasks = context.getStateStore(MatcherTopology.TASKS_STORE);
        queue = context.getStateStore(MatcherTopology.PENDING_QUEUE_STORE);
        leases = context.getStateStore(MatcherTopology.LEASES_STORE);
        answered = context.getStateStore(MatcherTopology.ANSWERED_STORE);
        nodeLoad = context.getStateStore(MatcherTopology.NODE_LOAD_STORE);
        legacyAttempts = context.getStateStore(MatcherTopology.LEGACY_ATTEMPTS_STORE);
        accepted = new ExpiringKeys(context.getStateStore(MatcherTopology.ACCEPTED_STORE), "accepted");
        jobStatus = context.getStateStore(MatcherTopology.JOB_STATUS_STORE);
        nodeStake = context.getStateStore(MatcherTopology.NODE_STAKE_STORE);
        nodeReputation = context.getStateStore(MatcherTopology.NODE_REPUTATION_STORE);
        rebuildInMemoryAids();
        // Wall clock: a lease must expire and a silent node must die even when no record arrives.
        context.schedule(config.tick(), PunctuationType.WALL_CLOCK_TIME, now -> {
            expireLeases(now);
            forgetAcceptedTasksOfClosedJobs(now);
            refreshStanding(now);
            assignPending(now);
        });
    }

    /**
     * Everything kept in memory is dropped and rebuilt from the stores (one pass over the fleet's
     * three node stores, at most the fleet, and one over the open and answered leases, at most the
     * fleet's slots plus the answers waiting for a verdict): init runs on every start, restore, migration and
     * revival of the task, and whatever the processor held before may be ahead of what the stores
     * now say (an aborted transaction) or belong to another task.
     */
    private void rebuildInMemoryAids() {
        book.clear();
        queueHead = null;
        resumeAfter = null;
        leaseIndex.clear();
        matchable = false;
        fresh = null;
        try (var it = nodes.all()) {
            it.forEachRemaining(kv -> book.registration(kv.value));
        }
        try (var it = lastSeen.all()) {
            it.forEachRemaining(kv -> book.lastSeen(kv.key, kv.value));
        }
        try (var it = nodeLoad.all()) {
            it.forEachRemaining(kv -> book.load(kv.key, Load.parse(kv.value)));
        }
        long now = context.currentSystemTimeMs();
        book.registered().forEach(nodeId -> reindex(nodeId, now));
        try (var it = leases.all()) {
            it.forEachRemaining(kv -> leaseIndex.opened(kv.value));
        }
        try (var it = answered.all()) {
            it.forEachRemaining(kv -> leaseIndex.awaiting(kv.value));
        }
    }

    @Override
    public void process(Record<String, SpecificRecord> record) {
        long now = context.currentSystemTimeMs();
        SpecificRecord event = record.value();
        if (event instanceof ShardTask task) {
            onTask(task, now, record.timestamp());
        } else if (event instanceof VerificationTask vt) {
            onVerificationTask(vt, record.key(), now, record.timestamp());
        } else if (event instanceof NodeRegistered reg) {
            onRegistration(reg, record.key(), record.timestamp());
        } else if (event instanceof NodeHeartbeat hb) {
            onHeartbeat(hb, record.key(), now, record.timestamp());
        } else if (event instanceof Verdict v) {
            onVerdict(v, now);
        } else if (event instanceof ShardResult r) {
            onResult(r);
        } else if (event instanceof LeaseDeclined d) {
            onDecline(d, now, record.timestamp());
        } else if (event instanceof VerificationOutcome o) {
            onVerificationClosed(o, now);
        }
        TaskLeaseState task = fresh;
        fresh = null;
        if (matchable) {
            // Matching walks the queue from its head (a bounded window of it) and, per task, the
            // pool's free nodes in preference order: only when this record could change its outcome
            // (a new node or free slot, a revived node, a re-queue); the tick covers the rest.
            matchable = false;
            if (task != null) {
                tasks.put(task.getTask().getTaskId(), task);
                enqueue(task.getTask(), now);
            }
            assignPending(now);
        } else if (task != null) {
            // Only a new task came: every older pending task was already tried against the same
            // free nodes, so the new one is the only one that may be leasable now. It is stored once,
            // with its first lease's attempt when leased at once, and queued only when it stays
            // pending (a task leased at once never touches the queue store).
            if (!(anyFreeNode() && tryLease(task, now, false))) {
                tasks.put(task.getTask().getTaskId(), task);
                enqueue(task.getTask(), now);
            }
        }
    }

    /**
     * A shard is taken only with the task id ingest gives it ({@link TaskIds}: the job's id and an
     * index below its shard count), and never again once accepted: a replayed task is refused.
     */
    private void onTask(ShardTask task, long now, long ts) {
        OptionalInt index = TaskIds.indexOf(task.getJobId(), task.getTaskId(), task.getShardCount());
        if (index.isEmpty() || index.getAsInt() != task.getShardIndex()) {
            reject(task, ts, "task " + task.getTaskId() + " is not shard " + task.getShardIndex() + " of the " + task.getShardCount()
                    + " of job " + task.getJobId());
        } else if (accepted.contains(task.getTaskId())) {
            reject(task, ts, "task " + task.getTaskId() + " was already accepted; a replay is not leased again");
        } else if (tasks.get(task.getTaskId()) == null) {
            fresh = OpenTasks.fresh(task, List.of()); // stored (and queued unless leased at once) at the end of process
        }
    }

    /**
     * A re-execution the verifier asks for ({@link VerificationIntake}): held and leased like a
     * shard under its verification id, its excluded nodes (and the suspect) excluded from the
     * start; refused with the reason when its id, job, pool, rows or exclusions do not check, and
     * when it was already accepted (a replay).
     */
    private void onVerificationTask(VerificationTask vt, String key, long now, long ts) {
        JobStatus job = ValueAndTimestamp.getValueOrNull(jobStatus.get(vt.getJobId()));
        Optional<String> problem = VerificationIntake.problem(key, vt, job);
        String id = vt.getVerificationId();
        if (problem.isPresent()) {
            reject(vt, ts, problem.get());
        } else if (accepted.contains(id)) {
            reject(vt, ts, "verification task " + id + " was already accepted; a replay is not leased again");
        } else if (tasks.get(id) == null) {
            // stored (and queued unless leased at once) at the end of process
            fresh = OpenTasks.fresh(VerificationIntake.asLeasable(vt, job.getShardCount()), List.copyOf(VerificationIntake.excluded(vt)));
        }
    }

    /**
     * {@code registeredAtMs} is the registration's epoch (signed): a node's registrations strictly
     * increase it. One registration arrives once per pool it names (copies of it for two pools may
     * meet in one task), so the epoch is checked per pool and node, and against the node's newest.
     */
    private void onRegistration(NodeRegistered reg, String pool, long ts) {
        Optional<String> untrusted = SignedPayloads.registrationProblem(reg);
        NodeRegistered known = book.registration(reg.getNodeId());
        Long seenInPool = epochs.get(pool + "|" + reg.getNodeId());
        long epoch = reg.getRegisteredAtMs();
        if (untrusted.isPresent()) {
            reject(reg, ts, "registration of " + reg.getNodeId() + ": " + untrusted.get());
        } else if ((seenInPool != null && epoch <= seenInPool) || (known != null && epoch < known.getRegisteredAtMs())) {
            reject(reg, ts, "registration of " + reg.getNodeId() + ": epoch " + epoch + " not above "
                    + Math.max(seenInPool == null ? Long.MIN_VALUE : seenInPool, known == null ? Long.MIN_VALUE : known.getRegisteredAtMs())
                    + " (a replayed or older registration)");
        } else if (reg.getPricePerRowMicros() < 0 || reg.getSlots() < 1
                || reg.getHeartbeatIntervalMs() <= 0 || reg.getHeartbeatIntervalMs() > MAX_HEARTBEAT_INTERVAL_MS) {
            // A negative price would win every shard and then never be paid, locking the escrow.
            // (The stake a registration claims is ignored: eligibility reads the ledger's node-stake.)
            reject(reg, ts, "registration of " + reg.getNodeId() + ": price " + reg.getPricePerRowMicros() + ", slots "
                    + reg.getSlots() + ", heartbeat interval " + reg.getHeartbeatIntervalMs()
                    + " ms: need price >= 0, slots >= 1, 0 < interval <= " + MAX_HEARTBEAT_INTERVAL_MS + " ms");
        } else {
            nodes.put(reg.getNodeId(), reg);
            book.registration(reg);
            epochs.put(pool + "|" + reg.getNodeId(), epoch);
            reindex(reg.getNodeId(), context.currentSystemTimeMs());
            matchable = true;
        }
    }

    private void onHeartbeat(NodeHeartbeat hb, String pool, long now, long ts) {
        NodeRegistered reg = book.registration(hb.getNodeId());
        if (reg == null) {
            return; // not registered in this pool (yet): no capacity to offer here
        }
        NodeHeartbeat last = lastHeartbeat.get(hb.getNodeId());
        Set<String> registeredPools = new HashSet<>();
        reg.getModels().forEach(model -> registeredPools.add(Pools.poolKey(model, reg.getCell())));
        if (!registeredPools.contains(pool)) {
            return; // the copy for a pool the node did not register: the copy in a registered pool judges it
        }
        if (!SignedPayloads.verifies(reg.getPublicKey(), hb)) {
            reject(hb, ts, "heartbeat of " + hb.getNodeId() + ": signature does not verify");
        } else if (!registeredPools.containsAll(hb.getPoolKeys()) || hb.getPoolKeys().size() > registeredPools.size()) {
            reject(hb, ts, "heartbeat of " + hb.getNodeId() + " names pools " + hb.getPoolKeys() + " but the node registered "
                    + registeredPools);
        } else if (last != null && hb.getSequence() <= last.getSequence()) {
            // The same heartbeat reaches every pool of the node; a repeat of the last one is no replay attack.
            if (hb.getSequence() < last.getSequence()) {
                reject(hb, ts, "heartbeat of " + hb.getNodeId() + ": sequence " + hb.getSequence() + " not above " + last.getSequence());
            }
        } else {
            lastHeartbeat.put(hb.getNodeId(), hb);
            matchable |= !isAlive(hb.getNodeId(), now); // dead until this beat: its slots count again
            lastSeen.put(hb.getNodeId(), now);
            book.lastSeen(hb.getNodeId(), now);
            reindex(hb.getNodeId(), now); // alive again, or its stake or reputation changed meanwhile
        }
    }

    /**
     * The node answered: its slot is free again, and the lease waits for its verdict until
     * {@code verdictWait} has passed on the matcher's clock (then it is revoked and the shard
     * re-queued: a lost verdict does not hold the shard). Only a result the lease's own node signed counts, so nobody can free (or steal)
     * another node's slot; everything else about the result is the verifier's business.
     */
    private void onResult(ShardResult r) {
        Assignment lease = leases.get(r.getLeaseId());
        NodeRegistered node = book.registration(r.getNodeId());
        if (lease == null || node == null || !lease.getNodeId().equals(r.getNodeId())
                || !SignedPayloads.verifies(node.getPublicKey(), r)) {
            return;
        }
        closeLease(r.getLeaseId());
        matchable = true;
        putAnswered(Assignment.newBuilder(lease).setLeaseDeadlineMs(context.currentSystemTimeMs() + config.verdictWait().toMillis())
                .build());
    }

    /**
     * The lease's own node will not run it (full, or it cannot): when {@link LeaseDeclines} finds
     * nothing wrong, the lease is revoked now, the node is excluded from the shard (it said no) and
     * the shard is queued again, without waiting for the lease deadline. Any other decline (forged,
     * replayed, another node's lease, unknown lease) is dead-lettered with the reason and changes nothing.
     */
    private void onDecline(LeaseDeclined d, long now, long ts) {
        Optional<String> problem = LeaseDeclines.problem(d, leases.get(d.getLeaseId()), book.registration(d.getNodeId()));
        if (problem.isPresent()) {
            reject(d, ts, problem.get());
            return;
        }
        Assignment lease = closeLease(d.getLeaseId());
        revoke(lease, now);
        if (tasks.get(lease.getTaskId()) != null && leasesOf(lease.getTaskId()).isEmpty()) {
            exclude(lease.getTaskId(), lease.getNodeId());
            enqueue(lease.getTaskId(), now);
        }
        matchable = true;
    }

    private void onVerdict(Verdict v, long now) {
        Assignment open = leases.get(v.getLeaseId());
        if (open == null) {
            open = answered.get(v.getLeaseId());
        }
        if (open != null && !open.getNodeId().equals(v.getNodeId())) {
            return; // a verdict on someone else's answer says nothing about this lease
        }
        Assignment lease = closeLease(v.getLeaseId());
        if (lease == null) {
            lease = deleteAnswered(v.getLeaseId());
        }
        if (v.getOutcome() == VerdictOutcome.ACCEPTED) {
            // Done: remember it (a replayed task is not leased again), drop the task and revoke every
            // other lease still open for it, so those nodes stop and their late answers are not paid.
            if (tasks.get(v.getTaskId()) != null) {
                accepted.put(v.getTaskId(), now + config.acceptedRetention().toMillis());
            }
            dropTask(v.getTaskId());
            matchable = true; // its lease's slot, and those of the leases revoked below, are free
            for (Assignment other : leasesOf(v.getTaskId())) {
                closeLease(other.getLeaseId());
                deleteAnswered(other.getLeaseId());
                revokeUnneeded(other, now);
            }
        } else if (lease != null && tasks.get(v.getTaskId()) != null) {
            exclude(v.getTaskId(), v.getNodeId());
            enqueue(v.getTaskId(), now);
            matchable = true;
        }
    }

    /**
     * The verifier decided the shard ({@link VerificationClosing#closes}): every re-execution of it
     * asked before the decision is dropped, its unanswered leases revoked at once as unneeded (the
     * node's slot frees now, and the verifier counts it no unanswered lease), and its answered ones
     * forgotten (their verdict, when it comes, is the verifier's business). Without this a referee
     * round the decision made moot stayed leased until its deadline.
     */
    private void onVerificationClosed(VerificationOutcome outcome, long now) {
        for (String id : VerificationClosing.verificationIdsOf(outcome)) {
            TaskLeaseState open = tasks.get(id);
            if (open == null || !VerificationClosing.closesTask(outcome, open.getTask())) {
                continue;
            }
            for (Assignment lease : leasesOf(id)) {
                if (closeLease(lease.getLeaseId()) != null) {
                    revokeUnneeded(lease, now);
                    matchable = true;
                }
                deleteAnswered(lease.getLeaseId());
            }
            dropTask(id);
        }
    }

    /**
     * Leases whose deadline passed (or whose node died, or was banned or slashed meanwhile) and answered leases whose verdict did not
     * come within {@code verdictWait} are revoked by an event to their node (and the verifier),
     * and their shard is queued again.
     */
    private void expireLeases(long now) {
        Set<String> dead = new HashSet<>();
        Set<String> expired = new java.util.TreeSet<>(); // lease ids, revoked in id order
        // Nodes holding unanswered leases (one nodeLoad entry each, at most the pool's fleet): a dead,
        // slashed or banned one loses them all. Stake and reputation come from global tables whose
        // changes reach no processor, so this is checked per tick, never per record.
        for (String nodeId : book.holders()) {
            boolean nodeDead = !isAlive(nodeId, now);
            if (nodeDead) {
                dead.add(nodeId);
            }
            if (nodeDead || barred(nodeId)) {
                expired.addAll(leaseIndex.ofNode(nodeId));
            }
        }
        // Deadlines passed: the index's entries up to now.
        expired.addAll(leaseIndex.expiredBefore(now));
        for (String leaseId : expired) {
            Assignment a = leases.get(leaseId);
            if (a == null) {
                continue;
            }
            closeLease(a.getLeaseId());
            revoke(a, now);
            if (tasks.get(a.getTaskId()) != null && leasesOf(a.getTaskId()).isEmpty()) {
                if (!dead.contains(a.getNodeId())) {
                    exclude(a.getTaskId(), a.getNodeId()); // alive but too slow (or barred): try someone else
                }
                enqueue(a.getTaskId(), now);
            }
        }
        for (String leaseId : leaseIndex.verdictOverdueBefore(now)) {
            // The answer was seen but no verdict came: re-check the shard rather than hold it for its job's lifetime.
            Assignment a = deleteAnswered(leaseId);
            if (a == null) {
                continue;
            }
            revoke(a, now);
            if (tasks.get(a.getTaskId()) != null && leasesOf(a.getTaskId()).isEmpty()) {
                enqueue(a.getTaskId(), now);
            }
        }
    }

    /** Tells the lease's node (and the verifier) that the lease is taken back; keyed by node id like the lease. */
    private void revoke(Assignment lease, long now) {
        context.forward(new Record<>(lease.getNodeId(), Assignment.newBuilder(lease).setRevoked(true).build(), now));
    }

    /** A revocation because the lease's task was decided without it: no fault of the node (no reputation cost). */
    private void revokeUnneeded(Assignment lease, long now) {
        context.forward(new Record<>(lease.getNodeId(), Assignment.newBuilder(lease).setRevoked(true).setUnneeded(true).build(), now));
    }

    /**
     * Accepted task (and verification) ids whose time is up go, unless their job is still open,
     * IN_PROGRESS or FINALIZING (then they are kept another period).
     */
    private void forgetAcceptedTasksOfClosedJobs(long now) {
        List<String> stillOpen = new ArrayList<>();
        accepted.expire(now, (taskId, at) -> {
            String shard = VerificationIds.shardOf(taskId).orElse(taskId);
            int slash = shard.lastIndexOf('/');
            if (slash > 0 && VerificationIntake.openForVerification(stateOf(shard.substring(0, slash)))) {
                stillOpen.add(taskId);
            }
        });
        stillOpen.forEach(taskId -> accepted.put(taskId, now + config.acceptedRetention().toMillis()));
    }

    /**
     * One matching pass: the pending queue oldest first, from where the last pass stopped if it ran
     * out of budget, at most {@link #PASS_BUDGET} tasks, and only while some node may take work.
     */
    private void assignPending(long now) {
        if (!anyFreeNode()) {
            return;
        }
        List<String> window = new ArrayList<>();
        boolean fromHead = resumeAfter == null;
        String from = fromHead ? (queueHead == null ? "" : queueHead) : resumeAfter + "\0";
        try (var it = queue.range(from, MatchIndex.END)) {
            while (it.hasNext() && window.size() < PASS_BUDGET) {
                window.add(it.next().key);
            }
        }
        if (fromHead) {
            queueHead = window.isEmpty() ? MatchIndex.END : window.get(0);
        }
        resumeAfter = window.size() == PASS_BUDGET ? window.get(window.size() - 1) : null;
        for (String key : window) {
            TaskLeaseState task = openTask(MatchIndex.taskOf(key));
            if (task == null || !key.equals(MatchIndex.queueKey(task.getTask()))) {
                queue.delete(key); // not a live entry (cannot happen while every change goes through enqueue/dropTask)
                continue;
            }
            tryLease(task, now, true);
            if (!anyFreeNode()) {
                return;
            }
        }
    }

    /**
     * Leases the pending {@code task} to the preferred eligible node, if there is one. True when it
     * is pending no more (leased, or dropped with its closed job). {@code queued}: it has a queue
     * entry to remove and is stored (a fresh task tried at once is neither: it is written once, here
     * when leased, with the lease's attempt).
     */
    private boolean tryLease(TaskLeaseState open, long now, boolean queued) {
        ShardTask task = open.getTask();
        JobState state = stateOf(task.getJobId());
        if (state == null) {
            return false; // settlement has not escrowed the job yet: no node works unpaid
        }
        boolean verification = VerificationIds.isVerification(task.getTaskId());
        boolean leasable = verification ? VerificationIntake.openForVerification(state) : state == JobState.IN_PROGRESS;
        if (!leasable) {
            if (queued) {
                dropTask(task.getTaskId()); // failed (e.g. insufficient funds), completed or cancelled
            }
            return true;
        }
        Set<String> excluded = new HashSet<>(open.getExcludedNodes());
        Optional<NodeEligibility.Node> chosen = choose(task, excluded, verification, now);
        if (chosen.isEmpty() && !verification && !excluded.isEmpty()) {
            // Every eligible node was tried and timed out (or was rejected) on this shard: try them
            // again rather than leave it unassigned for good. A re-execution keeps its exclusions
            // (never the executor, the sampler or the challenger's node).
            chosen = choose(task, Set.of(), false, now);
        }
        if (chosen.isEmpty()) {
            return false;
        }
        NodeRegistered node = chosen.get().registration();
        int attempt = open.getAttempts() + 1;
        Assignment lease = Assignment.newBuilder()
                .setLeaseId(task.getTaskId() + "#" + attempt).setTaskId(task.getTaskId()).setJobId(task.getJobId())
                .setShardIndex(task.getShardIndex()).setNodeId(node.getNodeId()).setAttempt(attempt)
                .setModel(task.getModel()).setPoolKey(task.getPoolKey()).setPricePerRowMicros(node.getPricePerRowMicros())
                .setRows(task.getRows()).setAssignedAtMs(now).setLeaseDeadlineMs(now + config.leaseTimeout().toMillis())
                .build();
        if (queued) {
            queue.delete(MatchIndex.queueKey(task));
        }
        openLease(lease, chosen.get());
        tasks.put(task.getTaskId(), new TaskLeaseState(task, attempt, open.getExcludedNodes())); // the task and its attempts: one record
        context.forward(new Record<>(node.getNodeId(), lease, now));
        return true;
    }

    /** Some node may take work now (its free-node entry can be stale: it is re-checked when chosen). */
    private boolean anyFreeNode() {
        return book.anyFree();
    }

    /**
     * The preferred eligible node for {@code task}: the first of its pool's free nodes, in the
     * order of the task's comparator, that passes {@link NodeEligibility#whyNot} on what the matcher
     * knows now. For a shard the walk stops at the first node dearer than the task's maximum (the
     * order is price first). A node found unable to take any work (died, slashed, banned since its
     * entry was written) is re-indexed, so it is skipped once.
     */
    private Optional<NodeEligibility.Node> choose(ShardTask task, Set<String> excluded, boolean verification, long now) {
        String prefix = verification ? MatchIndex.byReputationPrefix(task.getPoolKey()) : MatchIndex.byPricePrefix(task.getPoolKey());
        List<String> stale = new ArrayList<>();
        NodeEligibility.Node chosen = null;
        {
            var it = book.free(prefix).iterator();
            while (it.hasNext() && chosen == null) {
                String nodeId = it.next();
                if (excluded.contains(nodeId)) {
                    continue;
                }
                NodeRegistered reg = book.registration(nodeId);
                if (reg == null) {
                    stale.add(nodeId);
                    continue;
                }
                if (!verification && reg.getPricePerRowMicros() > task.getMaxPricePerRowMicros()) {
                    break;
                }
                NodeEligibility.Node n = view(reg, now);
                if (eligibility.whyIdle(n).isPresent()) {
                    stale.add(nodeId);
                } else if (eligibility.whyNot(n, task, excluded).isEmpty()) {
                    chosen = n;
                }
            }
        }
        stale.forEach(nodeId -> reindex(nodeId, now));
        return Optional.ofNullable(chosen);
    }

    /**
     * Puts the node's free-node entries right ({@link MatchIndex#freeKeys}, or parked, or none) for
     * what the matcher knows of it now. Called whenever its registration, liveness or load changes,
     * and when its entry was found stale.
     */
    private void reindex(String nodeId, long now) {
        NodeRegistered reg = book.registration(nodeId);
        reindex(nodeId, reg == null ? null : view(reg, now));
    }

    /** As above, for a node whose facts were just read ({@code n}, or null when it is not registered). */
    private void reindex(String nodeId, NodeEligibility.Node n) {
        List<String> want = List.of();
        if (n != null) {
            if (eligibility.whyIdle(n).isEmpty()) {
                want = MatchIndex.freeKeys(n);
            } else if (n.alive() && n.openLeases() < n.registration().getSlots()) {
                want = List.of(MatchIndex.parked(nodeId)); // its stake or reputation may change without an event
            }
        }
        book.index(nodeId, want);
    }

    /**
     * Every node with a free-node entry or parked (at most the fleet) is re-indexed per tick: stake
     * and reputation come from global tables whose changes reach no processor, so a change in a
     * node's standing moves it in (or into) the preference order within one tick. A node that may
     * take no work at all is caught sooner: each choice re-checks the chosen node on what is known now.
     */
    private void refreshStanding(long now) {
        book.indexed().forEach(nodeId -> reindex(nodeId, now));
    }

    /** Queues a task (again): it must be in the tasks store. */
    private void enqueue(String taskId, long now) {
        TaskLeaseState open = tasks.get(taskId);
        if (open != null) {
            enqueue(open.getTask(), now);
        }
    }

    /**
     * The open task with its attempts and excluded nodes, or null. One restored from an earlier
     * build's changelog ({@link OpenTasks#LEGACY}) is migrated here, once: its old attempts entry
     * is folded into its record and deleted.
     */
    private TaskLeaseState openTask(String taskId) {
        TaskLeaseState open = tasks.get(taskId);
        if (open == null || open.getAttempts() != OpenTasks.LEGACY) {
            return open;
        }
        TaskLeaseState migrated = OpenTasks.migrated(open.getTask(), legacyAttempts.get(taskId));
        tasks.put(taskId, migrated);
        legacyAttempts.delete(taskId);
        return migrated;
    }

    private void enqueue(ShardTask task, long now) {
        String key = MatchIndex.queueKey(task);
        queue.put(key, now);
        if (queueHead != null && key.compareTo(queueHead) < 0) {
            queueHead = key;
        }
    }

    private void putAnswered(Assignment lease) {
        answered.put(lease.getLeaseId(), lease);
        leaseIndex.awaiting(lease);
    }

    private Assignment deleteAnswered(String leaseId) {
        Assignment lease = answered.delete(leaseId);
        if (lease != null) {
            leaseIndex.judged(lease);
        }
        return lease;
    }

    private JobState stateOf(String jobId) {
        JobStatus status = ValueAndTimestamp.getValueOrNull(jobStatus.get(jobId));
        return status == null ? null : status.getState();
    }

    private void dropTask(String taskId) {
        TaskLeaseState open = tasks.delete(taskId);
        if (open != null) {
            queue.delete(MatchIndex.queueKey(open.getTask()));
            if (open.getAttempts() == OpenTasks.LEGACY) {
                legacyAttempts.delete(taskId); // restored from an earlier build and never migrated
            }
        }
    }

    private boolean isAlive(String nodeId, long now) {
        Long seen = book.lastSeen(nodeId);
        NodeRegistered reg = book.registration(nodeId);
        return seen != null && reg != null && now - seen <= config.missedHeartbeats() * reg.getHeartbeatIntervalMs();
    }

    /** Banned by the verifier or slashed by settlement: it keeps no unanswered lease. */
    private boolean barred(String nodeId) {
        return NodeEligibility.barred(stakeOf(nodeStake, nodeId), reputationOf(nodeReputation, nodeId));
    }

    /** What the matcher knows of a node now: liveness, the ledger's stake, the verifier's reputation, its open leases. */
    private NodeEligibility.Node view(NodeRegistered reg, long now) {
        Load l = book.load(reg.getNodeId());
        return new NodeEligibility.Node(reg, isAlive(reg.getNodeId(), now), stakeOf(nodeStake, reg.getNodeId()),
                reputationOf(nodeReputation, reg.getNodeId()), l.count(), l.valueMicros());
    }

    /** The ledger's stake record of a node, or null (a record filed under another node's key counts for nobody). */
    static NodeStake stakeOf(org.apache.kafka.streams.state.ReadOnlyKeyValueStore<String, ?> store, String nodeId) {
        NodeStake s = unwrap(store.get(nodeId), NodeStake.class);
        return s != null && nodeId.equals(s.getNodeId()) ? s : null;
    }

    /** The verifier's reputation record of a node, or null. */
    static NodeReputation reputationOf(org.apache.kafka.streams.state.ReadOnlyKeyValueStore<String, ?> store, String nodeId) {
        NodeReputation r = unwrap(store.get(nodeId), NodeReputation.class);
        return r != null && nodeId.equals(r.getNodeId()) ? r : null;
    }

    /** A global store read from the processor holds timestamped values; read by interactive query, plain ones. */
    private static <T> T unwrap(Object value, Class<T> type) {
        Object v = value instanceof ValueAndTimestamp<?> vt ? vt.value() : value;
        return type.isInstance(v) ? type.cast(v) : null;
    }

    /** A node's unanswered leases in this task: how many, and their value (rows x price). Stored as "count:value". */
    record Load(int count, long valueMicros) {
        static final Load NONE = new Load(0, 0);

        static long valueOf(Assignment lease) {
            return Math.multiplyExact((long) lease.getRows().size(), lease.getPricePerRowMicros());
        }

        Load plus(Assignment lease) {
            return new Load(count + 1, Math.addExact(valueMicros, valueOf(lease)));
        }

        Load minus(Assignment lease) {
            return new Load(Math.max(0, count - 1), Math.max(0, valueMicros - valueOf(lease)));
        }

        static Load parse(String stored) {
            if (stored == null) {
                return NONE;
            }
            int colon = stored.indexOf(':');
            return new Load(Integer.parseInt(stored.substring(0, colon)), Long.parseLong(stored.substring(colon + 1)));
        }

        String stored() {
            return count + ":" + valueMicros;
        }
    }

    /**
     * Opens a lease and adds it to its node's load. Every unanswered lease goes in and out through
     * here. {@code node} is what was known of the node when it was chosen, a moment ago: it is
     * re-keyed on that and its new load, without reading its stake and reputation again.
     */
    private void openLease(Assignment lease, NodeEligibility.Node node) {
        leases.put(lease.getLeaseId(), lease);
        leaseIndex.opened(lease);
        Load after = book.load(lease.getNodeId()).plus(lease);
        nodeLoad.put(lease.getNodeId(), after.stored());
        book.load(lease.getNodeId(), after);
        reindex(lease.getNodeId(), new NodeEligibility.Node(node.registration(), node.alive(), node.stake(), node.reputation(),
                after.count(), after.valueMicros()));
    }

    /** Closes an unanswered lease (answered, judged, expired or revoked) and takes it off its node's load; null when it was not open. */
    private Assignment closeLease(String leaseId) {
        Assignment lease = leases.delete(leaseId);
        if (lease != null) {
            leaseIndex.closed(lease);
            Load after = book.load(lease.getNodeId()).minus(lease);
            if (after.count() == 0) {
                nodeLoad.delete(lease.getNodeId());
                after = Load.NONE;
            } else {
                nodeLoad.put(lease.getNodeId(), after.stored());
            }
            book.load(lease.getNodeId(), after);
            reindex(lease.getNodeId(), context.currentSystemTimeMs());
        }
        return lease;
    }

    /** Open leases of a task, answered or not. */
    private List<Assignment> leasesOf(String taskId) {
        List<Assignment> list = new ArrayList<>();
        for (KeyValueStore<String, Assignment> store : List.of(leases, answered)) {
            try (var it = store.prefixScan(taskId + "#", KEYS)) {
                it.forEachRemaining(kv -> list.add(kv.value));
            }
        }
        return list;
    }

    /** The node may not have this task again (it failed it); a task no longer open is left alone. */
    private void exclude(String taskId, String nodeId) {
        TaskLeaseState open = openTask(taskId);
        if (open == null) {
            return;
        }
        Set<String> excluded = new LinkedHashSet<>(open.getExcludedNodes());
        if (excluded.add(nodeId)) {
            tasks.put(taskId, new TaskLeaseState(open.getTask(), open.getAttempts(), List.copyOf(excluded)));
        }
    }

    private void reject(SpecificRecord event, long ts, String reason) {
        context.forward(Unprocessable.letter(context, event, reason, MatcherTopology.APPLICATION_ID, ts));
    }
}
