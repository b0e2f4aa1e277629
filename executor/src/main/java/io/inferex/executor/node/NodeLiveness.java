package io.inferex.executor.node;

import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.market.NodeIdentity;
import io.inferex.market.SignedPayloads;
import io.inferex.topics.Topics;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import org.jboss.logging.Logger;

/**
 * A node's liveness: the signed registration at start (awaited, with a timeout, before the node
 * may be ready) and the signed heartbeat stream (free slots, running leases, a strictly
 * increasing sequence), both handed to a {@link LivenessPublisher}. The registration's epoch
 * ({@code registeredAtMs}) is drawn from the same persisted counter as the heartbeat sequence
 * ({@link HeartbeatSequence}), so a restarted node's registration supersedes its earlier ones.
 */
final class NodeLiveness {
    private static final Logger LOG = Logger.getLogger(NodeLiveness.class);

    /** What the node advertises in its registration and heartbeats. */
    record Advert(List<String> models, List<String> modelDigests, List<String> poolKeys, String hardware, String engine) {}

    private final NodeSettings settings;
    private final NodeIdentity identity;
    private final LivenessPublisher publisher;
    private final HeartbeatSequence sequence;
    private final LongSupplier clock;
    private final Advert advert;
    private final IntSupplier freeSlots;
    private final Supplier<List<String>> activeLeases;
    private final ScheduledExecutorService heartbeats;
    private final AtomicLong notDelivered = new AtomicLong();
    private volatile boolean registered;

