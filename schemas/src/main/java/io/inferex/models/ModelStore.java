package io.inferex.models;

import io.inferex.events.ModelChunk;
import io.inferex.events.ModelRegistered;
import io.inferex.market.ModelRegistry;
import io.inferex.topics.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Predicate;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reading the model registry and the model store from the bus, for clients that are not stream
 * apps: a node (fetches its model by digest, on any machine that reaches the brokers, with read
 * ACLs only), the CLI ({@code ./inferex models}). Both topics have one partition; reads go to the
 * end offset found at the start, no consumer group.
 */
public final class ModelStore {
    private ModelStore() {}

    /**
     * The registry as the {@code models} topic holds it now: every record applied in offset order
     * with {@link ModelRegistry#decide}; each refused record is passed to {@code refused} with the reason.
     */
    public static ModelRegistry.Book readRegistry(Map<String, Object> clientConfig, Duration timeout,
            BiConsumer<ConsumerRecord<byte[], byte[]>, String> refused) {
        ModelRegistry.Book book = new ModelRegistry.Book();
        readToEnd(clientConfig, Topics.MODELS.name(), 0L, timeout, rec -> {
            String key = rec.key() == null ? "" : new String(rec.key(), StandardCharsets.UTF_8);
            ModelRegistered value;
            try {
                value = rec.value() == null ? null : Topics.MODELS.valueSerde().deserializer().deserialize(rec.topic(), rec.value());
            } catch (RuntimeException e) {
                refused.accept(rec, "undecodable: " + e.getMessage());
                return false;
            }
            if (book.apply(key, value) instanceof ModelRegistry.Decision.Refuse r) {
                refused.accept(rec, r.reason());
            }
            return false;
        });
        return book;
    }

    /**
     * Fetches the file with digest {@code sha256} and size {@code bytes} from {@code model-chunks}
     * into {@code target}, reading from {@code offsetHint} (where the registration says its first
     * chunk is) and, if chunks are still missing at the end, once more from the beginning. A file
     * already at {@code target} with that digest is kept.
     *
     * @throws ModelChunks.DigestMismatchException when the chunks are missing or do not make a file with that digest
     */
    public static Path fetch(Map<String, Object> clientConfig, String sha256, long bytes, long offsetHint, Path target, Duration timeout) {
        if (Files.isRegularFile(target) && ModelChunks.sha256(target).equals(sha256)) {
            return target;
        }
        try (ModelChunks.Assembly assembly = new ModelChunks.Assembly(sha256, bytes, target)) {
            Predicate<ConsumerRecord<byte[], byte[]>> take = rec -> {
                if (rec.value() == null || rec.key() == null
                        || !new String(rec.key(), StandardCharsets.UTF_8).startsWith(sha256 + "/")) {
                    return assembly.complete();
                }
                ModelChunk chunk = Topics.MODEL_CHUNKS.valueSerde().deserializer().deserialize(rec.topic(), rec.value());
                return assembly.accept(chunk);
            };
            readToEnd(clientConfig, Topics.MODEL_CHUNKS.name(), Math.max(0L, offsetHint), timeout, take);
            if (!assembly.complete() && offsetHint > 0) {
                readToEnd(clientConfig, Topics.MODEL_CHUNKS.name(), 0L, timeout, take);
            }
            return assembly.finish();
        }
    }

    /**
     * Reads the one partition of {@code topic} from {@code from} to the end offset found at the
     * start, or until {@code handler} answers true.
     */
    static void readToEnd(Map<String, Object> clientConfig, String topic, long from, Duration timeout,
            Predicate<ConsumerRecord<byte[], byte[]>> handler) {
        Map<String, Object> p = new HashMap<>(clientConfig);
        p.remove(ConsumerConfig.GROUP_ID_CONFIG);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 2 * Topics.MAX_RECORD_BYTES);
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            TopicPartition tp = new TopicPartition(topic, 0);
            c.assign(List.of(tp));
            long end = c.endOffsets(List.of(tp), timeout).get(tp);
            long begin = c.beginningOffsets(List.of(tp), timeout).get(tp);
            c.seek(tp, Math.max(from, begin));
            long deadline = System.nanoTime() + timeout.toNanos();
            while (c.position(tp, timeout) < end) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException("could not read " + topic + " to its end (" + end + ") in " + timeout);
                }
                for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(200))) {
                    if (rec.offset() < end && handler.test(rec)) {
                        return;
                    }
                }
            }
        }
    }
}
