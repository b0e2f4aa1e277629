package io.inferex.ingest;

import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.Optional;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * The one transactional KafkaProducer of this ingest instance. It is initialised in the
 * background (retrying until the cluster answers), so the HTTP server starts at once and readiness
 * reports DOWN until {@code initTransactions} succeeded. Transactions are serialised by a lock; a
 * producer left unusable (fenced, fatal error) is closed and replaced.
 */
@ApplicationScoped
public class TransactionalProducer {
    private static final Logger LOG = Logger.getLogger(TransactionalProducer.class);

    @Inject
    IngestConfig config;

    /** Quarkus's {@code kafka.*} config: bootstrap servers and ingest's credential. */
    @Inject
    @io.smallrye.common.annotation.Identifier("default-kafka-broker")
    java.util.Map<String, Object> kafka;

    @ConfigProperty(name = "inferex.node.name")
    Optional<String> nodeName;

    private final ReentrantLock lock = new ReentrantLock();
    private volatile Producer<byte[], byte[]> producer;
    private volatile boolean stopping;
    private volatile String lastError = "not initialised yet";
    private String transactionalId;
    private Thread initializer;

    void onStart(@Observes StartupEvent ev) {
        transactionalId = config.transactionalId()
                .orElseGet(() -> "inferex-ingest-" + nodeName.orElseGet(() -> UUID.randomUUID().toString()));
        startInitializer();
    }

    void onStop(@Observes ShutdownEvent ev) {
        stopping = true;
        Thread t = initializer;
        if (t != null) {
            t.interrupt();
        }
        Producer<byte[], byte[]> p = producer;
        producer = null;
        if (p != null) {
            p.close(Duration.ofSeconds(5));
        }
    }

    public boolean ready() {
        return producer != null;
    }

    public String transactionalId() {
        return transactionalId;
    }

    public String lastError() {
        return lastError;
    }

    /** Runs {@code work} with the producer, alone; 503 if the producer is not ready. */
    public <T> T inTransactionSlot(Work<T> work) throws JobPublisher.PublishFailedException {
        lock.lock();
        try {
            Producer<byte[], byte[]> p = producer;
            if (p == null) {
                throw ApiException.unavailable("Inferex cannot reach Kafka right now (" + lastError + "); retry shortly.");
            }
            try {
                return work.run(p);
            } catch (JobPublisher.PublishFailedException e) {
                if (e.producerUnusable()) {
                    LOG.warnf("transactional producer %s is unusable (%s); replacing it", transactionalId, e.getCause());
                    producer = null;
                    lastError = "producer replaced after: " + e.getCause();
                    closeQuietly(p);
                    startInitializer();
                }
                throw e;
            }
        } finally {
            lock.unlock();
        }
    }

    @FunctionalInterface
    public interface Work<T> {
        T run(Producer<byte[], byte[]> producer) throws JobPublisher.PublishFailedException;
    }

    private synchronized void startInitializer() {
        if (stopping || (initializer != null && initializer.isAlive())) {
            return;
        }
        initializer = new Thread(this::initLoop, "ingest-producer-init");
        initializer.setDaemon(true);
        initializer.start();
    }

    private void initLoop() {
        long backoff = 500;
        while (!stopping && producer == null) {
            KafkaProducer<byte[], byte[]> p = null;
            try {
                p = new KafkaProducer<>(props(), new ByteArraySerializer(), new ByteArraySerializer());
                p.initTransactions();
                producer = p;
                lastError = null;
                LOG.infof("transactional producer %s ready on %s", transactionalId, kafka.get("bootstrap.servers"));
                return;
            } catch (RuntimeException e) {
                lastError = e.toString();
                LOG.warnf("transactional producer %s not ready yet: %s", transactionalId, e);
                closeQuietly(p);
            }
            try {
                Thread.sleep(backoff);
            } catch (InterruptedException e) {
                return;
            }
            backoff = Math.min(backoff * 2, 5_000);
        }
    }

    private Properties props() {
        return props(kafka, transactionalId, config.kafkaTimeoutMs());
    }

    /** An ingest transactional producer's config (also of the per-customer ones, {@link CustomerTransactions}). */
    static Properties props(java.util.Map<String, Object> kafka, String transactionalId, int timeout) {
        Properties p = new Properties();
        p.putAll(io.inferex.security.BusCredentials.connection(kafka));
        p.put(ProducerConfig.CLIENT_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.INTERCEPTOR_CLASSES_CONFIG, io.inferex.metrics.OutputMetrics.class.getName()); // jobs and shards written, at /q/metrics
        // A 50,000-line batch is ~3,000 shard records of a few KB: 256 KiB batches send them in tens of
        // requests instead of hundreds (the 16 KiB default held ~6 shards).
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, timeout);
        int request = Math.max(1000, Math.min(timeout / 2, 30_000));
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, request);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, Math.max(timeout, request + 5 + 1));
        // A stuck transaction of a crashed instance is aborted by the coordinator after this.
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, Math.max(60_000, 2 * timeout));
        return p;
    }

    static void closeQuietly(Producer<byte[], byte[]> p) {
        if (p == null) {
            return;
        }
        try {
            p.close(Duration.ofSeconds(2));
        } catch (RuntimeException ignored) {
            // closing a broken producer may fail too
        }
    }
}
