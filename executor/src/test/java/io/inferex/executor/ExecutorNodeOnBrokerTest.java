package io.inferex.executor;

import static io.restassured.RestAssured.given;
import static org.hamcrest.Matchers.equalTo;
import static org.hamcrest.Matchers.hasItem;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.InputRow;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardResult;
import io.inferex.executor.node.AssignmentPartition;
import io.inferex.executor.node.NodeRuntime;
import io.inferex.local.EmbeddedKafkaTestResource;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.inferex.market.OutputDigest;
import io.inferex.market.Pools;
import io.inferex.market.SignedPayloads;
import io.inferex.topics.Topics;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The packaged node against a real (embedded, KRaft) Kafka broker: registration and heartbeats
 * (through the SmallRye Kafka channels), assignments in, signed results out, dead letters, and what
 * it must not run.
 */
@QuarkusTest
@QuarkusTestResource(value = EmbeddedKafkaTestResource.class, restrictToAnnotatedClass = true,
        initArgs = @io.quarkus.test.common.ResourceArg(name = "node", value = "executor-test"))
class ExecutorNodeOnBrokerTest {
    static final Duration WAIT = Duration.ofSeconds(45);
    static KafkaProbe probe;

    @Inject
    ExecutorNode node;

    @Inject
    EmitterLivenessPublisher liveness;

    String nodeId;
    TopicPartition partition;
    String group;

    @BeforeEach
    void awaitReady() throws Exception {
        if (probe == null) {
            probe = new KafkaProbe();
        }
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (given().get("/q/health/ready").statusCode() != 200) {
            assertTrue(System.nanoTime() < deadline, "node not ready: " + given().get("/q/health/ready").asString());
            Thread.sleep(100);
        }
        nodeId = node.runtime().nodeId();
        partition = node.runtime().assignmentPartition();
        group = io.inferex.security.BusAccess.nodeGroup(node.runtime().info().name());
    }

    @AfterAll
    static void closeProbe() {
        if (probe != null) {
            probe.close();
            probe = null;
        }
    }

    @Test
    void registrationIsSignedAndNodeIdIsTheHashOfItsKey() {
        var regs = probe.readUntil(Topics.NODE_REGISTRY, rs -> rs.stream().anyMatch(r -> nodeId.equals(r.key())), WAIT);
        NodeRegistered reg = regs.stream().filter(r -> nodeId.equals(r.key())).reduce((a, b) -> b).orElseThrow().value();
        byte[] publicKey = SignedPayloads.bytes(reg.getPublicKey());
        assertEquals(nodeId, reg.getNodeId());
        assertEquals(NodeIdentity.nodeIdOf(publicKey), reg.getNodeId());
        assertTrue(NodeIdentity.verify(publicKey, SignedPayloads.of(reg), SignedPayloads.bytes(reg.getSignature())));
        assertEquals(List.of(ModelCatalogue.ALL_MINILM_L6_V2.id()), reg.getModels());
        assertEquals(List.of(ModelCatalogue.ALL_MINILM_L6_V2.weightsSha256()), reg.getModelDigests());
        assertEquals(Pools.DEFAULT_CELL, reg.getCell());
        assertEquals(2, reg.getSlots());
        assertEquals(100, reg.getPricePerRowMicros());
        assertEquals(10_000_000L, reg.getStakeMicros());
        assertEquals("cpu/OnnxRuntime", reg.getHardware());
        assertEquals(200, reg.getHeartbeatIntervalMs()); // %test profile
        // the epoch comes from the persisted counter the heartbeats use: at least the wall clock at start
        assertTrue(reg.getRegisteredAtMs() > 1_700_000_000_000L, "epoch " + reg.getRegisteredAtMs());
        // it came through the SmallRye registration channel, acknowledged before the node was ready
        assertEquals(1, liveness.registrationsAcknowledged());

        // a tampered registration does not verify
        reg.setStakeMicros(reg.getStakeMicros() + 1);
        assertFalse(NodeIdentity.verify(publicKey, SignedPayloads.of(reg), SignedPayloads.bytes(reg.getSignature())));
    }

