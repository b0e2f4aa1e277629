package io.inferex.ingest;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.nullValue;
import static org.hamcrest.Matchers.startsWith;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.inferex.deadletter.DeadLetters;
import io.inferex.events.InputRow;
import io.inferex.events.JobState;
import io.inferex.events.JobCancelRequested;
import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.events.OutcomeKind;
import io.inferex.events.ShardResult;
import io.inferex.events.ShardTask;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.local.EmbeddedKafkaTestResource;
import io.inferex.market.OutputDigest;
import io.inferex.market.VerificationIds;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.response.Response;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Properties;
import java.util.stream.Collectors;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

@QuarkusTest
@QuarkusTestResource(value = EmbeddedKafkaTestResource.class, initArgs = @io.quarkus.test.common.ResourceArg(name = "principal", value = "ingest"))
@QuarkusTestResource(FreshDataDir.class)
class IngestApiTest {
    static final String DEMO = "sk-inferex-demo";
    static final String ACME = "sk-inferex-acme-test";
    /** A customer only the listing tests use, so their lists hold only what they created. */
    static final String PAGER = "sk-inferex-pager-test";
    /** A customer only the challenge test uses, so its balance is what that test gives it. */
    static final String CHALLENGER = "sk-inferex-challenger-test";
    /** A customer only the insufficient-funds test uses: it starts with nothing. */
    static final String BROKE = "sk-inferex-broke-test";
    /** A customer only the budget test uses. */
    static final String THRIFTY = "sk-inferex-thrifty-test";
    private static final ObjectMapper JSON = new ObjectMapper();

    @jakarta.inject.Inject
    MarketTracker tracker;

