package io.inferex.load;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import com.fasterxml.jackson.databind.JsonNode;
import io.inferex.events.PaymentKind;
import io.inferex.local.DemoRun;
import io.inferex.local.LocalStack;
import io.inferex.local.MarketHttp;
import io.inferex.local.PaymentGateway;
import io.inferex.market.Accounts;
import io.inferex.market.Money;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;
import org.junit.jupiter.api.Test;

/**
 * Issue 10's acceptance test for several ingest instances, on the real stack (every service its own
 * process): the upload goes to ingest, the batch is created through ingest-2, ingest-2 is SIGKILLed
 * right after, and the batch completes with ingest serving its output; ingest-2, restarted with its
 * data dir wiped, rebuilds from the log and serves the same batch and the same output bytes.
 */
class TwoIngestInstancesIT {
    static final Path ROOT = Path.of(System.getProperty("inferex.repo.root", "..")).toAbsolutePath().normalize();
    static final Duration WAIT = Duration.ofSeconds(180);

    @Test
    void aBatchCreatedThroughAnInstanceKilledMidBatchCompletesAndBothInstancesServeTheSameOutput() throws Exception {
        Path runDir = Files.createDirectories(ROOT.resolve("load-tests/target/two-ingest-run-" + System.currentTimeMillis()));
        Map<String, String> props = new LinkedHashMap<>(LocalStack.challengeWindowProperties(Duration.ofSeconds(5)));
        props.putAll(DemoRun.SERVICE_PROPERTIES);
        props.put("inferex.matcher.missed-heartbeats", "10");
        try (LocalStack stack = LocalStack.start(new LocalStack.Options(ROOT, runDir, null, 2, WAIT, props), System.out)) {
            String one = stack.urls().get("ingest");
            String two = stack.startIngest("ingest-2", System.out);
            MarketHttp http = new MarketHttp(DemoRun.API_KEY);
            try (PaymentGateway gateway = new PaymentGateway(stack.paymentGatewayConfig())) {
                gateway.pay(List.of(PaymentGateway.payment(Accounts.customer(DemoRun.CUSTOMER), PaymentKind.DEPOSIT, Money.units(10))));
            }
            http.awaitAvailable(two, Money.units(10), WAIT);

            Path input = runDir.resolve("input.jsonl");
            Files.write(input, Files.readAllLines(ROOT.resolve("examples/embeddings-demo.jsonl")).subList(0, 48));
            String fileId = http.uploadBatchFile(one + "/v1/files", input).get("id").asText();
            String batchId = http.postJson(two + "/v1/batches", Map.of("input_file_id", fileId, "endpoint", "/v1/embeddings",
                    "completion_window", "24h")).get("id").asText();
            stack.process("ingest-2").kill(); // mid-batch: its shards are not even leased yet

            JsonNode done = await(http, one + "/v1/batches/" + batchId, b -> "final".equals(b.at("/inferex/verification").asText()));
            assertEquals("completed", done.get("status").asText(), done.toString());
            assertEquals(48, done.at("/request_counts/completed").asInt(), done.toString());
            byte[] output = download(http, one, done.get("output_file_id").asText(), runDir.resolve("out-1.jsonl"));
            assertEquals(48, new String(output, java.nio.charset.StandardCharsets.UTF_8).lines().count());

            // The killed instance, back with an empty data dir: everything from the log.
            FileCleanup.deleteTree(runDir.resolve("state/ingest-2/ingest-data"));
            assertFalse(Files.exists(runDir.resolve("state/ingest-2/ingest-data")));
            stack.restart("ingest-2");
            JsonNode again = await(http, two + "/v1/batches/" + batchId, b -> "final".equals(b.at("/inferex/verification").asText()));
            for (String field : List.of("id", "status", "input_file_id", "output_file_id", "created_at", "completed_at", "request_counts")) {
                assertEquals(done.get(field), again.get(field), field);
            }
            assertArrayEquals(output, download(http, two, done.get("output_file_id").asText(), runDir.resolve("out-2.jsonl")),
                    "the same output bytes from both instances");
            assertEquals(http.get(one + "/v1/files/" + fileId), http.get(two + "/v1/files/" + fileId), "the same input file object");
        }
    }

    private static JsonNode await(MarketHttp http, String url, Predicate<JsonNode> done) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        JsonNode last = null;
        while (System.nanoTime() < deadline) {
            try {
                last = http.get(url);
                if (done.test(last)) {
                    return last;
                }
            } catch (MarketHttp.HttpFailure notYet) {
                last = null;
            }
            Thread.sleep(250);
        }
        throw new AssertionError(url + " not done within " + WAIT + ": " + last);
    }

    private static byte[] download(MarketHttp http, String ingest, String fileId, Path to) throws java.io.IOException {
        http.download(ingest + "/v1/files/" + fileId + "/content", to);
        return Files.readAllBytes(to);
    }

    /** Deletes a directory tree. */
    private static final class FileCleanup {
        static void deleteTree(Path dir) throws java.io.IOException {
            if (!Files.exists(dir)) {
                return;
            }
            try (var s = Files.walk(dir)) {
                for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.delete(p);
                }
            }
        }
    }
}
