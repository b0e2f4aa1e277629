package io.inferex.executor.node;

import io.inferex.events.Assignment;
import io.inferex.events.DeclineReason;
import io.inferex.topics.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.BooleanSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.consumer.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.jboss.logging.Logger;

/**
 * The assignment feed: the one partition of {@code assignments} this node's id hashes to
 * ({@code assign()}, no group membership; the group only holds committed offsets), read on the
 * node thread. Each record is skipped (another node's, revoked, expired, already run), refused
 * ({@link Rejections}: undecodable, addressed to another node; a model the node does not serve is
 * also declined to the matcher) or handed to the {@link WorkerPool} once a slot is free (declined
 * as full when none frees within {@code fullWait}). The committed offset moves only
 * past records that are finished with ({@link OffsetTracker}): a worker reports its record
 * through {@link #finished} once the result is acknowledged.
 */
final class AssignmentFeed {
    private static final Logger LOG = Logger.getLogger(AssignmentFeed.class);
    static final Duration POLL = Duration.ofMillis(200);
    static final Duration TOPIC_WAIT_BACKOFF = Duration.ofSeconds(1);

    private final Supplier<Consumer<byte[], byte[]>> opener;
    private volatile Consumer<byte[], byte[]> consumer;
    private final String nodeId;
    private final String modelId;
    private final WorkerPool pool;
    private final Rejections rejections;
    private final LongSupplier clock;
    private final BooleanSupplier running;
    private final Retry.Sleeper sleeper;
    private final Duration fullWait;
    private final ConcurrentLinkedQueue<Long> finished = new ConcurrentLinkedQueue<>();
    private final OffsetTracker offsets = new OffsetTracker(); // node thread only
    private final AtomicLong skippedForeign = new AtomicLong();
    private final AtomicLong skippedExpired = new AtomicLong();
    private volatile TopicPartition partition;
    private volatile boolean polling;

    /**
     * @param opener creates the consumer, on the node thread, at {@link #assign}
     * @param running whether the node still takes work (cleared by the node's close)
     * @param sleeper how to wait between looks for the topic (tests pass their own)
     * @param fullWait how long a lease waits for a free slot before the node declines it as full
     */
    AssignmentFeed(Supplier<Consumer<byte[], byte[]>> opener, String nodeId, String modelId, WorkerPool pool, Rejections rejections,
            LongSupplier clock, BooleanSupplier running, Retry.Sleeper sleeper, Duration fullWait) {
        this.opener = opener;
        this.nodeId = nodeId;
        this.modelId = modelId;
        this.pool = pool;
        this.rejections = rejections;
        this.clock = clock;
        this.running = running;
        this.sleeper = sleeper;
        this.fullWait = fullWait;
    }

    /**
     * Creates the consumer, waits for the topic, then assigns the node's partition; returns it, or null when the node
     * stopped first.
     */
    TopicPartition assign() throws InterruptedException {
        consumer = opener.get();
        if (!running.getAsBoolean()) {
            return null;
        }
        int partitions = assignmentPartitions().orElse(-1);
        if (partitions < 0) {
            return null;
        }
        partition = new TopicPartition(Topics.ASSIGNMENTS.name(), AssignmentPartition.of(nodeId, partitions));
        if (!running.getAsBoolean()) {
            return null;
        }
        consumer.assign(List.of(partition));
        return partition;
    }

