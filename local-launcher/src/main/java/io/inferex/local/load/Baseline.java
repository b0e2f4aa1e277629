package io.inferex.local.load;

import io.inferex.security.BusCredentials;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.HdrHistogram.Histogram;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * The bare produce→consume hop on the same broker, measured in the same run: an acks=all idempotent
 * producer (as the services use) and a consumer polled like {@link StageObserver}'s. Each record
 * carries its send time; the hop is receipt minus send on this JVM's clock.
 */
public final class Baseline {
    public static final String TOPIC = "inferex-load-baseline";

    private Baseline() {}

    /**
     * Sends {@code warmup + records} records {@code gap} apart and records the hop of the last
     * {@code records} (in microseconds): the first ones pay for class loading, JIT and connection set-up.
     */
    public static Histogram measure(Map<String, Object> operator, int warmup, int records, Duration gap) throws Exception {
        try (Admin admin = Admin.create(operator)) {
            if (!admin.listTopics().names().get().contains(TOPIC)) {
                admin.createTopics(Set.of(new NewTopic(TOPIC, 1, (short) 1))).all().get();
            }
        } catch (java.util.concurrent.ExecutionException e) {
            if (!(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException)) {
                throw e;
            }
        }
        Histogram h = new Histogram(3_600_000_000L, 3);
        TopicPartition tp = new TopicPartition(TOPIC, 0);
        try (var producer = new KafkaProducer<byte[], byte[]>(BusCredentials.properties(operator, Map.of(ProducerConfig.ACKS_CONFIG,
                "all", ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true, ProducerConfig.LINGER_MS_CONFIG, 0)),
                new ByteArraySerializer(), new ByteArraySerializer());
                var consumer = new KafkaConsumer<byte[], byte[]>(BusCredentials.properties(operator, Map.of(
                        ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false, ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 5)),
                        new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.assign(List.of(tp));
            consumer.seekToEnd(List.of(tp));
            consumer.position(tp);
            Thread sender = new Thread(() -> {
                for (int i = 0; i < warmup + records; i++) {
                    producer.send(new ProducerRecord<>(TOPIC, ByteBuffer.allocate(8).putLong(System.nanoTime()).array()));
                    try {
                        Thread.sleep(gap.toMillis());
                    } catch (InterruptedException e) {
                        return;
                    }
                }
                producer.flush();
            }, "baseline-producer");
            sender.start();
            long deadline = System.nanoTime() + gap.multipliedBy(warmup + records).plusSeconds(10).toNanos();
            int seen = 0;
            while (seen < warmup + records && System.nanoTime() < deadline) {
                for (var r : consumer.poll(Duration.ofMillis(50))) {
                    long hop = System.nanoTime() - ByteBuffer.wrap(r.value()).getLong();
                    if (seen++ >= warmup) {
                        h.recordValue(Math.max(0, hop / 1_000)); // microseconds
                    }
                }
            }
            sender.join();
        }
        return h;
    }
}
