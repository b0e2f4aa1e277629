package io.inferex.executor;

import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.events.Assignment;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.function.Predicate;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/** Test-side Kafka access: write assignments like the matcher (transactionally), read topics from the start. */
final class KafkaProbe implements AutoCloseable {
    private final KafkaProducer<String, byte[]> matcher;
    private final Admin admin;

    KafkaProbe() {
        Properties p = new Properties();
        p.putAll(EmbeddedKafkaBroker.shared().clientConfig());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "test-matcher-" + UUID.randomUUID());
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        matcher = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        matcher.initTransactions();
        admin = Admin.create(EmbeddedKafkaBroker.shared().clientConfig());
    }

    /** Writes records to the assignments topic in one committed transaction; returns their metadata in order. */
    List<RecordMetadata> writeAssignments(List<ProducerRecord<String, byte[]>> records) throws Exception {
        matcher.beginTransaction();
        List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>();
        for (ProducerRecord<String, byte[]> r : records) {
            sent.add(matcher.send(r));
        }
        matcher.commitTransaction();
        List<RecordMetadata> out = new ArrayList<>();
        for (var f : sent) {
            out.add(f.get());
        }
        return out;
    }

    static ProducerRecord<String, byte[]> assignment(String key, Assignment a) {
        return new ProducerRecord<>(Topics.ASSIGNMENTS.name(), key,
                Topics.ASSIGNMENTS.valueSerde().serializer().serialize(Topics.ASSIGNMENTS.name(), a));
    }

    static ProducerRecord<String, byte[]> raw(String key, byte[] value) {
        return new ProducerRecord<>(Topics.ASSIGNMENTS.name(), key, value);
    }

    /** Reads {@code topic} from the beginning until {@code done} holds for what was read, or fails after the timeout. */
    <V> List<ConsumerRecord<String, V>> readUntil(Topic<String, V> topic, Predicate<List<ConsumerRecord<String, V>>> done,
            Duration timeout) {
        List<ConsumerRecord<String, byte[]>> raw = readRawUntil(topic.name(), rs -> done.test(decode(topic, rs)), timeout);
        return decode(topic, raw);
    }

    /** Everything currently in {@code topic} (up to the end offsets at call time). */
    <V> List<ConsumerRecord<String, V>> readAll(Topic<String, V> topic) {
        return decode(topic, readRawToEnd(topic.name()));
    }

    /** Every record currently in {@code topic}, undecoded (up to the end offsets at call time). */
    List<ConsumerRecord<String, byte[]>> readRawToEnd(String topic) {
        try (KafkaConsumer<String, byte[]> c = consumer()) {
            List<TopicPartition> tps = partitions(c, topic);
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> end = c.endOffsets(tps);
            List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (tps.stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("could not read " + topic + " to its end");
                }
                c.poll(Duration.ofMillis(100)).forEach(out::add);
            }
            return out;
        }
    }

    List<ConsumerRecord<String, byte[]>> readRawUntil(String topic, Predicate<List<ConsumerRecord<String, byte[]>>> done,
            Duration timeout) {
        try (KafkaConsumer<String, byte[]> c = consumer()) {
            List<TopicPartition> tps = partitions(c, topic);
            c.assign(tps);
            c.seekToBeginning(tps);
            List<ConsumerRecord<String, byte[]>> out = new ArrayList<>();
            long deadline = System.nanoTime() + timeout.toNanos();
            while (!done.test(out)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("timed out after " + timeout + " waiting on " + topic + "; read " + out.size() + " records");
                }
                c.poll(Duration.ofMillis(100)).forEach(out::add);
            }
            return out;
        }
    }

    /** The offset committed by {@code group} on {@code tp}, or -1. */
    long committed(String group, TopicPartition tp) throws Exception {
        OffsetAndMetadata o = admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata().get().get(tp);
        return o == null ? -1 : o.offset();
    }

    void awaitCommitted(String group, TopicPartition tp, long atLeast, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        long now;
        while ((now = committed(group, tp)) < atLeast) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError(group + " committed " + now + " on " + tp + ", expected at least " + atLeast);
            }
            Thread.sleep(100);
        }
    }

    private static <V> List<ConsumerRecord<String, V>> decode(Topic<String, V> topic, List<ConsumerRecord<String, byte[]>> raw) {
        return raw.stream().map(r -> new ConsumerRecord<>(r.topic(), r.partition(), r.offset(), r.key(),
                topic.valueSerde().deserializer().deserialize(r.topic(), r.value()))).collect(Collectors.toList());
    }

    private KafkaConsumer<String, byte[]> consumer() {
        Properties p = new Properties();
        p.putAll(EmbeddedKafkaBroker.shared().clientConfig());
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        return new KafkaConsumer<>(p, new StringDeserializer(), new ByteArrayDeserializer());
    }

    private static List<TopicPartition> partitions(KafkaConsumer<?, ?> c, String topic) {
        return c.partitionsFor(topic).stream().map(i -> new TopicPartition(topic, i.partition())).collect(Collectors.toList());
    }

    @Override
    public void close() {
        matcher.close();
        admin.close();
    }
}
