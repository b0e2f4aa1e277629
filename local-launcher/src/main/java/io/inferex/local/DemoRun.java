package io.inferex.local;

import com.fasterxml.jackson.databind.JsonNode;
import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.market.Accounts;
import io.inferex.market.Money;
import io.inferex.market.VerificationIds;
import io.inferex.topics.Topics;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;

/**
 * The demo's job, against a running stack: fund a customer and stake the nodes, submit a batch
 * over the OpenAI Batch API, follow it, download and check the output, and print what happened
 * and whether the money adds up. Returns the problems found; none means success.
 */
public final class DemoRun {
    public static final String API_KEY = "sk-inferex-demo";
    /** What a stack running the demo needs: ingest accepting {@link #API_KEY} (off in every other deployment). */
    public static final java.util.Map<String, String> SERVICE_PROPERTIES = java.util.Map.of("inferex.ingest.demo-key-enabled", "true");
    public static final String CUSTOMER = "demo";
    public static final long CUSTOMER_DEPOSIT = Money.units(10);
    static final double NORM_TOLERANCE = 1e-5;

    private final LocalStack stack;
    private final PrintStream out;
    private final MarketHttp http = new MarketHttp(API_KEY);
    private final MarketHttp operatorHttp;
    private final List<String> problems = new ArrayList<>();
    private String batchId;
    private Path outputFile;

    public DemoRun(LocalStack stack, PrintStream out) {
        this.stack = stack;
        this.out = out;
        this.operatorHttp = new MarketHttp(stack.operator().token());
    }

    /** What a run found: the batch, where its output went, and every problem (none means success). */
    public record Report(String batchId, Path outputFile, List<String> problems) {}

    public Report run(Path input, Path outputDir, Duration timeout) throws IOException {
        runBatch(input, outputDir, timeout);
        return new Report(batchId, outputFile, List.copyOf(problems));
    }

    private void runBatch(Path input, Path outputDir, Duration timeout) throws IOException {
        List<String> inputIds = customIds(input);
        Map<String, String> urls = stack.urls();
        Map<String, String> nodeIds = new TreeMap<>(stack.executorNodeIds()); // staked by the stack at start
        long deposited = fund();
        http.awaitAvailable(urls.get("ingest"), CUSTOMER_DEPOSIT, Duration.ofSeconds(60)); // ingest escrows at create
        out.println("funded customer:" + CUSTOMER + " with " + Money.format(CUSTOMER_DEPOSIT) + "; nodes (staked at start) " + nodeIds);

        VerdictWatch verdicts = new VerdictWatch(stack.operatorConfig());
        try {
            JsonNode file;
            JsonNode batch;
            long t0;
            try {
                file = http.uploadBatchFile(urls.get("ingest") + "/v1/files", input);
                t0 = System.nanoTime();
                batch = http.postJson(urls.get("ingest") + "/v1/batches", Map.of("input_file_id", file.get("id").asText(),
                        "endpoint", "/v1/embeddings", "completion_window", "24h"));
            } catch (MarketHttp.HttpFailure refused) {
                refusal(input, refused);
                return;
            }
            batchId = batch.get("id").asText();
            out.println("submitted " + input.getFileName() + " (" + inputIds.size() + " rows) as " + batchId);
            verdicts.follow(batchId);

            batch = follow(urls.get("ingest") + "/v1/batches/" + batchId, inputIds.size(), timeout);
            double seconds = (System.nanoTime() - t0) / 1e9;
            String status = batch.get("status").asText();
            if (!status.equals("completed")) {
                problems.add("batch ended " + status + ": " + batch.path("errors"));
                return;
            }
            Path output = outputDir.resolve(batchId + "-output.jsonl");
            outputFile = output;
            http.download(urls.get("ingest") + "/v1/files/" + batch.get("output_file_id").asText() + "/content", output);
            int goodLines = checkOutput(output, inputIds);

            // The output is ready once every shard is accepted (provisionally). Settlement pays each
            // shard when the verifier declares it final, after its challenge window; wait for that.
            Duration window = stack.challengeWindow();
            out.printf("output ready; waiting out the %d s challenge window for finality and payment ...%n", window.toSeconds());
            JsonNode job = settled(urls.get("settlement") + "/ledger/jobs/" + batchId, window.plusSeconds(60));
            JsonNode ledger = operatorHttp.get(urls.get("settlement") + "/ledger/balances");
            Map<String, Integer> rowsPerNode = verdicts.acceptedRowsPerNode(job.get("shardCount").asInt(), Duration.ofSeconds(10));

            out.println();
            out.println("Inferex demo: " + batchId);
            out.printf("  rows        %d (%d completed, %d failed)%n", inputIds.size(),
                    batch.path("request_counts").path("completed").asInt(), batch.path("request_counts").path("failed").asInt());
            out.printf("  shards      %d%n", job.get("shardCount").asInt());
            StringBuilder nodes = new StringBuilder();
            rowsPerNode.forEach((node, rows) -> nodes.append(nodes.length() == 0 ? "" : ", ").append(node).append(" ").append(rows).append(" rows"));
            out.printf("  nodes       %d used: %s%n", rowsPerNode.size(), nodes);
            out.printf("  wall time   %.1f s, %.1f rows/s (submit to completed)%n", seconds, inputIds.size() / seconds);
            out.printf("  verdicts    %d accepted, %d rejected; %d sampled re-executions accepted%n",
                    verdicts.count(VerdictOutcome.ACCEPTED, false), verdicts.count(VerdictOutcome.REJECTED, false),
                    verdicts.count(VerdictOutcome.ACCEPTED, true));
            out.printf("  output      %s (%d lines, %d-dim unit vectors, custom_ids in input order)%n", output, goodLines, 384);
            printLedger(ledger, batchId, nodeIds.values(), job, deposited);
        } finally {
            verdicts.close();
        }
    }

