package io.inferex.executor.node;

import io.inferex.events.Assignment;
import io.inferex.events.DeclineReason;
import io.inferex.events.ShardResult;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Function;
import java.util.function.LongConsumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.jboss.logging.Logger;

/**
 * The inference worker pool and micro-batcher. The node holds at most {@code slots} leases (taken
 * by the feed through {@link #tryAcquireSlot}, advertised in the heartbeats); a taken lease waits in
 * a pending list until a worker (one of {@code slots} threads) takes it in a group that
 * {@link MicroBatchPlan} forms: leases of one batch-invariant model share one inference call, up to
 * max rows, waiting at most max wait for others to join; any other lease runs alone. The group
 * runs through {@code shards} ({@link ShardExecutor#executeTogether}), and each lease still gets its
 * own signed result, published by the {@link ResultPublisher}; once a lease's record is finished
 * with (result acknowledged, lease declined or given up, dropped by the adversary) its offset goes
 * back through {@code onFinished} so the feed may commit past it. Knows which leases are held and
 * which it answered recently (so a re-delivered lease is not run twice), which is what the
 * heartbeats advertise.
 */
final class WorkerPool {
    private static final Logger LOG = Logger.getLogger(WorkerPool.class);
    private static final int REMEMBERED_LEASES = 10_000;

    /** A taken lease: its assignment, its record and when it was taken (monotonic ms). */
    private record Taken(Assignment lease, ConsumerRecord<byte[], byte[]> record, MicroBatchPlan.Pending pending) {}

