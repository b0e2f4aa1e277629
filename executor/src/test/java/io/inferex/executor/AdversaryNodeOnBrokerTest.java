package io.inferex.executor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Assignment;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardResult;
import io.inferex.executor.model.ModelFiles;
import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.executor.node.Adversary;
import io.inferex.executor.node.LivenessPublisher;
import io.inferex.executor.node.NodeRuntime;
import io.inferex.executor.node.NodeSettings;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.inferex.market.Pools;
import io.inferex.market.VerificationIds;
import io.inferex.security.BusAccess;
import io.inferex.security.BusCredentials;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link NodeRuntime} with the liveness cheats, on the embedded broker under a node principal (the
 * results and assignments path is plain Kafka; liveness goes to an always-acknowledging stub): a
 * dropping node takes its leases (commits past them) and never answers; a node set to crash after
 * N answers publishes N results and nothing more; and a verification lease is answered like a
 * shard's, under its verification id.
 */
class AdversaryNodeOnBrokerTest {
    static final Duration WAIT = Duration.ofSeconds(45);
    static SentenceEmbedder embedder;
    static KafkaProbe probe;

    @BeforeAll
    static void setUp() {
        EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.shared();
        TopicProvisioner.ensureTopics(broker.clientConfig(), (short) 1, Topics.ALL);
        Path home = Path.of("target", "test-adversary-node-model");
        ModelFiles files = ModelFiles.prepare(ModelCatalogue.ALL_MINILM_L6_V2, ModelFiles.ALL_MINILM_L6_V2, TestDirs.fp32Models(),
                AdversaryNodeOnBrokerTest.class.getClassLoader());
        embedder = SentenceEmbedder.load(files, home.resolve("djl-cache"), SentenceEmbedder.Options.defaults());
        probe = new KafkaProbe();
    }

    @AfterAll
    static void tearDown() {
        if (probe != null) {
            probe.close();
        }
        if (embedder != null) {
            embedder.close();
        }
    }

    /** Liveness is not under test here: every registration and heartbeat is acknowledged. */
    static final LivenessPublisher ACKING = new LivenessPublisher() {
        @Override
        public CompletionStage<Void> publishRegistration(NodeRegistered registration) {
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletionStage<Void> publishHeartbeat(NodeHeartbeat heartbeat) {
            return CompletableFuture.completedFuture(null);
        }
    };

    /** A started one-slot node under its own node principal, reading its assignments partition. */
    static NodeRuntime startNode(String name, Adversary adversary) throws Exception {
        EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.shared();
        Map<String, Object> client;
        try (Admin admin = Admin.create(broker.clientConfig())) {
            client = BusAccess.provision(admin, broker.bootstrapServers(), BusAccess.node(name), BusCredentials.newSecret());
        }
        // One slot, and the tests write several leases at once (no matcher): they queue for the slot rather than
        // being declined as full, however slow this machine is today.
        NodeSettings settings = new NodeSettings(name, TestDirs.fresh(name), client, Pools.DEFAULT_CELL, 1, 100, 10_000_000L,
                Duration.ofMillis(200), Duration.ofSeconds(10), 32, Duration.ofSeconds(2), NodeSettings.MicroBatching.DEFAULT,
                WAIT);
        NodeRuntime node = new NodeRuntime(settings, NodeIdentity.generate(), embedder, ACKING, System::currentTimeMillis, adversary);
        node.start();
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!node.status().ready()) {
            assertTrue(System.nanoTime() < deadline, "node not ready: " + node.status());
            Thread.sleep(50);
        }
        return node;
    }