    @Test
    void heartbeatsAreSignedWithStrictlyIncreasingSequences() {
        byte[] publicKey = java.util.Base64.getDecoder().decode(node.runtime().info().publicKey());
        var beats = probe.readUntil(Topics.NODE_HEARTBEATS,
                rs -> rs.stream().filter(r -> nodeId.equals(r.key())).count() >= 4, WAIT);
        long last = Long.MIN_VALUE;
        int mine = 0;
        for (ConsumerRecord<String, NodeHeartbeat> r : beats) {
            if (!nodeId.equals(r.key())) {
                continue;
            }
            NodeHeartbeat hb = r.value();
            mine++;
            assertEquals(nodeId, hb.getNodeId());
            assertTrue(NodeIdentity.verify(publicKey, SignedPayloads.of(hb), SignedPayloads.bytes(hb.getSignature())),
                    "heartbeat " + hb.getSequence() + " signature");
            assertTrue(hb.getSequence() > last, hb.getSequence() + " after " + last);
            last = hb.getSequence();
            assertTrue(hb.getFreeSlots() >= 0 && hb.getFreeSlots() <= 2, "free slots " + hb.getFreeSlots());
            assertEquals(node.runtime().info().engine(), hb.getEngine(), "the engine in use, signed with the heartbeat");
            assertEquals(List.of(Pools.poolKey(ModelCatalogue.ALL_MINILM_L6_V2.id(), Pools.DEFAULT_CELL)), hb.getPoolKeys());
        }
        assertTrue(mine >= 4);
        // they came through the SmallRye heartbeat channel
        assertTrue(liveness.heartbeatsAcknowledged() >= 4, "acked through the channel: " + liveness.heartbeatsAcknowledged());
        assertEquals(0, node.runtime().heartbeatsNotDelivered());
    }

    @Test
    void assignmentAddressedToTheNodeYieldsASignedResultWithOneRowPerInputInOrder() throws Exception {
        Assignment a = assignment(nodeId, List.of(
                "A man is playing a guitar.",
                "Someone plays the guitar.",
                "",
                "A much longer row than the others, so that the micro-batches are grouped by length and reordered inside the node.",
                "The last row."), System.currentTimeMillis() + 60_000);
        probe.writeAssignments(List.of(KafkaProbe.assignment(nodeId, a)));

        ShardResult r = awaitResult(a.getTaskId());
        byte[] publicKey = java.util.Base64.getDecoder().decode(node.runtime().info().publicKey());
        assertTrue(NodeIdentity.verify(publicKey, SignedPayloads.of(r), SignedPayloads.bytes(r.getSignature())), "result signature");
        assertEquals(OutputDigest.of(r.getRows()), r.getOutputDigest());
        assertEquals(a.getRows().size(), r.getRows().size());
        for (int i = 0; i < a.getRows().size(); i++) {
            assertEquals(a.getRows().get(i).getCustomId(), r.getRows().get(i).getCustomId());
            assertEquals(384, r.getRows().get(i).getEmbedding().size());
        }
        assertEquals(a.getLeaseId(), r.getLeaseId());
        assertEquals(a.getJobId(), r.getJobId());
        assertEquals(a.getShardIndex(), r.getShardIndex());
        assertEquals(a.getPoolKey(), r.getPoolKey());
        assertEquals(a.getModel(), r.getModel());
        assertEquals(nodeId, r.getNodeId());
        assertEquals(ModelCatalogue.ALL_MINILM_L6_V2.weightsSha256(), r.getModelDigest());
        assertTrue(r.getEngine().startsWith("OnnxRuntime 1."), "the engine that computed the rows, signed: " + r.getEngine());
        // the rows are really the model's: the first two are paraphrases, closer than row 0 and the long row
        assertTrue(cosine(r.getRows().get(0), r.getRows().get(1)) > cosine(r.getRows().get(0), r.getRows().get(3)) + 0.3);

        // re-execution of the same rows in a different shard (other neighbours, other batch) reproduces the bits
        List<String> texts = new ArrayList<>();
        a.getRows().forEach(row -> texts.add(row.getInput()));
        List<String> shuffled = new ArrayList<>(texts);
        shuffled.add(0, "a new neighbour that changes the batch");
        Assignment again = assignment(nodeId, shuffled, System.currentTimeMillis() + 60_000);
        probe.writeAssignments(List.of(KafkaProbe.assignment(nodeId, again)));
        ShardResult r2 = awaitResult(again.getTaskId());
        for (int i = 0; i < texts.size(); i++) {
            assertEquals(r.getRows().get(i).getEmbedding(), r2.getRows().get(i + 1).getEmbedding(), "row " + i);
        }

        // the offset is committed once the result is acknowledged
        probe.awaitCommitted(group, partition, 1, WAIT);
        given().get("/node").then().statusCode(200)
                .body("nodeId", equalTo(nodeId))
                .body("leasesCompleted", org.hamcrest.Matchers.greaterThanOrEqualTo(2))
                .body("rowsProcessed", org.hamcrest.Matchers.greaterThanOrEqualTo(11))
                .body("adversary", equalTo("none")) // an honest node unless inferex.node.adversary says otherwise
                .body("adversaryCheats", equalTo(0));
    }