    NodeLiveness(NodeSettings settings, NodeIdentity identity, LivenessPublisher publisher, HeartbeatSequence sequence,
            LongSupplier clock, Advert advert, IntSupplier freeSlots, Supplier<List<String>> activeLeases) {
        this.settings = settings;
        this.identity = identity;
        this.publisher = publisher;
        this.sequence = sequence;
        this.clock = clock;
        this.advert = advert;
        this.freeSlots = freeSlots;
        this.activeLeases = activeLeases;
        this.heartbeats = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "inferex-heartbeat-" + settings.name() + "-" + identity.nodeId());
            t.setDaemon(true);
            return t;
        });
    }

    /**
     * Publishes the signed registration and waits for the broker's ack. The producer behind the
     * publisher retries what is retriable on its own; this gives up after the registration timeout
     * or on a refusal, and says why.
     *
     * @throws IllegalStateException with the reason
     */
    void register() {
        NodeRegistered reg = NodeRegistered.newBuilder()
                .setNodeId(identity.nodeId())
                .setPublicKey(ByteBuffer.wrap(identity.publicKey()))
                .setModels(advert.models())
                .setModelDigests(advert.modelDigests())
                .setCell(settings.cell())
                .setSlots(settings.slots())
                .setPricePerRowMicros(settings.pricePerRowMicros())
                .setStakeMicros(settings.stakeMicros())
                .setHardware(advert.hardware())
                .setHeartbeatIntervalMs(settings.heartbeatInterval().toMillis())
                // The registration epoch: from the same persisted, strictly increasing counter as the
                // heartbeat sequence (max(last + 1, now)), so a restarted node's registration always
                // supersedes its earlier ones and a replayed older one is refused.
                .setRegisteredAtMs(sequence.next())
                .setSignature(ByteBuffer.allocate(0))
                .build();
        SignedPayloads.sign(identity, reg);
        long timeoutMs = settings.registrationTimeout().toMillis();
        String what = "node " + identity.nodeId() + " (" + settings.name() + "): registration on " + Topics.NODE_REGISTRY.name();
        try {
            publisher.publishRegistration(reg).toCompletableFuture().get(timeoutMs, TimeUnit.MILLISECONDS);
        } catch (TimeoutException e) {
            throw new IllegalStateException(what + " not acknowledged within " + timeoutMs + " ms (is Kafka reachable at "
                    + settings.bootstrapServers() + " and the topic provisioned?)", e);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() != null ? e.getCause() : e;
            throw new IllegalStateException(what + " failed: " + rootMessage(cause), cause);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(what + ": interrupted while waiting for the acknowledgement", e);
        } catch (RuntimeException e) { // the publisher threw instead of failing the stage
            throw new IllegalStateException(what + " failed: " + rootMessage(e), e);
        }
        registered = true;
        LOG.infof("node %s (%s): registered %s in cell %s, %d slots, %d micros/row, stake %d micros, engine %s",
                identity.nodeId(), settings.name(), advert.models(), settings.cell(), settings.slots(),
                settings.pricePerRowMicros(), settings.stakeMicros(), advert.engine());
    }

    boolean registered() {
        return registered;
    }

    /** Heartbeats every interval from now on, on the liveness thread. */
    void startHeartbeats() {
        heartbeats.scheduleAtFixedRate(this::heartbeat, 0, settings.heartbeatInterval().toMillis(), TimeUnit.MILLISECONDS);
    }

    /** The node failed: stop advertising capacity at once. */
    void abandon() {
        heartbeats.shutdownNow();
    }

    /**
     * Stops the periodic heartbeat, then (when registered) sends a last one saying no slot is free
     * and waits a second at most for its ack: the matcher stops leasing to a draining node.
     */
    void stopWithDrainingHeartbeat() {
        heartbeats.shutdown(); // cancels the periodic heartbeat; one in progress may finish
        try {
            if (!heartbeats.awaitTermination(1, TimeUnit.SECONDS)) {
                heartbeats.shutdownNow();
            }
            if (registered) {
                // The publisher does not block, but the ack may never come when the broker is unreachable.
                // (In the app, ExecutorNode closes the node on ShutdownEvent; the SmallRye connector closes
                // its producers later, before the application scope is destroyed.)
                sendHeartbeat(0).get(1, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (ExecutionException e) {
            // already logged by sendHeartbeat
        } catch (TimeoutException | RuntimeException e) {
            LOG.debugf("node %s: last heartbeat not acknowledged: %s", identity.nodeId(), e);
        }
    }

    /** Heartbeats whose send failed (each one is logged). */
    long notDelivered() {
        return notDelivered.get();
    }

    private void heartbeat() {
        try {
            sendHeartbeat(freeSlots.getAsInt());
        } catch (Throwable e) { // a thrown exception would cancel the schedule
            if (heartbeats.isShutdown()) {
                LOG.debugf("node %s: heartbeat interrupted by shutdown: %s", identity.nodeId(), e);
            } else {
                LOG.warnf("node %s: heartbeat failed: %s", identity.nodeId(), e.toString());
            }
        }
    }

    /** Signs and hands one heartbeat to the publisher; the returned stage has already logged a failure. */
    private CompletableFuture<Void> sendHeartbeat(int free) {
        NodeHeartbeat hb = NodeHeartbeat.newBuilder()
                .setNodeId(identity.nodeId())
                .setSequence(sequence.next())
                .setFreeSlots(Math.max(0, free))
                .setPoolKeys(advert.poolKeys())
                .setActiveLeases(activeLeases.get())
                .setSentAtMs(clock.getAsLong())
                .setEngine(advert.engine())
                .setSignature(ByteBuffer.allocate(0))
                .build();
        SignedPayloads.sign(identity, hb);
        CompletionStage<Void> sent;
        try {
            sent = publisher.publishHeartbeat(hb);
        } catch (RuntimeException e) {
            sent = CompletableFuture.failedFuture(e);
        }
        return sent.toCompletableFuture().whenComplete((ok, e) -> {
            if (e != null) {
                notDelivered.incrementAndGet();
                LOG.warnf("node %s: heartbeat %d not delivered: %s", identity.nodeId(), hb.getSequence(), rootMessage(e));
            }
        });
    }

    static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.toString();
    }
}
