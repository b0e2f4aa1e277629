package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.executor.TestDirs;
import io.inferex.market.NodeIdentity;
import io.inferex.market.SignedPayloads;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;

/** NodeLiveness alone (no model, no broker): what the registration and the heartbeats say, and the draining heartbeat. */
class NodeLivenessTest {
    final NodeRuntimeLivenessTest.StubLiveness acking = new NodeRuntimeLivenessTest.StubLiveness(
            r -> CompletableFuture.completedFuture(null), hb -> CompletableFuture.completedFuture(null));
    final List<NodeRegistered> registrations = acking.registrations;
    final List<NodeHeartbeat> heartbeats = acking.heartbeats;

    @Test
    void registrationAdvertisesTheModelAndEngineSignedAndTheLastHeartbeatDrainsTheNode() throws Exception {
        var home = TestDirs.fresh("node-liveness");
        NodeSettings settings = new NodeSettings("liveness-unit", home, Map.of("bootstrap.servers", "localhost:1"), "local", 3, 100,
                10_000_000L, Duration.ofHours(1), Duration.ofSeconds(1), 32, Duration.ofMillis(100));
        NodeIdentity identity = NodeIdentity.generate();
        NodeLiveness.Advert advert = new NodeLiveness.Advert(List.of("m"), List.of("d"), List.of("m@local"), "cpu/OnnxRuntime",
                "OnnxRuntime");
        NodeLiveness liveness = new NodeLiveness(settings, identity, acking, new HeartbeatSequence(home), () -> 42L, advert,
                () -> 2, () -> List.of("L1"));
        assertFalse(liveness.registered());
        liveness.register();
        assertTrue(liveness.registered());
        NodeRegistered reg = registrations.get(0);
        assertEquals(List.of("m"), reg.getModels());
        assertEquals(List.of("d"), reg.getModelDigests());
        assertEquals("cpu/OnnxRuntime", reg.getHardware());
        assertEquals(3, reg.getSlots());
        assertTrue(NodeIdentity.verify(identity.publicKey(), SignedPayloads.of(reg), SignedPayloads.bytes(reg.getSignature())));

        liveness.startHeartbeats(); // the first one at once; the next only in an hour
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (heartbeats.isEmpty()) {
            assertTrue(System.nanoTime() < deadline);
            Thread.sleep(5);
        }
        liveness.stopWithDrainingHeartbeat();
        assertEquals(2, heartbeats.size());
        NodeHeartbeat first = heartbeats.get(0);
        NodeHeartbeat last = heartbeats.get(1);
        assertEquals(2, first.getFreeSlots());
        assertEquals(List.of("L1"), first.getActiveLeases());
        assertEquals(List.of("m@local"), first.getPoolKeys());
        assertEquals(0, last.getFreeSlots(), "draining: no slot is offered any more");
        assertTrue(last.getSequence() > first.getSequence());
        assertTrue(first.getSequence() > reg.getRegisteredAtMs(), "one counter for the epoch and the sequence");
        assertEquals(0, liveness.notDelivered());
    }
}