    private final int slots;
    private final String nodeId;
    private final Function<List<Assignment>, List<ShardResult>> shards;
    private final MicroBatchPlan plan;
    private final ResultPublisher results;
    private final Rejections rejections;
    private final Adversary adversary;
    private final LongConsumer onFinished;
    private final Semaphore freeSlots;
    private final ExecutorService workers;
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    /** Leases taken and not yet in a running group, oldest first; guarded by {@link #lock}. */
    private final List<Taken> pending = new ArrayList<>();
    /** No new lease is taken; workers run what is pending, then stop. Guarded by {@link #lock}. */
    private boolean closing;
    private final Map<String, Assignment> active = new ConcurrentHashMap<>();
    private final Set<String> recentLeases = Collections.newSetFromMap(new LinkedHashMap<String, Boolean>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > REMEMBERED_LEASES;
        }
    });
    private final AtomicLong leasesCompleted = new AtomicLong();
    private final AtomicLong rowsProcessed = new AtomicLong();
    private final AtomicLong inferenceCalls = new AtomicLong();
    private final AtomicInteger running = new AtomicInteger();

    /**
     * @param shards runs a group of leases in one inference call into one signed result per lease, in
     *     order ({@link ShardExecutor#executeTogether}); may throw {@link UnprocessableAssignmentException}
     * @param plan which taken leases share the next call ({@link MicroBatchPlan#off()}: each alone)
     * @param onFinished receives the offset of each record a worker finished with (any thread)
     */
    WorkerPool(int slots, String threadTag, String nodeId, Function<List<Assignment>, List<ShardResult>> shards, MicroBatchPlan plan,
            ResultPublisher results, Rejections rejections, Adversary adversary, LongConsumer onFinished) {
        this.slots = slots;
        this.nodeId = nodeId;
        this.shards = shards;
        this.plan = plan;
        this.results = results;
        this.rejections = rejections;
        this.adversary = adversary;
        this.onFinished = onFinished;
        this.freeSlots = new Semaphore(slots);
        AtomicInteger n = new AtomicInteger();
        this.workers = Executors.newFixedThreadPool(slots, r -> {
            Thread t = new Thread(r, "inferex-shard-" + threadTag + "-" + n.incrementAndGet());
            t.setDaemon(true);
            return t;
        });
        for (int i = 0; i < slots; i++) {
            workers.execute(this::work);
        }
    }

    /** Whether this lease is held or was answered by this node lately (then it must not run again). */
    boolean alreadyRun(String leaseId) {
        synchronized (recentLeases) {
            return active.containsKey(leaseId) || recentLeases.contains(leaseId);
        }
    }

    /** Waits up to {@code timeout} for a free slot; a true answer must be followed by {@link #submit}. */
    boolean tryAcquireSlot(Duration timeout) throws InterruptedException {
        return freeSlots.tryAcquire(timeout.toMillis(), TimeUnit.MILLISECONDS);
    }

    /**
     * Takes the lease into the slot just acquired; a worker runs it (with others, when the plan
     * groups them). False when the pool no longer takes work (shutting down): the slot is given
     * back and the record is not finished with.
     */
    boolean submit(Assignment a, ConsumerRecord<byte[], byte[]> record) {
        lock.lock();
        try {
            if (closing) {
                freeSlots.release();
                return false;
            }
            active.put(a.getLeaseId(), a);
            running.incrementAndGet();
            pending.add(new Taken(a, record, new MicroBatchPlan.Pending(a.getLeaseId(), a.getModel(), a.getRows().size(),
                    monotonicMs())));
            changed.signalAll();
            return true;
        } finally {
            lock.unlock();
        }
    }

    private static long monotonicMs() {
        return System.nanoTime() / 1_000_000;
    }

    /** A worker: take the next group the plan forms, run it, answer each lease; until closed and nothing is pending. */
    private void work() {
        try {
            List<Taken> group;
            while ((group = nextGroup()) != null) {
                runGroup(group);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // stopNow: the leases left pending stay unfinished (re-read on restart)
        }
    }

    /** Blocks until the plan says a group runs now; null once the pool is closing and nothing is pending. */
    private List<Taken> nextGroup() throws InterruptedException {
        lock.lock();
        try {
            while (true) {
                if (pending.isEmpty()) {
                    if (closing) {
                        return null;
                    }
                    changed.await();
                    continue;
                }
                List<MicroBatchPlan.Pending> view = new ArrayList<>(pending.size());
                pending.forEach(t -> view.add(t.pending()));
                // More leases can arrive only while the node holds fewer than its slots and is open; otherwise
                // waiting only delays. (Held = submitted, under this lock: a slot acquired by the feed and not
                // yet submitted counts as one still arriving.)
                boolean moreCanArrive = !closing && active.size() < slots;
                MicroBatchPlan.Decision d = plan.next(view, monotonicMs(), moreCanArrive);
                if (!d.run().isEmpty()) {
                    List<Taken> group = new ArrayList<>(d.run().size());
                    for (MicroBatchPlan.Pending p : d.run()) {
                        for (int i = 0; i < pending.size(); i++) {
                            if (pending.get(i).pending() == p) {
                                group.add(pending.remove(i));
                                break;
                            }
                        }
                    }
                    if (!pending.isEmpty()) {
                        changed.signal(); // another worker may take the next group
                    }
                    return group;
                }
                changed.await(Math.max(1, d.waitMs()), TimeUnit.MILLISECONDS);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Runs a group in one inference call and answers each of its leases; every lease of the group is finished here. */
    private void runGroup(List<Taken> group) throws InterruptedException {
        List<Taken> toRun = new ArrayList<>(group.size());
        for (Taken t : group) {
            if (adversary.answers(t.lease().getLeaseId())) {
                toRun.add(t);
            } else {
                finish(t, true); // adversary "drop": the lease is taken and never answered
            }
        }
        if (!toRun.isEmpty()) {
            runCall(toRun);
        }
    }

    /** One inference call for {@code toRun} (leases the adversary lets answer), then each lease answered and finished. */
    private void runCall(List<Taken> toRun) throws InterruptedException {
        List<ShardResult> out;
        try {
            out = shards.apply(toRun.stream().map(Taken::lease).toList());
            inferenceCalls.incrementAndGet();
        } catch (RuntimeException e) {
            if (toRun.size() > 1) {
                LOG.warnf("micro-batch of %d leases failed (%s); running each alone", toRun.size(), e.toString());
                for (int i = 0; i < toRun.size(); i++) {
                    try {
                        runCall(List.of(toRun.get(i))); // the lease that cannot run is declined alone; the others are answered
                    } catch (InterruptedException stopped) {
                        toRun.subList(i + 1, toRun.size()).forEach(t -> finish(t, false)); // not run: offsets stay uncommitted
                        throw stopped;
                    }
                }
                return;
            }
            Taken t = toRun.get(0);
            UnprocessableAssignmentException why = e instanceof UnprocessableAssignmentException u ? u
                    : new UnprocessableAssignmentException("lease " + t.lease().getLeaseId() + " failed to run on node " + nodeId + ": " + e, e);
            if (!(e instanceof UnprocessableAssignmentException)) {
                LOG.errorf(e, "lease %s failed to run", t.lease().getLeaseId());
            }
            finish(t, rejections.decline(t.record(), t.lease(), DeclineReason.CANNOT_RUN, why));
            return;
        }
        int answered = 0;
        try {
            for (; answered < toRun.size(); answered++) {
                Taken t = toRun.get(answered);
                ShardResult result = out.get(answered);
                boolean finished = false;
                try {
                    adversary.beforeAnswer(t.lease().getLeaseId()); // adversary "delay"
                    finished = answer(result, t.lease(), t.record());
                } finally {
                    finish(t, finished);
                }
            }
        } finally {
            for (int i = answered + 1; i < toRun.size(); i++) {
                finish(toRun.get(i), false); // interrupted: not answered, the offset stays uncommitted
            }
        }
    }

    /** The lease is no longer held: its slot is free, and its offset is finished with when {@code finishedWithRecord}. */
    private void finish(Taken t, boolean finishedWithRecord) {
        active.remove(t.lease().getLeaseId());
        if (finishedWithRecord) {
            onFinished.accept(t.record().offset());
        }
        running.decrementAndGet();
        freeSlots.release();
    }

    private boolean answer(ShardResult result, Assignment a, ConsumerRecord<byte[], byte[]> record) throws InterruptedException {
        switch (results.publish(result, a)) {
            case ACKNOWLEDGED -> {
                int n = result.getRows().size();
                leasesCompleted.incrementAndGet();
                rowsProcessed.addAndGet(n);
                synchronized (recentLeases) {
                    recentLeases.add(a.getLeaseId());
                }
                LOG.infof("lease %s (task %s): %d rows in %d ms (%.0f rows/s), result published", a.getLeaseId(),
                        a.getTaskId(), n, result.getComputeMillis(),
                        result.getComputeMillis() == 0 ? (double) n * 1000 : n * 1000.0 / result.getComputeMillis());
                adversary.answered(a.getLeaseId()); // adversary "crash-after" may halt the process here
                return true;
            }
            case TOO_LARGE -> {
                Exception cause = results.tooLargeCause();
                return rejections.decline(record, a, DeclineReason.CANNOT_RUN, new UnprocessableAssignmentException("result of lease "
                        + a.getLeaseId() + " (" + result.getRows().size() + " rows) is larger than the broker accepts: "
                        + (cause == null ? "" : cause.getMessage()), cause));
            }
            case GAVE_UP -> {
                return true; // the lease is lost; the matcher re-assigns the shard
            }
            default -> {
                return false; // stopped: the offset stays uncommitted, the lease is re-read on restart
            }
        }
    }

    /** Slots free now (what the heartbeat advertises). */
    int freeSlots() {
        return Math.max(0, slots - active.size());
    }

    /** Leases held now (pending or running). */
    List<String> activeLeases() {
        return new ArrayList<>(active.keySet());
    }

    long leasesCompleted() {
        return leasesCompleted.get();
    }

    long rowsProcessed() {
        return rowsProcessed.get();
    }

    /** Inference calls made so far (one per group: fewer than the leases answered when micro-batching groups them). */
    long inferenceCalls() {
        return inferenceCalls.get();
    }

    /** Leases held and not finished with. */
    int running() {
        return running.get();
    }

    /**
     * Takes no new lease, runs what is pending and waits up to {@code grace} for it. True when all
     * finished; otherwise the caller stops publishing and calls {@link #stopNow}.
     */
    boolean drain(Duration grace) throws InterruptedException {
        close();
        workers.shutdown();
        return workers.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void close() {
        lock.lock();
        try {
            closing = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** Interrupts running shards and waits (bounded) until no worker is inside the model any more. */
    void stopNow(Duration wait) {
        close();
        workers.shutdownNow();
        try {
            workers.awaitTermination(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