    /** Partition count of the assignments topic on the broker (what the matcher's partitioner sees); waits for the topic. */
    private Optional<Integer> assignmentPartitions() throws InterruptedException {
        int expected = Topics.ASSIGNMENTS.partitions();
        long[] warnAt = {0};
        return Retry.every(TOPIC_WAIT_BACKOFF, running).sleepingWith(sleeper).<Integer>run(() -> {
            List<PartitionInfo> infos;
            try {
                infos = consumer.partitionsFor(Topics.ASSIGNMENTS.name(), Duration.ofSeconds(10));
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                infos = List.of(); // no answer about the topic yet: as if it did not exist
            }
            if (infos != null && !infos.isEmpty()) {
                if (infos.size() != expected) {
                    LOG.warnf("topic %s has %d partitions, the catalogue says %d; following the broker (that is where "
                            + "keyed records land)", Topics.ASSIGNMENTS.name(), infos.size(), expected);
                }
                return Optional.of(infos.size());
            }
            if (System.currentTimeMillis() >= warnAt[0]) {
                LOG.warnf("node %s: topic %s does not exist yet; waiting", nodeId, Topics.ASSIGNMENTS.name());
                warnAt[0] = System.currentTimeMillis() + 30_000;
            }
            return Optional.empty();
        }, e -> {
            throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
        });
    }

    /** The node's partition, once assigned. */
    TopicPartition partition() {
        return partition;
    }

    /** Whether the feed has polled at least once and is still polling. */
    boolean polling() {
        return polling;
    }

