package io.inferex.market;

import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardResult;
import java.nio.ByteBuffer;

/** What exactly a node signs, per signed event. The signature field itself is never included. */
public final class SignedPayloads {
    private SignedPayloads() {}

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
        return b.number(h.getSentAtMs()).toByteArray();
    }

    /** The result's identity and its output digest; the rows are covered through the digest. */
    public static byte[] of(ShardResult r) {
        return new CanonicalBytes("inferex/ShardResult/v1")
                .text(r.getLeaseId()).text(r.getTaskId()).text(r.getJobId()).number(r.getShardIndex())
                .text(r.getNodeId()).text(r.getModel()).text(r.getPoolKey()).text(r.getModelDigest()).text(r.getOutputDigest())
                .number(r.getRows().size()).number(r.getComputeMillis()).number(r.getProducedAtMs())
                .toByteArray();
    }

    public static byte[] bytes(ByteBuffer buffer) {
        ByteBuffer dup = buffer.duplicate();
        byte[] out = new byte[dup.remaining()];
        dup.get(out);
        return out;
    }
}
