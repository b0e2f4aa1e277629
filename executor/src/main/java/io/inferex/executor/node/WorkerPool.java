package io.inferex.executor.node;

import io.inferex.events.Assignment;
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
import java.util.function.Function;
import java.util.function.LongConsumer;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.jboss.logging.Logger;

/**
 * The inference worker pool: {@code slots} threads, one leased shard each. A worker runs the
 * shard ({@link ShardExecutor}), hands the signed result to the {@link ResultPublisher} and, once
 * the record is finished with (result acknowledged, assignment refused, lease given up or dropped
 * by the adversary), reports its offset through {@code onFinished} so the feed may commit past
 * it. Knows which leases are running and which it answered recently (so a re-delivered lease is
 * not run twice), which is what the heartbeats advertise.
 */
final class WorkerPool {
    private static final Logger LOG = Logger.getLogger(WorkerPool.class);
    private static final int REMEMBERED_LEASES = 10_000;

    private final int slots;
    private final String nodeId;
    private final Function<Assignment, ShardResult> shards;
    private final ResultPublisher results;
    private final Rejections rejections;
    private final Adversary adversary;
    private final LongConsumer onFinished;
    private final Semaphore freeSlots;
    private final ExecutorService workers;
    private final Map<String, Assignment> active = new ConcurrentHashMap<>();
    private final Set<String> recentLeases = Collections.newSetFromMap(new LinkedHashMap<String, Boolean>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > REMEMBERED_LEASES;
        }
    });
    private final AtomicLong leasesCompleted = new AtomicLong();
    private final AtomicLong rowsProcessed = new AtomicLong();
    private final AtomicInteger running = new AtomicInteger();

    /**
     * @param shards runs one lease into its signed result ({@link ShardExecutor#execute}); may throw
     *     {@link UnprocessableAssignmentException}
     * @param onFinished receives the offset of each record a worker finished with (any thread)
     */
    WorkerPool(int slots, String threadTag, String nodeId, Function<Assignment, ShardResult> shards, ResultPublisher results,
            Rejections rejections, Adversary adversary, LongConsumer onFinished) {
        this.slots = slots;
        this.nodeId = nodeId;
        this.shards = shards;
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
    }

    /** Whether this lease is running or was answered by this node lately (then it must not run again). */
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
     * Runs the lease on a worker, in the slot just acquired. False when the pool no longer takes
     * work (shutting down): the slot is given back and the record is not finished with.
     */
    boolean submit(Assignment a, ConsumerRecord<byte[], byte[]> record) {
        active.put(a.getLeaseId(), a);
        running.incrementAndGet();
        try {
            workers.execute(() -> run(a, record));
            return true;
        } catch (RuntimeException e) { // rejected: the pool is shutting down
            active.remove(a.getLeaseId());
            running.decrementAndGet();
            freeSlots.release();
            return false;
        }
    }

    /** Worker: run the shard, publish the signed result, wait for the ack, report the offset finished. */
    private void run(Assignment a, ConsumerRecord<byte[], byte[]> record) {
        boolean finishedWithRecord = false;
        try {
            if (!adversary.answers(a.getLeaseId())) {
                finishedWithRecord = true; // adversary "drop": the lease is taken and never answered
                return;
            }
            ShardResult result;
            try {
                result = shards.apply(a);
            } catch (UnprocessableAssignmentException e) {
                finishedWithRecord = rejections.reject(record, e);
                return;
            } catch (RuntimeException e) {
                LOG.errorf(e, "lease %s failed to run", a.getLeaseId());
                finishedWithRecord = rejections.reject(record, new UnprocessableAssignmentException(
                        "lease " + a.getLeaseId() + " failed to run on node " + nodeId + ": " + e, e));
                return;
            }
            adversary.beforeAnswer(a.getLeaseId()); // adversary "delay"
            finishedWithRecord = answer(result, a, record);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            active.remove(a.getLeaseId());
            if (finishedWithRecord) {
                onFinished.accept(record.offset());
            }
            running.decrementAndGet();
            freeSlots.release();
        }
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
                return rejections.reject(record, new UnprocessableAssignmentException("result of lease " + a.getLeaseId()
                        + " (" + result.getRows().size() + " rows) is larger than the broker accepts: "
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

    /** Leases running now. */
    List<String> activeLeases() {
        return new ArrayList<>(active.keySet());
    }

    long leasesCompleted() {
        return leasesCompleted.get();
    }

    long rowsProcessed() {
        return rowsProcessed.get();
    }

    int running() {
        return running.get();
    }

    /**
     * Takes no new shard and waits up to {@code grace} for the running ones. True when all
     * finished; otherwise the caller stops publishing and calls {@link #stopNow}.
     */
    boolean drain(Duration grace) throws InterruptedException {
        workers.shutdown();
        return workers.awaitTermination(grace.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Interrupts running shards and waits (bounded) until no worker is inside the model any more. */
    void stopNow(Duration wait) {
        workers.shutdownNow();
        try {
            workers.awaitTermination(wait.toMillis(), TimeUnit.MILLISECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