    /** Polls, dispatches and commits until the node stops (or {@link #wakeup} interrupts a poll). */
    void consume() throws InterruptedException {
        try {
            while (running.getAsBoolean()) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL);
                polling = true;
                for (ConsumerRecord<byte[], byte[]> record : records) {
                    if (!running.getAsBoolean()) {
                        break; // not handed to the offset tracker, so never committed past: re-read on restart
                    }
                    handle(record);
                }
                commit(Duration.ofSeconds(10));
            }
        } finally {
            polling = false;
        }
    }

    /** Node thread: tracks the record's offset and dispatches it; the offset is done at once when the record is finished here. */
    void handle(ConsumerRecord<byte[], byte[]> record) throws InterruptedException {
        offsets.register(record.offset());
        if (dispatch(record)) {
            offsets.done(record.offset());
        }
    }

    /**
     * Handles one record of the partition. Returns true when the record is finished with here
     * (skipped or refused), false when a worker took it (it reports back through
     * {@link #finished}) or the node is stopping.
     */
    private boolean dispatch(ConsumerRecord<byte[], byte[]> record) throws InterruptedException {
        String key = record.key() == null ? null : new String(record.key(), StandardCharsets.UTF_8);
        if (!nodeId.equals(key)) {
            skippedForeign.incrementAndGet();
            LOG.debugf("skipping %s-%d@%d keyed %s: addressed to another node", record.topic(), record.partition(),
                    record.offset(), key);
            return true;
        }
        Assignment a;
        try {
            a = Topics.ASSIGNMENTS.valueSerde().deserializer().deserialize(record.topic(), record.value());
            if (a == null) {
                throw new io.inferex.wire.UndecodableRecordException("null value (tombstone) on " + record.topic(), null);
            }
        } catch (RuntimeException e) {
            return rejections.reject(record, e);
        }
        if (!nodeId.equals(a.getNodeId())) {
            return rejections.reject(record, new UnprocessableAssignmentException("assignment " + a.getLeaseId()
                    + " is keyed to node " + key + " but addressed to node " + a.getNodeId()));
        }
        if (a.getRevoked()) {
            // The matcher took the lease back (expired, or its shard re-leased or done): never start it.
            // An answer to it, were one already running, is dead-lettered by the verifier and not paid.
            LOG.infof("lease %s (task %s) revoked by the matcher; not running it", a.getLeaseId(), a.getTaskId());
            return true;
        }
        long now = clock.getAsLong();
        if (a.getLeaseDeadlineMs() <= now) {
            skippedExpired.incrementAndGet();
            LOG.infof("skipping lease %s (task %s): its deadline passed %d ms ago", a.getLeaseId(), a.getTaskId(),
                    now - a.getLeaseDeadlineMs());
            return true;
        }
        if (pool.alreadyRun(a.getLeaseId())) {
            LOG.infof("skipping lease %s: already run by this node", a.getLeaseId());
            return true;
        }
        if (!modelId.equals(a.getModel())) {
            return rejections.decline(record, a, DeclineReason.CANNOT_RUN, new UnprocessableAssignmentException("lease "
                    + a.getLeaseId() + " asks for model " + a.getModel() + "; node " + nodeId + " serves [" + modelId + "]"));
        }
        // Back-pressure: a full node advertises no free slot, so the matcher should not lease to it; a lease
        // that comes anyway (the matcher's count and the node's differ for a moment, e.g. after an expiry
        // while the node still runs the old lease) waits at most fullWait, then is declined to the matcher,
        // which leases it elsewhere at once; the records behind it are not held up.
        long giveUpAt = System.nanoTime() + fullWait.toNanos();
        while (!pool.tryAcquireSlot(Duration.ofNanos(Math.max(0, Math.min(POLL.toNanos(), giveUpAt - System.nanoTime()))))) {
            commit(Duration.ofSeconds(10)); // keep committing finished shards while every slot is busy
            if (!running.getAsBoolean()) {
                return false;
            }
            if (System.nanoTime() >= giveUpAt) {
                return rejections.decline(record, a, DeclineReason.FULL, new UnprocessableAssignmentException("lease "
                        + a.getLeaseId() + ": node " + nodeId + " is full (no free slot within " + fullWait.toMillis() + " ms)"));
            }
        }
        pool.submit(a, record); // false when the pool is closing: then not finished with either, re-read on restart
        return false;
    }

    /** A worker finished with the record at {@code offset} (any thread); committed past on the node thread. */
    void finished(long offset) {
        finished.add(offset);
    }

    /** Node thread only: commits past the records finished with so far; a failed commit is retried at the next one. */
    void commit(Duration timeout) {
        Long done;
        while ((done = finished.poll()) != null) {
            offsets.done(done);
        }
        var next = offsets.toCommit();
        if (next.isEmpty()) {
            return;
        }
        try {
            consumer.commitSync(Map.of(partition, new OffsetAndMetadata(next.getAsLong())), timeout);
            offsets.committed(next.getAsLong());
        } catch (WakeupException e) {
            throw e;
        } catch (RuntimeException e) {
            LOG.warnf("commit of %s@%d failed (%s); will retry", partition, next.getAsLong(), e.toString());
        }
    }

    /**
     * On the node thread's way out, after the workers drained: commits the shards that finished
     * during the grace period (a second time if a pending {@link #wakeup} interrupted the first),
     * then closes the consumer.
     */
    void commitAndClose() {
        Consumer<byte[], byte[]> c = consumer;
        if (c == null) {
            return;
        }
        if (partition != null) {
            try {
                Retry.every(Duration.ZERO, () -> true).atMost(2).<Boolean>run(() -> {
                    commit(Duration.ofSeconds(3));
                    return Optional.of(true);
                }, e -> {
                    if (e instanceof WakeupException) {
                        return Optional.empty(); // the wakeup() from close() was still pending; try again
                    }
                    LOG.debugf(e, "last commit");
                    return Optional.of(false);
                });
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        try {
            c.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(5)));
        } catch (RuntimeException e) {
            LOG.debugf(e, "closing consumer");
        }
    }

    /** Interrupts a poll or commit in progress (from another thread; the node's close). */
    void wakeup() {
        Consumer<byte[], byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
    }

    long skippedForeign() {
        return skippedForeign.get();
    }

    long skippedExpired() {
        return skippedExpired.get();
    }

    /** The assignment consumer's settings: the node's one group (for committed offsets only), read_committed, manual commits. */
    static Properties config(NodeSettings settings, String clientId, String groupId) {
        Properties p = new Properties();
        p.putAll(settings.kafka());
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId); // for committed offsets only: partitions are assign()ed
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"); // the matcher writes transactionally
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"); // a new node id has nothing older; expired leases are skipped
        p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Math.max(8, settings.slots() * 4));
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);
        p.put(ConsumerConfig.INTERCEPTOR_CLASSES_CONFIG, io.inferex.metrics.InputAge.class.getName()); // lease age at poll, at /q/metrics
        return p;
    }
}
