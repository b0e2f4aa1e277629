package io.inferex.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.NodeHeartbeat;
import io.inferex.events.Payment;
import io.inferex.testing.PoisonRun;
import io.inferex.topics.Topics;
import java.util.Arrays;
import org.apache.avro.SystemLimitException;
import org.junit.jupiter.api.Test;

class DecodingLimitsTest {

    @Test
    void aLengthBombIsRefusedByAvrosLimitBeforeAnythingIsAllocated() {
        byte[] bomb = PoisonRun.lengthBomb(Payment.class);
        assertTrue(bomb.length < 20, "the bomb is a few bytes claiming 2 GB");
        UndecodableRecordException e = assertThrows(UndecodableRecordException.class, () -> AvroWire.of(Payment.class).decode(bomb));
        // The limit, not the end of input: Avro checked the length before allocating the string.
        assertInstanceOf(SystemLimitException.class, e.getCause(), e.toString());
    }

    @Test
    void aCollectionCountBombIsRefusedByTheCollectionLimit() {
        // NodeHeartbeat: nodeId "n", sequence 1, freeSlots 1, then poolKeys: an array block claiming 2e9 items.
        byte[] header = Arrays.copyOf(PoisonRun.lengthBomb(NodeHeartbeat.class), 10);
        byte[] body = {2, 'n', 2, 2, (byte) 0x80, (byte) 0xD0, (byte) 0xAC, (byte) 0xF3, 0x0E};
        byte[] bomb = Arrays.copyOf(header, header.length + body.length);
        System.arraycopy(body, 0, bomb, header.length, body.length);
        UndecodableRecordException e = assertThrows(UndecodableRecordException.class,
                () -> AvroWire.of(NodeHeartbeat.class).decode(bomb));
        assertInstanceOf(SystemLimitException.class, e.getCause(), e.toString());
    }

    @Test
    void theLimitsAreTheCataloguesMaximumRecordSize() {
        AvroWire.of(Payment.class);
        for (String property : new String[] {SystemLimitException.MAX_BYTES_LENGTH_PROPERTY,
                SystemLimitException.MAX_STRING_LENGTH_PROPERTY, SystemLimitException.MAX_COLLECTION_LENGTH_PROPERTY}) {
            assertEquals(Integer.toString(Topics.MAX_RECORD_BYTES), System.getProperty(property), property);
        }
        assertEquals(Topics.MAX_RECORD_BYTES, SystemLimitException.checkMaxBytesLength(Topics.MAX_RECORD_BYTES));
        assertThrows(SystemLimitException.class, () -> SystemLimitException.checkMaxBytesLength(Topics.MAX_RECORD_BYTES + 1L));
    }
}