    private JsonNode settled(String url, Duration wait) {
        long deadline = System.nanoTime() + wait.toNanos();
        JsonNode job = operatorHttp.get(url);
        while (!TERMINAL_LEDGER_STATES.contains(job.path("state").asText()) && System.nanoTime() < deadline) {
            sleep(100);
            job = operatorHttp.get(url);
        }
        if (!TERMINAL_LEDGER_STATES.contains(job.path("state").asText())) {
            problems.add("settlement had not paid and closed the job " + wait.toSeconds() + " s after its output was ready: " + job);
        }
        return job;
    }

    private static final java.util.Set<String> TERMINAL_LEDGER_STATES = java.util.Set.of("COMPLETED", "FAILED", "EXPIRED", "CANCELLED");

    /** Deposits for the customer through the payment gateway's own principal, the only writer of payments. */
    private long fund() {
        List<Payment> payments = List.of(PaymentGateway.payment(Accounts.customer(CUSTOMER), PaymentKind.DEPOSIT, CUSTOMER_DEPOSIT));
        try (PaymentGateway gateway = new PaymentGateway(stack.paymentGatewayConfig())) {
            gateway.pay(payments);
        }
        return CUSTOMER_DEPOSIT + LocalStack.EXECUTOR_STAKE_MICROS * stack.executorNodeIds().size();
    }

    private JsonNode follow(String url, int rows, Duration timeout) {
        boolean tty = System.console() != null;
        long deadline = System.nanoTime() + timeout.toNanos();
        int lastShown = -1;
        while (true) {
            JsonNode batch = http.get(url);
            int done = batch.path("request_counts").path("completed").asInt() + batch.path("request_counts").path("failed").asInt();
            String status = batch.get("status").asText();
            int width = 40;
            int filled = rows == 0 ? width : (int) ((long) done * width / rows);
            String bar = "[" + "#".repeat(filled) + ".".repeat(width - filled) + "] " + done + "/" + rows + " rows  " + status;
            if (tty) {
                out.print("\r" + bar);
            } else if (done * 10 / Math.max(rows, 1) != lastShown) {
                out.println(bar);
                lastShown = done * 10 / Math.max(rows, 1);
            }
            if (TERMINAL.contains(status)) {
                if (tty) {
                    out.println();
                }
                return batch;
            }
            if (System.nanoTime() > deadline) {
                out.println();
                throw new IllegalStateException("batch not finished within " + timeout.toSeconds() + " s: " + bar);
            }
            sleep(250);
        }
    }

