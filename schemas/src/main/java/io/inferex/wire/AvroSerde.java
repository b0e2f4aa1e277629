package io.inferex.wire;

import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Kafka serde for one event type over {@link AvroWire}. Used by plain clients and Kafka
 * Streams; SmallRye channels use {@link CatalogueSerializer} / {@link CatalogueDeserializer},
 * which pick the type from the topic and delegate here.
 */
public final class AvroSerde<T extends SpecificRecord> implements Serde<T>, Serializer<T>, Deserializer<T> {
    private final AvroWire<T> wire;

    public AvroSerde(Class<T> type) {
        this.wire = AvroWire.of(type);
    }

    public Class<T> type() {
        return wire.type();
    }

    @Override
    public byte[] serialize(String topic, T data) {
        return data == null ? null : wire.encode(data);
    }

    /** A null value is a tombstone and stays null; anything else must decode or it throws. */
    @Override
    public T deserialize(String topic, byte[] data) {
        if (data == null) {
            return null;
        }
        try {
            return wire.decode(data);
        } catch (UndecodableRecordException e) {
            throw new UndecodableRecordException("topic " + topic + ": " + e.getMessage(), e.getCause());
        }
    }

    @Override
    public Serializer<T> serializer() {
        return this;
    }

    @Override
    public Deserializer<T> deserializer() {
        return this;
    }

    @Override
    public void configure(java.util.Map<String, ?> configs, boolean isKey) {
    }

    @Override
    public void close() {
    }
}
