package io.inferex.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.inferex.events.Verdict;
import io.inferex.topics.Topics;
import org.junit.jupiter.api.Test;

class CatalogueSerdeTest {
    @Test
    void channelSerdesPickTheEventTypeFromTheTopicCatalogue() {
        Verdict v = new RandomEvents(21).specific(Verdict.class);
        byte[] bytes = new CatalogueSerializer().serialize(Topics.VERDICTS.name(), v);
        assertEquals(v, new CatalogueDeserializer().deserialize(Topics.VERDICTS.name(), bytes));
        assertEquals(v, Topics.VERDICTS.valueSerde().deserializer().deserialize("x", bytes));
    }

    @Test
    void unknownTopicAndWrongTypeAreRejected() {
        Verdict v = new RandomEvents(22).specific(Verdict.class);
        assertThrows(IllegalArgumentException.class, () -> new CatalogueSerializer().serialize("no-such-topic", v));
        byte[] bytes = new CatalogueSerializer().serialize(Topics.VERDICTS.name(), v);
        assertThrows(UndecodableRecordException.class, () -> new CatalogueDeserializer().deserialize(Topics.JOBS.name(), bytes));
    }
}
