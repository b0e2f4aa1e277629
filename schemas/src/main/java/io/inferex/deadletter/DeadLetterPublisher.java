package io.inferex.deadletter;

import java.time.Clock;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Writes rejected records of plain consumers (not Kafka Streams, see {@link DecodeOrDeadLetter})
 * to the dead-letter topic. The send is acknowledged (acks=all) before it returns, so a reader
 * may commit past the bad record only once the dead letter is safe.
 */
public final class DeadLetterPublisher implements AutoCloseable {
    private final Producer<byte[], byte[]> producer;
    private final String reader;
    private final Clock clock;

    public DeadLetterPublisher(Producer<byte[], byte[]> producer, String reader, Clock clock) {
        this.producer = producer;
        this.reader = reader;
        this.clock = clock;
    }

    /**
     * A publisher whose producer has the connection and security settings of {@code clientConfig}
     * (an app's Kafka client or Kafka Streams config: bootstrap servers, security protocol, SASL,
     * SSL; {@code producer.}-prefixed entries override), acks=all and idempotence. Serializers,
     * transactional id and client id are its own.
     */
    public static DeadLetterPublisher create(Map<String, ?> clientConfig, String reader) {
        return new DeadLetterPublisher(new KafkaProducer<>(producerConfig(clientConfig, reader),
                new ByteArraySerializer(), new ByteArraySerializer()), reader, Clock.systemUTC());
    }

    static Properties producerConfig(Map<String, ?> clientConfig, String reader) {
        Set<String> names = ProducerConfig.configNames();
        Properties p = new Properties();
        clientConfig.forEach((k, v) -> {
            if (names.contains(k) && v != null) {
                p.put(k, v);
            }
        });
        clientConfig.forEach((k, v) -> {
            if (k.startsWith(PRODUCER_PREFIX) && names.contains(k.substring(PRODUCER_PREFIX.length())) && v != null) {
                p.put(k.substring(PRODUCER_PREFIX.length()), v);
            }
        });
        for (String own : List.of(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG,
                ProducerConfig.TRANSACTIONAL_ID_CONFIG, ProducerConfig.INTERCEPTOR_CLASSES_CONFIG)) {
            p.remove(own);
        }
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, reader + "-dead-letters");
        return p;
    }

    private static final String PRODUCER_PREFIX = "producer.";

    /** Publishes {@code rejected} with the reason; throws if the dead letter could not be written. */
    public void publish(ConsumerRecord<byte[], byte[]> rejected, Throwable error) {
        publish(rejected.key(), rejected.value(), rejected.headers(), rejected.topic(), rejected.partition(),
                rejected.offset(), error);
    }

    /**
     * Publishes the dead letter of a record read from {@code topic-partition@offset}: a copy, or
     * a reference when the copy would not fit ({@link DeadLetters#letter}); if the broker still
     * refuses the copy as too large, the reference. Returns once acknowledged; throws if the dead
     * letter could not be written.
     */
    public void publish(byte[] key, byte[] value, Headers headers, String topic, int partition, long offset,
            Throwable error) {
        ProducerRecord<byte[], byte[]> letter = DeadLetters.letter(key, value, headers, topic, partition, offset,
                error, reader, clock.millis());
        try {
            try {
                producer.send(letter).get(30, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                if (!(e.getCause() instanceof RecordTooLargeException) || letter.value() == null) {
                    throw e;
                }
                producer.send(DeadLetters.reference(key, value, letter.headers())).get(30, TimeUnit.SECONDS);
            }
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("could not dead-letter " + topic + "-" + partition + "@" + offset + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while dead-lettering", e);
        }
    }

    @Override
    public void close() {
        producer.close();
    }
}