    @BeforeEach
    public void awaitReady() throws InterruptedException {
        long deadline = System.currentTimeMillis() + 60_000;
        while (given().get("/q/health/ready").statusCode() != 200) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("ingest not ready: " + given().get("/q/health/ready").asString());
            }
            Thread.sleep(100);
        }
        TestFunds.fundTestCustomers();
    }

    static Response upload(String key, String content, String filename) {
        return given().header("Authorization", "Bearer " + key)
                .multiPart("file", filename, content.getBytes(StandardCharsets.UTF_8), "application/jsonl")
                .multiPart("purpose", "batch")
                .post("/v1/files");
    }

    static Response createBatch(String key, String fileId) {
        return given().header("Authorization", "Bearer " + key).contentType("application/json")
                .body("{\"input_file_id\":\"" + fileId + "\",\"endpoint\":\"/v1/embeddings\",\"completion_window\":\"24h\","
                        + "\"metadata\":{\"team\":\"search\"}}")
                .post("/v1/batches");
    }

    /** Uploads {@code n} lines and creates a batch of them as demo; returns the batch id. */
    static String submit(String prefix, int n) {
        String fileId = upload(DEMO, Jsonl.file(prefix, n), prefix + ".jsonl").then().statusCode(200)
                .extract().path("id");
        return createBatch(DEMO, fileId).then().statusCode(200).extract().path("id");
    }

    static <V> List<V> values(Topic<String, V> topic, List<ConsumerRecord<byte[], byte[]>> records) {
        return records.stream().filter(r -> r.topic().equals(topic.name()))
                .map(r -> topic.valueSerde().deserializer().deserialize(topic.name(), r.value())).toList();
    }

    @Test
    void uploadAndCreateBatchPublishExactlyOneJobAndAllItsShardsWithRightRowsKeysAndCounts() {
        String content = Jsonl.file("pub", 40);
        Response file = upload(DEMO, content, "pub.jsonl");
        file.then().statusCode(200)
                .body("object", equalTo("file"))
                .body("id", startsWith("file-"))
                .body("bytes", equalTo(content.getBytes(StandardCharsets.UTF_8).length))
                .body("filename", equalTo("pub.jsonl"))
                .body("purpose", equalTo("batch"))
                .body("status", equalTo("processed"));
        String fileId = file.path("id");

        Response batch = createBatch(DEMO, fileId);
        batch.then().statusCode(200)
                .body("object", equalTo("batch"))
                .body("id", startsWith("batch_"))
                .body("endpoint", equalTo("/v1/embeddings"))
                .body("input_file_id", equalTo(fileId))
                .body("completion_window", equalTo("24h"))
                .body("status", equalTo("validating"))
                .body("request_counts.total", equalTo(40))
                .body("request_counts.completed", equalTo(0))
                .body("output_file_id", nullValue())
                .body("metadata.team", equalTo("search"));
        String jobId = batch.path("id");

        List<ConsumerRecord<byte[], byte[]>> records = TopicReader.readAll(Topics.JOBS.name(), Topics.SHARD_TASKS.name());
        List<ConsumerRecord<byte[], byte[]>> jobRecords = records.stream()
                .filter(r -> r.topic().equals(Topics.JOBS.name()) && jobId.equals(new String(r.key(), StandardCharsets.UTF_8)))
                .toList();
        assertEquals(1, jobRecords.size(), "exactly one JobSubmitted keyed by the job id");
        JobSubmitted job = Topics.JOBS.valueSerde().deserializer().deserialize(Topics.JOBS.name(), jobRecords.get(0).value());
        assertEquals("demo", job.getCustomerId());
        assertEquals(fileId, job.getInputFileId());
        assertEquals("all-MiniLM-L6-v2", job.getModel());
        assertEquals(40, job.getRowCount());
        assertEquals(3, job.getShardCount());
        assertEquals(200, job.getMaxPricePerRowMicros());
        assertEquals(40 * 200, job.getEscrowMicros());
        assertEquals(OutputDigest.sha256Hex(content.getBytes(StandardCharsets.UTF_8)), job.getInputDigest());
        assertEquals("search", job.getMetadata().get("team"));

        List<ConsumerRecord<byte[], byte[]>> shardRecords = records.stream()
                .filter(r -> r.topic().equals(Topics.SHARD_TASKS.name())).filter(r -> Topics.SHARD_TASKS.valueSerde()
                        .deserializer().deserialize(r.topic(), r.value()).getJobId().equals(jobId))
                .toList();
        assertEquals(3, shardRecords.size(), "N ShardTasks for the job");
        List<ShardTask> shards = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : shardRecords) {
            assertEquals("all-MiniLM-L6-v2@local", new String(r.key(), StandardCharsets.UTF_8), "keyed by pool key");
            shards.add(Topics.SHARD_TASKS.valueSerde().deserializer().deserialize(r.topic(), r.value()));
        }
        shards.sort(Comparator.comparingInt(ShardTask::getShardIndex));
        assertEquals(List.of(jobId + "/00000", jobId + "/00001", jobId + "/00002"),
                shards.stream().map(ShardTask::getTaskId).toList());
        assertEquals(List.of(16, 16, 8), shards.stream().map(s -> s.getRows().size()).toList());
        List<InputRow> rows = shards.stream().flatMap(s -> s.getRows().stream()).toList();
        assertEquals(Jsonl.customIds("pub", 40), rows.stream().map(InputRow::getCustomId).toList());
        assertEquals(17, rows.get(16).getLineNumber());
        assertEquals("sentence number 17 of pub", rows.get(16).getInput());
        assertTrue(shards.stream().allMatch(s -> s.getShardCount() == 3 && s.getMaxPricePerRowMicros() == 200));
    }

    @Test
    void arrayInputsArePricedAndShardedAsRowsAndComeBackAsOneLineWithIndexesTokensAndBase64() throws Exception {
        StringBuilder file = new StringBuilder(Jsonl.arrayLine("arr-1", "a", "b", "c")).append('\n');
        for (int i = 2; i <= 10; i++) {
            file.append(Jsonl.line("s-" + i, "text " + i)).append('\n');
        }
        file.append(Jsonl.arrayLine("arr-11", "p", "q", "r", "s", "t").replace("\"input\"", "\"encoding_format\":\"base64\",\"input\""))
                .append('\n');
        for (int i = 12; i <= 20; i++) {
            file.append(Jsonl.line("s-" + i, "text " + i)).append('\n');
        }
        String fileId = upload(DEMO, file.toString(), "arrays.jsonl").then().statusCode(200).extract().path("id");
        Response created = createBatch(DEMO, fileId);
        created.then().statusCode(200).body("request_counts.total", equalTo(20)).body("usage", nullValue());
        String jobId = created.path("id");

        List<ConsumerRecord<byte[], byte[]>> records = TopicReader.readAll(Topics.JOBS.name(), Topics.SHARD_TASKS.name());
        JobSubmitted job = values(Topics.JOBS, records).stream().filter(j -> j.getJobId().equals(jobId)).findFirst().orElseThrow();
        assertEquals(26, job.getRowCount(), "a row per input: 3 + 9 + 5 + 9");
        assertEquals(26 * 200, job.getEscrowMicros(), "escrow prices every element");
        List<ShardTask> shards = values(Topics.SHARD_TASKS, records).stream().filter(t -> t.getJobId().equals(jobId))
                .sorted(Comparator.comparingInt(ShardTask::getShardIndex)).toList();
        // 16 rows per shard, lines never split: lines 1-10 (12 rows), then 11-20 (14 rows)
        assertEquals(List.of(12, 14), shards.stream().map(t -> t.getRows().size()).toList());
        assertEquals(List.of("arr-1", "arr-1", "arr-1", "s-2"), ids(shards.get(0)).subList(0, 4));
        assertEquals(List.of("a", "b", "c"), shards.get(0).getRows().subList(0, 3).stream().map(InputRow::getInput).toList());

        ShardResult r0 = Results.result(jobId, 0, 2, 1, ids(shards.get(0)), 0f);
        r0.setPromptTokens(java.util.Collections.nCopies(12, 3));
        ShardResult r1 = Results.result(jobId, 1, 2, 1, ids(shards.get(1)), 0f);
        r1.setPromptTokens(java.util.Collections.nCopies(14, 4));
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            send(p, Topics.JOB_STATUS, jobId, status(jobId, JobState.IN_PROGRESS, 0, 26));
            send(p, Topics.RESULTS, r0.getTaskId(), r0);
            send(p, Topics.VERDICTS, jobId, Results.verdict(r0, VerdictOutcome.ACCEPTED));
            send(p, Topics.JOB_STATUS, jobId, status(jobId, JobState.IN_PROGRESS, 12, 26));
            long deadline = System.currentTimeMillis() + 10_000;
            int completed = -1;
            while (completed != 10 && System.currentTimeMillis() < deadline) {
                Thread.sleep(50);
                completed = given().header("Authorization", "Bearer " + DEMO).get("/v1/batches/" + jobId).then()
                        .extract().path("request_counts.completed");
            }
            assertEquals(10, completed, "while running, request counts are lines (10 of shard 0), not rows (12)");
            send(p, Topics.RESULTS, r1.getTaskId(), r1);
            send(p, Topics.VERDICTS, jobId, Results.verdict(r1, VerdictOutcome.ACCEPTED));
            send(p, Topics.JOB_STATUS, jobId, status(jobId, JobState.FINALIZING, 26, 26));
        }
        JsonNode batch = awaitStatus(jobId, "completed", 20_000);
        assertEquals(20, batch.at("/request_counts/completed").asInt());
        assertEquals(12 * 3 + 14 * 4, batch.at("/usage/input_tokens").asInt(), batch.toString());
        assertEquals(12 * 3 + 14 * 4, batch.at("/usage/total_tokens").asInt());
        List<JsonNode> out = download(batch.get("output_file_id").asText());
        assertEquals(20, out.size(), "one output line per request line");
        JsonNode first = out.get(0).at("/response/body");
        assertEquals("arr-1", out.get(0).get("custom_id").asText());
        assertEquals(List.of(0, 1, 2), java.util.stream.StreamSupport.stream(first.get("data").spliterator(), false)
                .map(d -> d.get("index").asInt()).toList());
        assertEquals(384, first.at("/data/2/embedding").size());
        assertEquals(9, first.at("/usage/prompt_tokens").asInt(), "3 elements x 3 tokens");
        JsonNode b64 = out.get(10).at("/response/body");
        assertEquals("arr-11", out.get(10).get("custom_id").asText());
        assertEquals(5, b64.get("data").size());
        java.nio.ByteBuffer vec = java.nio.ByteBuffer.wrap(java.util.Base64.getDecoder().decode(b64.at("/data/4/embedding").asText()))
                .order(java.nio.ByteOrder.LITTLE_ENDIAN);
        assertEquals(Results.vector("arr-11", 0f).get(1), vec.getFloat(4), 0f, "little-endian float32");
        assertEquals(20, b64.at("/usage/total_tokens").asInt(), "5 elements x 4 tokens");
    }

    @Test
    void filesAreListedByPurposeOrderLimitAndCursorAndDeletedUnlessABatchStillReadsThem() throws Exception {
        List<String> mine = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            mine.add(upload(PAGER, Jsonl.file("pg" + i, 2), "pg" + i + ".jsonl").then().statusCode(200).extract().path("id"));
        }
        JsonNode all = JSON.readTree(given().header("Authorization", "Bearer " + PAGER).get("/v1/files").asString());
        List<String> ids = new ArrayList<>();
        all.get("data").forEach(f -> ids.add(f.get("id").asText()));
        assertTrue(ids.size() >= 3, all.toString());
        given().header("Authorization", "Bearer " + PAGER).queryParam("limit", 2).get("/v1/files").then().statusCode(200)
                .body("object", equalTo("list")).body("data.id", equalTo(ids.subList(0, 2)))
                .body("first_id", equalTo(ids.get(0))).body("last_id", equalTo(ids.get(1))).body("has_more", equalTo(true));
        given().header("Authorization", "Bearer " + PAGER).queryParam("limit", 2).queryParam("after", ids.get(ids.size() - 2))
                .get("/v1/files").then().statusCode(200)
                .body("data.id", equalTo(List.of(ids.get(ids.size() - 1)))).body("has_more", equalTo(false));
        List<String> reversed = new ArrayList<>(ids);
        java.util.Collections.reverse(reversed);
        given().header("Authorization", "Bearer " + PAGER).queryParam("order", "asc").get("/v1/files").then()
                .body("data.id", equalTo(reversed));
        given().header("Authorization", "Bearer " + PAGER).queryParam("purpose", "batch_output").get("/v1/files").then()
                .body("data", org.hamcrest.Matchers.empty()).body("first_id", nullValue()).body("has_more", equalTo(false));
        given().header("Authorization", "Bearer " + PAGER).queryParam("limit", 0).get("/v1/files").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error")).body("error.param", equalTo("limit"));
        given().header("Authorization", "Bearer " + PAGER).queryParam("order", "sideways").get("/v1/files").then().statusCode(400)
                .body("error.param", equalTo("order"));

        // This test's own files: another test's file of the same customer may be listed among them (same second) and be in use.
        String inUse = mine.get(2);
        createBatch(PAGER, inUse).then().statusCode(200);
        given().header("Authorization", "Bearer " + PAGER).delete("/v1/files/" + inUse).then().statusCode(409)
                .body("error.code", equalTo("file_in_use")).body("error.type", equalTo("invalid_request_error"));
        given().header("Authorization", "Bearer " + PAGER).get("/v1/files/" + inUse + "/content").then().statusCode(200);
        String unused = mine.get(1);
        given().header("Authorization", "Bearer " + ACME).delete("/v1/files/" + unused).then().statusCode(404)
                .body("error.type", equalTo("invalid_request_error"));
        given().header("Authorization", "Bearer " + PAGER).delete("/v1/files/" + unused).then().statusCode(200)
                .body("id", equalTo(unused)).body("object", equalTo("file")).body("deleted", equalTo(true));
        given().header("Authorization", "Bearer " + PAGER).get("/v1/files/" + unused).then().statusCode(404);
        given().header("Authorization", "Bearer " + PAGER).delete("/v1/files/" + unused).then().statusCode(404);
        given().header("Authorization", "Bearer " + PAGER).get("/v1/files").then()
                .body("data.id", org.hamcrest.Matchers.not(org.hamcrest.Matchers.hasItem(unused)));
        createBatch(PAGER, unused).then().statusCode(404).body("error.message", startsWith("No such File object"));
    }

    /** docs/architecture.md, "Metrics": what ingest wrote, by topic, and the HTTP server's own series. */
    @Test
    void prometheusMetricsCountTheJobsAndShardsWritten() throws Exception {
        submit("metrics", 20);
        String body = "";
        long deadline = System.nanoTime() + java.time.Duration.ofSeconds(30).toNanos();
        while (System.nanoTime() < deadline && !body.contains("inferex_records_out_total{topic=\"shard-tasks\"}")) {
            body = given().get("/q/metrics").then().statusCode(200).extract().asString();
            Thread.sleep(100);
        }
        for (String series : List.of("inferex_records_out_total{topic=\"jobs\"}", "inferex_records_out_total{topic=\"shard-tasks\"}",
                "http_server_requests_seconds_count")) {
            assertTrue(body.lines().anyMatch(l -> l.startsWith(series)), series + " in:\n" + body);
        }
    }

    @Test
    void wrongContentTypesUnknownUrlsAndMethodsAnswerInOpenAisErrorShape() {
        given().header("Authorization", "Bearer " + DEMO).contentType("application/json").body("{\"purpose\":\"batch\"}")
                .post("/v1/files").then().statusCode(415).contentType("application/json")
                .body("error.type", equalTo("invalid_request_error")).body("error.code", equalTo("unsupported_content_type"))
                .body("error.message", org.hamcrest.Matchers.containsString("multipart/form-data"));
        given().header("Authorization", "Bearer " + DEMO).get("/v1/nothing-here").then().statusCode(404)
                .contentType("application/json").body("error.message", equalTo("Invalid URL (GET /v1/nothing-here)"));
        given().header("Authorization", "Bearer " + DEMO).contentType("application/json").body("{}").put("/v1/batches").then()
                .statusCode(405).contentType("application/json").body("error.code", equalTo("method_not_allowed"));
    }

    @Test
    void batchesAreListedNewestFirstWithACursor() throws Exception {
        String fileId = upload(PAGER, Jsonl.file("bl", 2), "bl.jsonl").then().statusCode(200).extract().path("id");
        for (int i = 0; i < 3; i++) {
            createBatch(PAGER, fileId).then().statusCode(200);
        }
        JsonNode all = JSON.readTree(given().header("Authorization", "Bearer " + PAGER).queryParam("limit", 100)
                .get("/v1/batches").asString());
        List<String> ids = new ArrayList<>();
        all.get("data").forEach(b -> ids.add(b.get("id").asText()));
        assertTrue(ids.size() >= 3);
        List<String> paged = new ArrayList<>();
        String after = null;
        boolean more = true;
        while (more) {
            var req = given().header("Authorization", "Bearer " + PAGER).queryParam("limit", 2);
            JsonNode page = JSON.readTree((after == null ? req : req.queryParam("after", after)).get("/v1/batches").asString());
            page.get("data").forEach(b -> paged.add(b.get("id").asText()));
            assertEquals(page.at("/data/0/id").asText(), page.get("first_id").asText());
            after = page.get("last_id").asText();
            more = page.get("has_more").asBoolean();
        }
        assertEquals(ids, paged, "pages of 2 followed by last_id give the whole list once, in order");
        given().header("Authorization", "Bearer " + PAGER).queryParam("limit", 101).get("/v1/batches").then().statusCode(400)
                .body("error.param", equalTo("limit"));
    }

    @Test
    void anIdempotencyKeyRetryReturnsTheSameBatchPublishedOnceAndTheKeyWithAnotherRequestIs422() {
        String fileId = upload(DEMO, Jsonl.file("idem", 3), "idem.jsonl").then().statusCode(200).extract().path("id");
        String body = "{\"input_file_id\":\"" + fileId + "\",\"endpoint\":\"/v1/embeddings\",\"completion_window\":\"24h\","
                + "\"metadata\":{\"run\":\"1\"}}";
        String key = "retry-" + fileId;
        Response first = given().header("Authorization", "Bearer " + DEMO).header("Idempotency-Key", key)
                .contentType("application/json").body(body).post("/v1/batches");
        first.then().statusCode(200).header("Idempotent-Replayed", "false");
        String batchId = first.path("id");
        // the same request, its fields in another order: the same batch, not a second one
        String reordered = "{\"completion_window\":\"24h\",\"metadata\":{\"run\":\"1\"},\"endpoint\":\"/v1/embeddings\","
                + "\"input_file_id\":\"" + fileId + "\"}";
        for (String retry : List.of(body, reordered)) {
            given().header("Authorization", "Bearer " + DEMO).header("Idempotency-Key", key).contentType("application/json")
                    .body(retry).post("/v1/batches").then().statusCode(200)
                    .header("Idempotent-Replayed", "true").body("id", equalTo(batchId));
        }
        given().header("Authorization", "Bearer " + DEMO).header("Idempotency-Key", key).contentType("application/json")
                .body(body.replace("\"run\":\"1\"", "\"run\":\"2\"")).post("/v1/batches").then().statusCode(422)
                .body("error.type", equalTo("invalid_request_error")).body("error.code", equalTo("idempotency_key_reused"))
                .body("error.param", equalTo("Idempotency-Key"))
                .body("error.message", org.hamcrest.Matchers.containsString(batchId));
        // another customer's identical key is another key
        String acmeFile = upload(ACME, Jsonl.file("idem-acme", 1), "a.jsonl").then().statusCode(200).extract().path("id");
        String acmeBatch = given().header("Authorization", "Bearer " + ACME).header("Idempotency-Key", key)
                .contentType("application/json").body(body.replace(fileId, acmeFile)).post("/v1/batches").then()
                .statusCode(200).header("Idempotent-Replayed", "false").extract().path("id");
        assertFalse(acmeBatch.equals(batchId));
        given().header("Authorization", "Bearer " + DEMO).header("Idempotency-Key", "x".repeat(256))
                .contentType("application/json").body(body).post("/v1/batches").then().statusCode(400)
                .body("error.code", equalTo("invalid_idempotency_key"));

        List<JobSubmitted> jobs = values(Topics.JOBS, TopicReader.readAll(Topics.JOBS.name())).stream()
                .filter(j -> j.getInputFileId().equals(fileId)).toList();
        assertEquals(List.of(batchId), jobs.stream().map(JobSubmitted::getJobId).toList(), "one job published for the key");
    }

    @Test
    void aKeyTheOperatorIssuesAuthenticatesItsCustomerOnlyUntilRevokedAndSeesOnlyItsOwnObjects() throws Exception {
        java.util.Map<String, Object> operator = EmbeddedKafkaBroker.shared().clientConfig();
        String key = io.inferex.local.CustomerCommands.issue(operator, "issued-co");
        long deadline = System.currentTimeMillis() + 15_000;
        while (given().header("Authorization", "Bearer " + key).get("/v1/files").statusCode() != 200) {
            assertTrue(System.currentTimeMillis() < deadline, "the issued key never authenticated");
            Thread.sleep(50);
        }
        String own = upload(key, Jsonl.file("issued", 1), "issued.jsonl").then().statusCode(200).extract().path("id");
        String demosFile = upload(DEMO, Jsonl.file("demos", 1), "demos.jsonl").then().statusCode(200).extract().path("id");
        given().header("Authorization", "Bearer " + key).get("/v1/files/" + demosFile).then().statusCode(404);
        given().header("Authorization", "Bearer " + DEMO).get("/v1/files/" + own).then().statusCode(404);
        given().header("Authorization", "Bearer " + key).get("/v1/files").then()
                .body("data.id", equalTo(List.of(own)));
        String wrong = key.substring(0, key.length() - 1) + (key.endsWith("x") ? "y" : "x"); // a key ending in x stayed itself (1 run in 64)
        given().header("Authorization", "Bearer " + wrong).get("/v1/files").then()
                .statusCode(401).body("error.code", equalTo("invalid_api_key"));

        io.inferex.local.CustomerCommands.revoke(operator,
                List.of(io.inferex.security.CustomerKeys.keyId(io.inferex.security.CustomerKeys.sha256(key))));
        deadline = System.currentTimeMillis() + 15_000;
        while (given().header("Authorization", "Bearer " + key).get("/v1/files").statusCode() != 401) {
            assertTrue(System.currentTimeMillis() < deadline, "the revoked key still authenticates");
            Thread.sleep(50);
        }
        given().header("Authorization", "Bearer " + key).get("/v1/files/" + own).then().statusCode(401)
                .body("error.type", equalTo("invalid_request_error"));
    }

    @Test
    void anInvalidLineIs400NamingItsLineNumberAndNothingOfItIsPublished() {
        String bad = Jsonl.join(
                Jsonl.line("neverpub-1", "fine"),
                Jsonl.line("neverpub-2", "fine"),
                "{\"custom_id\":\"neverpub-3\",\"method\":\"POST\",\"url\":\"/v1/embeddings\","
                        + "\"body\":{\"model\":\"all-MiniLM-L6-v2\",\"dimensions\":256,\"input\":[\"a\",\"b\"]}}",
                Jsonl.line("neverpub-4", "fine"),
                Jsonl.line("neverpub-5", "fine").replace("POST", "GET"));
        long jobsBefore = TopicReader.readAll(Topics.JOBS.name()).size();
        long shardsBefore = TopicReader.readAll(Topics.SHARD_TASKS.name()).size();
        upload(DEMO, bad, "neverpub.jsonl").then().statusCode(400)
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.code", equalTo("invalid_batch_file"))
                .body("error.line", equalTo(3))
                .body("error.errors.line", equalTo(List.of(3, 5)))
                .body("error.errors[0].message", org.hamcrest.Matchers.containsString("body.dimensions is 256 but all-MiniLM-L6-v2 only produces 384"))
                .body("error.message", org.hamcrest.Matchers.containsString("line 3"));

        given().header("Authorization", "Bearer " + DEMO).get("/v1/files").then().statusCode(200)
                .body("data.filename", org.hamcrest.Matchers.not(org.hamcrest.Matchers.hasItem("neverpub.jsonl")));
        List<ConsumerRecord<byte[], byte[]>> records = TopicReader.readAll(Topics.JOBS.name(), Topics.SHARD_TASKS.name());
        assertTrue(values(Topics.SHARD_TASKS, records).stream().flatMap(t -> t.getRows().stream())
                .noneMatch(r -> r.getCustomId().startsWith("neverpub")), "no ShardTask carries a row of the refused file");
        assertEquals(jobsBefore, values(Topics.JOBS, records).size(), "no JobSubmitted was published");
        assertEquals(shardsBefore, values(Topics.SHARD_TASKS, records).size(), "no ShardTask was published");

        // A batch cannot be made of a file that was never stored, nor for another endpoint.
        createBatch(DEMO, "file-doesnotexist").then().statusCode(404).body("error.message", startsWith("No such File"));
        String ok = upload(DEMO, Jsonl.file("ep", 1), "ep.jsonl").path("id");
        given().header("Authorization", "Bearer " + DEMO).contentType("application/json")
                .body("{\"input_file_id\":\"" + ok + "\",\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"24h\"}")
                .post("/v1/batches").then().statusCode(400).body("error.param", equalTo("endpoint"));
        given().header("Authorization", "Bearer " + DEMO).contentType("application/json")
                .body("{\"input_file_id\":\"" + ok + "\",\"endpoint\":\"/v1/embeddings\",\"completion_window\":\"1h\"}")
                .post("/v1/batches").then().statusCode(400).body("error.param", equalTo("completion_window"));
    }

    @Test
    void metadataSetsTheBatchsMaxPriceAndItsAllowedRegionsAndARefusedOneIsPublishedNowhere() {
        String fileId = upload(DEMO, Jsonl.file("ext", 3), "ext.jsonl").then().statusCode(200).extract().path("id");
        java.util.function.Function<String, Response> create = meta -> given().header("Authorization", "Bearer " + DEMO)
                .contentType("application/json").body("{\"input_file_id\":\"" + fileId + "\",\"endpoint\":\"/v1/embeddings\","
                        + "\"completion_window\":\"24h\",\"metadata\":" + meta + "}").post("/v1/batches");
        long jobsBefore = TopicReader.readAll(Topics.JOBS.name()).size();
        create.apply("{\"" + BatchExtensions.REGIONS + "\":\"eu-west,us-east\"}").then().statusCode(400)
                .body("error.code", equalTo("region_not_allowed")).body("error.param", equalTo("metadata"));
        create.apply("{\"" + BatchExtensions.MAX_PRICE + "\":\"201\"}").then().statusCode(400)
                .body("error.param", equalTo("metadata"));
        assertEquals(jobsBefore, TopicReader.readAll(Topics.JOBS.name()).size(), "a refused batch publishes no job");

        Response ok = create.apply("{\"" + BatchExtensions.MAX_PRICE + "\":\"150\",\"" + BatchExtensions.REGIONS
                + "\":\"eu-west, local\",\"team\":\"search\"}");
        ok.then().statusCode(200).body("metadata." + BatchExtensions.MAX_PRICE, equalTo("150"));
        String jobId = ok.path("id");
        List<ConsumerRecord<byte[], byte[]>> records = TopicReader.readAll(Topics.JOBS.name(), Topics.SHARD_TASKS.name());
        JobSubmitted job = values(Topics.JOBS, records).stream().filter(j -> j.getJobId().equals(jobId)).findFirst().orElseThrow();
        assertEquals(150, job.getMaxPricePerRowMicros(), "the customer's ceiling, below the deployment's 200");
        assertEquals(3 * 150, job.getEscrowMicros(), "escrow is rows x the batch's ceiling");
        List<ShardTask> shards = values(Topics.SHARD_TASKS, records).stream().filter(t -> t.getJobId().equals(jobId)).toList();
        assertFalse(shards.isEmpty());
        assertTrue(shards.stream().allMatch(t -> t.getMaxPricePerRowMicros() == 150), "the matcher leases only nodes asking <= 150");
    }

    /** The JobSubmitted records of one customer on the jobs topic. */
    private static List<JobSubmitted> jobsOf(String customer) {
        return values(Topics.JOBS, TopicReader.readAll(Topics.JOBS.name())).stream()
                .filter(j -> j.getCustomerId().equals(customer)).toList();
    }

    /**
     * Escrow at create: a batch the customer cannot pay is 402 {@code insufficient_funds} naming what
     * it needs and what is available, with nothing published; two creates racing for funds that cover
     * one get one batch and one 402; the held escrow is released once the ledger shows it.
     */
    @Test
    void aBatchTheCustomerCannotPayIs402InsufficientFundsAndTwoRacingCreatesCannotSpendTheSameFunds() throws Exception {
        String fileId = upload(BROKE, Jsonl.file("broke", 10), "broke.jsonl").then().statusCode(200).extract().path("id");
        long had = TestFunds.available(BROKE);
        createBatch(BROKE, fileId).then().statusCode(402)
                .body("error.code", equalTo("insufficient_funds"))
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.message", org.hamcrest.Matchers.containsString("needs an escrow of 2000 micro-units (10 rows x 200 per row)"))
                .body("error.message", org.hamcrest.Matchers.containsString("available balance is " + had + " micro-units"));
        assertEquals(List.of(), jobsOf("broke"), "nothing published");
        given().header("Authorization", "Bearer " + BROKE).get("/v1/batches").then().statusCode(200).body("data", org.hamcrest.Matchers.empty());

        TestFunds.deposit("broke", 2_000 - had);
        TestFunds.awaitAvailable(BROKE, 2_000);
        var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        List<Integer> codes = new ArrayList<>();
        try {
            var a = pool.submit(() -> createBatch(BROKE, fileId).statusCode());
            var b = pool.submit(() -> createBatch(BROKE, fileId).statusCode());
            codes.add(a.get());
            codes.add(b.get());
        } finally {
            pool.shutdownNow();
        }
        codes.sort(Comparator.naturalOrder());
        assertEquals(List.of(200, 402), codes, "funds for one escrow make one batch");
        List<JobSubmitted> published = jobsOf("broke");
        assertEquals(1, published.size(), "exactly one job published");
        TestFunds.balance(BROKE, j -> j.getLong("held_for_new_batches") == 2_000);

        // Settlement escrows it: the ledger shows it, the hold goes, and it is counted once, as escrow.
        String job = published.get(0).getJobId();
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            send(p, Topics.LEDGER, "esc-" + job, io.inferex.events.Transfer.newBuilder().setTransferId("esc-" + job)
                    .setDebitAccount("customer:broke").setCreditAccount("escrow:" + job).setAmountMicros(2_000)
                    .setKind(io.inferex.events.TransferKind.ESCROW).setJobId(job).setCause(job).setAtMs(System.currentTimeMillis()).build());
        }
        var after = TestFunds.balance(BROKE, j -> j.getLong("in_escrow") == 2_000);
        assertEquals(0L, after.getLong("held_for_new_batches"));
        assertEquals(0L, after.getLong("available"));
        createBatch(BROKE, fileId).then().statusCode(402).body("error.code", equalTo("insufficient_funds"));
        assertEquals(1, jobsOf("broke").size());
    }

    /**
     * A customer's budget: set with PUT, read with GET; a create that would take what is committed
     * in the period (escrowed or spent, and escrows being accepted) past it is 403
     * {@code budget_exceeded} with nothing published; the budget is an event on customer-budgets
     * keyed by the customer; removing it lets the create through.
     */
    @Test
    void aBudgetRefusesABatchThatWouldPassItWith403AndPublishesNothingUntilItIsRaisedOrRemoved() throws Exception {
        TestFunds.deposit("thrifty", 1_000_000);
        TestFunds.awaitAvailable(THRIFTY, 1_000_000);
        given().header("Authorization", "Bearer " + THRIFTY).get("/v1/inferex/budget").then().statusCode(200)
                .body("object", equalTo("inferex.budget")).body("limit_micros", nullValue());
        for (String bad : List.of("{\"limit_micros\":-1}", "{\"limit_micros\":1.5}", "{\"limit_micros\":\"10\"}",
                "{\"limit_micros\":10,\"period\":\"week\"}", "[]")) {
            given().header("Authorization", "Bearer " + THRIFTY).contentType("application/json").body(bad)
                    .put("/v1/inferex/budget").then().statusCode(400).body("error.type", equalTo("invalid_request_error"));
        }
        given().header("Authorization", "Bearer " + THRIFTY).contentType("application/json")
                .body("{\"limit_micros\":3000,\"period\":\"day\"}").put("/v1/inferex/budget").then().statusCode(200)
                .body("limit_micros", equalTo(3000)).body("period", equalTo("day")).body("committed_micros", equalTo(0))
                .body("remaining_micros", equalTo(3000));
        String fileId = upload(THRIFTY, Jsonl.file("thrifty", 10), "thrifty.jsonl").then().statusCode(200).extract().path("id");
        createBatch(THRIFTY, fileId).then().statusCode(200);
        createBatch(THRIFTY, fileId).then().statusCode(403)
                .body("error.code", equalTo("budget_exceeded"))
                .body("error.message", org.hamcrest.Matchers.containsString("needs an escrow of 2000 micro-units; your budget is 3000 micro-units per day and 2000 are already committed"));
        assertEquals(1, jobsOf("thrifty").size(), "the refused create published nothing");
        given().header("Authorization", "Bearer " + THRIFTY).get("/v1/inferex/budget").then().statusCode(200)
                .body("committed_micros", equalTo(2000)).body("remaining_micros", equalTo(1000));
        given().header("Authorization", "Bearer " + ACME).get("/v1/inferex/budget").then().statusCode(200)
                .body("limit_micros", nullValue()); // a budget is its customer's own

        List<io.inferex.events.CustomerBudget> budgets = values(Topics.CUSTOMER_BUDGETS, TopicReader.readAll(Topics.CUSTOMER_BUDGETS.name()))
                .stream().filter(b -> b.getCustomerId().equals("thrifty")).toList();
        assertEquals(1, budgets.size());
        assertEquals(3000L, budgets.get(0).getLimitMicros());
        assertEquals("day", budgets.get(0).getPeriod());

        given().header("Authorization", "Bearer " + THRIFTY).delete("/v1/inferex/budget").then().statusCode(200)
                .body("limit_micros", nullValue());
        createBatch(THRIFTY, fileId).then().statusCode(200);
        assertEquals(2, jobsOf("thrifty").size());

        // A record filed under another customer's key (only a compromised writer could send one) is dead-lettered, never applied.
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            send(p, Topics.CUSTOMER_BUDGETS, "acme", io.inferex.events.CustomerBudget.newBuilder().setCustomerId("thrifty")
                    .setLimitMicros(0L).setPeriod("day").setUpdatedAtMs(System.currentTimeMillis()).build());
        }
        long deadline = System.currentTimeMillis() + 10_000;
        while (TopicReader.readAll(Topics.DEAD_LETTER.name()).stream().noneMatch(r -> "ingest".equals(DeadLetters.header(r.headers(),
                DeadLetters.READER)) && Topics.CUSTOMER_BUDGETS.name().equals(DeadLetters.header(r.headers(), DeadLetters.SOURCE_TOPIC)))) {
            assertTrue(System.currentTimeMillis() < deadline, "the forged budget was not dead-lettered");
            Thread.sleep(100);
        }
        given().header("Authorization", "Bearer " + THRIFTY).get("/v1/inferex/budget").then().statusCode(200).body("limit_micros", nullValue());
        given().header("Authorization", "Bearer " + ACME).get("/v1/inferex/budget").then().statusCode(200).body("limit_micros", nullValue());
    }

    /**
     * A sample of the property test's malformed files (BatchFileFuzzTest, same generator and seed),
     * through HTTP with the service's own limits: each is 400 in OpenAI's shape naming exactly its bad
     * lines, never a 5xx, nothing is stored and nothing reaches Kafka.
     */
    @Test
    void fiftyGeneratedMalformedFilesAre400WithTheirBadLinesAndNothingIsStoredOrPublished() throws Exception {
        long jobsBefore = TopicReader.readAll(Topics.JOBS.name()).size();
        MalformedFiles files = new MalformedFiles(BatchFileFuzzTest.SEED, BatchFileValidator.Limits.DEFAULT,
                java.util.EnumSet.of(MalformedFiles.FileKind.EMPTY_FILE, MalformedFiles.FileKind.UTF16_FILE));
        for (int i = 0; i < 50; i++) {
            MalformedFiles.Case c = files.malformed(10_000 + i);
            JdkUpload.Answer r = JdkUpload.upload(DEMO, "fuzz-" + i + ".jsonl", c.bytes());
            assertEquals(400, r.status(), c.describe() + ": " + r.body());
            assertEquals("invalid_request_error", r.body().at("/error/type").asText(), c.describe());
            if (!"invalid_batch_file".equals(r.body().at("/error/code").asText())) {
                assertTrue(c.bytes().length == 0, c.describe() + ": " + r.body()); // an empty part is no file at all
                continue;
            }
            List<Integer> lines = new ArrayList<>();
            r.body().at("/error/errors").forEach(e -> lines.add(e.get("line").asInt()));
            if (c.exact()) {
                assertEquals(c.lines(), lines.stream().distinct().sorted().toList(), c.describe() + ": " + r.body());
            } else {
                assertEquals(c.expected().get(0).line(), r.body().at("/error/line").asInt(), c.describe() + ": " + r.body());
            }
        }
        given().header("Authorization", "Bearer " + DEMO).get("/v1/files").then().statusCode(200)
                .body("data.filename", org.hamcrest.Matchers.everyItem(org.hamcrest.Matchers.not(startsWith("fuzz-"))));
        List<ConsumerRecord<byte[], byte[]>> records = TopicReader.readAll(Topics.JOBS.name(), Topics.SHARD_TASKS.name());
        assertEquals(jobsBefore, values(Topics.JOBS, records).size(), "no JobSubmitted was published");
        assertTrue(values(Topics.SHARD_TASKS, records).stream().flatMap(t -> t.getRows().stream())
                .noneMatch(row -> row.getCustomId().startsWith("c100")), "no ShardTask carries a row of a refused file");
    }

    @Test
    void aMissingOrWrongApiKeyIs401WithAnOpenAiError() {
        given().get("/v1/batches").then().statusCode(401)
                .body("error.type", equalTo("invalid_request_error"))
                .body("error.code", equalTo("missing_api_key"));
        given().header("Authorization", "Bearer sk-wrong").get("/v1/batches").then().statusCode(401)
                .body("error.code", equalTo("invalid_api_key"));
        given().header("Authorization", "Basic " + DEMO).get("/v1/files").then().statusCode(401);
        given().multiPart("file", "x.jsonl", Jsonl.file("nokey", 1).getBytes(StandardCharsets.UTF_8))
                .multiPart("purpose", "batch").post("/v1/files").then().statusCode(401);
        given().header("Authorization", "Bearer " + DEMO).get("/v1/batches").then().statusCode(200)
                .body("object", equalTo("list"));
    }

    @Test
    void anotherCustomerCannotSeeOrUseTheBatchOrItsFile() {
        String fileId = upload(DEMO, Jsonl.file("mine", 3), "mine.jsonl").path("id");
        String batchId = createBatch(DEMO, fileId).path("id");
        given().header("Authorization", "Bearer " + DEMO).get("/v1/batches/" + batchId).then().statusCode(200);

        given().header("Authorization", "Bearer " + ACME).get("/v1/batches/" + batchId).then().statusCode(404)
                .body("error.message", equalTo("No such Batch object: " + batchId));
        given().header("Authorization", "Bearer " + ACME).get("/v1/files/" + fileId).then().statusCode(404);
        given().header("Authorization", "Bearer " + ACME).get("/v1/files/" + fileId + "/content").then().statusCode(404);
        createBatch(ACME, fileId).then().statusCode(404);
        given().header("Authorization", "Bearer " + ACME).get("/v1/batches").then().statusCode(200)
                .body("data.id", org.hamcrest.Matchers.not(org.hamcrest.Matchers.hasItem(batchId)));
        given().header("Authorization", "Bearer " + ACME).get("/v1/files").then().statusCode(200)
                .body("data.id", org.hamcrest.Matchers.not(org.hamcrest.Matchers.hasItem(fileId)));
    }

    @Test
    void outputFileIsAssembledFromAcceptedResultsInInputOrderAndRejectedOrCrowdedOutForgedResultsAreNotUsed() throws Exception {
        int n = 40;
        String jobId = submit("emb", n);
        List<ShardTask> shards = values(Topics.SHARD_TASKS,
                TopicReader.readAll(Topics.SHARD_TASKS.name())).stream()
                .filter(t -> t.getJobId().equals(jobId)).sorted(Comparator.comparingInt(ShardTask::getShardIndex)).toList();
        assertEquals(3, shards.size());
        byte[] garbage = "not an avro record".getBytes(StandardCharsets.UTF_8);

        try (KafkaProducer<byte[], byte[]> p = producer()) {
            send(p, Topics.JOB_STATUS, jobId, status(jobId, JobState.IN_PROGRESS, 0, n));
            // An undecodable record on the results topic: dead-lettered, and the tracker goes on.
            p.send(new ProducerRecord<>(Topics.RESULTS.name(), jobId.getBytes(StandardCharsets.UTF_8), garbage)).get();
            // Shard 0: a cheating node's result is REJECTED, the second lease's result is ACCEPTED.
            ShardTask s0 = shards.get(0);
            ShardResult cheat = Results.result(jobId, 0, 3, 1, ids(s0), 9f);
            ShardResult honest0 = Results.result(jobId, 0, 3, 2, ids(s0), 0f);
            send(p, Topics.RESULTS, cheat.getTaskId(), cheat);
            send(p, Topics.VERDICTS, jobId, Results.verdict(cheat, VerdictOutcome.REJECTED));
            send(p, Topics.RESULTS, honest0.getTaskId(), honest0);
            send(p, Topics.VERDICTS, jobId, Results.verdict(honest0, VerdictOutcome.ACCEPTED));
            // Shard 1: the verdict arrives before the result.
            ShardResult r1 = Results.result(jobId, 1, 3, 1, ids(shards.get(1)), 0f);
            send(p, Topics.VERDICTS, jobId, Results.verdict(r1, VerdictOutcome.ACCEPTED));
            send(p, Topics.RESULTS, r1.getTaskId(), r1);

            awaitStatus(jobId, "in_progress", 10_000);
            given().header("Authorization", "Bearer " + DEMO).get("/v1/batches/" + jobId).then()
                    .body("request_counts.total", equalTo(n)).body("output_file_id", nullValue());

            // Shard 2: forged results naming r2's lease with other rows, before r2, fill the lease's cap, so r2
            // itself is refused; its ACCEPTED verdict makes the tracker read the partition again and deliver r2.
            ShardResult r2 = Results.result(jobId, 2, 3, 1, ids(shards.get(2)), 0f);
            long refusedBefore = (long) tracker.stats().get("refusedResults");
            int forgeries = JobBook.MAX_DIGESTS_PER_LEASE + 3;
            for (int i = 0; i < forgeries; i++) {
                ShardResult forged = Results.result(jobId, 2, 3, 1, ids(shards.get(2)), 5f + i);
                send(p, Topics.RESULTS, forged.getTaskId(), forged);
            }
            send(p, Topics.RESULTS, r2.getTaskId(), r2);
            long refusedWithR2 = refusedBefore + forgeries - JobBook.MAX_DIGESTS_PER_LEASE + 1;
            long deadline = System.currentTimeMillis() + 10_000;
            while ((long) tracker.stats().get("refusedResults") < refusedWithR2) {
                assertTrue(System.currentTimeMillis() < deadline, "r2 not refused: " + tracker.stats());
                Thread.sleep(20);
            }
            send(p, Topics.VERDICTS, jobId, Results.verdict(r2, VerdictOutcome.ACCEPTED));
            // every shard accepted: settlement says FINALIZING (payment waits for finality); the output is delivered
            send(p, Topics.JOB_STATUS, jobId, status(jobId, JobState.FINALIZING, n, n));
        }

        JsonNode batch = awaitStatus(jobId, "completed", 20_000);
        String outId = batch.get("output_file_id").asText();
        assertEquals("file-out-" + jobId.substring("batch_".length()), outId);
        assertTrue(batch.get("error_file_id").isNull());
        assertEquals(n, batch.at("/request_counts/completed").asInt());
        assertEquals(0, batch.at("/request_counts/failed").asInt());
        assertFalse(batch.get("completed_at").isNull());

        given().header("Authorization", "Bearer " + DEMO).get("/v1/files/" + outId).then().statusCode(200)
                .body("purpose", equalTo("batch_output")).body("object", equalTo("file"));
        String content = given().header("Authorization", "Bearer " + DEMO).get("/v1/files/" + outId + "/content")
                .then().statusCode(200).extract().asString();
        List<String> lines = content.lines().toList();
        assertEquals(n, lines.size(), "one output line per input line");
        List<String> customIds = new ArrayList<>();
        for (String l : lines) {
            JsonNode node = JSON.readTree(l);
            String id = node.get("custom_id").asText();
            customIds.add(id);
            JsonNode emb = node.at("/response/body/data/0/embedding");
            assertEquals(384, emb.size());
            assertEquals(Results.vector(id, 0f).get(0), emb.get(0).floatValue(), 0f, "the accepted (honest) vector, not the rejected one");
            assertEquals(200, node.at("/response/status_code").asInt());
        }
        assertEquals(Jsonl.customIds("emb", n), customIds, "input order, custom_ids matching");
        assertTrue(lines.get(0).contains("\"request_id\":\"" + jobId + "/00000#2\""), "row 1 came from lease #2");
        given().header("Authorization", "Bearer " + ACME).get("/v1/files/" + outId + "/content").then().statusCode(404);

        List<ConsumerRecord<byte[], byte[]>> dead = TopicReader.readAll(Topics.DEAD_LETTER.name());
        assertTrue(dead.stream().anyMatch(r -> java.util.Arrays.equals(garbage, r.value())
                && Topics.RESULTS.name().equals(DeadLetters.header(r.headers(), DeadLetters.SOURCE_TOPIC))
                && "ingest".equals(DeadLetters.header(r.headers(), DeadLetters.READER))),
                "the undecodable result is on the dead-letter topic with its source");
        assertArrayEquals(garbage, dead.stream().filter(r -> "ingest".equals(DeadLetters.header(r.headers(), DeadLetters.READER))
                        && Topics.RESULTS.name().equals(DeadLetters.header(r.headers(), DeadLetters.SOURCE_TOPIC)))
                .findFirst().orElseThrow().value());
    }

    @Test
    void aFailedJobGetsAPartialOutputAndAnErrorFileForTheRest() throws Exception {
        String jobId = submit("part", 20); // shards of 16 + 4
        List<ShardTask> shards = values(Topics.SHARD_TASKS, TopicReader.readAll(Topics.SHARD_TASKS.name()))
                .stream().filter(t -> t.getJobId().equals(jobId)).sorted(Comparator.comparingInt(ShardTask::getShardIndex)).toList();
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            ShardResult r0 = Results.result(jobId, 0, 2, 1, ids(shards.get(0)), 0f);
            send(p, Topics.RESULTS, r0.getTaskId(), r0);
            send(p, Topics.VERDICTS, jobId, Results.verdict(r0, VerdictOutcome.ACCEPTED));
            JobStatus expired = status(jobId, JobState.EXPIRED, 16, 20);
            expired.setError("completion window expired");
            send(p, Topics.JOB_STATUS, jobId, expired);
        }
        JsonNode batch = awaitStatus(jobId, "expired", 20_000);
        assertEquals(16, batch.at("/request_counts/completed").asInt());
        assertEquals(4, batch.at("/request_counts/failed").asInt());
        String err = given().header("Authorization", "Bearer " + DEMO)
                .get("/v1/files/" + batch.get("error_file_id").asText() + "/content").then().statusCode(200).extract().asString();
        assertEquals(List.of("part-17", "part-18", "part-19", "part-20"), err.lines()
                .map(l -> l.replaceAll(".*\"custom_id\":\"([^\"]+)\".*", "$1")).collect(Collectors.toList()));
        assertTrue(err.contains("\"code\":\"batch_expired\""));
    }

    @Test
    void aCancelByTheOwnerIsPublishedOnceReadsCancellingThenDeliversTheDoneLinesAndErrorsTheRestAsBatchCancelled() throws Exception {
        String jobId = submit("cxl", 20); // shards of 16 + 4
        given().header("Authorization", "Bearer " + ACME).post("/v1/batches/" + jobId + "/cancel").then().statusCode(404)
                .body("error.message", equalTo("No such Batch object: " + jobId));
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            send(p, Topics.JOB_STATUS, jobId, withShards(status(jobId, JobState.IN_PROGRESS, 0, 20), 2));
            awaitStatus(jobId, "in_progress", 20_000);
            given().header("Authorization", "Bearer " + DEMO).post("/v1/batches/" + jobId + "/cancel").then().statusCode(200)
                    .body("id", equalTo(jobId)).body("status", equalTo("cancelling")).body("cancelling_at", org.hamcrest.Matchers.notNullValue());
            given().header("Authorization", "Bearer " + DEMO).post("/v1/batches/" + jobId + "/cancel").then().statusCode(200)
                    .body("status", equalTo("cancelling"));
            List<JobCancelRequested> sent = values(Topics.JOB_CANCELS, TopicReader.readAll(Topics.JOB_CANCELS.name())).stream()
                    .filter(c -> c.getJobId().equals(jobId)).toList();
            assertEquals(1, sent.size(), "one cancel published, the repeat answered from the batch: " + sent);
            assertEquals("demo", sent.get(0).getCustomerId());

            // Settlement: cancelling (no new leases); the shard leased before the cancel finishes; then CANCELLED.
            JobStatus cancelling = withShards(status(jobId, JobState.FINALIZING, 0, 20), 2);
            cancelling.setCancelRequestedAtMs(sent.get(0).getRequestedAtMs());
            send(p, Topics.JOB_STATUS, jobId, cancelling);
            ShardResult r0 = Results.result(jobId, 0, 2, 1, Jsonl.customIds("cxl", 20).subList(0, 16), 0f);
            send(p, Topics.RESULTS, r0.getTaskId(), r0);
            send(p, Topics.VERDICTS, jobId, Results.verdict(r0, VerdictOutcome.ACCEPTED));
            assertEquals("cancelling", awaitStatus(jobId, "cancelling", 5_000).get("status").asText());
            JobStatus cancelled = withShards(status(jobId, JobState.CANCELLED, 16, 20), 2);
            cancelled.setShardsDone(1);
            cancelled.setCancelRequestedAtMs(sent.get(0).getRequestedAtMs());
            cancelled.setError("cancelled by the customer with 1 of 2 shards done, 1 of them final");
            send(p, Topics.JOB_STATUS, jobId, cancelled);
        }
        JsonNode batch = awaitStatus(jobId, "cancelled", 20_000);
        assertEquals(16, batch.at("/request_counts/completed").asInt());
        assertEquals(4, batch.at("/request_counts/failed").asInt());
        assertTrue(batch.get("cancelled_at").isNumber() && batch.get("cancelling_at").isNumber(), batch.toString());
        assertEquals(16, download(DEMO, batch.get("output_file_id").asText()).size());
        List<JsonNode> errors = download(DEMO, batch.get("error_file_id").asText());
        assertEquals(List.of("cxl-17", "cxl-18", "cxl-19", "cxl-20"), errors.stream().map(l -> l.get("custom_id").asText()).toList());
        assertTrue(errors.stream().allMatch(l -> l.at("/error/code").asText().equals("batch_cancelled")), errors.toString());
        given().header("Authorization", "Bearer " + DEMO).post("/v1/batches/" + jobId + "/cancel").then().statusCode(200)
                .body("status", equalTo("cancelled"));

        // A batch that ended otherwise cannot be cancelled: 409 in OpenAI's error shape, nothing published.
        String failedId = submit("cxlfail", 2);
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            JobStatus failed = withShards(status(failedId, JobState.FAILED, 0, 2), 1);
            failed.setError("insufficient funds");
            send(p, Topics.JOB_STATUS, failedId, failed);
        }
        awaitStatus(failedId, "failed", 20_000);
        given().header("Authorization", "Bearer " + DEMO).post("/v1/batches/" + failedId + "/cancel").then().statusCode(409)
                .body("error.type", equalTo("invalid_request_error")).body("error.code", equalTo("batch_not_cancellable"));
        assertTrue(values(Topics.JOB_CANCELS, TopicReader.readAll(Topics.JOB_CANCELS.name())).stream()
                .noneMatch(c -> c.getJobId().equals(failedId)));
    }

    private static JobStatus withShards(JobStatus s, int shards) {
        s.setShardCount(shards);
        return s;
    }

    @Test
    void aCompletedBatchsOutputIsProvisionalThenRewrittenFinalWithTheNamedRefereeCorrection() throws Exception {
        String jobId = submit("ver", 20); // shards of 16 + 4
        List<ShardTask> shards = values(Topics.SHARD_TASKS, TopicReader.readAll(Topics.SHARD_TASKS.name()))
                .stream().filter(t -> t.getJobId().equals(jobId)).sorted(Comparator.comparingInt(ShardTask::getShardIndex)).toList();
        ShardResult r0 = Results.result(jobId, 0, 2, 1, ids(shards.get(0)), 0f);
        ShardResult cheat = Results.result(jobId, 1, 2, 1, ids(shards.get(1)), 0.5f);
        String refereeTask = VerificationIds.referee(cheat.getTaskId(), 1);
        ShardResult right = ShardResult.newBuilder(Results.result(jobId, 1, 2, 1, ids(shards.get(1)), 0f))
                .setTaskId(refereeTask).setLeaseId(refereeTask + "#1").setNodeId("node-referee").build();
        ShardResult forged = ShardResult.newBuilder(Results.result(jobId, 1, 2, 1, ids(shards.get(1)), 7f))
                .setTaskId(refereeTask).setLeaseId(refereeTask + "#1").setOutputDigest(right.getOutputDigest()).build();
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            for (ShardResult r : List.of(r0, cheat)) {
                send(p, Topics.RESULTS, r.getTaskId(), r);
                send(p, Topics.VERDICTS, jobId, Results.verdict(r, VerdictOutcome.ACCEPTED));
            }
            send(p, Topics.JOB_STATUS, jobId, status(jobId, JobState.FINALIZING, 20, 20));
        }
        JsonNode batch = awaitStatus(jobId, "completed", 20_000);
        assertEquals("provisional", batch.at("/inferex/verification").asText());
        String outId = batch.get("output_file_id").asText();
        assertTrue(download(outId).stream().allMatch(l -> "provisional".equals(l.at("/inferex/verification").asText())));

        try (KafkaProducer<byte[], byte[]> p = producer()) {
            send(p, Topics.RESULTS, forged.getTaskId(), forged);
            send(p, Topics.RESULTS, right.getTaskId(), right);
            send(p, Topics.VERIFICATION_OUTCOMES, jobId, Results.outcome(r0, OutcomeKind.FINAL, null));
            send(p, Topics.VERIFICATION_OUTCOMES, jobId, Results.outcome(cheat, OutcomeKind.FRAUD, right));
            send(p, Topics.JOB_STATUS, jobId, status(jobId, JobState.COMPLETED, 20, 20));
        }
        batch = awaitFinalVerification(jobId);
        assertEquals(4, batch.at("/inferex/corrected_lines").asInt());
        assertEquals(outId, batch.get("output_file_id").asText(), "the same file, rewritten");
        List<JsonNode> lines = download(outId);
        assertEquals(20, lines.size());
        for (int i = 0; i < 20; i++) {
            JsonNode line = lines.get(i);
            String id = line.get("custom_id").asText();
            assertEquals(i < 16 ? "final" : "corrected", line.at("/inferex/verification").asText());
            assertEquals(Results.vector(id, 0f).get(0), line.at("/response/body/data/0/embedding/0").floatValue(), 0f,
                    "the right rows: the executor's where FINAL, the named referee's (not the forgery) where FRAUD");
        }
        assertEquals("node-referee", lines.get(16).at("/inferex/node_id").asText());
        assertEquals(cheat.getNodeId(), lines.get(16).at("/inferex/replaced_node_id").asText());

        // At its end the batch is published to the log: its outcome, and the rewritten output's bytes by digest.
        byte[] bytes = given().header("Authorization", "Bearer " + DEMO).get("/v1/files/" + outId + "/content").then().statusCode(200)
                .extract().asByteArray();
        io.inferex.events.IngestBatchOutcome outcome = null;
        io.inferex.events.IngestFile outFile = null;
        for (long deadline = System.currentTimeMillis() + 10_000; (outcome == null || outFile == null)
                && System.currentTimeMillis() < deadline; Thread.sleep(100)) {
            List<ConsumerRecord<byte[], byte[]>> log = TopicReader.readAll(Topics.INGEST_BATCHES.name(), Topics.INGEST_FILES.name());
            outcome = values(Topics.INGEST_BATCHES, log.stream().filter(r -> r.topic().equals(Topics.INGEST_BATCHES.name())
                    && r.key() != null && jobId.equals(new String(r.key(), StandardCharsets.UTF_8))).toList()).stream()
                    .map(io.inferex.events.IngestBatch::getOutcome).filter(java.util.Objects::nonNull).findFirst().orElse(null);
            outFile = values(Topics.INGEST_FILES, log.stream().filter(r -> r.topic().equals(Topics.INGEST_FILES.name())
                    && r.key() != null && outId.equals(new String(r.key(), StandardCharsets.UTF_8))).toList()).stream().findFirst().orElse(null);
        }
        assertTrue(outcome != null && outFile != null, "the batch's outcome and output are published");
        assertEquals(List.of("completed", "final", 4, 20, outId), List.of(outcome.getStatus(), outcome.getVerification(),
                outcome.getCorrectedLines(), outcome.getCompletedLines(), outcome.getOutputFileId()));
        assertEquals(StoredFile.PURPOSE_OUTPUT, outFile.getPurpose());
        assertEquals(java.util.HexFormat.of().formatHex(BatchFileValidator.sha256().digest(bytes)), outFile.getSha256(),
                "the verified rewrite, not the provisional output");
    }

    @Test
    void aFraudWhoseCorrectionNeverComesIsFinalOnceTheLogIsReadPastCompletedAndAnUnknownOutcomeKindIsDeadLettered()
            throws Exception {
        String jobId = submit("unc", 4); // one shard
        ShardResult cheat = Results.result(jobId, 0, 1, 1, Jsonl.customIds("unc", 4), 0.5f);
        String refereeTask = VerificationIds.referee(cheat.getTaskId(), 1);
        ShardResult neverSent = ShardResult.newBuilder(Results.result(jobId, 0, 1, 1, Jsonl.customIds("unc", 4), 0f))
                .setTaskId(refereeTask).setLeaseId(refereeTask + "#1").build();
        VerificationOutcome unknown = Results.outcome(cheat, OutcomeKind.UNKNOWN, null);
        unknown.setOutcomeId("unknown-kind:" + jobId);
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            send(p, Topics.RESULTS, cheat.getTaskId(), cheat);
            send(p, Topics.VERDICTS, jobId, Results.verdict(cheat, VerdictOutcome.ACCEPTED));
            send(p, Topics.VERIFICATION_OUTCOMES, jobId, unknown);
            send(p, Topics.VERIFICATION_OUTCOMES, jobId, Results.outcome(cheat, OutcomeKind.FRAUD, neverSent));
            JobStatus completed = status(jobId, JobState.COMPLETED, 4, 4);
            completed.setShardCount(1);
            send(p, Topics.JOB_STATUS, jobId, completed);
        }
        JsonNode batch = awaitFinalVerification(jobId);
        assertEquals(0, batch.at("/inferex/corrected_lines").asInt());
        assertEquals(4, batch.at("/inferex/uncorrected_lines").asInt());
        for (JsonNode line : download(batch.get("output_file_id").asText())) {
            assertEquals("fraud_uncorrected", line.at("/inferex/verification").asText());
            assertEquals(Results.vector(line.get("custom_id").asText(), 0.5f).get(0),
                    line.at("/response/body/data/0/embedding/0").floatValue(), 0f, "the line as it was");
        }
        byte[] unknownBytes = Topics.VERIFICATION_OUTCOMES.valueSerde().serializer()
                .serialize(Topics.VERIFICATION_OUTCOMES.name(), unknown);
        assertTrue(TopicReader.readAll(Topics.DEAD_LETTER.name()).stream()
                .anyMatch(r -> java.util.Arrays.equals(unknownBytes, r.value())
                        && "ingest".equals(DeadLetters.header(r.headers(), DeadLetters.READER))),
                "an outcome of a kind this build does not know is dead-lettered by ingest");
    }

    /** The OpenAI SDKs' file-content requests: Python and Node send Accept: application/binary, Java (4.x) none. */
    @Test
    void fileContentIsServedWhateverAcceptHeaderTheOpenAiSdksOrOtherClientsSend() throws Exception {
        String content = Jsonl.file("acc", 3);
        String fileId = upload(DEMO, content, "acc.jsonl").then().statusCode(200).extract().path("id");
        java.net.http.HttpClient http = java.net.http.HttpClient.newHttpClient();
        List<List<String>> headerSets = List.of(
                List.of(), // Java SDK; curl without -H
                List.of("Accept", "application/binary"), // Node SDK
                List.of("Accept", "application/binary", "Content-Type", "application/json"), // Python SDK (httpx defaults)
                List.of("Accept", "*/*"),
                List.of("Accept", "application/json"),
                List.of("Accept", "text/plain"));
        for (List<String> headers : headerSets) {
            java.net.http.HttpResponse<String> r = http.send(contentRequest(fileId, headers, DEMO),
                    java.net.http.HttpResponse.BodyHandlers.ofString());
            assertEquals(200, r.statusCode(), "Accept " + headers);
            assertEquals(content, r.body(), "Accept " + headers);
            assertEquals("application/octet-stream", r.headers().firstValue("Content-Type").orElse(""), "Accept " + headers);
        }
        java.net.http.HttpResponse<String> missing = http.send(contentRequest("file-nope", List.of("Accept", "application/binary"),
                DEMO), java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(404, missing.statusCode());
        assertEquals("invalid_request_error", JSON.readTree(missing.body()).at("/error/type").asText());
        java.net.http.HttpResponse<String> others = http.send(contentRequest(fileId, List.of("Accept", "application/binary"),
                ACME), java.net.http.HttpResponse.BodyHandlers.ofString());
        assertEquals(404, others.statusCode(), "another customer's file stays invisible");
    }

    @Test
    void theOpenApiDocumentDescribesEveryOperationWithTheBearerKeySchemeAndSwaggerUiServesItWithoutAKey() throws Exception {
        // no Authorization header: the document and the UI are public, the operations they describe are not
        JsonNode doc = JSON.readTree(given().queryParam("format", "json").get("/q/openapi").then().statusCode(200)
                .extract().asString());
        assertTrue(doc.path("openapi").asText().startsWith("3."), doc.path("openapi").asText());
        assertEquals("Inferex ingest", doc.at("/info/title").asText());
        JsonNode paths = doc.path("paths");
        for (String[] op : new String[][] {{"/v1/files", "get"}, {"/v1/files", "post"}, {"/v1/files/{id}", "get"},
                {"/v1/files/{id}", "delete"}, {"/v1/files/{id}/content", "get"}, {"/v1/batches", "get"},
                {"/v1/batches", "post"}, {"/v1/batches/{id}", "get"}, {"/v1/batches/{id}/cancel", "post"},
                {"/v1/inferex/balance", "get"}, {"/v1/inferex/usage", "get"}}) {
            assertTrue(paths.path(op[0]).has(op[1]), op[1] + " " + op[0] + " is in the document: " + paths.path(op[0]));
        }
        assertEquals("bearer", doc.at("/components/securitySchemes/apiKey/scheme").asText());
        assertTrue(doc.path("security").toString().contains("apiKey"), "every operation needs the key: " + doc.path("security"));
        String ui = given().redirects().follow(true).get("/q/swagger-ui/").then().statusCode(200).extract().asString();
        assertTrue(ui.contains("swagger-ui") && ui.contains("/q/openapi"), "the UI loads the document: " + ui.substring(0, Math.min(300, ui.length())));
        // the public document does not open the API itself
        given().get("/v1/batches").then().statusCode(401);
    }

    private static java.net.http.HttpRequest contentRequest(String fileId, List<String> headers, String key) {
        java.net.http.HttpRequest.Builder b = java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://localhost:" + io.restassured.RestAssured.port + "/v1/files/" + fileId + "/content"))
                .header("Authorization", "Bearer " + key).GET();
        for (int i = 0; i < headers.size(); i += 2) {
            b.header(headers.get(i), headers.get(i + 1));
        }
        return b.build();
    }

    /** The output file's lines, fetched as the Python and Node SDKs do. */
    private static List<JsonNode> download(String fileId) throws Exception {
        return download(DEMO, fileId);
    }

    private static List<JsonNode> download(String key, String fileId) throws Exception {
        String body = given().header("Authorization", "Bearer " + key).header("Accept", "application/binary")
                .get("/v1/files/" + fileId + "/content").then().statusCode(200).extract().asString();
        List<JsonNode> lines = new ArrayList<>();
        for (String l : body.lines().toList()) {
            lines.add(JSON.readTree(l));
        }
        return lines;
    }

    /** The completed batch once its output's verification is final. */
    private static JsonNode awaitFinalVerification(String jobId) throws Exception {
        long deadline = System.currentTimeMillis() + 20_000;
        JsonNode batch = awaitStatus(jobId, "completed", 20_000);
        while (!"final".equals(batch.at("/inferex/verification").asText()) && System.currentTimeMillis() < deadline) {
            Thread.sleep(100);
            batch = awaitStatus(jobId, "completed", 1_000);
        }
        assertEquals("final", batch.at("/inferex/verification").asText(), batch.toString());
        return batch;
    }

    private static List<String> ids(ShardTask t) {
        return t.getRows().stream().map(InputRow::getCustomId).toList();
    }

    @Test
    void aCustomerChallengesALineWithItsShardsEvidenceAndBondAndSeesItDisputedThenUpheld() throws Exception {
        String fileId = upload(CHALLENGER, Jsonl.file("chl", 20), "chl.jsonl").then().statusCode(200).extract().path("id");
        String jobId = createBatch(CHALLENGER, fileId).then().statusCode(200).extract().path("id"); // shards of 16 + 4
        List<ShardTask> shards = values(Topics.SHARD_TASKS, TopicReader.readAll(Topics.SHARD_TASKS.name()))
                .stream().filter(t -> t.getJobId().equals(jobId)).sorted(Comparator.comparingInt(ShardTask::getShardIndex)).toList();
        ShardResult r0 = Results.result(jobId, 0, 2, 1, ids(shards.get(0)), 0f);
        ShardResult r1 = Results.result(jobId, 1, 2, 1, ids(shards.get(1)), 0.5f);
        String path = "/v1/batches/" + jobId + "/challenges";
        given().header("Authorization", "Bearer " + CHALLENGER).contentType("application/json").body("{\"custom_id\":\"chl-18\"}")
                .post(path).then().statusCode(409).body("error.code", org.hamcrest.Matchers.equalTo("no_result_yet"));
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            for (ShardResult r : List.of(r0, r1)) {
                send(p, Topics.RESULTS, r.getTaskId(), r);
                send(p, Topics.VERDICTS, jobId, Results.verdict(r, VerdictOutcome.ACCEPTED));
            }
            send(p, Topics.JOB_STATUS, jobId, status(jobId, JobState.FINALIZING, 20, 20));
        }
        String outId = awaitStatus(CHALLENGER, jobId, "completed", 20_000).get("output_file_id").asText();
        long bond = io.inferex.verification.ChallengeBonds.required(4, 200);
        given().header("Authorization", "Bearer " + CHALLENGER).contentType("application/json").body("{\"custom_id\":\"chl-18\"}")
                .post(path).then().statusCode(402).body("error.code", org.hamcrest.Matchers.equalTo("insufficient_funds"));
        given().header("Authorization", "Bearer " + CHALLENGER).contentType("application/json").body("{\"custom_id\":\"nope\"}")
                .post(path).then().statusCode(400).body("error.param", org.hamcrest.Matchers.equalTo("custom_id"));
        given().header("Authorization", "Bearer " + CHALLENGER).contentType("application/json").body("{}")
                .post(path).then().statusCode(400).body("error.code", org.hamcrest.Matchers.equalTo("missing_required_parameter"));
        given().header("Authorization", "Bearer " + ACME).contentType("application/json").body("{\"custom_id\":\"chl-18\"}")
                .post(path).then().statusCode(404);
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            send(p, Topics.LEDGER, "dep-chl", io.inferex.events.Transfer.newBuilder().setTransferId("dep-chl").setDebitAccount("external")
                    .setCreditAccount("customer:challenger").setAmountMicros(bond * 2).setKind(io.inferex.events.TransferKind.DEPOSIT)
                    .setJobId(null).setCause("dep-chl").setAtMs(1).build());
        }
        long deadline = System.currentTimeMillis() + 10_000;
        io.restassured.response.Response filed;
        do {
            Thread.sleep(100);
            filed = given().header("Authorization", "Bearer " + CHALLENGER).contentType("application/json")
                    .body("{\"custom_id\":\"chl-18\",\"reason\":\"these vectors are off\"}").post(path);
        } while (filed.statusCode() == 402 && System.currentTimeMillis() < deadline);
        filed.then().statusCode(200);
        JsonNode view = JSON.readTree(filed.asString());
        assertEquals("submitted", view.get("status").asText());
        assertEquals(r1.getTaskId(), view.get("task_id").asText(), "the line's shard is challenged");
        assertEquals(bond, view.get("bond_micros").asLong());
        String challengeId = view.get("id").asText();

        io.inferex.events.Challenge sent = values(Topics.CHALLENGES, TopicReader.readAll(Topics.CHALLENGES.name())).stream()
                .filter(c -> c.getChallengeId().equals(challengeId)).findFirst().orElseThrow();
        assertEquals("customer:challenger", sent.getChallengerId());
        assertEquals(r1.getOutputDigest(), sent.getOutputDigest());
        assertEquals(r1.getRows(), sent.getRows(), "evidence: the rows the customer received");
        assertEquals(shards.get(1).getRows(), sent.getInputRows(), "evidence: the shard's inputs as published");
        assertEquals("these vectors are off", sent.getReason());

        try (KafkaProducer<byte[], byte[]> p = producer()) {
            send(p, Topics.CHALLENGE_BONDS, r1.getTaskId(), io.inferex.events.ChallengeBond.newBuilder().setChallenge(sent)
                    .setStatus(io.inferex.events.ChallengeBondStatus.LOCKED).setReason("locked").setAtMs(2).build());
            VerificationOutcome disputed = Results.outcome(r1, OutcomeKind.DISPUTED, null);
            disputed.setChallengeId(challengeId);
            send(p, Topics.VERIFICATION_OUTCOMES, jobId, disputed);
        }
        awaitChallenge(path, challengeId, "disputed");
        awaitLines(CHALLENGER, outId, lines -> lines.stream().filter(l -> "disputed".equals(l.at("/inferex/verification").asText())).count() == 4
                && "provisional".equals(lines.get(0).at("/inferex/verification").asText()));
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            VerificationOutcome upheld = Results.outcome(r1, OutcomeKind.UPHELD, null);
            upheld.setChallengeId(challengeId);
            send(p, Topics.VERIFICATION_OUTCOMES, jobId, upheld);
        }
        JsonNode done = awaitChallenge(path, challengeId, "upheld");
        assertEquals("these vectors are off", done.get("reason").asText());
        awaitLines(CHALLENGER, outId, lines -> lines.stream().allMatch(l -> "provisional".equals(l.at("/inferex/verification").asText())));
    }

    private static JsonNode awaitChallenge(String path, String id, String status) throws Exception {
        long deadline = System.currentTimeMillis() + 15_000;
        String last = null;
        while (System.currentTimeMillis() < deadline) {
            last = given().header("Authorization", "Bearer " + CHALLENGER).get(path + "/" + id).then().statusCode(200).extract().asString();
            JsonNode node = JSON.readTree(last);
            if (status.equals(node.get("status").asText())) {
                return node;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("challenge " + id + " did not become " + status + ": " + last);
    }

    private static void awaitLines(String key, String fileId, java.util.function.Predicate<List<JsonNode>> ok) throws Exception {
        long deadline = System.currentTimeMillis() + 15_000;
        List<JsonNode> lines = List.of();
        while (System.currentTimeMillis() < deadline) {
            lines = download(key, fileId);
            if (ok.test(lines)) {
                return;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("output " + fileId + " never reached the expected line states: "
                + lines.stream().map(l -> l.at("/inferex/verification").asText()).toList());
    }

    private static JsonNode awaitStatus(String batchId, String status, long timeoutMs) throws Exception {
        return awaitStatus(DEMO, batchId, status, timeoutMs);
    }

    private static JsonNode awaitStatus(String key, String batchId, String status, long timeoutMs) throws Exception {
        long deadline = System.currentTimeMillis() + timeoutMs;
        String last = null;
        while (System.currentTimeMillis() < deadline) {
            last = given().header("Authorization", "Bearer " + key).get("/v1/batches/" + batchId).then().statusCode(200)
                    .extract().asString();
            JsonNode node = JSON.readTree(last);
            if (status.equals(node.get("status").asText())) {
                return node;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("batch " + batchId + " did not reach " + status + ": " + last);
    }

    private static JobStatus status(String jobId, JobState state, int completed, int rows) {
        return JobStatus.newBuilder().setJobId(jobId).setCustomerId("demo").setState(state).setRowCount(rows)
                .setCompletedRows(completed).setFailedRows(0).setShardCount(3).setShardsDone(0).setSpentMicros(0)
                .setUpdatedAtMs(System.currentTimeMillis()).build();
    }

    @Test
    void aBatchNamingARegisteredModelIsShardedIntoItsPoolAndASecondModelUnderTheIdIsDeadLettered() throws Exception {
        String model = "tiny-ingest-" + FileStore.randomHex(4);
        String content = Jsonl.file("reg", 3).replace(Jsonl.MODEL, model);
        upload(DEMO, content, "reg.jsonl").then().statusCode(400);
        io.inferex.events.ModelRegistered reg = io.inferex.events.ModelRegistered.newBuilder().setModelId(model).setTask("embedding")
                .setOnnxSha256("ab".repeat(32)).setOnnxBytes(1000).setTokenizerSha256("cd".repeat(32)).setTokenizerBytes(10)
                .setDimension(8).setMaxTokens(64).setPooling("mean").setMinCosine(0.999).setMaxAbs(0.01).setRegisteredAtMs(1).build();
        io.inferex.events.ModelRegistered swap = io.inferex.events.ModelRegistered.newBuilder(reg).setOnnxSha256("ef".repeat(32)).build();
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            send(p, Topics.MODELS, io.inferex.market.ModelRegistry.recordKey(reg), reg);
            send(p, Topics.MODELS, io.inferex.market.ModelRegistry.recordKey(swap), swap);
        }
        long deadline = System.currentTimeMillis() + 10_000;
        Response file = upload(DEMO, content, "reg.jsonl");
        while (file.statusCode() != 200 && System.currentTimeMillis() < deadline) {
            Thread.sleep(50);
            file = upload(DEMO, content, "reg.jsonl");
        }
        assertEquals(200, file.statusCode(), file.asString());
        String jobId = createBatch(DEMO, file.path("id")).then().statusCode(200).extract().path("id");
        List<ShardTask> shards = values(Topics.SHARD_TASKS, TopicReader.readAll(Topics.SHARD_TASKS.name())).stream()
                .filter(t -> t.getJobId().equals(jobId)).toList();
        assertFalse(shards.isEmpty());
        for (ShardTask t : shards) {
            assertEquals(model, t.getModel());
            assertEquals(io.inferex.market.Pools.poolKey(model, io.inferex.market.Pools.DEFAULT_CELL), t.getPoolKey());
        }
        List<ConsumerRecord<byte[], byte[]>> dead = TopicReader.readAll(Topics.DEAD_LETTER.name());
        assertTrue(dead.stream().anyMatch(r -> Topics.MODELS.name().equals(DeadLetters.header(r.headers(), DeadLetters.SOURCE_TOPIC))
                && io.inferex.market.ModelRegistry.recordKey(swap).equals(new String(r.key(), StandardCharsets.UTF_8))
                && DeadLetters.header(r.headers(), DeadLetters.ERROR_MESSAGE).contains("already registered")),
                "the second model under the id is dead-lettered with the reason");
    }

    /**
     * Several instances: an upload and a batch (with its Idempotency-Key) that another instance put in
     * the log are served here, the content fetched from the log byte for byte and usable for a create;
     * this instance's own upload is in the log as chunks that are its bytes, and its batch's record is
     * committed with its job.
     */
    @Test
    void anUploadAndABatchOfAnotherInstanceAreServedHereAndThisInstancesOwnAreInTheLog() throws Exception {
        String content = Jsonl.file("elsewhere", 20);
        java.nio.file.Path tmp = java.nio.file.Files.createTempFile("elsewhere", ".jsonl");
        java.nio.file.Files.writeString(tmp, content);
        StoredFile other = new StoredFile("file-" + FileStore.randomHex(12), "demo", StoredFile.PURPOSE_BATCH, "elsewhere.jsonl",
                java.nio.file.Files.size(tmp), System.currentTimeMillis() / 1000, io.inferex.models.ModelChunks.sha256(tmp), 20, null,
                new StoredFile.ShardPlan(16, 524_288, Jsonl.MODEL, 20, 2, null));
        String body = "{\"input_file_id\":\"" + other.id() + "\",\"endpoint\":\"/v1/embeddings\",\"completion_window\":\"24h\"}";
        StoredBatch[] elsewhere = new StoredBatch[1];
        try (KafkaProducer<byte[], byte[]> p = transactionalProducer()) {
            JobPublisher.publishAll(p, "an upload through another instance", () -> IngestLog.sendUpload(p, other, tmp));
            awaitOk("/v1/files/" + other.id());
            assertEquals(content, given().header("Authorization", "Bearer " + DEMO).get("/v1/files/" + other.id() + "/content")
                    .then().statusCode(200).extract().asString(), "fetched from the log, byte for byte");

            // Created here on it: the batch's record is in the log with its job.
            String batchId = given().header("Authorization", "Bearer " + DEMO).header("Idempotency-Key", "here-1")
                    .contentType("application/json").body(body).post("/v1/batches").then().statusCode(200).extract().path("id");
            List<ConsumerRecord<byte[], byte[]>> log = TopicReader.readAll(Topics.INGEST_BATCHES.name(), Topics.JOBS.name());
            JobSubmitted job = values(Topics.JOBS, log.stream().filter(r -> batchId.equals(new String(r.key(), StandardCharsets.UTF_8))).toList()).get(0);
            List<io.inferex.events.IngestBatch> recs = values(Topics.INGEST_BATCHES, log.stream()
                    .filter(r -> batchId.equals(new String(r.key(), StandardCharsets.UTF_8))).toList());
            assertEquals(1, recs.size(), "one batch record, committed with the job");
            assertEquals(other.id(), recs.get(0).getInputFileId());
            assertEquals(job.getEscrowMicros(), recs.get(0).getEscrowMicros());
            assertEquals(20, recs.get(0).getRowCount());
            assertEquals(IdempotencyKeys.keyHash("demo", "here-1"), recs.get(0).getIdempotencyKeyHash());

            // A batch created through another instance: served here, and its Idempotency-Key retried here gets it back.
            elsewhere[0] = new StoredBatch("batch_" + FileStore.randomHex(16), "demo", other.id(), "/v1/embeddings", "24h",
                    System.currentTimeMillis() / 1000, null, Jsonl.MODEL, 20, 2, 16, 524_288, job.getMaxPricePerRowMicros(),
                    20 * job.getMaxPricePerRowMicros(), other.sha256(), null, null, null, null, 0, 0, null).withRequests(20, List.of());
            JobPublisher.publishAll(p, "a batch through another instance", () -> p.send(IngestLog.batchRecord(elsewhere[0],
                    IdempotencyKeys.keyHash("demo", "elsewhere-1"), IdempotencyKeys.fingerprint(JSON.readTree(body)))));
        }
        awaitOk("/v1/batches/" + elsewhere[0].id());
        Response retried = given().header("Authorization", "Bearer " + DEMO).header("Idempotency-Key", "elsewhere-1")
                .contentType("application/json").body(body).post("/v1/batches");
        retried.then().statusCode(200).body("id", equalTo(elsewhere[0].id())).body("input_file_id", equalTo(other.id()));
        assertEquals("true", retried.header("Idempotent-Replayed"));

        // This instance's upload: its chunks at the recorded offsets are its bytes.
        String mine = Jsonl.file("mine", 7);
        String mineId = upload(DEMO, mine, "mine.jsonl").then().statusCode(200).extract().path("id");
        List<ConsumerRecord<byte[], byte[]>> files = TopicReader.readAll(Topics.INGEST_FILES.name(), Topics.INGEST_FILE_CHUNKS.name());
        io.inferex.events.IngestFile meta = values(Topics.INGEST_FILES, files.stream()
                .filter(r -> mineId.equals(new String(r.key(), StandardCharsets.UTF_8))).toList()).get(0);
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        for (long offset : meta.getChunkOffsets()) {
            ConsumerRecord<byte[], byte[]> chunk = files.stream().filter(r -> r.topic().equals(Topics.INGEST_FILE_CHUNKS.name())
                    && r.partition() == meta.getChunkPartition() && r.offset() == offset).findFirst().orElseThrow();
            java.nio.ByteBuffer data = Topics.INGEST_FILE_CHUNKS.valueSerde().deserializer().deserialize("", chunk.value()).getData();
            bytes.write(data.array(), data.arrayOffset() + data.position(), data.remaining());
        }
        assertEquals(mine, bytes.toString(StandardCharsets.UTF_8));
    }

    private static void awaitOk(String path) throws InterruptedException {
        long deadline = System.currentTimeMillis() + 20_000;
        while (given().header("Authorization", "Bearer " + DEMO).get(path).statusCode() != 200) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError(path + " not served within 20 s");
            }
            Thread.sleep(50);
        }
    }

    private static KafkaProducer<byte[], byte[]> transactionalProducer() {
        Properties p = new Properties();
        p.putAll(EmbeddedKafkaBroker.shared().clientConfig());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "inferex-ingest-apitest-" + FileStore.randomHex(4));
        KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
        producer.initTransactions();
        return producer;
    }

    private static KafkaProducer<byte[], byte[]> producer() {
        Properties p = new Properties();
        p.putAll(EmbeddedKafkaBroker.shared().clientConfig());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    private static <V> void send(KafkaProducer<byte[], byte[]> p, Topic<String, V> topic, String key, V value) throws Exception {
        p.send(JobPublisher.record(topic, key, value)).get();
    }
}
