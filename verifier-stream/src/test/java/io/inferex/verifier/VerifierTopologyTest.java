package io.inferex.verifier;

import static io.inferex.verifier.MarketFixtures.honestResult;
import static io.inferex.verifier.MarketFixtures.lease;
import static io.inferex.verifier.MarketFixtures.registration;
import static io.inferex.verifier.MarketFixtures.sign;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.DeadLetters;
import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardResult;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.local.load.SimulatedFleet;
import io.inferex.market.NodeIdentity;
import io.inferex.market.SyntheticHashModel;
import io.inferex.market.OutputDigest;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topics;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class VerifierTopologyTest {
    TopologyFixture fixture;
    TopologyTestDriver driver;
    TestInputTopic<String, NodeRegistered> registry;
    TestInputTopic<String, Assignment> assignments;
    TestInputTopic<String, ShardResult> results;
    TestOutputTopic<String, Verdict> verdicts;
    TestOutputTopic<String, byte[]> dead;
    final NodeIdentity node = NodeIdentity.generate();

    @BeforeEach
    void start() {
        fixture = TopologyFixture.start(VerifierTopology.APPLICATION_ID,
                props -> VerifierTopology.buildTopology(new VerifierTopology.Config(Duration.ofSeconds(30)), props));
        driver = fixture.driver();
        registry = fixture.input(Topics.NODE_REGISTRY);
        assignments = fixture.input(Topics.ASSIGNMENTS);
        results = fixture.input(Topics.RESULTS);
        verdicts = fixture.output(Topics.VERDICTS);
        dead = fixture.deadLetters();
        registry.pipeInput(node.nodeId(), registration(node));
    }

    @AfterEach
    void stop() {
        fixture.close();
    }

    private Verdict judge(Assignment lease, ShardResult result) {
        assignments.pipeInput(lease.getNodeId(), lease);
        results.pipeInput(result.getTaskId(), result);
        List<Verdict> out = verdicts.readValuesToList();
        assertEquals(1, out.size(), "exactly one verdict");
        return out.get(0);
    }

    @Test
    void honestSignedResultIsAcceptedWithTheLeasePrice() {
        Assignment lease = lease(node.nodeId(), "job1/0000", 3);
        Verdict v = judge(lease, honestResult(node, lease));
        assertEquals(VerdictOutcome.ACCEPTED, v.getOutcome(), v.getReason());
        assertEquals("job1", v.getJobId());
        assertEquals(3, v.getRowCount());
        assertEquals(100, v.getPricePerRowMicros());
        assertEquals(lease.getLeaseId() + "/verdict", v.getVerdictId());
    }

    private void assertDeadLetteredUnjudged(String reasonFragment) {
        assertTrue(verdicts.isEmpty(), "no verdict for a result that is not provably the named node's");
        var letter = dead.readRecord();
        String reason = DeadLetters.header(letter.headers(), DeadLetters.ERROR_MESSAGE);
        assertTrue(reason.contains(reasonFragment), reason);
    }

    @Test
    void resultWithABadSignatureGetsNoVerdictAndTheNodesRealAnswerIsStillJudged() {
        Assignment lease = lease(node.nodeId(), "job1/0000", 3);
        ShardResult honest = honestResult(node, lease);
        ShardResult forged = ShardResult.newBuilder(honest).build();
        byte[] sig = honest.getSignature().array().clone();
        sig[0] ^= 1;
        forged.setSignature(ByteBuffer.wrap(sig));
        assignments.pipeInput(node.nodeId(), lease);
        results.pipeInput(forged.getTaskId(), forged);
        assertDeadLetteredUnjudged("signature does not verify");
        results.pipeInput(honest.getTaskId(), honest);
        assertEquals(VerdictOutcome.ACCEPTED, verdicts.readValue().getOutcome());
    }

    @Test
    void resultSignedByAnotherKeyUnderTheNodesIdGetsNoVerdict() {
        Assignment lease = lease(node.nodeId(), "job1/0000", 2);
        assignments.pipeInput(node.nodeId(), lease);
        ShardResult r = sign(NodeIdentity.generate(), honestResult(node, lease));
        results.pipeInput(r.getTaskId(), r);
        assertDeadLetteredUnjudged("signature does not verify");
    }

    @Test
    void resultFromAnUnregisteredNodeGetsNoVerdict() {
        NodeIdentity stranger = NodeIdentity.generate();
        Assignment lease = lease(node.nodeId(), "job1/0000", 1);
        assignments.pipeInput(node.nodeId(), lease);
        ShardResult r = honestResult(stranger, lease);
        results.pipeInput(r.getTaskId(), r);
        assertDeadLetteredUnjudged("is not registered");
    }

    @Test
    void tamperedRowsWithARecomputedSignatureAreCaughtByShapeOrDigest() {
        Assignment lease = lease(node.nodeId(), "job1/0000", 2);
        ShardResult r = honestResult(node, lease);
        List<Float> zeros = new ArrayList<>();
        for (int i = 0; i < 384; i++) {
            zeros.add(0f);
        }
        r.getRows().set(1, new EmbeddingRow("req-1", zeros));
        Verdict v = judge(lease, sign(node, r)); // digest is stale: the node signed the old digest
        assertEquals(VerdictOutcome.REJECTED, v.getOutcome());
        assertTrue(v.getReason().contains("norm"), v.getReason());

        Assignment lease2 = lease(node.nodeId(), "job2/0000", 2);
        ShardResult r2 = honestResult(node, lease2);
        r2.setRows(List.of(r2.getRows().get(1), r2.getRows().get(0)));
        r2.setOutputDigest(OutputDigest.of(r2.getRows()));
        Verdict v2 = judge(lease2, sign(node, r2));
        assertEquals(VerdictOutcome.REJECTED, v2.getOutcome());
        assertTrue(v2.getReason().startsWith("row 0 has custom_id req-1, expected req-0"), v2.getReason());
    }

    @Test
    void wrongModelDigestIsRejected() {
        Assignment lease = lease(node.nodeId(), "job1/0000", 1);
        ShardResult r = honestResult(node, lease);
        r.setModelDigest("00".repeat(32));
        Verdict v = judge(lease, sign(node, r));
        assertEquals(VerdictOutcome.REJECTED, v.getOutcome());
        assertTrue(v.getReason().startsWith("model digest"), v.getReason());
    }

    @Test
    void aResultOfARegisteredModelIsJudgedByTheRegistrysDigestAndDimensionAndARefusedSwapChangesNothing() {
        String tiny = "tiny-embed";
        String digest = "ab".repeat(32);
        io.inferex.events.ModelRegistered reg = io.inferex.events.ModelRegistered.newBuilder().setModelId(tiny).setTask("embedding")
                .setOnnxSha256(digest).setOnnxBytes(1000).setTokenizerSha256("cd".repeat(32)).setTokenizerBytes(10).setDimension(8)
                .setMaxTokens(64).setPooling("mean").setMinCosine(0.999).setMaxAbs(0.01).setRegisteredAtMs(1).build();
        var models = fixture.input(Topics.MODELS);
        models.pipeInput(io.inferex.market.ModelRegistry.recordKey(reg), reg);
        io.inferex.events.ModelRegistered swap = io.inferex.events.ModelRegistered.newBuilder(reg).setOnnxSha256("ef".repeat(32)).build();
        models.pipeInput(io.inferex.market.ModelRegistry.recordKey(swap), swap); // refused: the id keeps its first model
        NodeIdentity tinyNode = NodeIdentity.generate();
        registry.pipeInput(tinyNode.nodeId(), io.inferex.market.SignedPayloads.sign(tinyNode, NodeRegistered.newBuilder(registration(tinyNode))
                .setModels(List.of(tiny)).setModelDigests(List.of(digest)).build()));
        Assignment lease = lease(tinyNode.nodeId(), "job9/0000", 2, tiny);
        ShardResult honest = honestResult(tinyNode, lease);
        List<io.inferex.events.EmbeddingRow> rows = new java.util.ArrayList<>();
        for (io.inferex.events.EmbeddingRow row : honest.getRows()) {
            List<Float> v = new java.util.ArrayList<>(java.util.Collections.nCopies(8, 0f));
            v.set(row.getCustomId().hashCode() & 7, 1f);
            rows.add(new io.inferex.events.EmbeddingRow(row.getCustomId(), v));
        }
        honest.setModel(tiny);
        honest.setPoolKey(lease.getPoolKey());
        honest.setModelDigest(digest);
        honest.setRows(rows);
        honest.setOutputDigest(io.inferex.market.OutputDigest.of(rows));
        Verdict v = judge(lease, sign(tinyNode, honest));
        assertEquals(VerdictOutcome.ACCEPTED, v.getOutcome(), v.getReason());

        Assignment second = lease(tinyNode.nodeId(), "job9/0001", 2, tiny);
        ShardResult swapped = ShardResult.newBuilder(honest).setLeaseId(second.getLeaseId()).setTaskId(second.getTaskId())
                .setModelDigest("ef".repeat(32)).build();
        Verdict refused = judge(second, sign(tinyNode, swapped));
        assertEquals(VerdictOutcome.REJECTED, refused.getOutcome());
        assertTrue(refused.getReason().startsWith("model digest " + "ef".repeat(32) + " is not the registry's " + digest), refused.getReason());

        Assignment unknown = lease(tinyNode.nodeId(), "job9/0002", 2, "never-registered");
        ShardResult r = ShardResult.newBuilder(honest).setLeaseId(unknown.getLeaseId()).setTaskId(unknown.getTaskId())
                .setModel("never-registered").setPoolKey(unknown.getPoolKey()).build();
        Verdict none = judge(unknown, sign(tinyNode, r));
        assertEquals(VerdictOutcome.REJECTED, none.getOutcome());
        assertTrue(none.getReason().contains("not in the model registry"), none.getReason());
    }

    @Test
    void signedResultForALeaseOfAnotherNodeGetsNoVerdictAndLeavesThatLeaseOpen() {
        NodeIdentity other = NodeIdentity.generate();
        registry.pipeInput(other.nodeId(), registration(other));
        Assignment lease = lease(node.nodeId(), "job1/0000", 1);
        assignments.pipeInput(node.nodeId(), lease);
        ShardResult stolen = honestResult(other, lease);
        results.pipeInput(stolen.getTaskId(), stolen);
        assertDeadLetteredUnjudged("belongs to node " + node.nodeId());
        ShardResult own = honestResult(node, lease);
        results.pipeInput(own.getTaskId(), own);
        assertEquals(VerdictOutcome.ACCEPTED, verdicts.readValue().getOutcome());
    }

    @Test
    void resultArrivingBeforeItsLeaseIsParkedThenJudgedAndADuplicateGetsNoSecondVerdict() {
        Assignment lease = lease(node.nodeId(), "job1/0000", 2);
        ShardResult r = honestResult(node, lease);
        results.pipeInput(r.getTaskId(), r);
        assertTrue(verdicts.isEmpty());
        assignments.pipeInput(node.nodeId(), lease);
        assertEquals(VerdictOutcome.ACCEPTED, verdicts.readValue().getOutcome());
        results.pipeInput(r.getTaskId(), r);
        assertTrue(verdicts.isEmpty());
    }

    @Test
    void parkedResultWhoseLeaseNeverAppearsIsDeadLetteredAfterTheWaitOnTheVerifiersClock() {
        Assignment never = lease(node.nodeId(), "job9/0000", 1);
        ShardResult r = honestResult(node, never);
        r.setProducedAtMs(Long.MAX_VALUE / 2); // the node's clock does not decide how long it may wait
        results.pipeInput(r.getTaskId(), sign(node, r));
        driver.advanceWallClockTime(Duration.ofSeconds(10));
        assertTrue(dead.isEmpty());
        driver.advanceWallClockTime(Duration.ofSeconds(25));
        assertDeadLetteredUnjudged("no lease job9/0000#1 was seen within 30 s");
    }

    @Test
    void unansweredLeaseIsForgottenTenMinutesAfterItsDeadline() {
        Assignment lease = lease(node.nodeId(), "job7/0000", 1);
        lease.setLeaseDeadlineMs(System.currentTimeMillis());
        assignments.pipeInput(node.nodeId(), lease);
        var leases = driver.<String, Assignment>getKeyValueStore(VerifierTopology.LEASES_STORE);
        driver.advanceWallClockTime(Duration.ofMinutes(9));
        assertEquals(lease, leases.get(lease.getLeaseId()));
        driver.advanceWallClockTime(Duration.ofMinutes(2));
        assertEquals(null, leases.get(lease.getLeaseId()));
    }

    @Test
    void registrationWhoseKeyDoesNotHashToItsIdIsDeadLetteredAndNotTrusted() {
        NodeIdentity impostor = NodeIdentity.generate();
        NodeRegistered forged = registration(impostor);
        forged.setNodeId(node.nodeId() + "x");
        registry.pipeInput(forged.getNodeId(), forged);
        var letter = dead.readRecord();
        assertTrue(DeadLetters.header(letter.headers(), DeadLetters.ERROR_MESSAGE).contains("does not hash to node id"));
    }

    @Test
    void aLateAnswerOnARevokedLeaseIsDeadLetteredUnpaidAndTheLiveLeasesAnswerIsAccepted() {
        NodeIdentity live = NodeIdentity.generate();
        registry.pipeInput(live.nodeId(), registration(live));
        Assignment old = lease(node.nodeId(), "job1/00000", 2);
        assignments.pipeInput(node.nodeId(), old);
        Assignment revocation = Assignment.newBuilder(old).setRevoked(true).build();
        assignments.pipeInput(node.nodeId(), revocation);
        Assignment second = Assignment.newBuilder(lease(live.nodeId(), "job1/00000", 2)).setLeaseId("job1/00000#2").setAttempt(2).build();
        assignments.pipeInput(live.nodeId(), second);

        ShardResult late = honestResult(node, old);
        results.pipeInput(late.getTaskId(), late);
        assertDeadLetteredUnjudged("after the matcher revoked the lease");
        ShardResult onTime = honestResult(live, second);
        results.pipeInput(onTime.getTaskId(), onTime);
        Verdict v = verdicts.readValue();
        assertEquals(VerdictOutcome.ACCEPTED, v.getOutcome(), v.getReason());
        assertEquals(live.nodeId(), v.getNodeId(), "the node that worked on the live lease is the one paid");
        assertTrue(verdicts.isEmpty());
    }

    @Test
    void aLeaseRevokedUnansweredCostsItsNodeReputationButOneRevokedAsUnneededByItsDecidedTaskDoesNot() {
        TestOutputTopic<String, io.inferex.events.NodeReputation> reputation = fixture.output(Topics.NODE_REPUTATION);
        Assignment notNeeded = lease(node.nodeId(), "job1/00000~r3", 2);
        assignments.pipeInput(node.nodeId(), notNeeded);
        assignments.pipeInput(node.nodeId(), Assignment.newBuilder(notNeeded).setRevoked(true).setUnneeded(true).build());
        assertTrue(reputation.isEmpty(), "a lease its task no longer needed is no fault of the node");

        Assignment dropped = lease(node.nodeId(), "job1/00001", 2);
        assignments.pipeInput(node.nodeId(), dropped);
        assignments.pipeInput(node.nodeId(), Assignment.newBuilder(dropped).setRevoked(true).build());
        io.inferex.events.NodeReputation after = reputation.readValue();
        assertEquals(node.nodeId(), after.getNodeId());
        assertTrue(after.getScore() < 0.5, "below a new node's score: " + after);
        assertTrue(reputation.isEmpty());

        ShardResult late = honestResult(node, notNeeded);
        results.pipeInput(late.getTaskId(), late);
        assertDeadLetteredUnjudged("after the matcher revoked the lease");
    }

    @Test
    void aReplayedOlderOrEqualRegistrationEpochIsDeadLetteredAndTheKnownKeyStays() {
        NodeRegistered current = driver.<String, NodeRegistered>getKeyValueStore(VerifierTopology.NODES_STORE).get(node.nodeId());
        NodeRegistered older = NodeRegistered.newBuilder(current).setRegisteredAtMs(current.getRegisteredAtMs() - 1)
                .setHardware("replayed").build();
        registry.pipeInput(node.nodeId(), io.inferex.market.SignedPayloads.sign(node, older));
        var letter = dead.readRecord();
        assertTrue(DeadLetters.header(letter.headers(), DeadLetters.ERROR_MESSAGE).contains("not above"));
        assertEquals("cpu/test", driver.<String, NodeRegistered>getKeyValueStore(VerifierTopology.NODES_STORE).get(node.nodeId())
                .getHardware());
    }

    @Test
    void judgedAndRevokedLeaseIdsAreForgottenAfterTheirRetentionSoTheStoreStaysBounded() {
        Assignment lease = lease(node.nodeId(), "job1/00000", 2);
        judge(lease, honestResult(node, lease));
        Assignment other = lease(node.nodeId(), "job1/00001", 2);
        assignments.pipeInput(node.nodeId(), other);
        assignments.pipeInput(node.nodeId(), Assignment.newBuilder(other).setRevoked(true).build());
        var memory = driver.<String, Long>getKeyValueStore(VerifierTopology.JUDGED_STORE);
        assertEquals(4, TopologyFixture.entries(memory, ""), "a judged and a revoked lease id, each with its time index entry");
        driver.advanceWallClockTime(Duration.ofMillis(ResultJudge.MEMORY_MS + 2_000));
        assertEquals(0, TopologyFixture.entries(memory, ""));
    }

    // The load harness's simulated nodes serve the catalogue's second model, synthetic-hash-v1: the
    // verifier judges their results like any node's, so a load run measures the real verification.

    private void reregisterForSyntheticModel() {
        registry.pipeInput(node.nodeId(), SimulatedFleet.registration(node, 2, 100, System.currentTimeMillis() + 60_000));
    }

    @Test
    void simulatedNodesHonestSyntheticResultIsAccepted() {
        reregisterForSyntheticModel();
        Assignment lease = lease(node.nodeId(), "job1/0000", 3, SyntheticHashModel.ID);
        Verdict v = judge(lease, SimulatedFleet.result(node, lease, false));
        assertEquals(VerdictOutcome.ACCEPTED, v.getOutcome(), v.getReason());
        assertEquals(3, v.getRowCount());
    }

    @Test
    void simulatedAdversarysMismatchedOutputDigestIsRejected() {
        reregisterForSyntheticModel();
        Assignment lease = lease(node.nodeId(), "job1/0000", 3, SyntheticHashModel.ID);
        Verdict v = judge(lease, SimulatedFleet.result(node, lease, true));
        assertEquals(VerdictOutcome.REJECTED, v.getOutcome());
        assertTrue(v.getReason().contains("output digest"), v.getReason());
    }

    @Test
    void syntheticResultFromANodeRegisteredOnlyForMiniLmIsRejected() {
        Assignment lease = lease(node.nodeId(), "job1/0000", 3, SyntheticHashModel.ID);
        Verdict v = judge(lease, SimulatedFleet.result(node, lease, false));
        assertEquals(VerdictOutcome.REJECTED, v.getOutcome());
        assertTrue(v.getReason().contains("did not register model"), v.getReason());
    }
}
