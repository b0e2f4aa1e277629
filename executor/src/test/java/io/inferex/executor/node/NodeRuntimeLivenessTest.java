package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.executor.TestDirs;
import io.inferex.executor.model.ModelFiles;
import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.inferex.market.SignedPayloads;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Function;
import org.apache.kafka.common.errors.TopicAuthorizationException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * NodeRuntime's liveness without Quarkus or a broker: a stub {@link LivenessPublisher} stands in for
 * the SmallRye channels. The registration must be acknowledged before the node starts; heartbeats are
 * signed, strictly increasing, and a failed one is counted and logged without stopping the stream.
 */
class NodeRuntimeLivenessTest {
    static final Path MODEL_HOME = Path.of("target", "test-liveness-model");
    /** Nothing listens here: the plain assignment consumer and result producer never connect. */
    static final String NO_BROKER = "localhost:1";
    static SentenceEmbedder embedder;

    @BeforeAll
    static void load() {
        ModelFiles files = ModelFiles.prepare(ModelCatalogue.ALL_MINILM_L6_V2, ModelFiles.ALL_MINILM_L6_V2,
                io.inferex.executor.TestDirs.fp32Models(), NodeRuntimeLivenessTest.class.getClassLoader());
        embedder = SentenceEmbedder.load(files, MODEL_HOME.resolve("djl-cache"), SentenceEmbedder.Options.defaults());
    }

    @AfterAll
    static void close() {
        if (embedder != null) {
            embedder.close();
        }
    }

    /** Records what it is given and answers with the stage the test chose. */
    static final class StubLiveness implements LivenessPublisher {
        final List<NodeRegistered> registrations = new CopyOnWriteArrayList<>();
        final List<NodeHeartbeat> heartbeats = new CopyOnWriteArrayList<>();
        final Function<NodeRegistered, CompletionStage<Void>> onRegistration;
        final Function<NodeHeartbeat, CompletionStage<Void>> onHeartbeat;

        StubLiveness(Function<NodeRegistered, CompletionStage<Void>> onRegistration,
                Function<NodeHeartbeat, CompletionStage<Void>> onHeartbeat) {
            this.onRegistration = onRegistration;
            this.onHeartbeat = onHeartbeat;
        }

        @Override
        public CompletionStage<Void> publishRegistration(NodeRegistered registration) {
            registrations.add(registration);
            return onRegistration.apply(registration);
        }

        @Override
        public CompletionStage<Void> publishHeartbeat(NodeHeartbeat heartbeat) {
            heartbeats.add(heartbeat);
            return onHeartbeat.apply(heartbeat);
        }
    }

    static NodeSettings settings(Path home, Duration registrationTimeout) {
        return new NodeSettings("liveness-test", home, java.util.Map.of("bootstrap.servers", NO_BROKER), "local", 2, 100, 10_000_000L, Duration.ofMillis(50),
                registrationTimeout, 32, Duration.ofMillis(500));
    }

    @Test
    void registrationNeverAcknowledgedFailsStartWithTheReasonAndNothingRuns() throws Exception {
        StubLiveness stub = new StubLiveness(r -> new CompletableFuture<>(), hb -> CompletableFuture.completedFuture(null));
        try (NodeRuntime node = new NodeRuntime(settings(TestDirs.fresh("liveness"), Duration.ofMillis(300)),
                NodeIdentity.generate(), embedder, stub, System::currentTimeMillis)) {
            long t0 = System.nanoTime();
            IllegalStateException e = assertThrows(IllegalStateException.class, node::start);
            assertTrue(System.nanoTime() - t0 >= Duration.ofMillis(300).toNanos(), "waited for the timeout");
            assertTrue(e.getMessage().contains("node-registry not acknowledged within 300 ms"), e.getMessage());
            assertTrue(e.getMessage().contains(NO_BROKER), e.getMessage());
            assertEquals(1, stub.registrations.size());
            assertFalse(node.status().registered());
            assertFalse(node.status().ready());
            assertFalse(node.healthy());
            Thread.sleep(200);
            assertTrue(stub.heartbeats.isEmpty(), "an unregistered node does not heartbeat");
        }
        assertTrue(stub.heartbeats.isEmpty(), "nor when it is closed");
    }

    @Test
    void refusedRegistrationFailsStartWithTheBrokersReason() throws Exception {
        StubLiveness stub = new StubLiveness(
                r -> CompletableFuture.failedFuture(new TopicAuthorizationException("not allowed to write node-registry")),
                hb -> CompletableFuture.completedFuture(null));
        try (NodeRuntime node = new NodeRuntime(settings(TestDirs.fresh("liveness"), Duration.ofSeconds(30)),
                NodeIdentity.generate(), embedder, stub, System::currentTimeMillis)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, node::start);
            assertTrue(e.getMessage().contains("not allowed to write node-registry"), e.getMessage());
            assertTrue(e.getCause() instanceof TopicAuthorizationException, String.valueOf(e.getCause()));
            assertFalse(node.status().ready());
        }
        assertTrue(stub.heartbeats.isEmpty());
    }

    @Test
    void acknowledgedRegistrationThenSignedIncreasingHeartbeatsAndAFailedOneDoesNotStopThem() throws Exception {
        NodeIdentity identity = NodeIdentity.generate();
        AtomicInteger sent = new AtomicInteger();
        // every third heartbeat is not delivered, the first one included
        StubLiveness stub = new StubLiveness(r -> CompletableFuture.completedFuture(null),
                hb -> sent.getAndIncrement() % 3 == 0
                        ? CompletableFuture.failedFuture(new org.apache.kafka.common.errors.TimeoutException("broker away"))
                        : CompletableFuture.completedFuture(null));
        NodeRuntime node = new NodeRuntime(settings(TestDirs.fresh("liveness"), Duration.ofSeconds(5)), identity, embedder, stub,
                System::currentTimeMillis);
        try {
            node.start();
            assertTrue(node.status().registered());
            NodeRegistered reg = stub.registrations.get(0);
            assertEquals(identity.nodeId(), reg.getNodeId());
            assertTrue(NodeIdentity.verify(identity.publicKey(), SignedPayloads.of(reg), SignedPayloads.bytes(reg.getSignature())));
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (stub.heartbeats.size() < 8) {
                assertTrue(System.nanoTime() < deadline, "heartbeats so far: " + stub.heartbeats.size());
                Thread.sleep(20);
            }
            assertTrue(node.heartbeatsNotDelivered() >= 2, "failed heartbeats counted: " + node.heartbeatsNotDelivered());
            assertTrue(node.healthy(), "a failed heartbeat is not a node failure");
        } finally {
            node.close();
        }
        long last = Long.MIN_VALUE;
        for (NodeHeartbeat hb : stub.heartbeats) {
            assertEquals(identity.nodeId(), hb.getNodeId());
            assertTrue(NodeIdentity.verify(identity.publicKey(), SignedPayloads.of(hb), SignedPayloads.bytes(hb.getSignature())));
            assertTrue(hb.getSequence() > last, hb.getSequence() + " after " + last);
            last = hb.getSequence();
        }
        assertEquals(0, stub.heartbeats.get(stub.heartbeats.size() - 1).getFreeSlots(), "the last heartbeat drains the node");
    }
}
