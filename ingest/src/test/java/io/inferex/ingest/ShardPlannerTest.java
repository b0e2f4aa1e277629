package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.InputRow;
import io.inferex.events.ShardTask;
import io.inferex.ingest.BatchFileValidator.EncodingFormat;
import io.inferex.ingest.BatchFileValidator.RequestLine;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class ShardPlannerTest {
    private static List<RequestLine> lines(int n, int inputChars) {
        List<RequestLine> out = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            out.add(new RequestLine(i, "id-" + i, "x".repeat(inputChars), EncodingFormat.FLOAT));
        }
        return out;
    }

    @Test
    void fortyRowsAtSixteenPerShardGiveSixteenSixteenEightInInputOrder() {
        List<List<RequestLine>> shards = new ShardPlanner(16, 512 * 1024).split(lines(40, 10));
        assertEquals(List.of(16, 16, 8), shards.stream().map(List::size).toList());
        List<Integer> order = shards.stream().flatMap(List::stream).map(RequestLine::lineNumber).toList();
        assertEquals(lines(40, 10).stream().map(RequestLine::lineNumber).toList(), order);
    }

    @Test
    void aShardNeverExceedsItsByteBudgetSoTheRecordFitsTheBroker() {
        int budget = 4096;
        List<List<RequestLine>> shards = new ShardPlanner(16, budget).split(lines(10, 1000));
        for (List<RequestLine> s : shards) {
            int bytes = s.stream().mapToInt(l -> ShardPlanner.rowBytes(l.customId(), l.input())).sum();
            assertTrue(bytes <= budget, "shard of " + bytes + " bytes");
        }
        assertEquals(10, shards.stream().mapToInt(List::size).sum());
        // each row is ~1,029 bytes (1,000 of input + id + framing): three fit in 4 KiB, four do not
        assertEquals(List.of(3, 3, 3, 1), shards.stream().map(List::size).toList());
    }

    @Test
    void aSingleRowLargerThanTheBudgetStillGetsItsOwnShard() {
        List<List<RequestLine>> shards = new ShardPlanner(16, 1024).split(lines(3, 2000));
        assertEquals(List.of(1, 1, 1), shards.stream().map(List::size).toList());
    }

    @Test
    void taskIdsAreJobIdSlashZeroPaddedIndexWideEnoughForTheJob() {
        assertEquals("batch_x/00000", ShardPlanner.taskId("batch_x", 0, 1));
        assertEquals("batch_x/00042", ShardPlanner.taskId("batch_x", 42, 3125));
        assertEquals("batch_x/000042", ShardPlanner.taskId("batch_x", 42, 200_000));
    }

    @Test
    void taskCarriesRowsLineNumbersPoolAndPrice() {
        ShardTask t = ShardPlanner.task("batch_j", 1, 3, "all-MiniLM-L6-v2", "all-MiniLM-L6-v2@local", 200,
                lines(2, 5), 1234L);
        assertEquals("batch_j/00001", t.getTaskId());
        assertEquals(1, t.getShardIndex());
        assertEquals(3, t.getShardCount());
        assertEquals("all-MiniLM-L6-v2@local", t.getPoolKey());
        assertEquals(200, t.getMaxPricePerRowMicros());
        List<InputRow> rows = t.getRows();
        assertEquals(List.of("id-1", "id-2"), rows.stream().map(InputRow::getCustomId).toList());
        assertEquals(List.of(1, 2), rows.stream().map(InputRow::getLineNumber).toList());
    }
}
