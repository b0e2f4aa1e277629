package io.inferex.executor.node;

import io.inferex.events.Assignment;
import io.inferex.events.LeaseDeclined;
import io.inferex.events.ShardResult;
import io.inferex.topics.Topics;
import java.time.Duration;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.RetriableException;
import org.jboss.logging.Logger;

/**
 * Publishes a lease's signed result on {@code results} (key: task id) and waits for the broker's
 * acknowledgement. A send that fails is retried every second until it is acknowledged, the
 * lease's deadline passes (the lease is lost; the matcher re-assigns the shard) or publishing is
 * stopped (end of the shutdown grace period). A result larger than the broker accepts is no
 * retry: the caller refuses the assignment. Used by the worker threads; the producer is one
 * idempotent {@code acks=all} producer (see {@link #config}).
 */
final class ResultPublisher implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ResultPublisher.class);
    static final Duration RETRY_BACKOFF = Duration.ofSeconds(1);

    /** How a publication ended. */
    enum Outcome {
        /** The broker acknowledged the result. */
        ACKNOWLEDGED,
        /** The result is larger than the broker accepts (see {@link #tooLarge}). */
        TOO_LARGE,
        /** Not acknowledged before the lease's deadline: given up, the lease is lost. */
        GAVE_UP,
        /** Publishing was stopped (shutdown) before an acknowledgement. */
        STOPPED
    }

    private final Supplier<Producer<String, Object>> opener;
    private final LongSupplier clock;
    private final Retry retry;
    private volatile Producer<String, Object> producer;
    private volatile boolean publishing = true;
    private volatile Exception tooLarge;

    /** {@code opener} creates the producer, on the node thread, at {@link #open} (it connects lazily). */
    ResultPublisher(Supplier<Producer<String, Object>> opener, LongSupplier clock) {
        this(opener, clock, Thread::sleep);
    }

    ResultPublisher(Supplier<Producer<String, Object>> opener, LongSupplier clock, Retry.Sleeper sleeper) {
        this.opener = opener;
        this.clock = clock;
        this.retry = Retry.every(RETRY_BACKOFF, () -> publishing).sleepingWith(sleeper);
    }

    /** Creates the producer; before any {@link #publish}. */
    void open() {
        producer = opener.get();
    }

    /** Sends {@code result} of lease {@code a} and waits until it is acknowledged, given up or stopped. */
    Outcome publish(ShardResult result, Assignment a) throws InterruptedException {
        return retry.<Outcome>run(() -> {
            producer.send(new ProducerRecord<>(Topics.RESULTS.name(), result.getTaskId(), result)).get();
            return Optional.of(Outcome.ACKNOWLEDGED);
        }, e -> {
            if (!(e instanceof ExecutionException) && !(e instanceof KafkaException)) {
                throw e instanceof RuntimeException r ? r : new IllegalStateException(e);
            }
            Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
            if (cause instanceof RecordTooLargeException) {
                tooLarge = (Exception) cause;
                return Optional.of(Outcome.TOO_LARGE);
            }
            if (!(cause instanceof RetriableException) && !(cause instanceof org.apache.kafka.common.errors.TimeoutException)) {
                LOG.warnf("result of lease %s not published: %s; retrying", a.getLeaseId(), cause.toString());
            }
            if (clock.getAsLong() > a.getLeaseDeadlineMs()) {
                LOG.warnf("giving up on lease %s: result not acknowledged before its deadline (%s)", a.getLeaseId(), cause);
                return Optional.of(Outcome.GAVE_UP);
            }
            return Optional.empty();
        }).orElse(Outcome.STOPPED);
    }

    /**
     * Sends the node's signed decline of a lease (key: its pool key, the matcher's partition) without
     * waiting: a decline only hastens the re-lease, and a lost one is covered by the lease deadline.
     */
    void decline(LeaseDeclined d) {
        Producer<String, Object> p = producer;
        if (p == null || !publishing) {
            throw new IllegalStateException("not publishing");
        }
        p.send(new ProducerRecord<>(Topics.LEASE_DECLINES.name(), d.getPoolKey(), d), (meta, e) -> {
            if (e != null) {
                LOG.warnf("decline of lease %s not delivered (%s); the matcher re-leases it at its deadline", d.getLeaseId(), e.toString());
            }
        });
    }

    /** The broker's refusal behind the last {@link Outcome#TOO_LARGE}. */
    Exception tooLargeCause() {
        return tooLarge;
    }

    /** Ends every retry in progress and refuses new publications (end of the shutdown grace period). */
    void stop() {
        publishing = false;
    }

    /** Results were acknowledged (or given up) by the workers already: a bounded close. */
    @Override
    public void close() {
        stop();
        Producer<String, Object> p = producer;
        if (p != null) {
            p.close(Duration.ofSeconds(2));
        }
    }

    /** One idempotent {@code acks=all} producer, no linger; a result is one record of ~1.5 KB per row. */
    static Properties config(NodeSettings settings, String clientId) {
        Properties p = new Properties();
        p.putAll(settings.kafka());
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        p.put(ProducerConfig.INTERCEPTOR_CLASSES_CONFIG, io.inferex.metrics.OutputMetrics.class.getName()); // results written, at /q/metrics
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000);
        // Let the topic's max.message.bytes be the only limit; a result above it fails with
        // RecordTooLargeException and the assignment is refused.
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 16 * 1024 * 1024);
        return p;
    }
}
