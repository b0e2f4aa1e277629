package io.inferex.ingest;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.jboss.logging.Logger;

/**
 * Serializes, across every ingest instance, the writes that depend on one customer's state (a
 * batch create: funds, Idempotency-Key, the input file; a file delete: the batches using it), with
 * Kafka's transactional-id fencing. Every instance writes for customer X through a producer of the
 * same transactional id, {@value #PREFIX}{@code X}. A write: take this instance's producer for X
 * ({@code initTransactions()} when new or after it was fenced, which fences any other instance's
 * producer for X and completes its transaction: committed, or aborted if still open), catch the
 * feeds up to the log's end (after the init, everything committed for X before is in the log), then
 * check and publish in one transaction. If another instance initialised X's id meanwhile, our
 * transaction is fenced and nothing of it is committed: the producer is closed and the write runs
 * again (re-init, catch up, check again), at most {@code attempts} times, then 503. So a committed
 * write was checked against every write for X committed before it.
 *
 * <p>Producers are kept per customer in an LRU of {@code capacity} (each has its own network thread
 * and buffer); an evicted one is closed once its write is over. Writes for one customer on one
 * instance run one at a time (the producer has one transaction at a time).
 */
public final class CustomerTransactions implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(CustomerTransactions.class);
    /** Under the ingest principal's PREFIXED transactional-id ACL ({@code inferex-ingest-}, BusAccess). */
    public static final String PREFIX = "inferex-ingest-cust-";
    /** Each customer producer's buffer: a create's shards in flight (the instance's own producer keeps 32 MiB for uploads). */
    static final long BUFFER_BYTES = 8L << 20;

    /** Brings this instance's view up to everything committed before the call; false if it could not in time. */
    @FunctionalInterface
    public interface CatchUp {
        boolean await();
    }

    /** Checks and publishes, in one transaction on {@code producer}. */
    @FunctionalInterface
    public interface Write<T> {
        T run(Producer<byte[], byte[]> producer) throws JobPublisher.PublishFailedException;
    }

    private final Map<String, Object> kafka;
    private final int capacity;
    private final int kafkaTimeoutMs;
    private final int attempts;
    private final CatchUp catchUp;
    private final LinkedHashMap<String, Slot> slots = new LinkedHashMap<>(16, 0.75f, true);
    private boolean closed;

    public CustomerTransactions(Map<String, Object> kafka, int capacity, int kafkaTimeoutMs, int attempts, CatchUp catchUp) {
        if (capacity < 1 || attempts < 1) {
            throw new IllegalArgumentException("capacity and attempts must be at least 1");
        }
        this.kafka = kafka;
        this.capacity = capacity;
        this.kafkaTimeoutMs = kafkaTimeoutMs;
        this.attempts = attempts;
        this.catchUp = catchUp;
    }

    /** The transactional id every instance uses for this customer's writes. */
    public static String transactionalId(String customerId) {
        return PREFIX + customerId;
    }

    /**
     * Runs {@code write} for {@code customerId} as described above. A refusal ({@link ApiException})
     * thrown by the write is passed on; a write fenced every time is 503 {@code concurrent_writes};
     * any other failure to publish is passed on.
     */
    public <T> T write(String customerId, Write<T> write) throws JobPublisher.PublishFailedException {
        Slot slot = slot(customerId);
        slot.lock.lock();
        try {
            for (int attempt = 1; ; attempt++) {
                Producer<byte[], byte[]> p = slot.producer(customerId);
                if (!catchUp.await()) {
                    throw ApiException.unavailable("This ingest instance could not read the log up to its end in time; retry shortly.");
                }
                try {
                    return write.run(p);
                } catch (JobPublisher.PublishFailedException e) {
                    if (!mayRunAgain(e)) {
                        throw e;
                    }
                    // Fenced (another instance wrote for this customer) or otherwise unusable: nothing was committed.
                    slot.closeProducer();
                    LOG.infof("write for %s fenced or failed (%s), attempt %d of %d", customerId, e.getCause(), attempt, attempts);
                    if (attempt >= attempts) {
                        throw new ApiException(503, OpenAiObjects.error("Too many concurrent requests for this account on "
                                + "several ingest instances; nothing was published. Retry shortly.", "server_error",
                                "concurrent_writes", null));
                    }
                    backOff(attempt);
                }
            }
        } finally {
            slot.lock.unlock();
            slot.closeIfEvicted();
        }
    }

    /**
     * Whether a failed write committed nothing and may run again after a new init: the producer was
     * fenced (another instance wrote for the customer: {@code ProducerFencedException}, or
     * {@code InvalidProducerEpochException} on a send) or is otherwise unusable, and the commit's outcome
     * is known.
     */
    public static boolean mayRunAgain(JobPublisher.PublishFailedException e) {
        if (e.outcomeUnknown()) {
            return false;
        }
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof org.apache.kafka.common.errors.InvalidProducerEpochException
                    || t instanceof org.apache.kafka.common.errors.ProducerFencedException) {
                return true;
            }
        }
        return e.producerUnusable();
    }

    private static void backOff(int attempt) {
        try {
            Thread.sleep(ThreadLocalRandom.current().nextLong(5, 20L * Math.min(attempt, 10) + 6));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw ApiException.unavailable("Interrupted; retry shortly.");
        }
    }

    /** Producers held now (at most the capacity). */
    public synchronized int open() {
        return slots.size();
    }

    private Slot slot(String customerId) {
        java.util.List<Slot> out = new java.util.ArrayList<>();
        Slot s;
        synchronized (this) {
            if (closed) {
                throw ApiException.unavailable("This ingest instance is stopping; retry shortly.");
            }
            s = slots.get(customerId);
            if (s == null) {
                s = new Slot();
                slots.put(customerId, s);
                Iterator<Slot> eldest = slots.values().iterator();
                while (slots.size() > capacity && eldest.hasNext()) {
                    out.add(eldest.next());
                    eldest.remove();
                }
            }
        }
        out.forEach(Slot::evict); // closing takes a moment: outside the map's lock
        return s;
    }

    @Override
    public void close() {
        java.util.List<Slot> all;
        synchronized (this) {
            closed = true;
            all = java.util.List.copyOf(slots.values());
            slots.clear();
        }
        all.forEach(Slot::evict);
    }

    private Properties props(String customerId) {
        Properties p = TransactionalProducer.props(kafka, transactionalId(customerId), kafkaTimeoutMs);
        p.put(ProducerConfig.BUFFER_MEMORY_CONFIG, BUFFER_BYTES);
        return p;
    }

    /** One customer's producer on this instance, and the lock its writes take. */
    private final class Slot {
        final ReentrantLock lock = new ReentrantLock();
        private Producer<byte[], byte[]> producer; // guarded by lock
        private volatile boolean evicted;

        /** Under the lock: the initialised producer, made (and {@code initTransactions()}: fencing the others) if none. */
        Producer<byte[], byte[]> producer(String customerId) {
            if (producer == null) {
                KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props(customerId), new ByteArraySerializer(), new ByteArraySerializer());
                try {
                    p.initTransactions();
                } catch (RuntimeException e) {
                    closeQuietly(p);
                    LOG.warnf("producer for %s not ready: %s", customerId, e);
                    throw ApiException.unavailable("Inferex cannot reach Kafka right now (" + e.getClass().getSimpleName()
                            + "); retry shortly.");
                }
                producer = p;
            }
            return producer;
        }

        /** Under the lock. */
        void closeProducer() {
            closeQuietly(producer);
            producer = null;
        }

        void evict() {
            evicted = true;
            closeIfEvicted();
        }

        /** Closes an evicted slot's producer unless a write holds it (that write closes it when done). */
        void closeIfEvicted() {
            if (evicted && lock.tryLock()) {
                try {
                    closeProducer();
                } finally {
                    lock.unlock();
                }
            }
        }
    }

    private static void closeQuietly(Producer<byte[], byte[]> p) {
        TransactionalProducer.closeQuietly(p);
    }
}
