package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.IngestBatch;
import io.inferex.events.IngestFile;
import io.inferex.topics.Topics;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What a record on ingest's own topics may say before an instance acts on it (IngestLog's checks). */
class IngestLogRecordsTest {
    private static final String SHA = "ab".repeat(32);

    private static IngestBatch batch(int rows, int requests, int shards, List<Integer> shardLines) {
        StoredBatch b = new StoredBatch("batch_0123abcd", "demo", "file-0123abcd", "/v1/embeddings", "24h", 1_764_000_000L, Map.of(),
                "all-MiniLM-L6-v2", rows, shards, 16, 1 << 19, 100, rows * 100L, SHA, null, null, null, null, 0, 0, null)
                .withRequests(requests, shardLines);
        byte[] bytes = IngestLog.batchRecord(b, null, null).value();
        return (IngestBatch) Topics.INGEST_BATCHES.valueSerde().deserializer().deserialize(Topics.INGEST_BATCHES.name(), bytes);
    }

    private static IngestFile file(String id, String filename) {
        return IngestFile.newBuilder().setFileId(id).setCustomerId("demo").setPurpose(StoredFile.PURPOSE_BATCH).setFilename(filename)
                .setBytes(10).setCreatedAtSeconds(1_764_000_000L).setSha256(SHA).setLines(1).setBatchId(null).setPlan(null)
                .setChunkPartition(0).setChunkOffsets(List.of(0L)).setDeletedAtMs(null).build();
    }

    @Test
    void aBatchRecordIsRefusedWhenItsSizesTimeOrShardLinesCouldNotComeFromIngest() {
        assertNull(IngestLog.batchProblem("batch_0123abcd", batch(32, 32, 2, null)), "a batch of one row per line");
        assertNull(IngestLog.batchProblem("batch_0123abcd", batch(40, 20, 2, List.of(10, 10))), "array lines: shard lines given");

        IngestBatch ok = batch(32, 32, 2, null);
        String huge = IngestLog.batchProblem("batch_0123abcd", IngestBatch.newBuilder(ok).setRowCount(Integer.MAX_VALUE)
                .setRequestCount(Integer.MAX_VALUE).setShardCount(Integer.MAX_VALUE).setMaxPricePerRowMicros(0).setEscrowMicros(0).build());
        assertTrue(huge != null && huge.contains("at most"), "2^31 shards at price 0 would be allocated per shard: " + huge);
        String rows = IngestLog.batchProblem("batch_0123abcd", IngestBatch.newBuilder(ok).setRowCount(32 * 129).setEscrowMicros(32 * 129 * 100L)
                .build());
        assertTrue(rows != null && rows.contains("rows per line"), rows);
        String future = IngestLog.batchProblem("batch_0123abcd", IngestBatch.newBuilder(ok).setCreatedAtSeconds(Long.MAX_VALUE / 10).build());
        assertTrue(future != null && future.contains("after 2100"), "the replay start would overflow: " + future);
        String lines = IngestLog.batchProblem("batch_0123abcd", IngestBatch.newBuilder(batch(40, 20, 2, List.of(10, 10))).setShardLines(null)
                .build());
        assertTrue(lines != null && lines.contains("shard lines"), lines);
    }

    @Test
    void aFileRecordUnderAnOutputIdOrWithAControlCharacterInItsNameIsRefused() {
        assertNull(IngestLog.fileProblem("file-0123abcd", file("file-0123abcd", "input.jsonl")));
        String shadow = IngestLog.fileProblem("file-out-0123abcd", file("file-out-0123abcd", "input.jsonl"));
        assertTrue(shadow != null && shadow.contains("output"), shadow);
        String err = IngestLog.fileProblem("file-err-0123abcd", file("file-err-0123abcd", "input.jsonl"));
        assertTrue(err != null && err.contains("output"), err);
        String header = IngestLog.fileProblem("file-0123abcd", file("file-0123abcd", "a\r\nSet-Cookie: x"));
        assertTrue(header != null && header.contains("control character"), header);
        assertNull(IngestLog.fileProblem("file-out-0123abcd", IngestFile.newBuilder(file("file-out-0123abcd", "x"))
                .setDeletedAtMs(1L).build()), "an output's deletion is published like any file's");
    }
}
