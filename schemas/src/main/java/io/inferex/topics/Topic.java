package io.inferex.topics;

import java.util.Map;
import org.apache.kafka.common.config.TopicConfig;
import org.apache.kafka.common.serialization.Serde;

/**
 * One entry of the topic catalogue: everything a producer, consumer, topology or test needs to
 * know about a topic, so no call site writes a topic name or a serde itself.
 *
 * @param retentionMs -1 keeps records forever (the log is the market's source of truth)
 */
public record Topic<K, V>(
        String name,
        Serde<K> keySerde,
        Serde<V> valueSerde,
        int partitions,
        CleanupPolicy cleanupPolicy,
        long retentionMs,
        String doc) {

    public enum CleanupPolicy {
        DELETE(TopicConfig.CLEANUP_POLICY_DELETE),
        COMPACT(TopicConfig.CLEANUP_POLICY_COMPACT);

        public final String kafkaValue;

        CleanupPolicy(String kafkaValue) {
            this.kafkaValue = kafkaValue;
        }
    }

    /** Topic-level configs the provisioner sets. */
    public Map<String, String> configs() {
        return Map.of(
                TopicConfig.CLEANUP_POLICY_CONFIG, cleanupPolicy.kafkaValue,
                TopicConfig.RETENTION_MS_CONFIG, Long.toString(retentionMs));
    }

    @Override
    public String toString() {
        return name;
    }
}