    /**
     * Micro-batching through the node: two leases of the model written together are answered from one
     * inference call, each with its own signed result whose rows are bit-identical to the same rows run
     * in a lease of their own (fp32 is batch-invariant).
     */
    @Test
    void twoLeasesTakenTogetherAreAnsweredFromOneInferenceCallEachWithItsOwnSignedResultEqualToTheRowsRunAlone() throws Exception {
        List<String> first = List.of("Micro-batching joins the rows of several leases.", "Short one.");
        List<String> second = List.of("A second lease in the same inference call, a little longer than the others are.", "Yes.",
                "Three rows here.");
        Assignment a = assignment(nodeId, first, System.currentTimeMillis() + 60_000);
        Assignment b = assignment(nodeId, second, System.currentTimeMillis() + 60_000);
        long callsBefore = node.runtime().inferenceCalls();
        probe.writeAssignments(List.of(KafkaProbe.assignment(nodeId, a), KafkaProbe.assignment(nodeId, b))); // one transaction
        ShardResult ra = awaitResult(a.getTaskId());
        ShardResult rb = awaitResult(b.getTaskId());
        assertEquals(1, node.runtime().inferenceCalls() - callsBefore,
                "both leases held at once fill the node's two slots: one shared call (inferex.node.micro-batch.*)");

        List<String> all = new ArrayList<>(first);
        all.addAll(second);
        Assignment alone = assignment(nodeId, all, System.currentTimeMillis() + 60_000);
        probe.writeAssignments(List.of(KafkaProbe.assignment(nodeId, alone)));
        ShardResult reference = awaitResult(alone.getTaskId());
        byte[] publicKey = java.util.Base64.getDecoder().decode(node.runtime().info().publicKey());
        int offset = 0;
        for (var pair : List.of(java.util.Map.entry(a, ra), java.util.Map.entry(b, rb))) {
            Assignment lease = pair.getKey();
            ShardResult r = pair.getValue();
            assertEquals(lease.getLeaseId(), r.getLeaseId());
            assertTrue(NodeIdentity.verify(publicKey, SignedPayloads.of(r), SignedPayloads.bytes(r.getSignature())), "signed");
            assertEquals(OutputDigest.of(r.getRows()), r.getOutputDigest());
            assertEquals(lease.getRows().size(), r.getRows().size(), "only its own rows");
            for (int i = 0; i < r.getRows().size(); i++) {
                assertEquals(lease.getRows().get(i).getCustomId(), r.getRows().get(i).getCustomId());
                assertEquals(reference.getRows().get(offset + i).getEmbedding(), r.getRows().get(i).getEmbedding(),
                        lease.getLeaseId() + " row " + i + ": the same bits as run in a lease of its own");
            }
            offset += r.getRows().size();
        }
    }

