package io.inferex.wire;

import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import org.apache.kafka.common.serialization.Deserializer;

/**
 * Value deserializer for SmallRye channels: decodes with the topic's catalogue serde. It throws
 * {@link UndecodableRecordException} on a bad record; a channel that must not stop reads
 * {@code byte[]} instead and dead-letters with {@link io.inferex.deadletter.DeadLetterPublisher}.
 */
public final class CatalogueDeserializer implements Deserializer<Object> {
    @Override
    public Object deserialize(String topic, byte[] data) {
        Topic<?, ?> entry = Topics.byName(topic).orElseThrow(
                () -> new IllegalArgumentException("topic " + topic + " is not in the catalogue"));
        return entry.valueSerde().deserializer().deserialize(topic, data);
    }
}
