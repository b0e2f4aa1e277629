package io.inferex.executor.node;

import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.market.NodeIdentity;
import io.inferex.market.Pools;
import io.inferex.wire.CatalogueSerializer;
import java.time.Duration;
import java.util.Base64;
import java.util.List;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.jboss.logging.Logger;

/**
 * A market node's life on Kafka: register (signed), heartbeat (signed, strictly increasing
 * sequence), read the assignments addressed to this node, run them in parallel slots and publish
 * signed results, committing an assignment's offset only once its result is acknowledged. Plain
 * Java; Quarkus only constructs, starts and closes it, and hands it its {@link LivenessPublisher}.
 *
 * <p><b>What goes through SmallRye and what stays plain.</b> Liveness — the signed
 * {@code NodeRegistered} at start and the signed {@code NodeHeartbeat} stream — is handed to a
 * {@link LivenessPublisher}; in the application that is two SmallRye Reactive Messaging Kafka
 * channels ({@code EmitterLivenessPublisher}). Those records are standalone: nothing is committed
 * after them, so a CompletionStage per record is all this class needs (the registration's is
 * awaited, with a timeout, before the node can be ready; a heartbeat's is only logged when it
 * fails). The work path stays on plain Kafka clients owned by this class. The assignment consumer
 * has to be plain anyway ({@code assign()} of the one partition the node id hashes to, computed at
 * runtime, with commits tied to result acknowledgements), and its offsets may only move once the
 * matching result is acked. With one idempotent {@code acks=all} result producer, "send, wait for
 * the ack, then mark the offset done" is a single {@code Future.get()}, a record too large for the
 * broker is seen as that exception (not a nack in a callback chain), and the shutdown order is
 * explicit (stop heartbeats, stop reading, let running shards finish or give up at the grace
 * period, commit, close the producer) instead of depending on the order in which Quarkus tears
 * down the connector. With a stub {@link LivenessPublisher} the whole node runs in a plain test.
 *
 * <p>The parts, each its own class: {@link NodeLiveness} (registration, heartbeats),
 * {@link AssignmentFeed} (the partition, dispatch, offset commits), {@link WorkerPool} (the
 * inference slots), {@link ResultPublisher} (send, ack, retry until the lease's deadline) and
 * {@link Rejections}. This class wires them, runs the node thread and owns the shutdown order.
 *
 * <p>Delivery: at-least-once per lease. A result is published before its offset is committed; a
 * crash between the two re-runs the shard on restart (same rows, same bits, new
 * {@code producedAtMs}), so downstream readers dedupe by {@code leaseId}.
 */