    @Test
    void assignmentKeyedToAnotherNodeIsNotExecuted() throws Exception {
        String other = otherNodeIdOnSamePartition();
        Assignment foreign = assignment(other, List.of("not for this node"), System.currentTimeMillis() + 60_000);
        Assignment mine = assignment(nodeId, List.of("for this node"), System.currentTimeMillis() + 60_000);
        List<RecordMetadata> meta = probe.writeAssignments(List.of(
                KafkaProbe.assignment(other, foreign), KafkaProbe.assignment(nodeId, mine)));
        assertEquals(partition.partition(), meta.get(0).partition(), "the foreign record is on the node's partition");
        awaitResult(mine.getTaskId());
        // the commit is a contiguous prefix: once it passes the later record, the foreign one was handled
        probe.awaitCommitted(group, partition, meta.get(1).offset() + 1, WAIT);
        assertTrue(probe.readAll(Topics.RESULTS).stream().noneMatch(r -> foreign.getTaskId().equals(r.key())),
                "the node must not run an assignment keyed to another node");
    }

    @Test
    void expiredOrRevokedLeaseIsNotExecuted() throws Exception {
        Assignment expired = assignment(nodeId, List.of("too late"), System.currentTimeMillis() - 1);
        Assignment revoked = Assignment.newBuilder(assignment(nodeId, List.of("taken back"), System.currentTimeMillis() + 60_000))
                .setRevoked(true).build();
        Assignment live = assignment(nodeId, List.of("in time"), System.currentTimeMillis() + 60_000);
        List<RecordMetadata> meta = probe.writeAssignments(List.of(
                KafkaProbe.assignment(nodeId, expired), KafkaProbe.assignment(nodeId, revoked), KafkaProbe.assignment(nodeId, live)));
        awaitResult(live.getTaskId());
        probe.awaitCommitted(group, partition, meta.get(2).offset() + 1, WAIT);
        assertTrue(probe.readAll(Topics.RESULTS).stream()
                .noneMatch(r -> expired.getTaskId().equals(r.key()) || revoked.getTaskId().equals(r.key())));
    }

    @Test
    void undecodableAssignmentIsRejectedAndCommittedPastWithoutAnyWriteOutsideTheNodesTopicsAndTheNodeGoesOn() throws Exception {
        byte[] garbage = ("not avro " + UUID.randomUUID()).getBytes(StandardCharsets.UTF_8);
        Assignment after = assignment(nodeId, List.of("after the bad record"), System.currentTimeMillis() + 60_000);
        long rejectedBefore = node.runtime().rejectedAssignments();
        List<RecordMetadata> meta = probe.writeAssignments(List.of(
                KafkaProbe.raw(nodeId, garbage), KafkaProbe.assignment(nodeId, after)));
        awaitResult(after.getTaskId());
        probe.awaitCommitted(group, partition, meta.get(1).offset() + 1, WAIT);
        assertEquals(rejectedBefore + 1, node.runtime().rejectedAssignments(), "the bad record is counted as rejected");
        // The node may write only node-registry, node-heartbeats and results (its ACLs): nothing of it
        // reaches the dead letters.
        assertTrue(probe.readRawToEnd(Topics.DEAD_LETTER.name()).stream().noneMatch(r -> nodeId.equals(r.key())),
                "no dead letter from the node");
    }

    /**
     * docs/architecture.md, "Metrics": the results the node wrote, counted by its producer, and the
     * age of the leases it polled (a histogram with buckets).
     */
    @Test
    void prometheusMetricsCountTheResultsWrittenAndTheAgeOfTheLeasesPolled() throws Exception {
        Assignment a = assignment(nodeId, List.of("counted"), System.currentTimeMillis() + 60_000);
        probe.writeAssignments(List.of(KafkaProbe.assignment(nodeId, a)));
        awaitResult(a.getTaskId());
        String body = given().get("/q/metrics").then().statusCode(200).extract().asString();
        assertTrue(body.lines().anyMatch(l -> l.startsWith("inferex_records_out_total{topic=\"results\"}")), body);
        assertTrue(body.lines().anyMatch(l -> l.startsWith("inferex_input_age_seconds_count{topic=\"assignments\"}")
                && Double.parseDouble(l.substring(l.lastIndexOf(' ') + 1)) >= 1), body);
        assertTrue(body.lines().anyMatch(l -> l.startsWith("inferex_input_age_seconds_bucket{topic=\"assignments\",le=\"0.05\"}")), body);
    }

