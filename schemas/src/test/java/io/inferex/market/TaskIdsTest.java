package io.inferex.market;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class TaskIdsTest {
    @Test
    void onlyTheCanonicalIdOfAShardBelowTheShardCountBelongsToTheJob() {
        assertEquals("batch_1/00002", TaskIds.of("batch_1", 2, 3));
        assertEquals(OptionalInt.of(2), TaskIds.indexOf("batch_1", "batch_1/00002", 3));
        assertTrue(TaskIds.indexOf("batch_1", "batch_1/00003", 3).isEmpty(), "index at the shard count");
        assertTrue(TaskIds.indexOf("batch_1", "batch_1/2", 3).isEmpty(), "not zero-padded as ingest pads");
        assertTrue(TaskIds.indexOf("batch_1", "batch_1/000002", 3).isEmpty(), "extra zero");
        assertTrue(TaskIds.indexOf("batch_1", "batch_2/00002", 3).isEmpty(), "another job's task");
        assertTrue(TaskIds.indexOf("batch_1", "batch_1/-0001", 3).isEmpty(), "negative");
        assertTrue(TaskIds.indexOf("batch_1", "batch_1/00001x", 3).isEmpty(), "suffix");
        assertTrue(TaskIds.indexOf("batch_1", "batch_1/99999999999999", 3).isEmpty(), "overflowing index");
        assertEquals(OptionalInt.of(123_456), TaskIds.indexOf("j", TaskIds.of("j", 123_456, 200_000), 200_000));
    }
}
