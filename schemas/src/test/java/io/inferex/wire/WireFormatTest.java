package io.inferex.wire;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.JobSubmitted;
import io.inferex.events.NodeHeartbeat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

class WireFormatTest {

    @TestFactory
    List<DynamicTest> everyEventTypeRoundTripsThroughSingleObjectEncoding() {
        return EventTypes.ALL.stream().map(type -> DynamicTest.dynamicTest(type.getSimpleName(), () -> {
            RandomEvents random = new RandomEvents(type.getName().hashCode());
            for (int i = 0; i < 50; i++) {
                roundTrip(type, random);
            }
        })).toList();
    }

    private static <T extends SpecificRecord> void roundTrip(Class<T> type, RandomEvents random) {
        AvroWire<T> wire = AvroWire.of(type);
        T original = random.specific(type);
        byte[] bytes = wire.encode(original);
        // Single-object encoding: marker C3 01, then the 8-byte little-endian schema fingerprint.
        assertEquals((byte) 0xC3, bytes[0]);
        assertEquals((byte) 0x01, bytes[1]);
        assertEquals(original, wire.decode(bytes));
    }

    @Test
    void recordWrittenWithEveryKeptOlderVersionDecodesWithCurrentSchema() throws IOException {
        int olderVersionsChecked = 0;
        for (Class<? extends SpecificRecord> type : EventTypes.ALL) {
            AvroWire<? extends SpecificRecord> wire = AvroWire.of(type);
            for (SchemaHistory.Version kept : SchemaHistory.versionsOf(wire.schema().getFullName())) {
                GenericRecord old = new RandomEvents(kept.version()).generic(kept.schema());
                byte[] bytes = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), kept.schema()).encode(old).array();
                SpecificRecord decoded = wire.decode(bytes);
                for (Schema.Field f : kept.schema().getFields()) {
                    Schema.Field now = wire.schema().getField(f.name());
                    if (now != null) {
                        // Avro's JSON rendering compares generic and specific values field by field.
                        assertEquals(GenericData.get().toString(old.get(f.name())),
                                org.apache.avro.specific.SpecificData.get().toString(decoded.get(now.pos())),
                                type.getSimpleName() + " v" + kept.version() + " field " + f.name());
                    }
                }
                if (!kept.schema().equals(wire.schema())) {
                    olderVersionsChecked++;
                }
            }
        }
        assertTrue(olderVersionsChecked > 0, "history holds at least one version older than the current schema");
    }

    @Test
    void jobSubmittedV1RecordGetsTheDefaultMetadataAddedInV2() throws IOException {
        SchemaHistory.Version v1 = SchemaHistory.versionsOf(JobSubmitted.getClassSchema().getFullName()).get(0);
        assertEquals(1, v1.version());
        assertFalse(v1.schema().getFields().stream().anyMatch(f -> f.name().equals("metadata")));
        GenericRecord old = new RandomEvents(7).generic(v1.schema());
        old.put("jobId", "batch_old");
        byte[] bytes = new BinaryMessageEncoder<GenericRecord>(GenericData.get(), v1.schema()).encode(old).array();

        JobSubmitted decoded = AvroWire.of(JobSubmitted.class).decode(bytes);

        assertEquals("batch_old", decoded.getJobId());
        assertEquals(Map.of(), decoded.getMetadata());
    }

    @Test
    void randomBytesAreRejectedWithAReasonNotAGarbageRecord() {
        byte[] junk = new byte[40];
        new Random(1).nextBytes(junk);
        var e = assertThrows(UndecodableRecordException.class, () -> AvroWire.of(NodeHeartbeat.class).decode(junk));
        assertTrue(e.getMessage().contains("NodeHeartbeat"), e.getMessage());
    }

    @Test
    void recordOfAnotherEventTypeIsRejectedAsUnknownFingerprint() {
        NodeHeartbeat hb = new RandomEvents(3).specific(NodeHeartbeat.class);
        byte[] bytes = AvroWire.of(NodeHeartbeat.class).encode(hb);
        var e = assertThrows(UndecodableRecordException.class, () -> AvroWire.of(JobSubmitted.class).decode(bytes));
        assertTrue(e.getMessage().contains("is not a known version of io.inferex.events.JobSubmitted"), e.getMessage());
    }

    @Test
    void truncatedBodyIsRejectedAsCorrupt() {
        NodeHeartbeat hb = new RandomEvents(4).specific(NodeHeartbeat.class);
        hb.setSignature(ByteBuffer.wrap(new byte[64]));
        byte[] bytes = AvroWire.of(NodeHeartbeat.class).encode(hb);
        byte[] cut = java.util.Arrays.copyOf(bytes, bytes.length - 30);
        var e = assertThrows(UndecodableRecordException.class, () -> AvroWire.of(NodeHeartbeat.class).decode(cut));
        assertTrue(e.getMessage().startsWith("corrupt io.inferex.events.NodeHeartbeat body"), e.getMessage());
    }

    @Test
    void serdeKeepsTombstonesAndNamesTheTopicInErrors() {
        AvroSerde<NodeHeartbeat> serde = new AvroSerde<>(NodeHeartbeat.class);
        assertEquals(null, serde.deserialize("node-heartbeats", null));
        var e = assertThrows(UndecodableRecordException.class,
                () -> serde.deserialize("node-heartbeats", new byte[] {1, 2, 3}));
        assertTrue(e.getMessage().startsWith("topic node-heartbeats: "), e.getMessage());
        NodeHeartbeat hb = new RandomEvents(5).specific(NodeHeartbeat.class);
        assertArrayEquals(serde.serialize("t", hb), AvroWire.of(NodeHeartbeat.class).encode(hb));
    }
}