    static List<Assignment> leases(NodeRuntime node, int n) {
        List<Assignment> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(ExecutorNodeOnBrokerTest.assignment(node.nodeId(), List.of("lease " + i + " of the adversary test.",
                    "A second row."), System.currentTimeMillis() + 60_000));
        }
        return out;
    }

    /** Writes the leases in one matcher transaction and waits until the node committed past the last one. */
    static void writeAndAwaitConsumed(NodeRuntime node, List<Assignment> leases) throws Exception {
        List<RecordMetadata> written = probe.writeAssignments(leases.stream()
                .map(a -> KafkaProbe.assignment(node.nodeId(), a)).collect(Collectors.toList()));
        probe.awaitCommitted(BusAccess.nodeGroup(node.info().name()), node.assignmentPartition(),
                written.get(written.size() - 1).offset() + 1, WAIT);
    }

    static List<ShardResult> resultsFor(List<Assignment> leases) {
        Set<String> ids = leases.stream().map(Assignment::getLeaseId).collect(Collectors.toSet());
        return probe.readAll(Topics.RESULTS).stream().map(r -> r.value()).filter(r -> ids.contains(r.getLeaseId()))
                .collect(Collectors.toList());
    }

    @Test
    void dropTakesEveryLeaseCommitsPastItAndPublishesNoResult() throws Exception {
        try (NodeRuntime node = startNode("adv-drop-" + UUID.randomUUID().toString().substring(0, 8),
                new Adversary(Adversary.Mode.parse("drop"), 1, () -> {}))) {
            List<Assignment> leases = leases(node, 3);
            writeAndAwaitConsumed(node, leases);
            assertEquals(List.of(), resultsFor(leases), "a dropping node answers nothing");
            assertEquals(3, node.info().adversaryCheats());
            assertEquals("drop", node.info().adversary());
            assertEquals(0, node.rejectedAssignments(), "taken, not rejected");
        }
    }

    @Test
    void crashAfterTwoPublishesTheFirstTwoResultsCrashesOnceAndAnswersNothingMore() throws Exception {
        AtomicInteger crashes = new AtomicInteger();
        try (NodeRuntime node = startNode("adv-crash-" + UUID.randomUUID().toString().substring(0, 8),
                new Adversary(Adversary.Mode.parse("crash-after:2"), 1, crashes::incrementAndGet))) {
            List<Assignment> leases = leases(node, 4);
            writeAndAwaitConsumed(node, leases); // one slot: the leases run in order
            // results are keyed by task id over several partitions: which leases were answered, not in what order
            Set<String> answered = resultsFor(leases).stream().map(ShardResult::getLeaseId).collect(Collectors.toSet());
            assertEquals(Set.of(leases.get(0).getLeaseId(), leases.get(1).getLeaseId()), answered);
            assertEquals(1, crashes.get(), "the crash ran once, at the second answer");
        }
    }

    @Test
    void aVerificationLeaseIsAnsweredLikeAShardUnderItsVerificationId() throws Exception {
        try (NodeRuntime node = startNode("adv-honest-" + UUID.randomUUID().toString().substring(0, 8), Adversary.none())) {
            Assignment shard = leases(node, 1).get(0);
            String verification = VerificationIds.sample(shard.getTaskId());
            Assignment reexecution = Assignment.newBuilder(shard).setTaskId(verification).setLeaseId(verification + "#1").build();
            writeAndAwaitConsumed(node, List.of(reexecution));
            List<ShardResult> results = resultsFor(List.of(reexecution));
            assertEquals(1, results.size(), "answered");
            assertEquals(verification, results.get(0).getTaskId());
            assertEquals(0, node.rejectedAssignments());
            assertEquals(0, node.info().adversaryCheats());
        }
    }

    /**
     * A model registered with the CLI's code (checked on ONNX Runtime, its files stored as chunks) is
     * fetched by a node principal that can only read the registry and the store, verified, and run;
     * a tampered chunk the store kept instead of the original is refused loudly and nothing is placed.
     */
    @Test
    void aRegisteredModelIsFetchedByDigestWithReadAccessOnlyRunsOnOnnxRuntimeAndATamperedChunkIsRefused() throws Exception {
        Path dir = TestDirs.fresh("registered");
        Path onnx = io.inferex.testing.TinyEmbeddingModel.write(dir.resolve("tiny.onnx"), 8, 42);
        Path tokenizer = dir.resolve("tokenizer.json");
        try (var in = getClass().getClassLoader().getResourceAsStream(ModelFiles.ALL_MINILM_L6_V2.tokenizer())) {
            java.nio.file.Files.copy(in, tokenizer);
        }
        Path djl = Path.of("target", "test-embedder-home", "djl-cache");
        var broker = io.inferex.local.EmbeddedKafkaBroker.shared();
        io.inferex.topics.TopicProvisioner.ensureTopics(broker.clientConfig(), (short) 1,
                java.util.List.of(io.inferex.topics.Topics.MODELS, io.inferex.topics.Topics.MODEL_CHUNKS));
        String id = "tiny-" + dir.getFileName().toString().replaceAll("[^A-Za-z0-9]", "").toLowerCase(java.util.Locale.ROOT);
        var registered = io.inferex.local.ModelCommands.register(broker.clientConfig(),
                new io.inferex.local.ModelCommands.Request(id, onnx, tokenizer, 64, new ModelCatalogue.Tolerance(0.999, 0.01), 8),
                (o, t, max) -> io.inferex.executor.model.ModelCheck.dimension(o, t, max, djl));
        assertEquals(8, registered.getDimension());
        assertEquals(ModelFiles.sha256(onnx), registered.getOnnxSha256());
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> io.inferex.local.ModelCommands.register(broker.clientConfig(),
                new io.inferex.local.ModelCommands.Request(id, onnx, tokenizer, 64, new ModelCatalogue.Tolerance(0.9, 0.1), 8),
                (o, t, max) -> 8), "the same id with another tolerance is another model: refused");

        java.util.Map<String, Object> node;
        try (var admin = org.apache.kafka.clients.admin.Admin.create(broker.clientConfig())) {
            node = io.inferex.security.BusAccess.provision(admin, broker.bootstrapServers(), io.inferex.security.BusAccess.node(id),
                    io.inferex.security.BusCredentials.newSecret());
        }
        var entry = io.inferex.models.ModelStore.readRegistry(node, java.time.Duration.ofSeconds(30), (r, why) -> { })
                .registry().entry(id).orElseThrow();
        ModelFiles files = ModelFiles.fetch(entry, node, dir.resolve("node-models"), java.time.Duration.ofSeconds(30));
        assertEquals(registered.getOnnxSha256(), ModelFiles.sha256(files.weights()));
        assertEquals(ModelCatalogue.ALL_MINILM_L6_V2.tokenizerSha256(), ModelFiles.sha256(files.tokenizer()));
        try (SentenceEmbedder e = SentenceEmbedder.load(files, djl, new SentenceEmbedder.Options(64, 8, 1))) {
            var v = e.embed(java.util.List.of("a registered model", "a registered model", "something else entirely"));
            assertEquals(8, v.get(0).length);
            assertTrue(java.util.Arrays.equals(v.get(0), v.get(1)), "deterministic");
            assertTrue(!java.util.Arrays.equals(v.get(0), v.get(2)), "it depends on the input");
        }

        // The store kept an altered copy of chunk 0 (as compaction would, keeping the last record of a key).
        var chunk0 = new java.util.ArrayList<io.inferex.events.ModelChunk>();
        io.inferex.models.ModelChunks.split(onnx, registered.getOnnxSha256(), c -> {
            if (c.getIndex() == 0) {
                chunk0.add(c);
            }
        });
        byte[] altered = new byte[chunk0.get(0).getData().remaining()];
        chunk0.get(0).getData().duplicate().get(altered);
        altered[altered.length - 1] ^= 1;
        chunk0.get(0).setData(java.nio.ByteBuffer.wrap(altered));
        long tamperedAt;
        var props = new java.util.Properties();
        props.putAll(broker.clientConfig());
        try (var p = new org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]>(props,
                new org.apache.kafka.common.serialization.ByteArraySerializer(), new org.apache.kafka.common.serialization.ByteArraySerializer())) {
            tamperedAt = p.send(new org.apache.kafka.clients.producer.ProducerRecord<>(io.inferex.topics.Topics.MODEL_CHUNKS.name(),
                    io.inferex.models.ModelChunks.key(registered.getOnnxSha256(), 0).getBytes(java.nio.charset.StandardCharsets.UTF_8),
                    io.inferex.topics.Topics.MODEL_CHUNKS.valueSerde().serializer().serialize("model-chunks", chunk0.get(0)))).get().offset();
        }
        var compacted = io.inferex.events.ModelRegistered.newBuilder(entry.registration()).setOnnxChunksOffset(tamperedAt).build();
        Path elsewhere = dir.resolve("other-node-models");
        io.inferex.executor.model.ModelIntegrityException refused = org.junit.jupiter.api.Assertions.assertThrows(io.inferex.executor.model.ModelIntegrityException.class, () -> ModelFiles.fetch(
                io.inferex.market.ModelRegistry.entryOf(compacted), node, elsewhere, java.time.Duration.ofSeconds(30)));
        assertTrue(refused.getMessage().contains("refusing to serve it") && refused.getMessage().contains("altered"), refused.getMessage());
        assertTrue(!java.nio.file.Files.exists(elsewhere.resolve(registered.getOnnxSha256() + ".onnx")), "nothing placed");
    }
}
