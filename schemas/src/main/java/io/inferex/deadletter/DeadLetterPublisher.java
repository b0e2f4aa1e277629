package io.inferex.deadletter;

import io.inferex.topics.Topics;
import java.time.Clock;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
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

    /** A publisher with its own producer, connected with {@code connection} (bootstrap servers and credentials). */
    public static DeadLetterPublisher create(java.util.Map<String, ?> connection, String reader) {
        Properties p = io.inferex.security.BusCredentials.properties(connection, java.util.Map.of(
                ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true,
                ProducerConfig.CLIENT_ID_CONFIG, reader + "-dead-letters"));
        return new DeadLetterPublisher(new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer()),
                reader, Clock.systemUTC());
    }

    /** Publishes {@code rejected} with the reason; throws if the dead letter could not be written. */
    public void publish(ConsumerRecord<byte[], byte[]> rejected, Throwable error) {
        ProducerRecord<byte[], byte[]> letter = new ProducerRecord<>(Topics.DEAD_LETTER.name(), null,
                rejected.key(), rejected.value(),
                DeadLetters.headers(rejected.headers(), rejected.topic(), rejected.partition(), rejected.offset(),
                        error, reader, clock.millis()));
        try {
            producer.send(letter).get(30, TimeUnit.SECONDS);
        } catch (ExecutionException | TimeoutException e) {
            throw new IllegalStateException("could not dead-letter " + rejected.topic() + "-" + rejected.partition()
                    + "@" + rejected.offset() + ": " + e, e);
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
