package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import java.util.Map;
import org.junit.jupiter.api.Test;

class OpenAiObjectsTest {
    private static final StoredBatch RUNNING = new StoredBatch("batch_abc", "demo", "file-1", "/v1/embeddings", "24h", 1000,
            Map.of("k", "v"), "all-MiniLM-L6-v2", 40, 3, 16, 524288, 200, 8000, "00", null, null, null, null, 0, 0, null);

    private static JobStatus status(JobState s, int completed, int failed, String error) {
        return JobStatus.newBuilder().setJobId("batch_abc").setCustomerId("demo").setState(s).setRowCount(40)
                .setCompletedRows(completed).setFailedRows(failed).setShardCount(3).setShardsDone(0).setSpentMicros(0)
                .setError(error).setUpdatedAtMs(5_000_000).build();
    }

    @Test
    void aBatchIsValidatingUntilItsFirstJobStatus() {
        ObjectNode o = OpenAiObjects.batch(RUNNING, null);
        assertEquals("validating", o.get("status").asText());
        assertEquals(40, o.at("/request_counts/total").asInt());
        assertEquals(0, o.at("/request_counts/completed").asInt());
        assertTrue(o.get("in_progress_at").isNull());
        assertEquals(1000 + 24 * 3600, o.get("expires_at").asLong());
        assertEquals("v", o.at("/metadata/k").asText());
    }

    @Test
    void progressComesFromTheLatestJobStatus() {
        ObjectNode o = OpenAiObjects.batch(RUNNING, status(JobState.IN_PROGRESS, 16, 1, null));
        assertEquals("in_progress", o.get("status").asText());
        assertEquals(16, o.at("/request_counts/completed").asInt());
        assertEquals(1, o.at("/request_counts/failed").asInt());
        assertEquals(1000, o.get("in_progress_at").asLong());
    }

    @Test
    void terminalJobStatesReadFinalizingUntilTheFilesAreWritten() {
        assertEquals("finalizing", OpenAiObjects.batch(RUNNING, status(JobState.COMPLETED, 40, 0, null)).get("status").asText());
        assertEquals("finalizing", OpenAiObjects.batch(RUNNING, status(JobState.EXPIRED, 3, 0, "late")).get("status").asText());
        assertEquals("cancelling", OpenAiObjects.batch(RUNNING, status(JobState.CANCELLED, 0, 0, null)).get("status").asText());
        ObjectNode failed = OpenAiObjects.batch(RUNNING, status(JobState.FAILED, 0, 0, "no node serves the model"));
        assertEquals("no node serves the model", failed.at("/errors/data/0/message").asText());
    }

    @Test
    void aFinalizedBatchShowsItsFilesCountsAndEndTime() {
        StoredBatch done = RUNNING.finalize("completed", 2000, "file-out-abc", null, 40, 0, null);
        ObjectNode o = OpenAiObjects.batch(done, null);
        assertEquals("completed", o.get("status").asText());
        assertEquals("file-out-abc", o.get("output_file_id").asText());
        assertTrue(o.get("error_file_id").isNull());
        assertEquals(2000, o.get("completed_at").asLong());
        assertTrue(o.get("failed_at").isNull());
        assertEquals(40, o.at("/request_counts/completed").asInt());
    }

    @Test
    void invalidFileErrorListsFirstLineAndEveryListedError() throws Exception {
        BatchFileValidator.Result r = new BatchFileValidator(BatchFileValidator.Limits.DEFAULT)
                .validate(Jsonl.stream(Jsonl.join(Jsonl.line("a", "x"), "oops", Jsonl.line("a", "y"))));
        ObjectNode body = OpenAiObjects.invalidBatchFile(r);
        assertEquals("invalid_request_error", body.at("/error/type").asText());
        assertEquals("invalid_batch_file", body.at("/error/code").asText());
        assertEquals(2, body.at("/error/line").asInt());
        assertEquals(2, body.at("/error/errors").size());
        assertEquals(3, body.at("/error/errors/1/line").asInt());
    }

    @Test
    void uploadedFileNamesLoseTheirPathQuotesAndControlCharacters() {
        assertEquals("b.jsonl", BatchService.safeFilename("../../a/b.jsonl"));
        assertEquals("x.jsonl", BatchService.safeFilename("C:\\\\tmp\\\\x.jsonl"));
        assertEquals("evilname.jsonl", BatchService.safeFilename("evil\r\nname\".jsonl"));
        assertEquals("batch.jsonl", BatchService.safeFilename(null));
    }
}
