package io.inferex.market;

import io.inferex.events.LeaseDeclined;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardResult;
import java.nio.ByteBuffer;

/**
 * What exactly a node signs, per signed event (the signature field itself is never included),
 * and the one place that signs and checks those signatures: every reader of a node's word
 * (matcher, verifier) checks it here, and every node signs here.
 */
public final class SignedPayloads {
    private SignedPayloads() {}

    public static NodeRegistered sign(NodeIdentity node, NodeRegistered r) {
        r.setSignature(ByteBuffer.wrap(node.sign(of(r))));
        return r;
    }

    public static NodeHeartbeat sign(NodeIdentity node, NodeHeartbeat h) {
        h.setSignature(ByteBuffer.wrap(node.sign(of(h))));
        return h;
    }

    public static ShardResult sign(NodeIdentity node, ShardResult r) {
        r.setSignature(ByteBuffer.wrap(node.sign(of(r))));
        return r;
    }

    public static LeaseDeclined sign(NodeIdentity node, LeaseDeclined d) {
        d.setSignature(ByteBuffer.wrap(node.sign(of(d))));
        return d;
    }

    /** True when the decline was signed by the key registered for its node. */
    public static boolean verifies(ByteBuffer registeredKey, LeaseDeclined d) {
        return NodeIdentity.verify(bytes(registeredKey), of(d), bytes(d.getSignature()));
    }

    /** True when the heartbeat was signed by the key registered for its node. */
    public static boolean verifies(ByteBuffer registeredKey, NodeHeartbeat h) {
        return NodeIdentity.verify(bytes(registeredKey), of(h), bytes(h.getSignature()));
    }

    /** True when the result was signed by the key registered for its node. */
    public static boolean verifies(ByteBuffer registeredKey, ShardResult r) {
        return NodeIdentity.verify(bytes(registeredKey), of(r), bytes(r.getSignature()));
    }

    /**
     * Empty when a registration can be trusted as the node's own: its key hashes to its id, it
     * signed itself, and it names a digest for each model; else the first reason it cannot.
     */
    public static java.util.Optional<String> registrationProblem(NodeRegistered r) {
        byte[] key = bytes(r.getPublicKey());
        if (!NodeIdentity.nodeIdOf(key).equals(r.getNodeId())) {
            return java.util.Optional.of("public key does not hash to node id " + r.getNodeId());
        }
        if (!NodeIdentity.verify(key, of(r), bytes(r.getSignature()))) {
            return java.util.Optional.of("registration signature does not verify");
        }
        if (r.getModels().size() != r.getModelDigests().size()) {
            return java.util.Optional.of("models and modelDigests differ in length");
        }
        return java.util.Optional.empty();
    }

    public static byte[] of(NodeRegistered r) {
        CanonicalBytes b = new CanonicalBytes("inferex/NodeRegistered/v1")
                .text(r.getNodeId()).raw(bytes(r.getPublicKey()))
                .number(r.getModels().size());
        r.getModels().forEach(b::text);
        b.number(r.getModelDigests().size());
        r.getModelDigests().forEach(b::text);
        return b.text(r.getCell()).number(r.getSlots()).number(r.getPricePerRowMicros()).number(r.getStakeMicros())
                .text(r.getHardware()).number(r.getHeartbeatIntervalMs()).number(r.getRegisteredAtMs())
                .toByteArray();
    }

    public static byte[] of(NodeHeartbeat h) {
        CanonicalBytes b = new CanonicalBytes("inferex/NodeHeartbeat/v1")
                .text(h.getNodeId()).number(h.getSequence()).number(h.getFreeSlots())
                .number(h.getPoolKeys().size());
        h.getPoolKeys().forEach(b::text);
        b.number(h.getActiveLeases().size());
        h.getActiveLeases().forEach(b::text);
        b.number(h.getSentAtMs());
        // v2: the engine, when the node names it; absent, the bytes are those of a v1 heartbeat.
        if (!h.getEngine().isEmpty()) {
            b.text("engine").text(h.getEngine());
        }
        return b.toByteArray();
    }

    /** The result's identity, its output digest (the rows are covered through it), its token counts and engine, if any. */
    public static byte[] of(ShardResult r) {
        CanonicalBytes b = new CanonicalBytes("inferex/ShardResult/v1")
                .text(r.getLeaseId()).text(r.getTaskId()).text(r.getJobId()).number(r.getShardIndex())
                .text(r.getNodeId()).text(r.getModel()).text(r.getPoolKey()).text(r.getModelDigest()).text(r.getOutputDigest())
                .number(r.getRows().size()).number(r.getComputeMillis()).number(r.getProducedAtMs());
        // v2: token counts, when the node reports them; absent, the bytes are those of a v1 result.
        if (!r.getPromptTokens().isEmpty()) {
            b.text("promptTokens").number(r.getPromptTokens().size());
            r.getPromptTokens().forEach(t -> b.number(t));
        }
        // v3: the engine, when the node names it; absent, the bytes are those of a v2 result.
        if (!r.getEngine().isEmpty()) {
            b.text("engine").text(r.getEngine());
        }
        return b.toByteArray();
    }

    /** Every field but the signature: the lease, the node, the reason and its words, the time. */
    public static byte[] of(LeaseDeclined d) {
        return new CanonicalBytes("inferex/LeaseDeclined/v1")
                .text(d.getLeaseId()).text(d.getTaskId()).text(d.getNodeId()).text(d.getPoolKey())
                .text(d.getReason().name()).text(d.getDetail()).number(d.getDeclinedAtMs())
                .toByteArray();
    }

    public static byte[] bytes(ByteBuffer buffer) {
        ByteBuffer dup = buffer.duplicate();
        byte[] out = new byte[dup.remaining()];
        dup.get(out);
        return out;
    }
}
