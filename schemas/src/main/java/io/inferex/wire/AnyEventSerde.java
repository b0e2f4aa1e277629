package io.inferex.wire;

import java.util.HashMap;
import java.util.Map;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * Serde for a stream that carries several event types, e.g. a topology that merges payments,
 * jobs and verdicts into one repartition topic. The single-object header's fingerprint names
 * the writer schema, and so the type; any kept version of any event type is accepted.
 */
public final class AnyEventSerde implements Serde<SpecificRecord>, Serializer<SpecificRecord>, Deserializer<SpecificRecord> {
    private static final Map<Long, Class<? extends SpecificRecord>> TYPE_BY_FINGERPRINT = index();

    private static Map<Long, Class<? extends SpecificRecord>> index() {
        Map<Long, Class<? extends SpecificRecord>> byFp = new HashMap<>();
        for (Class<? extends SpecificRecord> type : EventTypes.ALL) {
            AvroWire<? extends SpecificRecord> wire = AvroWire.of(type);
            byFp.put(SchemaNormalization.parsingFingerprint64(wire.schema()), type);
            for (SchemaHistory.Version v : SchemaHistory.versionsOf(wire.schema().getFullName())) {
                byFp.put(SchemaNormalization.parsingFingerprint64(v.schema()), type);
            }
        }
        return Map.copyOf(byFp);
    }

    @Override
    @SuppressWarnings({"unchecked", "rawtypes"})
    public byte[] serialize(String topic, SpecificRecord data) {
        return data == null ? null : ((AvroWire) AvroWire.of(data.getClass())).encode(data);
    }

    @Override
    public SpecificRecord deserialize(String topic, byte[] data) {
        if (data == null) {
            return null;
        }
        var header = AvroWire.writerFingerprint(data);
        if (header.isEmpty()) {
            throw new UndecodableRecordException("topic " + topic + ": not Avro single-object encoding", null);
        }
        long fp = header.getAsLong();
        Class<? extends SpecificRecord> type = TYPE_BY_FINGERPRINT.get(fp);
        if (type == null) {
            throw new UndecodableRecordException("topic " + topic + ": fingerprint " + Long.toHexString(fp)
                    + " is no event type this build knows", null);
        }
        return AvroWire.of(type).decode(data);
    }

    @Override
    public Serializer<SpecificRecord> serializer() {
        return this;
    }

    @Override
    public Deserializer<SpecificRecord> deserializer() {
        return this;
    }

    @Override
    public void configure(Map<String, ?> configs, boolean isKey) {
    }

    @Override
    public void close() {
    }
}
