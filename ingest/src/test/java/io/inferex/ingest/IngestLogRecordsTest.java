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

    @Test
    void aBatchOutputInTheLogIsTakenOnlyUnderItsBatchsOutputOrErrorId() {
        IngestFile out = IngestFile.newBuilder(file("file-out-0123abcd", "batch_0123abcd_output.jsonl"))
                .setPurpose(StoredFile.PURPOSE_OUTPUT).setBatchId("batch_0123abcd").build();
        assertNull(IngestLog.fileProblem("file-out-0123abcd", out));
        assertNull(IngestLog.fileProblem("file-err-0123abcd", IngestFile.newBuilder(out).setFileId("file-err-0123abcd").build()));
        String other = IngestLog.fileProblem("file-out-0123abcd", IngestFile.newBuilder(out).setBatchId("batch_ffff").build());
        assertTrue(other != null && other.contains("suffix"), "another batch's output id: " + other);
        String plain = IngestLog.fileProblem("file-0123abcd", IngestFile.newBuilder(out).setFileId("file-0123abcd").build());
        assertTrue(plain != null && plain.contains("file-out-"), "an output under an input's id: " + plain);
        String noBatch = IngestLog.fileProblem("file-out-0123abcd", IngestFile.newBuilder(out).setBatchId(null).build());
        assertTrue(noBatch != null, "an output of no batch");
    }

    private static IngestBatch outcome(String status, String verification, String out, String err, int completed, int failed) {
        StoredBatch b = new StoredBatch("batch_0123abcd", "demo", "file-0123abcd", "/v1/embeddings", "24h", 1_764_000_000L, null,
                "all-MiniLM-L6-v2", 32, 2, 16, 1 << 19, 100, 3200L, SHA, null, null, null, null, 0, 0, null)
                .withRequests(32, List.of()).finalize(status, 1_764_000_100L, out, err, completed, failed, null)
                .withVerification(verification, 0, 0);
        return IngestLog.outcomeRecord(batch(32, 32, 2, null), b);
    }

    @Test
    void aBatchOutcomeIsRefusedUnlessItIsAnEndWhoseLinesAndFilesAreTheBatchs() {
        assertNull(IngestLog.batchProblem("batch_0123abcd", outcome("completed", "final", "file-out-0123abcd", null, 32, 0)));
        assertNull(IngestLog.batchProblem("batch_0123abcd", outcome("expired", "provisional", "file-out-0123abcd", "file-err-0123abcd",
                20, 12)));
        assertNull(IngestLog.batchProblem("batch_0123abcd", outcome("failed", "provisional", null, "file-err-0123abcd", 0, 32)));
        Map<String, IngestBatch> refused = Map.of(
                "terminal", outcome("in_progress", "provisional", "file-out-0123abcd", null, 32, 0),
                "verification is final", outcome("completed", "provisional", "file-out-0123abcd", null, 32, 0),
                "add up", outcome("completed", "final", "file-out-0123abcd", null, 31, 0),
                "not the batch's", outcome("completed", "final", "file-out-ffff", null, 32, 0),
                "exactly when", outcome("expired", "provisional", "file-out-0123abcd", null, 20, 12));
        refused.forEach((why, record) -> {
            String problem = IngestLog.batchProblem("batch_0123abcd", record);
            assertTrue(problem != null && problem.contains(why), why + ": " + problem);
        });
        IngestBatch negative = IngestBatch.newBuilder(outcome("completed", "final", "file-out-0123abcd", null, 32, 0)).build();
        negative.getOutcome().setPromptTokens(-1);
        assertTrue(IngestLog.batchProblem("batch_0123abcd", negative) != null, "negative tokens");
    }
}
