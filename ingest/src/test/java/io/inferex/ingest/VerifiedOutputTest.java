package io.inferex.ingest;

import static io.inferex.ingest.Results.bytes;
import static io.inferex.ingest.Results.result;
import static io.inferex.ingest.Results.verdict;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.OutcomeKind;
import io.inferex.events.ShardResult;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.OutputDigest;
import io.inferex.market.VerificationIds;
import java.io.IOException;
import java.lang.reflect.Proxy;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The output file's per-line verification, on a real data dir: written provisional once every
 * shard is accepted, rewritten in place (same file id) final once the job is COMPLETED, with a
 * FRAUD shard's lines replaced by the referee result the outcome names (lease AND recomputed
 * digest), never by a forged one. Records are fed to the books as {@link MarketTracker} does.
 */
class VerifiedOutputTest {
    private static final String JOB = "batch_verify";
    private static final int SHARDS = 3; // 5 lines in shards of 2: [1,2] [3,4] [5]
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private FileStore store;
    private IngestStore stores;
    private DiskSpool spool;
    private VerificationBook verification;
    private JobBook book;
    private final List<ShardResult> executed = new ArrayList<>();

    @BeforeEach
    void init() throws IOException {
        stores = new IngestStore();
        stores.config = (IngestConfig) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {IngestConfig.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "dataDir" -> dir.toString();
                    case "maxLineBytes" -> 65536;
                    default -> throw new UnsupportedOperationException(method.getName());
                });
        stores.models = new ModelFeed(); // not started: the built-in models only
        stores.init();
        store = stores.store();
        Path input = store.newTempFile(".in");
        Files.writeString(input, Jsonl.file("doc", 5));
        store.addFile(new StoredFile("file-in", "demo", StoredFile.PURPOSE_BATCH, "in.jsonl", Files.size(input), 1, "00", 5,
                null), input);
        store.saveBatch(new StoredBatch(JOB, "demo", "file-in", "/v1/embeddings", "24h", 1, null, Jsonl.MODEL, 5, SHARDS, 2,
                512 * 1024, 200, 1000, "00", null, null, null, null, 0, 0, null));
        spool = new DiskSpool(store);
        verification = new VerificationBook(spool);
        book = new JobBook(verification.watching(spool));
        book.track(JOB, SHARDS);
        verification.track(JOB, SHARDS);
        executed.add(result(JOB, 0, SHARDS, 1, List.of("doc-1", "doc-2"), 0));
        executed.add(result(JOB, 1, SHARDS, 1, List.of("doc-3", "doc-4"), 0.25f)); // the cheat's rows
        executed.add(result(JOB, 2, SHARDS, 1, List.of("doc-5"), 0));
    }

    // --- feeding, as MarketTracker.handle and schedule do (the writes run inline here) ---

    private void acceptAll() throws IOException {
        for (ShardResult r : executed) {
            feedResult(r);
            Optional<JobBook.Ready> ready = book.onVerdict(verdict(r, VerdictOutcome.ACCEPTED));
            if (ready.isPresent()) {
                stores.writeOutput(ready.get(), spool, 1_000);
                write(verification.onOutputWritten(JOB));
            }
        }
    }

    private void feedResult(ShardResult r) throws IOException {
        String digest = OutputDigest.of(r.getRows());
        if (VerificationIds.isVerification(r.getTaskId())) {
            write(verification.onRefereeResult(r.getJobId(), r.getTaskId(), r.getLeaseId(), digest, bytes(r)));
        } else {
            book.onResult(r.getJobId(), r.getTaskId(), r.getLeaseId(), r.getShardIndex(), digest, bytes(r), new JobBook.Position(0, 0));
        }
    }

    private void outcome(VerificationOutcome o) throws IOException {
        write(verification.onOutcome(o));
    }

    private void completed() throws IOException {
        write(verification.onStatus(JobStatus.newBuilder().setJobId(JOB).setCustomerId("demo").setState(JobState.COMPLETED)
                .setRowCount(5).setCompletedRows(5).setFailedRows(0).setShardCount(SHARDS).setShardsDone(SHARDS)
                .setSpentMicros(0).setError(null).setUpdatedAtMs(1).build()));
    }

    private void write(Optional<VerificationBook.Final> done) throws IOException {
        if (done.isPresent()) {
            stores.writeVerified(done.get(), spool);
        }
    }

    /** A referee's re-execution of shard 1 (round {@code round}) with rows offset by {@code salt}. */
    private static ShardResult referee(int round, float salt) {
        ShardResult base = result(JOB, 1, SHARDS, 1, List.of("doc-3", "doc-4"), salt);
        String taskId = VerificationIds.referee(base.getTaskId(), round);
        return ShardResult.newBuilder(base).setTaskId(taskId).setLeaseId(taskId + "#1").setNodeId("node-referee-" + round)
                .build();
    }

    private static ShardResult withRows(ShardResult r, float salt) {
        List<EmbeddingRow> rows = r.getRows().stream().map(row -> EmbeddingRow.newBuilder(row)
                .setEmbedding(Results.vector(row.getCustomId(), salt)).build()).toList();
        return ShardResult.newBuilder(r).setRows(rows).setOutputDigest(r.getOutputDigest()).build(); // claims the old digest
    }

    private StoredBatch batch() {
        return store.batch(JOB).orElseThrow();
    }

    private List<JsonNode> outputLines() throws IOException {
        StoredFile f = store.file(batch().outputFileId()).orElseThrow();
        List<JsonNode> lines = new ArrayList<>();
        for (String l : Files.readString(store.content(f), StandardCharsets.UTF_8).split("\n")) {
            lines.add(JSON.readTree(l));
        }
        assertEquals(f.bytes(), Files.size(store.content(f)), "the file object's size is the content's");
        return lines;
    }

    private static List<Float> embedding(JsonNode line) {
        List<Float> v = new ArrayList<>();
        line.at("/response/body/data/0/embedding").forEach(n -> v.add(n.floatValue()));
        return v;
    }

    // --- tests ---

    @Test
    void outputIsProvisionalOnceEveryShardIsAcceptedAndFinalInTheSameFileOnceCompleted() throws IOException {
        acceptAll();
        try (var held = Files.list(store.spoolDir(JOB).resolve("held"))) {
            assertEquals(0, held.count(), "each result waited on disk and moved to its shard's file when accepted");
        }
        StoredBatch first = batch();
        assertEquals("completed", first.finalStatus());
        assertEquals(OutputFileWriter.PROVISIONAL, first.verification());
        String fileId = first.outputFileId();
        List<JsonNode> provisional = outputLines();
        assertEquals(5, provisional.size());
        for (JsonNode line : provisional) {
            assertEquals("provisional", line.at("/inferex/verification").asText());
        }
        JsonNode l3 = provisional.get(2);
        assertEquals("node-1", l3.at("/inferex/node_id").asText());
        assertEquals(executed.get(1).getLeaseId(), l3.at("/inferex/lease_id").asText());
        assertEquals(OutputDigest.of(executed.get(1).getRows()), l3.at("/inferex/result_digest").asText());
        assertEquals("provisional", OpenAiObjects.batch(first, null).at("/inferex/verification").asText());

        for (ShardResult r : executed) {
            outcome(Results.outcome(r, OutcomeKind.FINAL, null));
        }
        assertEquals(OutputFileWriter.PROVISIONAL, batch().verification(), "not final before the job is COMPLETED");
        completed();

        StoredBatch done = batch();
        assertEquals(OutputFileWriter.FINAL, done.verification());
        assertEquals(fileId, done.outputFileId(), "rewritten under the same file id");
        List<JsonNode> fin = outputLines();
        assertEquals(5, fin.size());
        for (int i = 0; i < 5; i++) {
            assertEquals("final", fin.get(i).at("/inferex/verification").asText());
            assertEquals(provisional.get(i).get("custom_id"), fin.get(i).get("custom_id"));
            assertEquals(provisional.get(i).get("response"), fin.get(i).get("response"), "the rows are unchanged");
        }
        assertEquals("final", OpenAiObjects.batch(done, null).at("/inferex/verification").asText());
        assertEquals(0, OpenAiObjects.batch(done, null).at("/inferex/corrected_lines").asInt());
        assertFalse(Files.exists(store.spoolDir(JOB)), "the spool is cleared once final");
        assertFalse(verification.tracks(JOB));
    }

    @Test
    void aFraudShardsLinesCarryTheNamedRefereesRowsAndAForgedResultOfTheSameLeaseIsNeverUsed() throws IOException {
        ShardResult honest = referee(2, 0);
        ShardResult forged = withRows(honest, 9f); // the referee's lease, other rows
        acceptAll();
        feedResult(forged);
        outcome(Results.outcome(executed.get(0), OutcomeKind.FINAL, null));
        outcome(Results.outcome(executed.get(1), OutcomeKind.FRAUD, honest));
        outcome(Results.outcome(executed.get(2), OutcomeKind.FINAL, null));
        completed();
        assertEquals(OutputFileWriter.PROVISIONAL, batch().verification(), "waits for the named correction");
        feedResult(forged);
        feedResult(referee(1, 3f)); // another referee's (outvoted) result: not named
        assertEquals(OutputFileWriter.PROVISIONAL, batch().verification());
        feedResult(honest);

        StoredBatch done = batch();
        assertEquals(OutputFileWriter.FINAL, done.verification());
        assertEquals(2, done.correctedLines());
        List<JsonNode> lines = outputLines();
        for (int i : new int[] {2, 3}) {
            JsonNode line = lines.get(i);
            assertEquals("corrected", line.at("/inferex/verification").asText());
            assertEquals(Results.vector(line.get("custom_id").asText(), 0), embedding(line), "the referee's rows");
            assertNotEquals(Results.vector(line.get("custom_id").asText(), 0.25f), embedding(line));
            assertEquals("node-referee-2", line.at("/inferex/node_id").asText());
            assertEquals(honest.getLeaseId(), line.at("/inferex/lease_id").asText());
            assertEquals(honest.getLeaseId(), line.at("/response/request_id").asText());
            assertEquals(OutputDigest.of(honest.getRows()), line.at("/inferex/result_digest").asText());
            assertEquals("node-1", line.at("/inferex/replaced_node_id").asText());
            assertEquals(executed.get(1).getLeaseId(), line.at("/inferex/replaced_lease_id").asText());
            assertEquals(OutputDigest.of(executed.get(1).getRows()), line.at("/inferex/replaced_result_digest").asText());
        }
        for (int i : new int[] {0, 1, 4}) {
            assertEquals("final", lines.get(i).at("/inferex/verification").asText());
        }
        JsonNode batch = OpenAiObjects.batch(done, null);
        assertEquals("final", batch.at("/inferex/verification").asText());
        assertEquals(2, batch.at("/inferex/corrected_lines").asInt());
        assertTrue(batch.at("/inferex/uncorrected_lines").isMissingNode());

        StoredBatch reloaded = new FileStore(dir).batch(JOB).orElseThrow();
        assertEquals(done, reloaded, "the verification state survives a restart");
    }

    @Test
    void aFraudWhoseCorrectionNeverArrivesKeepsTheOriginalRowsAndSaysSoOnceTheLogIsReadPastCompletion()
            throws IOException {
        ShardResult honest = referee(1, 0);
        acceptAll();
        feedResult(withRows(honest, 5f)); // only a forgery of the named lease ever comes
        for (ShardResult r : executed) {
            outcome(Results.outcome(r, r == executed.get(1) ? OutcomeKind.FRAUD : OutcomeKind.FINAL, r == executed.get(1) ? honest : null));
        }
        completed();
        assertTrue(verification.awaitsLog(JOB));
        assertEquals(OutputFileWriter.PROVISIONAL, batch().verification());
        write(verification.onLogReadPastCompletion(JOB));

        StoredBatch done = batch();
        assertEquals(OutputFileWriter.FINAL, done.verification());
        assertEquals(0, done.correctedLines());
        assertEquals(2, done.uncorrectedLines());
        List<JsonNode> lines = outputLines();
        for (int i : new int[] {2, 3}) {
            JsonNode line = lines.get(i);
            assertEquals("fraud_uncorrected", line.at("/inferex/verification").asText());
            assertEquals(Results.vector(line.get("custom_id").asText(), 0.25f), embedding(line), "the line as it was");
            assertEquals(executed.get(1).getLeaseId(), line.at("/inferex/lease_id").asText());
        }
        assertEquals(2, OpenAiObjects.batch(done, null).at("/inferex/uncorrected_lines").asInt());
    }

    @Test
    void aFinalOutcomeReadBeforeTheAcceptedVerdictCountsAndAShardWithoutOutcomeStaysProvisional() throws IOException {
        outcome(Results.outcome(executed.get(0), OutcomeKind.FINAL, null)); // before its verdict (other partition)
        acceptAll();
        outcome(Results.outcome(executed.get(1), OutcomeKind.FINAL, null));
        completed();
        assertEquals(OutputFileWriter.PROVISIONAL, batch().verification(), "shard 2 has no outcome yet");
        write(verification.onLogReadPastCompletion(JOB));
        List<String> states = outputLines().stream().map(l -> l.at("/inferex/verification").asText()).toList();
        assertEquals(List.of("final", "final", "final", "final", "provisional"), states);
        assertEquals(OutputFileWriter.FINAL, batch().verification());
    }

    @Test
    void refereeResultsAreHeldOnDiskBoundedPerShardAndOnlyTheNamedOneIsKeptOnceTheShardIsDecided() throws IOException {
        acceptAll();
        ShardResult honest = referee(3, 0);
        for (int k = 0; k < VerificationBook.MAX_REFEREE_RESULTS_PER_SHARD + 4; k++) {
            feedResult(withRows(honest, 10 + k));
        }
        assertEquals(VerificationBook.MAX_REFEREE_RESULTS_PER_SHARD, verification.refereeResultsHeld());
        assertEquals(4, verification.refereeResultsRefused());
        feedResult(result(JOB, 1, SHARDS, 7, List.of("doc-3", "doc-4"), 0)); // a shard lease, not a referee: not held
        assertEquals(VerificationBook.MAX_REFEREE_RESULTS_PER_SHARD, verification.refereeResultsHeld());
        outcome(Results.outcome(executed.get(1), OutcomeKind.FRAUD, honest));
        assertEquals(0, verification.refereeResultsHeld(), "none of the held ones is the named correction");
        try (var files = Files.list(store.spoolDir(JOB).resolve("referee"))) {
            assertEquals(0, files.count(), "the dropped ones are deleted from disk");
        }
        feedResult(withRows(honest, 99f));
        assertEquals(0, verification.refereeResultsHeld(), "once decided, only the named result is taken");
        feedResult(honest);
        assertEquals(1, verification.refereeResultsHeld());
    }

    @Test
    void aJobThatEndsWithoutSuccessIsNotFollowedForVerification() throws IOException {
        verification.onStatus(JobStatus.newBuilder().setJobId(JOB).setCustomerId("demo").setState(JobState.EXPIRED)
                .setRowCount(5).setCompletedRows(0).setFailedRows(0).setShardCount(SHARDS).setShardsDone(0)
                .setSpentMicros(0).setError(null).setUpdatedAtMs(1).build());
        assertFalse(verification.tracks(JOB));
    }
}
