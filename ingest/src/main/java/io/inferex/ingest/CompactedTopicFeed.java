package io.inferex.ingest;

import io.inferex.deadletter.DeadLetterPublisher;
import io.inferex.topics.Topic;
import io.inferex.wire.UndecodableRecordException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.jboss.logging.Logger;

/**
 * Follows a compacted topic written by the operator: one consumer, every partition from the
 * beginning, no group, on its own daemon thread. Ready once it has read up to the end offsets it
 * found at assignment. A record that does not decode, or that {@link #apply} refuses, is
 * dead-lettered and skipped. A consumer failure reads the topic again from the beginning.
 *
 * <p>Its position (what it has applied, per partition) is published after every poll, so a caller
 * can wait until it has read everything committed before the call ({@link #awaitEnd}): the feed
 * polls at most {@value #POLL_MS} ms at a time, so a position that only a transaction's commit marker
 * moves (no record to return) is seen within that.
 */
abstract class CompactedTopicFeed<V> {
    private static final Logger LOG = Logger.getLogger(CompactedTopicFeed.class);

    /** Longest poll: how late a position moved only by a commit marker is published. */
    static final long POLL_MS = 50;

    private final Topic<String, V> topic;
    /** Where the feed is (the next offset it will apply), per partition; empty before its first poll. */
    private volatile Map<TopicPartition, Long> positions = Map.of();
    private final Object progress = new Object();
    private volatile boolean caughtUp;
    private volatile boolean stopping;
    private volatile KafkaConsumer<byte[], byte[]> consumer;
    private Thread thread;

    CompactedTopicFeed(Topic<String, V> topic) {
        this.topic = topic;
    }

    /** The client config (bootstrap servers and credentials) to read and dead-letter with. */
    protected abstract Map<String, Object> kafka();

    /**
     * Applies one record ({@code value} null: a tombstone).
     *
     * @throws UndecodableRecordException with the reason, to dead-letter the record
     */
    protected abstract void apply(String key, V value);

    /** Called once the feed has read up to the end offsets it found. */
    protected void caughtUp() {}

    /**
     * The topic's end offsets (high watermarks), asked of the broker now; empty when it cannot answer
     * within {@code timeout}. Not supported unless a subclass answers it (only feeds that
     * {@link #awaitEnd} need it).
     */
    protected Map<TopicPartition, Long> endOffsets(Collection<TopicPartition> partitions, Duration timeout) {
        throw new UnsupportedOperationException("no end offsets for " + topic.name());
    }

    /** Where the feed is now, per partition (empty before its first poll, or while it reads again from the start). */
    public Map<TopicPartition, Long> positions() {
        return positions;
    }

    /**
     * Waits until this feed has applied everything committed on its topic before the call: asks the
     * broker for the end offsets (high watermarks: a commit acknowledged before the call may not have
     * its markers written yet, so the last stable offset could stop short of it) and waits until the
     * feed's read_committed position reached them, i.e. every transaction written before the call is
     * resolved and applied. False when that took longer than {@code timeout} (a transaction still
     * open), the broker did not answer, or the feed is not running.
     */
    public boolean awaitEnd(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<TopicPartition> parts = partitions();
        if (parts.isEmpty()) {
            return false;
        }
        Map<TopicPartition, Long> end = endOffsets(parts, timeout);
        return !end.isEmpty() && awaitPositions(end, deadline);
    }

    /** The partitions the feed reads; empty while it is not running or has not been assigned yet. */
    List<TopicPartition> partitions() {
        return thread == null || !thread.isAlive() ? List.of() : partitions;
    }

    /**
     * Waits until the feed's position reached {@code end} (offsets of its partitions, asked by the
     * caller: several feeds can share one request) or {@code deadline} ({@link System#nanoTime}) passed; false then.
     */
    boolean awaitPositions(Map<TopicPartition, Long> end, long deadline) throws InterruptedException {
        if (thread == null) {
            return false;
        }
        synchronized (progress) {
            while (!reached(positions, end)) {
                long left = deadline - System.nanoTime();
                if (left <= 0 || !thread.isAlive()) {
                    return false;
                }
                progress.wait(Math.max(1, left / 1_000_000));
            }
        }
        return true;
    }

    static boolean reached(Map<TopicPartition, Long> positions, Map<TopicPartition, Long> end) {
        for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
            Long at = positions.get(e.getKey());
            if (at == null || at < e.getValue()) {
                return false;
            }
        }
        return true;
    }

    private volatile List<TopicPartition> partitions = List.of();

    final void start() {
        thread = new Thread(this::run, "ingest-" + topic.name());
        thread.setDaemon(true);
        thread.start();
    }

    final void stop() throws InterruptedException {
        stopping = true;
        KafkaConsumer<byte[], byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
        if (thread != null) {
            thread.join(10_000);
        }
    }

    public boolean ready() {
        return caughtUp && thread != null && thread.isAlive();
    }

    private void run() {
        while (!stopping) {
            try {
                consume();
            } catch (RuntimeException e) {
                LOG.errorf(e, "%s consumer failed; reading again from the beginning", topic.name());
                caughtUp = false;
                try {
                    Thread.sleep(2000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    private void consume() {
        Properties p = new Properties();
        p.putAll(io.inferex.security.BusCredentials.connection(kafka()));
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "inferex-ingest-" + topic.name() + "-" + FileStore.randomHex(4));
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);
        try (DeadLetterPublisher deadLetters = DeadLetterPublisher.create(kafka(), MarketTracker.READER);
             KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer = c;
            List<PartitionInfo> infos = c.partitionsFor(topic.name(), Duration.ofSeconds(10));
            if (infos == null || infos.isEmpty()) {
                throw new IllegalStateException("topic " + topic.name() + " does not exist yet");
            }
            List<TopicPartition> parts = infos.stream().map(i -> new TopicPartition(i.topic(), i.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            positions = Map.of();
            partitions = parts;
            Map<TopicPartition, Long> end = c.endOffsets(parts);
            while (!stopping) {
                for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(POLL_MS))) {
                    String key = rec.key() == null ? "" : new String(rec.key(), StandardCharsets.UTF_8);
                    try {
                        V value = rec.value() == null ? null : topic.valueSerde().deserializer().deserialize(rec.topic(), rec.value());
                        apply(key, value);
                    } catch (UndecodableRecordException | org.apache.kafka.common.errors.SerializationException e) {
                        LOG.warnf("dead-lettering %s-%d@%d: %s", rec.topic(), rec.partition(), rec.offset(), e.getMessage());
                        deadLetters.publish(rec, e);
                    }
                }
                Map<TopicPartition, Long> now = new HashMap<>();
                for (TopicPartition tp : parts) {
                    now.put(tp, c.position(tp));
                }
                positions = Map.copyOf(now);
                synchronized (progress) {
                    progress.notifyAll();
                }
                if (!caughtUp && reached(now, end)) {
                    caughtUp = true;
                    caughtUp();
                }
            }
        } catch (WakeupException e) {
            if (!stopping) {
                throw e;
            }
        } finally {
            consumer = null;
            positions = Map.of();
        }
    }
}
