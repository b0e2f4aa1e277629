package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.inferex.events.JobSubmitted;
import io.inferex.ingest.BatchFileValidator.Limits;
import io.inferex.local.EmbeddedKafkaTestResource;
import io.inferex.topics.Topics;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import io.restassured.response.Response;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Acceptance throughput (issue 10): how many request lines per second ingest validates and publishes
 * for a 50,000-line file (OpenAI's line limit), through HTTP against the embedded broker, as a
 * customer's SDK would: upload (streamed to disk, every line validated) then create (the stored file
 * re-validated, cut into shards and the job with all its shards committed in one Kafka transaction).
 * Also the validator alone, in memory, and the service's own work for the same two requests (their
 * body already on disk), which tells the HTTP transport's share. Not a suite test: it runs only with
 * {@code -Dinferex.benchmark=true} (skipped before Quarkus starts otherwise):
 *
 * <pre>./mvnw -o -pl ingest -am test -Dtest=IngestThroughputBenchmark -Dsurefire.failIfNoSpecifiedTests=false -Dinferex.benchmark=true</pre>
 *
 * Warm-up rounds first (the JIT needs them on two cores), then {@code -Dinferex.benchmark.rounds}
 * (default 3) measured rounds; it prints each round and the best.
 */
@QuarkusTest
@QuarkusTestResource(value = EmbeddedKafkaTestResource.class, initArgs = @io.quarkus.test.common.ResourceArg(name = "principal", value = "ingest"))
@QuarkusTestResource(FreshDataDir.class)
@EnabledIfSystemProperty(named = "inferex.benchmark", matches = "true")
class IngestThroughputBenchmark {
    static final int LINES = 50_000;

    @jakarta.inject.Inject
    BatchService batches;

    @Test
    void fiftyThousandLinesValidatedAndPublished() throws Exception {
        new IngestApiTest().awaitReady(); // and funded: a create escrows 50,000 x 200 micro-units
        int rounds = Integer.getInteger("inferex.benchmark.rounds", 3);
        byte[] file = Jsonl.file("bench", LINES).getBytes(StandardCharsets.UTF_8);
        System.out.printf(Locale.ROOT, "file: %,d lines, %,d bytes; load average at start: %s%n", LINES, file.length, loadAverage());

        BatchFileValidator validator = new BatchFileValidator(Limits.DEFAULT);
        for (int i = 0; i < 5; i++) {
            validator.validate(new ByteArrayInputStream(file));
        }
        double bestValidate = 0;
        for (int i = 0; i < rounds; i++) {
            long t0 = System.nanoTime();
            BatchFileValidator.Result r = validator.validate(new ByteArrayInputStream(file));
            double s = (System.nanoTime() - t0) / 1e9;
            assertEquals(LINES, r.requestCount());
            bestValidate = Math.max(bestValidate, LINES / s);
            System.out.printf(Locale.ROOT, "validator alone, round %d: %.3f s, %,.0f lines/s%n", i + 1, s, LINES / s);
        }

        // The service itself (what a request runs once its body is on disk): upload = validate + store,
        // create = re-validate, cut, publish and commit.
        java.nio.file.Path onDisk = java.nio.file.Files.createTempFile("bench", ".jsonl");
        java.nio.file.Files.write(onDisk, file);
        String request = "{\"input_file_id\":\"%s\",\"endpoint\":\"/v1/embeddings\",\"completion_window\":\"24h\"}";
        List<String> jobs = new ArrayList<>();
        double bestService = 0;
        for (int i = 0; i < 2 + rounds; i++) {
            long t0 = System.nanoTime();
            StoredFile f = batches.upload("demo", onDisk, "bench.jsonl", "batch");
            long t1 = System.nanoTime();
            StoredBatch b = batches.create("demo", String.format(request, f.id()));
            long t2 = System.nanoTime();
            double uploadS = (t1 - t0) / 1e9;
            double createS = (t2 - t1) / 1e9;
            System.out.printf(Locale.ROOT, "service %s: upload %.3f s (%,.0f lines/s), create %.3f s (%,.0f lines/s), together %,.0f lines/s%n",
                    i < 2 ? "warm-up " + (i + 1) : "round " + (i - 1), uploadS, LINES / uploadS, createS, LINES / createS,
                    LINES / (uploadS + createS));
            if (i >= 2) {
                bestService = Math.max(bestService, LINES / (uploadS + createS));
                jobs.add(b.id());
            }
        }
        java.nio.file.Files.delete(onDisk);

        for (int i = 0; i < 2; i++) {
            round(file, "HTTP warm-up " + (i + 1));
        }
        double best = 0;
        for (int i = 0; i < rounds; i++) {
            Round r = round(file, "HTTP round " + (i + 1));
            best = Math.max(best, LINES / (r.uploadS + r.createS));
            jobs.add(r.jobId);
        }
        // What was measured was really published: every measured job is in the log with all its rows.
        List<JobSubmitted> published = IngestApiTest.values(Topics.JOBS, TopicReader.readAll(Topics.JOBS.name())).stream()
                .filter(j -> jobs.contains(j.getJobId())).toList();
        assertEquals(2 * rounds, published.size());
        published.forEach(j -> assertEquals(LINES, j.getRowCount()));
        System.out.printf(Locale.ROOT, "BEST: validator alone %,.0f lines/s; service upload + create (validated and published)"
                + " %,.0f lines/s; over HTTP %,.0f lines/s; load average at end: %s%n", bestValidate, bestService, best, loadAverage());
    }

    record Round(String jobId, double uploadS, double createS) {}


    /** One upload (with the JDK's client, see {@link JdkUpload}) and create over HTTP. */
    private static Round round(byte[] file, String name) throws Exception {
        long t0 = System.nanoTime();
        JdkUpload.Answer up = JdkUpload.upload(IngestApiTest.DEMO, "bench.jsonl", file);
        long t1 = System.nanoTime();
        assertEquals(200, up.status(), up.body().toString());
        String fileId = up.body().get("id").asText();
        Response created = IngestApiTest.createBatch(IngestApiTest.DEMO, fileId);
        long t2 = System.nanoTime();
        assertEquals(200, created.statusCode(), created.asString());
        double uploadS = (t1 - t0) / 1e9;
        double createS = (t2 - t1) / 1e9;
        System.out.printf(Locale.ROOT, "%s: upload %.3f s (%,.0f lines/s), create %.3f s (%,.0f lines/s), together %,.0f lines/s%n",
                name, uploadS, LINES / uploadS, createS, LINES / createS, LINES / (uploadS + createS));
        return new Round(created.path("id"), uploadS, createS);
    }

    private static String loadAverage() {
        try {
            return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim();
        } catch (Exception e) {
            return "unknown";
        }
    }
}
