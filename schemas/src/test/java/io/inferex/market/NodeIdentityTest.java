package io.inferex.market;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.EmbeddingRow;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.ShardResult;
import java.nio.ByteBuffer;
import java.util.List;
import org.junit.jupiter.api.Test;

class NodeIdentityTest {

    @Test
    void nodeIdIsTheHashOfThePublicKeyAndSurvivesReEncoding() {
        NodeIdentity a = NodeIdentity.generate();
        assertEquals(16, a.nodeId().length());
        assertEquals(a.nodeId(), NodeIdentity.nodeIdOf(a.publicKey()));
        NodeIdentity restored = NodeIdentity.fromEncoded(a.privateKey(), a.publicKey());
        assertEquals(a.nodeId(), restored.nodeId());
        assertNotEquals(a.nodeId(), NodeIdentity.generate().nodeId());
    }

    @Test
    void signedHeartbeatVerifiesAndAnyTamperingBreaksIt() {
        NodeIdentity node = NodeIdentity.generate();
        NodeHeartbeat hb = NodeHeartbeat.newBuilder().setNodeId(node.nodeId()).setSequence(7).setFreeSlots(2).setPoolKeys(List.of("all-MiniLM-L6-v2@local"))
                .setActiveLeases(List.of("job/0001#1")).setSentAtMs(1000).setSignature(ByteBuffer.allocate(0)).build();
        byte[] sig = node.sign(SignedPayloads.of(hb));
        assertTrue(NodeIdentity.verify(node.publicKey(), SignedPayloads.of(hb), sig));

        hb.setFreeSlots(3);
        assertFalse(NodeIdentity.verify(node.publicKey(), SignedPayloads.of(hb), sig), "changed field");
        hb.setFreeSlots(2);
        assertFalse(NodeIdentity.verify(NodeIdentity.generate().publicKey(), SignedPayloads.of(hb), sig), "other key");
        assertFalse(NodeIdentity.verify(new byte[] {1, 2, 3}, SignedPayloads.of(hb), sig), "garbage key");
        assertFalse(NodeIdentity.verify(node.publicKey(), SignedPayloads.of(hb), new byte[64]), "garbage signature");
    }

    @Test
    void resultSignatureCoversItsTokenCountsAndWithoutThemKeepsTheV1Bytes() {
        NodeIdentity node = NodeIdentity.generate();
        List<EmbeddingRow> rows = List.of(new EmbeddingRow("a", List.of(1f)), new EmbeddingRow("a", List.of(0f)));
        ShardResult r = ShardResult.newBuilder().setLeaseId("job/00000#1").setTaskId("job/00000").setJobId("job")
                .setShardIndex(0).setNodeId(node.nodeId()).setModel("m").setPoolKey("m@local").setModelDigest("d")
                .setRows(rows).setOutputDigest(OutputDigest.of(rows)).setComputeMillis(1).setProducedAtMs(2)
                .setSignature(ByteBuffer.allocate(0)).build();
        byte[] v1Bytes = SignedPayloads.of(r);
        r.setPromptTokens(List.of(5, 7));
        SignedPayloads.sign(node, r);
        assertTrue(SignedPayloads.verifies(ByteBuffer.wrap(node.publicKey()), r));

        r.setPromptTokens(List.of(5, 70));
        assertFalse(SignedPayloads.verifies(ByteBuffer.wrap(node.publicKey()), r), "an inflated token count");
        r.setPromptTokens(List.of());
        assertFalse(SignedPayloads.verifies(ByteBuffer.wrap(node.publicKey()), r), "token counts stripped");
        assertTrue(java.util.Arrays.equals(v1Bytes, SignedPayloads.of(r)), "a result without counts signs the v1 bytes");
    }

    @Test
    void theEngineIsSignedWithHeartbeatsAndResultsAndWithoutItTheOlderBytesStay() {
        NodeIdentity node = NodeIdentity.generate();
        NodeHeartbeat hb = NodeHeartbeat.newBuilder().setNodeId(node.nodeId()).setSequence(7).setFreeSlots(2)
                .setPoolKeys(List.of("all-MiniLM-L6-v2@local")).setSentAtMs(1000).setSignature(ByteBuffer.allocate(0)).build();
        byte[] v1Heartbeat = SignedPayloads.of(hb);
        hb.setEngine("TensorRT 8.4.1");
        SignedPayloads.sign(node, hb);
        assertTrue(SignedPayloads.verifies(ByteBuffer.wrap(node.publicKey()), hb));
        hb.setEngine("OnnxRuntime 1.21.1");
        assertFalse(SignedPayloads.verifies(ByteBuffer.wrap(node.publicKey()), hb), "the engine rewritten");
        hb.setEngine("");
        assertTrue(java.util.Arrays.equals(v1Heartbeat, SignedPayloads.of(hb)), "a heartbeat without an engine signs the v1 bytes");

        List<EmbeddingRow> rows = List.of(new EmbeddingRow("a", List.of(1f)));
        ShardResult r = ShardResult.newBuilder().setLeaseId("job/00000#1").setTaskId("job/00000").setJobId("job")
                .setShardIndex(0).setNodeId(node.nodeId()).setModel("m").setPoolKey("m@local").setModelDigest("d")
                .setRows(rows).setOutputDigest(OutputDigest.of(rows)).setComputeMillis(1).setProducedAtMs(2)
                .setPromptTokens(List.of(3)).setSignature(ByteBuffer.allocate(0)).build();
        byte[] v2Result = SignedPayloads.of(r);
        r.setEngine("TensorRT 8.4.1");
        SignedPayloads.sign(node, r);
        assertTrue(SignedPayloads.verifies(ByteBuffer.wrap(node.publicKey()), r));
        r.setEngine("OnnxRuntime 1.21.1");
        assertFalse(SignedPayloads.verifies(ByteBuffer.wrap(node.publicKey()), r), "the engine rewritten");
        r.setEngine("");
        assertTrue(java.util.Arrays.equals(v2Result, SignedPayloads.of(r)), "a result without an engine signs the v2 bytes");
    }
}
