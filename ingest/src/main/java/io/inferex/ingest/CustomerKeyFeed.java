package io.inferex.ingest;

import io.inferex.deadletter.DeadLetterPublisher;
import io.inferex.events.CustomerKey;
import io.inferex.topics.Topics;
import io.inferex.wire.UndecodableRecordException;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
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
 * Follows {@code customer-keys} (compacted) into a {@link CustomerKeyBook}: one consumer, every
 * partition from the beginning, no group. Ready once it has read up to the end offsets it found
 * at assignment, so a restarted ingest does not answer 401 for keys it has not read yet. An
 * undecodable or malformed record is dead-lettered and skipped.
 */
@ApplicationScoped
public class CustomerKeyFeed {
    private static final Logger LOG = Logger.getLogger(CustomerKeyFeed.class);

    @Inject
    @io.smallrye.common.annotation.Identifier("default-kafka-broker")
    Map<String, Object> kafka;

    private final CustomerKeyBook book = new CustomerKeyBook();
    private volatile boolean caughtUp;
    private volatile boolean stopping;
    private volatile KafkaConsumer<byte[], byte[]> consumer;
    private Thread thread;

    void onStart(@Observes StartupEvent ev) {
        thread = new Thread(this::run, "ingest-customer-keys");
        thread.setDaemon(true);
        thread.start();
    }

    void onStop(@Observes ShutdownEvent ev) throws InterruptedException {
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

    public Optional<String> customerFor(String key) {
        return book.customerFor(key);
    }

    public int keys() {
        return book.size();
    }

    private void run() {
        while (!stopping) {
            try {
                consume();
            } catch (RuntimeException e) {
                LOG.error("customer-keys consumer failed; reading again from the beginning", e);
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
        p.putAll(io.inferex.security.BusCredentials.connection(kafka));
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "inferex-ingest-keys-" + FileStore.randomHex(4));
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);
        try (DeadLetterPublisher deadLetters = DeadLetterPublisher.create(kafka, MarketTracker.READER);
             KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer = c;
            List<PartitionInfo> infos = c.partitionsFor(Topics.CUSTOMER_KEYS.name(), Duration.ofSeconds(10));
            if (infos == null || infos.isEmpty()) {
                throw new IllegalStateException("topic " + Topics.CUSTOMER_KEYS.name() + " does not exist yet");
            }
            List<TopicPartition> parts = infos.stream().map(i -> new TopicPartition(i.topic(), i.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            Map<TopicPartition, Long> end = c.endOffsets(parts);
            while (!stopping) {
                for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(500))) {
                    String keyId = rec.key() == null ? "" : new String(rec.key(), StandardCharsets.UTF_8);
                    try {
                        CustomerKey value = rec.value() == null ? null
                                : Topics.CUSTOMER_KEYS.valueSerde().deserializer().deserialize(rec.topic(), rec.value());
                        if (!book.apply(keyId, value)) {
                            throw new UndecodableRecordException("customer key " + keyId
                                    + " is malformed (id not its hash's prefix, or a bad customer id)", null);
                        }
                    } catch (UndecodableRecordException | org.apache.kafka.common.errors.SerializationException e) {
                        LOG.warnf("dead-lettering %s-%d@%d: %s", rec.topic(), rec.partition(), rec.offset(), e.getMessage());
                        deadLetters.publish(rec, e);
                    }
                }
                if (!caughtUp && parts.stream().allMatch(tp -> c.position(tp) >= end.get(tp))) {
                    caughtUp = true;
                    LOG.infof("customer keys read: %d", book.size());
                }
            }
        } catch (WakeupException e) {
            if (!stopping) {
                throw e;
            }
        } finally {
            consumer = null;
        }
    }
}