    @Test
    void nodeEndpointDescribesTheNodeAndReadinessIsUp() {
        NodeRuntime.Info info = node.runtime().info();
        given().get("/node").then().statusCode(200)
                .body("nodeId", equalTo(nodeId))
                .body("name", equalTo("executor-test"))
                .body("publicKey", equalTo(info.publicKey()))
                .body("models", hasItem(ModelCatalogue.ALL_MINILM_L6_V2.id()))
                .body("modelDigests", hasItem(ModelCatalogue.ALL_MINILM_L6_V2.weightsSha256()))
                .body("poolKeys", hasItem("all-MiniLM-L6-v2@local"))
                .body("cell", equalTo("local"))
                .body("slots", equalTo(2))
                .body("pricePerRowMicros", equalTo(100))
                .body("stakeMicros", equalTo(10_000_000))
                .body("hardware", equalTo("cpu/OnnxRuntime"))
                // inferex.node.engine=auto (the default) on a machine without TensorRT: the fallback, with its reason
                .body("engine", org.hamcrest.Matchers.startsWith("OnnxRuntime 1."))
                .body("engineSelection", org.hamcrest.Matchers.startsWith("auto: TensorRT not usable ("));
        assertArrayEquals(java.util.Base64.getDecoder().decode(info.publicKey()),
                java.util.Base64.getDecoder().decode(given().get("/node").jsonPath().getString("publicKey")));
        assertEquals(nodeId, NodeIdentity.nodeIdOf(java.util.Base64.getDecoder().decode(info.publicKey())));
        given().get("/q/health/ready").then().statusCode(200).body("status", equalTo("UP"));
        given().get("/q/health/live").then().statusCode(200).body("status", equalTo("UP"));
    }

    // ------------------------------------------------------------------ helpers

    ShardResult awaitResult(String taskId) {
        return probe.readUntil(Topics.RESULTS, rs -> rs.stream().anyMatch(r -> taskId.equals(r.key())), WAIT).stream()
                .filter(r -> taskId.equals(r.key())).findFirst().orElseThrow().value();
    }

    String otherNodeIdOnSamePartition() {
        for (int i = 0; ; i++) {
            String candidate = NodeIdentity.nodeIdOf(("other-" + i).getBytes(StandardCharsets.UTF_8));
            if (!candidate.equals(nodeId)
                    && AssignmentPartition.of(candidate, Topics.ASSIGNMENTS.partitions()) == partition.partition()) {
                return candidate;
            }
        }
    }

    static Assignment assignment(String nodeId, List<String> texts, long deadline) {
        String task = "task-" + UUID.randomUUID();
        List<InputRow> rows = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            rows.add(new InputRow("req-" + i, i + 1, texts.get(i)));
        }
        String model = ModelCatalogue.ALL_MINILM_L6_V2.id();
        return Assignment.newBuilder()
                .setLeaseId(task + "#1")
                .setTaskId(task)
                .setJobId("job-" + task)
                .setShardIndex(0)
                .setNodeId(nodeId)
                .setAttempt(1)
                .setModel(model)
                .setPoolKey(Pools.poolKey(model, Pools.DEFAULT_CELL))
                .setPricePerRowMicros(100)
                .setRows(rows)
                .setAssignedAtMs(System.currentTimeMillis())
                .setLeaseDeadlineMs(deadline)
                .build();
    }

    static double cosine(EmbeddingRow a, EmbeddingRow b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.getEmbedding().size(); i++) {
            double x = a.getEmbedding().get(i);
            double y = b.getEmbedding().get(i);
            dot += x * y;
            na += x * x;
            nb += y * y;
        }
        return dot / Math.sqrt(na * nb);
    }
}
