package io.inferex.local.audit;

import io.inferex.topics.Topic;
import io.inferex.wire.AvroWire;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaBuilder;
import org.apache.avro.specific.SpecificRecord;

/**
 * One record of an exported topic-partition, as an export file holds it: its offset, timestamp,
 * raw key, headers, the fingerprint of the schema it was written with, and its value, decoded to
 * this build's version of the topic's event type, or the raw bytes when it did not decode (a
 * poison record, or a dead letter, whose topic is raw bytes).
 *
 * <p>Why decoded: an export file is an Avro object container file whose embedded schema is the
 * entry schema below, with the event's full schema inside it, so any Avro tool reads it without
 * Inferex. A record of an older kept schema version is resolved to the current one when it is
 * exported (its {@code writerFingerprint} says which version it was); a reader of a later build
 * resolves the file's embedded version to its own the same way.
 */
public record LogEntry(String topic, int partition, long offset, long timestamp, byte[] key, List<Header> headers,
        String writerFingerprint, Object value) {

    public record Header(String key, byte[] value) {}

    /** The key as text (catalogue keys are UTF-8 ids), or null. */
    public String keyText() {
        return key == null ? null : new String(key, StandardCharsets.UTF_8);
    }

    /** The decoded event, or null when the value did not decode. */
    public SpecificRecord event() {
        return value instanceof SpecificRecord r ? r : null;
    }

    /** Where it is: {@code topic/partition@offset}. */
    public String where() {
        return topic + "/" + partition + "@" + offset;
    }

    /** The value's type as the catalogue declares it, or null for a topic of raw bytes. */
    static Class<? extends SpecificRecord> eventType(Topic<?, ?> topic) {
        if (topic.valueSerde() instanceof io.inferex.wire.AvroSerde<?> avro) {
            return avro.type();
        }
        return null;
    }

    /** The entry schema of a topic's export files. */
    static Schema schema(Topic<?, ?> topic) {
        Class<? extends SpecificRecord> type = eventType(topic);
        Schema header = SchemaBuilder.record("Header").namespace("io.inferex.export").fields()
                .requiredString("key").optionalBytes("value").endRecord();
        List<Schema> valueBranches = new ArrayList<>();
        valueBranches.add(Schema.create(Schema.Type.NULL));
        if (type != null) {
            valueBranches.add(AvroWire.of(type).schema());
        }
        valueBranches.add(Schema.create(Schema.Type.BYTES));
        return SchemaBuilder.record("Entry").namespace("io.inferex.export")
                .doc("One Kafka record of topic " + topic.name() + ": value decoded to the event when it decodes, else its raw bytes.")
                .fields()
                .requiredLong("offset")
                .requiredLong("timestamp")
                .optionalBytes("key")
                .name("headers").type().array().items(header).noDefault()
                .optionalString("writerFingerprint")
                .name("value").type(Schema.createUnion(valueBranches)).noDefault()
                .endRecord();
    }
}
