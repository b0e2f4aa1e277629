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
            int bytes = s.stream().mapToInt(l -> ShardPlanner.lineBytes(l)).sum();
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
    void anArrayLinesRowsStayInOneShardAndALineOverTheRowLimitIsAShardOfItsOwn() {
        List<RequestLine> in = new ArrayList<>(lines(3, 5));
        in.add(new RequestLine(4, "arr", List.of("a", "b", "c"), EncodingFormat.FLOAT));
        in.add(new RequestLine(5, "big", List.of("1", "2", "3", "4", "5", "6"), EncodingFormat.FLOAT));
        in.add(new RequestLine(6, "id-6", "x", EncodingFormat.FLOAT));
        List<List<RequestLine>> shards = new ShardPlanner(4, 512 * 1024).split(in);
        // rows: 1+1+1 | 3 (three plus three is over 4) | 6 alone | 1
        assertEquals(List.of(List.of(1, 2, 3), List.of(4), List.of(5), List.of(6)),
                shards.stream().map(s -> s.stream().map(RequestLine::lineNumber).toList()).toList());
        ShardTask t = ShardPlanner.task("batch_j", 2, 4, "m", "m@local", 200, shards.get(2), 1L);
        assertEquals(6, t.getRows().size(), "one input row per element, same custom_id and line number");
        assertEquals(List.of("1", "2", "3", "4", "5", "6"), t.getRows().stream().map(InputRow::getInput).toList());
        assertTrue(t.getRows().stream().allMatch(r -> r.getCustomId().equals("big") && r.getLineNumber() == 5));
        assertEquals(3 * ("arr".length() + ShardPlanner.ROW_OVERHEAD_BYTES + 1), ShardPlanner.lineBytes(in.get(3)),
                "the custom_id travels with every row");
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
