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
}
