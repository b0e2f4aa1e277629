package io.inferex.wire;

import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Value serializer for SmallRye channels (and any client configured by class name): picks the
 * event type from the topic's catalogue entry, so channel config names no type.
 * {@code mp.messaging.outgoing.x.value.serializer=io.inferex.wire.CatalogueSerializer}
 */
public final class CatalogueSerializer implements Serializer<Object> {
    @Override
    @SuppressWarnings("unchecked")
    public byte[] serialize(String topic, Object data) {
        Topic<?, ?> entry = Topics.byName(topic).orElseThrow(
                () -> new IllegalArgumentException("topic " + topic + " is not in the catalogue"));
        return ((Serializer<Object>) entry.valueSerde().serializer()).serialize(topic, data);
    }
}