    /** Every line: the input's custom_id in input order, status 200, one 384-dim embedding of norm 1 ± 1e-5. */
    private int checkOutput(Path output, List<String> inputIds) throws IOException {
        List<String> lines = Files.readAllLines(output, StandardCharsets.UTF_8);
        if (lines.size() != inputIds.size()) {
            problems.add("output has " + lines.size() + " lines for " + inputIds.size() + " input lines");
        }
        int good = 0;
        for (int i = 0; i < lines.size(); i++) {
            JsonNode line = MarketHttp.JSON.readTree(lines.get(i));
            String id = line.path("custom_id").asText();
            if (i < inputIds.size() && !id.equals(inputIds.get(i))) {
                problems.add("output line " + (i + 1) + " has custom_id " + id + ", expected " + inputIds.get(i));
                continue;
            }
            JsonNode embedding = line.path("response").path("body").path("data").path(0).path("embedding");
            if (line.path("response").path("status_code").asInt() != 200 || embedding.size() != 384) {
                problems.add("output line " + (i + 1) + " (" + id + ") is not a 384-dim embedding: " + lines.get(i).substring(0,
                        Math.min(200, lines.get(i).length())));
                continue;
            }
            double sq = 0;
            for (JsonNode v : embedding) {
                sq += v.asDouble() * v.asDouble();
            }
            if (Math.abs(Math.sqrt(sq) - 1) > NORM_TOLERANCE) {
                problems.add("output line " + (i + 1) + " (" + id + ") has norm " + Math.sqrt(sq));
                continue;
            }
            good++;
        }
        return good;
    }

    private void printLedger(JsonNode ledger, String batchId, java.util.Collection<String> nodeIds, JsonNode job, long deposited) {
        JsonNode balances = ledger.get("balances");
        long customerBalance = balances.path(Accounts.customer(CUSTOMER)).asLong();
        long treasury = balances.path(Accounts.TREASURY).asLong();
        long escrow = balances.path(Accounts.escrow(batchId)).asLong();
        long payouts = 0;
        out.println("  ledger      (units; node balances after their own stake)");
        out.printf("    %-28s %s%n", Accounts.customer(CUSTOMER), Money.format(customerBalance));
        for (String node : nodeIds) {
            long b = balances.path(Accounts.node(node)).asLong();
            payouts += b;
            out.printf("    %-28s %s   (stake %s)%n", Accounts.node(node), Money.format(b),
                    Money.format(balances.path(Accounts.stake(node)).asLong()));
        }
        out.printf("    %-28s %s%n", Accounts.TREASURY, Money.format(treasury));
        out.printf("    %-28s %s%n", Accounts.escrow(batchId), Money.format(escrow));
        long spent = CUSTOMER_DEPOSIT - customerBalance;
        boolean conserved = ledger.get("conserved").asBoolean() && ledger.get("depositedMicros").asLong() >= deposited;
        boolean paysAddUp = spent == payouts + treasury && spent == job.get("spentMicros").asLong();
        out.printf("  money       %s: sum of all accounts %d, inside the market %s = deposits; customer spent %s = node balances %s + treasury %s (fees less verification pay); escrow left %s%n",
                conserved && paysAddUp && escrow == 0 ? "conserved" : "NOT CONSERVED", ledger.get("sumMicros").asLong(),
                Money.format(ledger.get("depositedMicros").asLong()), Money.format(spent), Money.format(payouts),
                Money.format(treasury), Money.format(escrow));
        if (!conserved) {
            problems.add("ledger does not sum to zero: " + ledger);
        }
        if (!paysAddUp) {
            problems.add("customer spent " + spent + " but payouts + fee = " + (payouts + treasury) + ", job says " + job.get("spentMicros"));
        }
        if (escrow != 0) {
            problems.add("escrow of " + batchId + " not released: " + escrow);
        }
    }

