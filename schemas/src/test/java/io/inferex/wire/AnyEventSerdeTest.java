package io.inferex.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

class AnyEventSerdeTest {
    @Test
    void everyEventTypeRoundTripsThroughOneMixedStreamSerde() {
        AnyEventSerde serde = new AnyEventSerde();
        for (Class<? extends SpecificRecord> type : EventTypes.ALL) {
            SpecificRecord event = new RandomEvents(type.getName().length()).specific(type);
            SpecificRecord back = serde.deserialize("mixed", serde.serialize("mixed", event));
            assertEquals(type, back.getClass());
            assertEquals(event, back);
        }
    }

    @Test
    void bytesWithoutAKnownFingerprintAreRejected() {
        byte[] unknown = {(byte) 0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 0};
        assertThrows(UndecodableRecordException.class, () -> new AnyEventSerde().deserialize("mixed", unknown));
        assertThrows(UndecodableRecordException.class, () -> new AnyEventSerde().deserialize("mixed", new byte[] {1, 2}));
    }
}
