package io.inferex.ingest;

import static io.restassured.RestAssured.given;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.ShardResult;
import io.inferex.events.VerdictOutcome;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.local.EmbeddedKafkaTestResource;
import io.inferex.topics.Topics;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusIntegrationTest;
import io.restassured.response.Response;
import java.io.BufferedReader;
import java.io.BufferedWriter;
import java.io.InputStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * A file at OpenAI's limits (issue 10): 50,000 lines, about 200 MB, through upload → create →
 * (the market played by this test: every shard's result, verdict, then FINALIZING) → output content,
 * and the input's content downloaded back, against ingest's packaged jar run as its own process with
 * its heap capped ({@code -Dquarkus.test.arg-line=-Xmx256m}; the embedded broker and this test stay
 * in the test's JVM). Every byte goes from disk to disk: the file is generated on disk,
 * uploaded with the JDK's client from the file, and downloads are written to disk and checked by
 * digest or line by line. Prints the times and the heap's peak. Not a suite test:
 *
 * <pre>./mvnw -o -pl ingest -am verify -Dtest=NONE -Dsurefire.failIfNoSpecifiedTests=false -Dingest.skipITs=false -Dit.test=LargeFileIT -Dinferex.benchmark=true -Dquarkus.test.arg-line=-Xmx256m -Dquarkus.test.integration-test-profile=test</pre>
 */
@QuarkusIntegrationTest
@QuarkusTestResource(value = EmbeddedKafkaTestResource.class, initArgs = @io.quarkus.test.common.ResourceArg(name = "principal", value = "ingest"))
@QuarkusTestResource(FreshDataDir.class)
@EnabledIfSystemProperty(named = "inferex.benchmark", matches = "true")
class LargeFileIT {
    static final int LINES = 50_000;
    static final long MAX_BYTES = 200L * 1024 * 1024;
    private static final HttpClient HTTP = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
    private static final ObjectMapper JSON = new ObjectMapper();

    @Test
    void twoHundredMegabytesOfFiftyThousandLinesGoThroughUploadCreateAndContentUnderACappedHeap() throws Exception {
        new IngestApiTest().awaitReady();
        // The service under test is the packaged jar in its own process: its heap cap is on its command line.
        String ingest = ProcessHandle.current().descendants().map(ph -> ph.info().commandLine().orElse(""))
                .filter(c -> c.contains("quarkus-run.jar")).findFirst().orElseThrow(() -> new AssertionError("no ingest process"));
        System.out.println("ingest runs as: " + ingest);
        assertTrue(ingest.contains("-Xmx256m"), "run it with -Dquarkus.test.arg-line=-Xmx256m: " + ingest);
        System.out.printf(Locale.ROOT, "ingest's arg line: %s; load average %s%n", System.getProperty("quarkus.test.arg-line"),
                Files.readString(Path.of("/proc/loadavg")).trim());
        Path dir = Files.createTempDirectory(Files.createDirectories(Path.of("target", "test-ingest-data")), "large-");
        Path input = dir.resolve("large.jsonl");
        int lineBytes = (int) (MAX_BYTES / LINES) - 1; // with its newline, the file just fits
        String pad = "word ".repeat(lineBytes);
        try (BufferedWriter w = Files.newBufferedWriter(input)) {
            for (int i = 0; i < LINES; i++) {
                String head = Jsonl.line("L" + i, "");
                String line = Jsonl.line("L" + i, pad.substring(0, lineBytes - head.length()).stripTrailing() + "x");
                w.write(line);
                w.write('\n');
            }
        }
        long size = Files.size(input);
        assertTrue(size <= MAX_BYTES && size > MAX_BYTES - LINES * 2L, "about 200 MB: " + size);

        long t0 = System.nanoTime();
        String boundary = "inferex-large-7f3a";
        HttpRequest up = HttpRequest.newBuilder(URI.create("http://localhost:" + io.restassured.RestAssured.port + "/v1/files"))
                .header("Authorization", "Bearer " + IngestApiTest.DEMO)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.concat(
                        HttpRequest.BodyPublishers.ofString("--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--"
                                + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"large.jsonl\"\r\n"
                                + "Content-Type: application/jsonl\r\n\r\n"),
                        HttpRequest.BodyPublishers.ofFile(input),
                        HttpRequest.BodyPublishers.ofString("\r\n--" + boundary + "--\r\n")))
                .build();
        HttpResponse<String> upAnswer = HTTP.send(up, HttpResponse.BodyHandlers.ofString());
        assertEquals(200, upAnswer.statusCode(), upAnswer.body());
        String fileId = JSON.readTree(upAnswer.body()).get("id").asText();
        long t1 = System.nanoTime();
        Response created = IngestApiTest.createBatch(IngestApiTest.DEMO, fileId);
        assertEquals(200, created.statusCode(), created.asString());
        String jobId = created.path("id");
        long t2 = System.nanoTime();

        Path inputBack = dir.resolve("input-back.jsonl");
        assertEquals(200, download(fileId, inputBack));
        assertEquals(digest(input), digest(inputBack), "the input's content is the upload, byte for byte");
        Files.delete(inputBack);
        long t3 = System.nanoTime();

        int shards = created.path("inferex.shard_count") instanceof Integer n ? n : shardCount(jobId);
        playMarket(jobId, shards);
        JsonNode done = awaitCompleted(jobId);
        long t4 = System.nanoTime();
        Path output = dir.resolve("output.jsonl");
        assertEquals(200, download(done.get("output_file_id").asText(), output));
        int lines = 0;
        try (BufferedReader r = Files.newBufferedReader(output)) {
            for (String l = r.readLine(); l != null; l = r.readLine()) {
                JsonNode o = JSON.readTree(l);
                assertEquals("L" + lines, o.get("custom_id").asText());
                assertEquals(Results.DIM, o.at("/response/body/data/0/embedding").size());
                lines++;
            }
        }
        assertEquals(LINES, lines);
        long t5 = System.nanoTime();
        System.out.printf(Locale.ROOT, "input %,d bytes, %,d lines, %d shards; output %,d bytes%n", size, LINES, shards, Files.size(output));
        System.out.printf(Locale.ROOT, "upload %.1f s, create %.1f s, input content %.1f s, market + output written %.1f s, output content %.1f s%n",
                (t1 - t0) / 1e9, (t2 - t1) / 1e9, (t3 - t2) / 1e9, (t4 - t3) / 1e9, (t5 - t4) / 1e9);
        System.out.printf(Locale.ROOT, "load average at end %s%n", Files.readString(Path.of("/proc/loadavg")).trim());
    }

    private static int shardCount(String jobId) {
        return IngestApiTest.values(Topics.JOBS, TopicReader.readAll(Topics.JOBS.name())).stream()
                .filter(j -> j.getJobId().equals(jobId)).findFirst().orElseThrow().getShardCount();
    }

    /** Every shard's result (one row per line, 16 lines a shard) and verdict, then FINALIZING, streamed. */
    private static void playMarket(String jobId, int shards) throws Exception {
        Properties p = new Properties();
        p.putAll(EmbeddedKafkaBroker.shared().clientConfig());
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 1 << 20);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            int line = 0;
            for (int s = 0; s < shards; s++) {
                List<String> ids = new ArrayList<>();
                int per = (LINES + shards - 1) / shards;
                for (int k = 0; k < per && line < LINES; k++) {
                    ids.add("L" + line++);
                }
                ShardResult r = Results.result(jobId, s, shards, 1, ids, 0f);
                producer.send(JobPublisher.record(Topics.RESULTS, r.getTaskId(), r));
                producer.send(JobPublisher.record(Topics.VERDICTS, jobId, Results.verdict(r, VerdictOutcome.ACCEPTED)));
            }
            assertEquals(LINES, line, "the shards cover every line");
            producer.send(JobPublisher.record(Topics.JOB_STATUS, jobId, JobStatus.newBuilder().setJobId(jobId).setCustomerId("demo")
                    .setState(JobState.FINALIZING).setRowCount(LINES).setCompletedRows(LINES).setFailedRows(0)
                    .setShardCount(shards).setShardsDone(shards).setSpentMicros(0).setUpdatedAtMs(System.currentTimeMillis()).build()));
            producer.flush();
        }
    }

    private static JsonNode awaitCompleted(String jobId) throws Exception {
        long deadline = System.nanoTime() + 600_000_000_000L;
        while (System.nanoTime() < deadline) {
            JsonNode b = JSON.readTree(given().header("Authorization", "Bearer " + IngestApiTest.DEMO).get("/v1/batches/" + jobId).asString());
            if ("completed".equals(b.path("status").asText())) {
                return b;
            }
            Thread.sleep(500);
        }
        throw new AssertionError(jobId + " not completed in 10 min");
    }

    private static int download(String fileId, Path to) throws Exception {
        HttpRequest get = HttpRequest.newBuilder(URI.create("http://localhost:" + io.restassured.RestAssured.port + "/v1/files/" + fileId + "/content"))
                .header("Authorization", "Bearer " + IngestApiTest.DEMO).GET().build();
        return HTTP.send(get, HttpResponse.BodyHandlers.ofFile(to)).statusCode();
    }

    private static String digest(Path p) throws Exception {
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(p)) {
            byte[] buf = new byte[1 << 16];
            for (int n = in.read(buf); n > 0; n = in.read(buf)) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }
}