    /** Ingest refused the file or the batch: one problem per reason, with its line number. */
    private void refusal(Path input, MarketHttp.HttpFailure refused) {
        try {
            JsonNode error = MarketHttp.JSON.readTree(refused.body).path("error");
            problems.add("ingest refused " + input.getFileName() + " (HTTP " + refused.status + "): " + error.path("message").asText());
            for (JsonNode e : error.path("errors")) {
                problems.add("  line " + e.path("line").asInt() + ": " + e.path("message").asText());
            }
        } catch (IOException notJson) {
            problems.add(refused.getMessage());
        }
    }

    static List<String> customIds(Path input) throws IOException {
        List<String> ids = new ArrayList<>();
        for (String line : Files.readAllLines(input, StandardCharsets.UTF_8)) {
            if (!line.isBlank()) {
                ids.add(MarketHttp.JSON.readTree(line).path("custom_id").asText());
            }
        }
        return ids;
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    private static final java.util.Set<String> TERMINAL = java.util.Set.of("completed", "failed", "expired", "cancelled");

    /** Reads the verdicts of one job in the background, to say which node ran what. */
    private static final class VerdictWatch implements AutoCloseable {
        private final Map<String, Verdict> accepted = new ConcurrentHashMap<>();
        private final Map<String, Verdict> all = new ConcurrentHashMap<>();
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final Map<String, Object> operator;
        private volatile String jobId;
        private Thread thread;

        VerdictWatch(Map<String, Object> operator) {
            this.operator = operator;
        }

        void follow(String jobId) {
            this.jobId = jobId;
            Properties p = new Properties();
            p.putAll(operator);
            p.put(ConsumerConfig.GROUP_ID_CONFIG, "demo-" + UUID.randomUUID());
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            thread = new Thread(() -> {
                try (var consumer = new KafkaConsumer<>(p, Topics.VERDICTS.keySerde().deserializer(),
                        new org.apache.kafka.common.serialization.ByteArrayDeserializer())) {
                    consumer.subscribe(List.of(Topics.VERDICTS.name()));
                    while (running.get()) {
                        for (var r : consumer.poll(Duration.ofMillis(200))) {
                            if (!jobId.equals(r.key())) {
                                continue;
                            }
                            Verdict v = Topics.VERDICTS.valueSerde().deserializer().deserialize(r.topic(), r.value());
                            all.put(v.getVerdictId(), v);
                            if (v.getOutcome() == VerdictOutcome.ACCEPTED && !VerificationIds.isVerification(v.getTaskId())) {
                                accepted.putIfAbsent(v.getTaskId(), v);
                            }
                        }
                    }
                }
            }, "demo-verdicts");
            thread.setDaemon(true);
            thread.start();
        }

        Map<String, Integer> acceptedRowsPerNode(int shards, Duration wait) {
            long deadline = System.nanoTime() + wait.toNanos();
            while (accepted.size() < shards && System.nanoTime() < deadline) {
                sleep(100);
            }
            Map<String, Integer> rows = new TreeMap<>();
            accepted.values().forEach(v -> rows.merge(v.getNodeId(), v.getRowCount(), Integer::sum));
            return rows;
        }

        /** Verdicts with this outcome, on re-executions ({@code verification}) or on the shards themselves. */
        long count(VerdictOutcome outcome, boolean verification) {
            return all.values().stream()
                    .filter(v -> v.getOutcome() == outcome && VerificationIds.isVerification(v.getTaskId()) == verification).count();
        }

        @Override
        public void close() {
            running.set(false);
        }
    }
}
