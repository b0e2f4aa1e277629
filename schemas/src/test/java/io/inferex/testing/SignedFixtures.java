package io.inferex.testing;

import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.inferex.market.Pools;
import io.inferex.market.SignedPayloads;
import java.nio.ByteBuffer;
import java.util.List;

/** Correctly signed node events for tests: what an honest node serving all-MiniLM-L6-v2 in the default cell sends. */
public final class SignedFixtures {
    public static final String MODEL = ModelCatalogue.ALL_MINILM_L6_V2.id();
    public static final String POOL = Pools.poolKey(MODEL, Pools.DEFAULT_CELL);

    private SignedFixtures() {}

    public static NodeRegistered registration(NodeIdentity node, long pricePerRowMicros, int slots, long heartbeatIntervalMs) {
        return SignedPayloads.sign(node, NodeRegistered.newBuilder().setNodeId(node.nodeId())
                .setPublicKey(ByteBuffer.wrap(node.publicKey())).setModels(List.of(MODEL))
                .setModelDigests(List.of(ModelCatalogue.ALL_MINILM_L6_V2.weightsSha256())).setCell(Pools.DEFAULT_CELL)
                .setSlots(slots).setPricePerRowMicros(pricePerRowMicros).setStakeMicros(10_000_000).setHardware("cpu/test")
                .setHeartbeatIntervalMs(heartbeatIntervalMs).setRegisteredAtMs(System.currentTimeMillis())
                .setSignature(ByteBuffer.allocate(0)).build());
    }

    public static NodeHeartbeat heartbeat(NodeIdentity node, long sequence, int freeSlots) {
        return SignedPayloads.sign(node, NodeHeartbeat.newBuilder().setNodeId(node.nodeId()).setSequence(sequence)
                .setFreeSlots(freeSlots).setPoolKeys(List.of(POOL)).setSentAtMs(System.currentTimeMillis())
                .setSignature(ByteBuffer.allocate(0)).build());
    }
}