public final class NodeRuntime implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(NodeRuntime.class);
    /** What {@code GET /node} shows. */
    public record Info(String nodeId, String name, String publicKey, List<String> models, List<String> modelDigests,
            List<String> poolKeys, String cell, int slots, long pricePerRowMicros, long stakeMicros, String hardware,
            String engine, String engineSelection, long leasesCompleted, long rowsProcessed, long inferenceCalls,
            long leasesDeclined, String adversary, long adversaryCheats) {}

    /** Readiness parts; the node is ready when all three hold (registered = the broker acknowledged the registration). */
    public record Status(boolean modelLoaded, boolean registered, boolean consumerRunning, String failure) {
        public boolean ready() {
            return modelLoaded && registered && consumerRunning && failure == null;
        }
    }

    private final NodeSettings settings;
    private final NodeIdentity identity;
    private final Adversary adversary;
    private final NodeLiveness.Advert advert;
    private final String modelId;
    private final String engine;
    private final String engineSelection;
    /** Most characters of a decline's detail. */
    static final int MAX_DECLINE_DETAIL = 512;

    private final Rejections rejections;
    private final NodeLiveness liveness;
    private final WorkerPool pool;
    private final ResultPublisher results;
    private final AssignmentFeed feed;
    private final Thread nodeThread;

    private volatile boolean running = true;
    private volatile String failure;

    public NodeRuntime(NodeSettings settings, NodeIdentity identity, SentenceEmbedder embedder, LivenessPublisher liveness,
            LongSupplier clock) {
        this(settings, identity, embedder, liveness, clock, Adversary.none());
    }

    /** A node that cheats as {@code adversary} says (tests, simulation); {@link Adversary#none()} is the honest node. */
    public NodeRuntime(NodeSettings settings, NodeIdentity identity, SentenceEmbedder embedder, LivenessPublisher liveness,
            LongSupplier clock, Adversary adversary) {
        this(settings, identity, embedder, liveness, clock, adversary, null);
    }

    /**
     * @param engineSelection how the engine was chosen, shown in {@code GET /node} (e.g. why
     *     {@code auto} fell back to ONNX Runtime); null when the caller chose the engine itself
     */
    public NodeRuntime(NodeSettings settings, NodeIdentity identity, SentenceEmbedder embedder, LivenessPublisher liveness,
            LongSupplier clock, Adversary adversary, String engineSelection) {
        this.settings = settings;
        this.engine = embedder.engineDescription();
        this.engineSelection = engineSelection;
        this.identity = identity;
        this.adversary = adversary;
        this.modelId = embedder.files().spec().id();
        this.advert = new NodeLiveness.Advert(List.of(modelId), List.of(embedder.files().weightsSha256()),
                List.of(Pools.poolKey(modelId, settings.cell())), embedder.hardware(), engine);
        String tag = settings.name() + "-" + identity.nodeId();
        // The Kafka clients are created on the node thread, once registered (ResultPublisher.open, AssignmentFeed.assign).
        this.results = new ResultPublisher(() -> new KafkaProducer<>(ResultPublisher.config(settings, "executor-" + tag),
                new StringSerializer(), new CatalogueSerializer()), clock);
        this.rejections = new Rejections((lease, reason, detail) -> results.decline(declined(identity, lease, reason, detail,
                clock.getAsLong())));
        ShardExecutor shards = new ShardExecutor(identity, embedder, clock, adversary);
        AssignmentFeed[] feedRef = new AssignmentFeed[1];
        this.pool = new WorkerPool(settings.slots(), tag, identity.nodeId(), shards::executeTogether, plan(settings.microBatching(), shards),
                results, rejections, adversary, offset -> feedRef[0].finished(offset));
        this.feed = new AssignmentFeed(() -> new KafkaConsumer<>(AssignmentFeed.config(settings,
                "executor-" + tag + "-assignments", groupId()), new ByteArrayDeserializer(), new ByteArrayDeserializer()), identity.nodeId(), modelId, pool,
                rejections, clock, () -> running, Thread::sleep, settings.fullWait());
        feedRef[0] = feed;
        this.liveness = new NodeLiveness(settings, identity, liveness, new HeartbeatSequence(settings.home()), clock, advert,
                pool::freeSlots, pool::activeLeases);
        this.nodeThread = new Thread(this::run, "inferex-node-" + tag);
    }

    /**
     * The micro-batching plan: off when configured off; else leases of this node's model share a call
     * only when the model is measured batch-invariant ({@link ShardExecutor#batchInvariant()}).
     */
    static MicroBatchPlan plan(NodeSettings.MicroBatching m, ShardExecutor shards) {
        if (!m.enabled()) {
            return MicroBatchPlan.off();
        }
        boolean invariant = shards.batchInvariant();
        String model = shards.modelId();
        LOG.infof("micro-batching %s: at most %d rows per call, %d ms max wait", invariant ? "on" : "on, but model " + model
                + " is not batch-invariant: each lease runs alone", m.maxRows(), m.maxWait().toMillis());
        return new MicroBatchPlan(m.maxRows(), m.maxWait(), id -> invariant && id.equals(model));
    }

    /** The node's signed decline of a lease it holds. */
    static io.inferex.events.LeaseDeclined declined(NodeIdentity identity, io.inferex.events.Assignment lease,
            io.inferex.events.DeclineReason reason, String detail, long now) {
        String words = detail.length() > MAX_DECLINE_DETAIL ? detail.substring(0, MAX_DECLINE_DETAIL) : detail;
        io.inferex.events.LeaseDeclined d = io.inferex.events.LeaseDeclined.newBuilder().setLeaseId(lease.getLeaseId())
                .setTaskId(lease.getTaskId()).setNodeId(identity.nodeId()).setPoolKey(lease.getPoolKey()).setReason(reason)
                .setDetail(words).setDeclinedAtMs(now).setSignature(java.nio.ByteBuffer.allocate(0)).build();
        return io.inferex.market.SignedPayloads.sign(identity, d);
    }

    /**
     * Publishes the signed registration and waits for the broker's acknowledgement (at most the
     * registration timeout), then starts heartbeating and consuming on the node's own threads.
     *
     * @throws IllegalStateException with the reason when the registration was refused or not
     *     acknowledged in time; the node then never reports ready and starts no thread
     */
    public void start() {
        adversary.announce(identity.nodeId());
        try {
            liveness.register();
        } catch (RuntimeException e) {
            failure = e.getMessage();
            throw e;
        }
        nodeThread.start();
    }

    public String nodeId() {
        return identity.nodeId();
    }

    public Status status() {
        return new Status(true, liveness.registered(), feed.polling(), failure);
    }

    /** Whether the node thread is alive or stopped on purpose (for liveness). */
    public boolean healthy() {
        return failure == null;
    }

    public Info info() {
        return new Info(identity.nodeId(), settings.name(), Base64.getEncoder().encodeToString(identity.publicKey()),
                advert.models(), advert.modelDigests(), advert.poolKeys(), settings.cell(), settings.slots(),
                settings.pricePerRowMicros(), settings.stakeMicros(), advert.hardware(), engine, engineSelection,
                pool.leasesCompleted(), pool.rowsProcessed(), pool.inferenceCalls(), rejections.declined(),
                adversary.mode().toString(), adversary.cheats());
    }

    /** The assignments partition this node reads, once known. */
    public TopicPartition assignmentPartition() {
        return feed.partition();
    }

    /** Assignments this node refused (undecodable, not for it, a model it does not serve, a result too large). */
    public long rejectedAssignments() {
        return rejections.count();
    }

    /** Leases this node declined to the matcher (full, or it cannot run them). */
    public long declinedLeases() {
        return rejections.declined();
    }

    /** Inference calls the worker pool made (fewer than the leases answered when micro-batching groups them). */
    public long inferenceCalls() {
        return pool.inferenceCalls();
    }

    /** Heartbeats whose send failed (each one is logged). */
    public long heartbeatsNotDelivered() {
        return liveness.notDelivered();
    }

    // ---------------------------------------------------------------- node thread

    private void run() {
        try {
            results.open();
            if (!running) {
                return;
            }
            liveness.startHeartbeats();
            TopicPartition partition = feed.assign();
            if (partition == null) {
                return;
            }
            LOG.infof("node %s (%s): reading assignments from %s as group %s", identity.nodeId(), settings.name(),
                    partition, groupId());
            feed.consume();
        } catch (Throwable e) {
            if (running) {
                fail(e);
            } else {
                LOG.debugf(e, "node thread stopped while stopping"); // wakeup() / interrupt() from close()
            }
        } finally {
            drainAndCloseFeed();
        }
    }

    /** The node can no longer take work: stop advertising capacity, and let liveness report it. */
    private void fail(Throwable e) {
        failure = e.toString();
        liveness.abandon();
        LOG.errorf(e, "node %s stopped taking assignments (liveness is DOWN; restart the process): %s", identity.nodeId(), e);
    }

    /** On the node thread's way out: give running shards the grace period, commit what finished, close the consumer. */
    private void drainAndCloseFeed() {
        try {
            if (!pool.drain(settings.shutdownGrace())) {
                LOG.warnf("node %s: %d shard(s) still running after %d ms; their offsets stay uncommitted", identity.nodeId(),
                        pool.running(), settings.shutdownGrace().toMillis());
                results.stop();
                pool.stopNow(Duration.ZERO);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            results.stop();
            pool.stopNow(Duration.ZERO);
        }
        results.stop();
        feed.commitAndClose();
    }

    // ---------------------------------------------------------------- shutdown

    /**
     * Stops heartbeats (after a last one saying no slot is free), stops reading assignments, waits
     * up to the grace period for running shards and commits what finished, then closes the clients.
     * Bounded even when the broker is gone.
     */
    @Override
    public void close() {
        if (!running) {
            return;
        }
        liveness.stopWithDrainingHeartbeat();
        running = false;
        feed.wakeup();
        if (!feed.polling()) {
            nodeThread.interrupt(); // still registering or waiting for the topic: nothing to drain
        }
        if (nodeThread.isAlive()) {
            try {
                nodeThread.join(settings.shutdownGrace().toMillis() + 10_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (nodeThread.isAlive()) {
                nodeThread.interrupt();
            }
        }
        results.stop();
        // Normally drained by the node thread already; not so when start() failed.
        // The model may be closed after this returns: no worker may still be inside it.
        pool.stopNow(Duration.ofSeconds(5));
        // Results were acknowledged (or given up) by the workers already. Heartbeats are not on
        // this producer: their channel's producer is closed by the messaging connector.
        results.close();
        LOG.infof("node %s (%s) stopped: %d leases in %d inference calls, %d rows, %d rejected (%d declined), %d foreign and "
                + "%d expired skipped, %d heartbeats not delivered", identity.nodeId(), settings.name(), pool.leasesCompleted(),
                pool.inferenceCalls(), pool.rowsProcessed(), rejections.count(), rejections.declined(), feed.skippedForeign(),
                feed.skippedExpired(), liveness.notDelivered());
    }

    private String groupId() {
        return io.inferex.security.BusAccess.nodeGroup(settings.name()); // the one group the node's ACLs allow
    }
}
