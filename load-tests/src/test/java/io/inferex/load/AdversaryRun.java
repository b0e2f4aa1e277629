package io.inferex.load;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferex.deadletter.DeadLetters;
import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.OutcomeKind;
import io.inferex.events.ShardResult;
import io.inferex.events.Transfer;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.local.DemoRun;
import io.inferex.local.LocalStack;
import io.inferex.local.ManagedProcess;
import io.inferex.local.MarketHttp;
import io.inferex.market.ModelCatalogue;
import io.inferex.topics.Topics;
import io.inferex.verification.RowComparison;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.function.Predicate;

/**
 * Real executor processes in every adversary mode ({@code inferex.node.adversary}) on a running
 * stack, beside its honest executors: each asks half the honest price, so the matcher leases them
 * the whole batch first. {@link #run} starts and stakes {@link #EXECUTORS}, submits one batch over HTTP, waits until
 * settlement has resolved every shard (each FINAL and paid, or FRAUD and refunded), and gathers
 * the evidence each mode's test reads: outcomes, verdicts, leases, dead letters, ledger transfers
 * and balances, the matcher's view of every node, and the customer's output file.
 */
final class AdversaryRun {
    static final ObjectMapper JSON = new ObjectMapper();
    /** Half the honest executors' default ask (100 µ/row): the cheapest nodes in the pool. */
    static final long CHEAT_PRICE_MICROS = 50;
    /** Longer than the stack's lease timeout, so every answer of the delaying node comes after its lease was revoked. */
    static final Duration DELAY = Duration.ofSeconds(12);
    static final String SUBSTITUTE = "executor-substitute-model";
    static final String RANDOM = "executor-random-vectors";
    static final String CORRUPT = "executor-corrupt-fraction";
    static final String DROP = "executor-drop";
    static final String LATE = "executor-delay";
    static final String CRASH = "executor-crash-after";
    static final Map<String, String> MODES = modes();
    static final List<LocalStack.ExtraExecutor> EXECUTORS = MODES.entrySet().stream()
            .map(e -> new LocalStack.ExtraExecutor(e.getKey(), Map.of("inferex.node.adversary", e.getValue(),
                    "inferex.node.price-per-row-micros", Long.toString(CHEAT_PRICE_MICROS))))
            .toList();
    /** How long after the batch completed every shard must be FINAL or FRAUD (disputes among cheaters take referee rounds). */
    static final Duration RESOLVE_TIMEOUT = Duration.ofSeconds(240);
    /** Times the honest input is repeated: 3 x 64 lines = 12 shards of 16 rows, two per adversary's two slots. */
    static final int REPEATS = 3;

    private static Map<String, String> modes() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put(SUBSTITUTE, "substitute-model");
        m.put(RANDOM, "random-vectors");
        m.put(CORRUPT, "corrupt-fraction:0.1");
        m.put(DROP, "drop");
        m.put(LATE, "delay:" + DELAY.toSeconds() + "s");
        m.put(CRASH, "crash-after:1");
        return m;
    }

    /** What the run left behind, read once every shard of the batch was resolved. */
    record Evidence(String jobId, JsonNode batch, Map<String, String> nodeIds, List<VerificationOutcome> outcomes, List<Verdict> verdicts,
            List<Assignment> leases, Map<String, List<String>> deadLettersByNode, List<Transfer> transfers, JsonNode ledger,
            JsonNode settlementJob, Map<String, JsonNode> matcherNodes, List<JsonNode> output, Map<String, List<Float>> reference,
            Map<String, String> exitCodes, double seconds) {

        String nodeId(String executor) {
            return nodeIds.get(executor);
        }

        List<VerificationOutcome> outcomes(String nodeId, OutcomeKind kind) {
            return outcomes.stream().filter(o -> o.getNodeId().equals(nodeId) && o.getKind() == kind).toList();
        }

        List<Verdict> accepted(String nodeId) {
            return verdicts.stream().filter(v -> v.getNodeId().equals(nodeId) && v.getOutcome() == VerdictOutcome.ACCEPTED).toList();
        }

        /** Leases the matcher revoked on the node (expired, or the node died), shard and verification leases alike. */
        List<Assignment> revoked(String nodeId) {
            return leases.stream().filter(a -> a.getNodeId().equals(nodeId) && a.getRevoked()).toList();
        }

        List<Assignment> leasedTo(String nodeId) {
            return leases.stream().filter(a -> a.getNodeId().equals(nodeId) && !a.getRevoked()).toList();
        }

        long balance(String account) {
            return ledger.get("balances").path(account).asLong();
        }

        /** Transfers that credit an account. */
        List<Transfer> credits(String account) {
            return transfers.stream().filter(t -> t.getCreditAccount().equals(account)).toList();
        }

        JsonNode matcherNode(String nodeId) {
            return matcherNodes.get(nodeId);
        }

        List<JsonNode> lines(Predicate<JsonNode> which) {
            return output.stream().filter(which).toList();
        }
    }

    private AdversaryRun() {}

    /** Input lines of the batch: the honest run's lines {@link #REPEATS} times, each repeat with its own custom_ids. */
    static List<String> input(List<String> honestLines) throws IOException {
        List<String> out = new ArrayList<>();
        for (int r = 1; r <= REPEATS; r++) {
            for (String line : honestLines) {
                ObjectNode n = (ObjectNode) JSON.readTree(line);
                n.put("custom_id", "adv" + r + "-" + n.get("custom_id").asText());
                out.add(JSON.writeValueAsString(n));
            }
        }
        return out;
    }

    /** The honest line's custom_id that a line of {@link #input} repeats. */
    static String honestId(String customId) {
        return customId.substring(customId.indexOf('-') + 1);
    }

    static Evidence run(LocalStack stack, Map<String, List<Float>> honestOutput, List<String> honestLines, Path runDir, PrintStream out)
            throws Exception {
        String matcher = stack.urls().get("matcher");
        long s0 = System.nanoTime();
        Map<String, String> started = stack.startExecutors(EXECUTORS, out);
        stack.stake(List.copyOf(started.keySet()), out);
        for (String nodeId : started.values()) {
            awaitNode(stack, n -> n.path("nodeId").asText().equals(nodeId) && n.path("alive").asBoolean()
                    && n.path("eligibleStakeMicros").asLong() >= LocalStack.EXECUTOR_STAKE_MICROS, "alive and staked: " + nodeId);
        }
        Path input = runDir.resolve("adversaries-input.jsonl");
        Files.write(input, input(honestLines));
        MarketHttp http = new MarketHttp(DemoRun.API_KEY);
        String ingest = stack.urls().get("ingest");
        long t0 = System.nanoTime();
        JsonNode file = http.uploadBatchFile(ingest + "/v1/files", input);
        String jobId = http.postJson(ingest + "/v1/batches", Map.of("input_file_id", file.get("id").asText(),
                "endpoint", "/v1/embeddings", "completion_window", "24h")).get("id").asText();
        out.printf("adversaries: %d executors started and staked in %.1f s; submitted %s to %s%n", started.size(),
                (t0 - s0) / 1e9, jobId, started);

        JsonNode batch = await(() -> http.get(ingest + "/v1/batches/" + jobId), b -> Set.of("completed", "failed", "expired",
                "cancelled").contains(b.path("status").asText()), Duration.ofSeconds(180), "batch " + jobId + " finished");
        if (!batch.path("status").asText().equals("completed")) {
            throw new AssertionError("batch ended " + batch);
        }
        MarketHttp operator = new MarketHttp(stack.operator().token());
        JsonNode job = poll(() -> operator.get(stack.urls().get("settlement") + "/ledger/jobs/" + jobId),
                j -> j.path("state").asText().equals("COMPLETED"), RESOLVE_TIMEOUT);
        double seconds = (System.nanoTime() - t0) / 1e9;
        boolean resolved = job.path("state").asText().equals("COMPLETED");
        if (resolved) {
            // A FRAUD outcome bans its node in the verifier; the matcher reads the ban from node-reputation.
            for (String executor : List.of(SUBSTITUTE, RANDOM, CORRUPT)) {
                String id = started.get(executor);
                awaitNode(stack, n -> n.path("nodeId").asText().equals(id) && n.path("banned").asBoolean(), "banned in the matcher: " + executor);
            }
        }
        if (resolved) {
            // Ingest rewrites the output (final or corrected lines) once it has read every outcome.
            batch = await(() -> http.get(ingest + "/v1/batches/" + jobId), b -> b.at("/inferex/verification").asText().equals("final"),
                    Duration.ofSeconds(30), "the output of " + jobId + " rewritten as final");
        }
        out.printf("adversaries: batch %s %s %.1f s after submission%n", jobId, resolved ? "resolved" : "NOT resolved", seconds);

        Path output = runDir.resolve(jobId + "-output.jsonl");
        http.download(ingest + "/v1/files/" + batch.get("output_file_id").asText() + "/content", output);
        List<JsonNode> lines = new ArrayList<>();
        for (String line : Files.readAllLines(output, StandardCharsets.UTF_8)) {
            lines.add(JSON.readTree(line));
        }
        Map<String, List<Float>> reference = new TreeMap<>();
        for (JsonNode line : lines) {
            String id = line.get("custom_id").asText();
            reference.put(id, honestOutput.get(honestId(id)));
        }

        List<VerificationOutcome> outcomes = new ArrayList<>();
        List<Verdict> verdicts = new ArrayList<>();
        List<Assignment> leases = new ArrayList<>();
        List<Transfer> transfers = new ArrayList<>();
        Map<String, List<String>> deadLetters = new TreeMap<>();
        EndToEndIT.readAll(stack.operatorConfig(), List.of(Topics.VERIFICATION_OUTCOMES.name(), Topics.VERDICTS.name(),
                Topics.ASSIGNMENTS.name(), Topics.LEDGER.name(), Topics.DEAD_LETTER.name()), r -> {
                    String topic = r.topic();
                    try {
                        if (topic.equals(Topics.VERIFICATION_OUTCOMES.name())) {
                            keep(outcomes, Topics.VERIFICATION_OUTCOMES.valueSerde().deserializer().deserialize(topic, r.value()),
                                    o -> o.getJobId().equals(jobId));
                        } else if (topic.equals(Topics.VERDICTS.name())) {
                            keep(verdicts, Topics.VERDICTS.valueSerde().deserializer().deserialize(topic, r.value()),
                                    v -> v.getJobId().equals(jobId));
                        } else if (topic.equals(Topics.ASSIGNMENTS.name())) {
                            keep(leases, Topics.ASSIGNMENTS.valueSerde().deserializer().deserialize(topic, r.value()),
                                    a -> a.getJobId().equals(jobId));
                        } else if (topic.equals(Topics.LEDGER.name())) {
                            transfers.add(Topics.LEDGER.valueSerde().deserializer().deserialize(topic, r.value()));
                        } else {
                            ShardResult result = Topics.RESULTS.valueSerde().deserializer().deserialize(topic, r.value());
                            if (jobId.equals(result.getJobId())) {
                                deadLetters.computeIfAbsent(result.getNodeId(), k -> new ArrayList<>())
                                        .add(DeadLetters.header(r.headers(), DeadLetters.ERROR_MESSAGE));
                            }
                        }
                    } catch (RuntimeException otherKind) {
                        // poison from the first test, or a dead letter that is not a result
                    }
                });
        Map<String, JsonNode> nodes = new TreeMap<>();
        for (JsonNode n : operator.get(matcher + "/pools/nodes")) {
            nodes.put(n.get("nodeId").asText(), n);
        }
        JsonNode ledger = operator.get(stack.urls().get("settlement") + "/ledger/balances");
        Map<String, String> exitCodes = new TreeMap<>();
        for (ManagedProcess p : stack.processes()) {
            if (started.containsKey(p.name())) {
                exitCodes.put(p.name(), p.isAlive() ? "alive" : p.exitCode());
            }
        }
        Evidence e = new Evidence(jobId, batch, started, outcomes, verdicts, leases, deadLetters, transfers, ledger, job, nodes, lines,
                reference, exitCodes, seconds);
        print(e, out);
        if (!resolved) {
            throw new AssertionError("settlement had not resolved every shard of " + jobId + " " + RESOLVE_TIMEOUT.toSeconds()
                    + " s after the batch completed (the evidence is printed above): " + job);
        }
        return e;
    }

    /** Per adversary: the figures docs/verification.md quotes ("Adversaries on the real stack"). */
    static void print(Evidence e, PrintStream out) {
        out.printf("adversaries: %s, %d lines, resolved in %.1f s; outcomes %s%n", e.jobId(), e.output().size(), e.seconds(),
                e.outcomes().stream().collect(java.util.stream.Collectors.groupingBy(VerificationOutcome::getKind,
                        TreeMap::new, java.util.stream.Collectors.counting())));
        e.nodeIds().forEach((name, id) -> {
            JsonNode n = e.matcherNode(id);
            out.printf("  %-26s %s leases %2d, revoked %2d, accepted %2d, FRAUD %d, FINAL %d, dead letters %d, stake %s, banned %s,"
                    + " reputation %.3f, process %s%n", name, id, e.leasedTo(id).size(), e.revoked(id).size(), e.accepted(id).size(),
                    e.outcomes(id, OutcomeKind.FRAUD).size(), e.outcomes(id, OutcomeKind.FINAL).size(),
                    e.deadLettersByNode().getOrDefault(id, List.of()).size(), e.balance(io.inferex.market.Accounts.stake(id)),
                    n == null ? "?" : n.path("banned").asText(), n == null ? Double.NaN : n.path("reputation").asDouble(),
                    e.exitCodes().get(name));
        });
        long corrected = e.lines(l -> l.at("/inferex/verification").asText().equals("corrected")).size();
        out.printf("  output: %d lines, %d corrected%n", e.output().size(), corrected);
    }

    /** Whether an output line's embedding is within the model's tolerance of the honest run's line for the same input. */
    static RowComparison.Result compareWithHonest(Evidence e, JsonNode line) {
        String id = line.get("custom_id").asText();
        List<Float> got = new ArrayList<>();
        line.at("/response/body/data/0/embedding").forEach(v -> got.add(v.floatValue()));
        return RowComparison.compare(List.of(new EmbeddingRow(id, got)), List.of(new EmbeddingRow(id, e.reference().get(id))),
                ModelCatalogue.ALL_MINILM_L6_V2.tolerance());
    }

    private static <T> void keep(List<T> into, T value, Predicate<T> which) {
        if (value != null && which.test(value)) {
            into.add(value);
        }
    }

    private static void awaitNode(LocalStack stack, Predicate<JsonNode> condition, String what) {
        MarketHttp operator = new MarketHttp(stack.operator().token());
        await(() -> operator.get(stack.urls().get("matcher") + "/pools/nodes"), nodes -> {
            for (JsonNode n : nodes) {
                if (condition.test(n)) {
                    return true;
                }
            }
            return false;
        }, Duration.ofSeconds(30), what);
    }

    static JsonNode await(java.util.function.Supplier<JsonNode> poll, Predicate<JsonNode> done, Duration timeout, String what) {
        JsonNode last = poll(poll, done, timeout);
        if (!done.test(last)) {
            throw new AssertionError("not " + what + " within " + timeout.toSeconds() + " s: " + last);
        }
        return last;
    }

    /** Polls until {@code done} or the timeout; returns the last answer either way. */
    static JsonNode poll(java.util.function.Supplier<JsonNode> poll, Predicate<JsonNode> done, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        JsonNode last = poll.get();
        while (!done.test(last) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(200);
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", ex);
            }
            last = poll.get();
        }
        return last;
    }
}
