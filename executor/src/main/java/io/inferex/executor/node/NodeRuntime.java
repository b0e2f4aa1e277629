package io.inferex.executor.node;

import io.inferex.events.Assignment;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardResult;
import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.market.NodeIdentity;
import io.inferex.market.Pools;
import io.inferex.market.SignedPayloads;
import io.inferex.topics.Topics;
import io.inferex.wire.CatalogueSerializer;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.errors.RetriableException;
import org.apache.kafka.common.errors.WakeupException;
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
 * <p>Delivery: at-least-once per lease. A result is published before its offset is committed; a
 * crash between the two re-runs the shard on restart (same rows, same bits, new
 * {@code producedAtMs}), so downstream readers dedupe by {@code leaseId}.
 */
public final class NodeRuntime implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(NodeRuntime.class);
    /** The free-text hardware/engine description this node advertises. */
    public static final String HARDWARE = "cpu/" + SentenceEmbedder.ENGINE;
    private static final Duration POLL = Duration.ofMillis(200);
    private static final long RETRY_BACKOFF_MS = 1_000;
    private static final int REMEMBERED_LEASES = 10_000;

    /** What {@code GET /node} shows. */
    public record Info(String nodeId, String name, String publicKey, List<String> models, List<String> modelDigests,
            List<String> poolKeys, String cell, int slots, long pricePerRowMicros, long stakeMicros, String hardware,
            long leasesCompleted, long rowsProcessed, String adversary, long adversaryCheats) {}

    /** Readiness parts; the node is ready when all three hold (registered = the broker acknowledged the registration). */
    public record Status(boolean modelLoaded, boolean registered, boolean consumerRunning, String failure) {
        public boolean ready() {
            return modelLoaded && registered && consumerRunning && failure == null;
        }
    }

    private final NodeSettings settings;
    private final NodeIdentity identity;
    private final LivenessPublisher liveness;
    private final SentenceEmbedder embedder;
    private final ShardExecutor shards;
    private final Adversary adversary;
    private final HeartbeatSequence sequence;
    private final LongSupplier clock;
    private final List<String> models;
    private final List<String> modelDigests;
    private final List<String> poolKeys;

    private final Semaphore freeSlots;
    private final Map<String, Assignment> active = new ConcurrentHashMap<>();
    private final ConcurrentLinkedQueue<Long> finished = new ConcurrentLinkedQueue<>();
    private final Set<String> recentLeases = Collections.newSetFromMap(new LinkedHashMap<String, Boolean>(16, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > REMEMBERED_LEASES;
        }
    });
    private final AtomicLong leasesCompleted = new AtomicLong();
    private final AtomicLong rowsProcessed = new AtomicLong();
    private final AtomicLong rejected = new AtomicLong();
    private final AtomicLong skippedForeign = new AtomicLong();
    private final AtomicLong skippedExpired = new AtomicLong();
    private final AtomicLong heartbeatsNotDelivered = new AtomicLong();
    private final AtomicInteger runningWorkers = new AtomicInteger();
    private final OffsetTracker offsets = new OffsetTracker(); // node thread only

    private final ExecutorService workers;
    private final ScheduledExecutorService heartbeats;
    private final Thread nodeThread;

    private volatile boolean running = true;
    /** Cleared only once the grace period is over: shards finishing during it still publish. */
    private volatile boolean publishing = true;
    private volatile boolean registered;
    private volatile boolean consumerRunning;
    private volatile String failure;
    private volatile KafkaProducer<String, Object> resultProducer;
    private volatile KafkaConsumer<byte[], byte[]> consumer;
    private volatile TopicPartition partition;

    public NodeRuntime(NodeSettings settings, NodeIdentity identity, SentenceEmbedder embedder, LivenessPublisher liveness,
            LongSupplier clock) {
        this(settings, identity, embedder, liveness, clock, Adversary.none());
    }

    /** A node that cheats as {@code adversary} says (tests, simulation); {@link Adversary#none()} is the honest node. */
    public NodeRuntime(NodeSettings settings, NodeIdentity identity, SentenceEmbedder embedder, LivenessPublisher liveness,
            LongSupplier clock, Adversary adversary) {
        this.settings = settings;
        this.adversary = adversary;
        this.identity = identity;
        this.liveness = liveness;
        this.embedder = embedder;
        this.clock = clock;
        this.shards = new ShardExecutor(identity, embedder, clock, adversary);
        this.sequence = new HeartbeatSequence(settings.home());
        String model = embedder.files().spec().id();
        this.models = List.of(model);
        this.modelDigests = List.of(embedder.files().weightsSha256());
        this.poolKeys = List.of(Pools.poolKey(model, settings.cell()));
        this.freeSlots = new Semaphore(settings.slots());
        String tag = settings.name() + "-" + identity.nodeId();
        AtomicInteger n = new AtomicInteger();
        this.workers = Executors.newFixedThreadPool(settings.slots(), r -> daemon(r, "inferex-shard-" + tag + "-" + n.incrementAndGet()));
        this.heartbeats = Executors.newSingleThreadScheduledExecutor(r -> daemon(r, "inferex-heartbeat-" + tag));
        this.nodeThread = new Thread(this::run, "inferex-node-" + tag);
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
            register();
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
        return new Status(true, registered, consumerRunning, failure);
    }

    /** Whether the node thread is alive or stopped on purpose (for liveness). */
    public boolean healthy() {
        return failure == null;
    }

    public Info info() {
        return new Info(identity.nodeId(), settings.name(), Base64.getEncoder().encodeToString(identity.publicKey()),
                models, modelDigests, poolKeys, settings.cell(), settings.slots(), settings.pricePerRowMicros(),
                settings.stakeMicros(), HARDWARE, leasesCompleted.get(), rowsProcessed.get(), adversary.mode().toString(),
                adversary.cheats());
    }

    /** The assignments partition this node reads, once known. */
    public TopicPartition assignmentPartition() {
        return partition;
    }

    /** Assignments this node refused (undecodable, not for it, a model it does not serve, a result too large). */
    public long rejectedAssignments() {
        return rejected.get();
    }

    /** Heartbeats whose send failed (each one is logged). */
    public long heartbeatsNotDelivered() {
        return heartbeatsNotDelivered.get();
    }

    // ---------------------------------------------------------------- node thread

    private void run() {
        try {
            resultProducer = new KafkaProducer<>(producerConfig("executor-" + settings.name() + "-" + identity.nodeId()),
                    new StringSerializer(), new CatalogueSerializer());
            if (!running) {
                return;
            }
            heartbeats.scheduleAtFixedRate(this::heartbeat, 0, settings.heartbeatInterval().toMillis(), TimeUnit.MILLISECONDS);
            consumer = new KafkaConsumer<>(consumerConfig(), new ByteArrayDeserializer(), new ByteArrayDeserializer());
            partition = new TopicPartition(Topics.ASSIGNMENTS.name(), AssignmentPartition.of(identity.nodeId(), assignmentPartitions()));
            if (!running) {
                return;
            }
            consumer.assign(List.of(partition));
            LOG.infof("node %s (%s): reading assignments from %s as group %s", identity.nodeId(), settings.name(),
                    partition, groupId());
            consume();
        } catch (Throwable e) {
            if (running) {
                fail(e);
            } else {
                LOG.debugf(e, "node thread stopped while stopping"); // wakeup() / interrupt() from close()
            }
        } finally {
            consumerRunning = false;
            drainAndCloseConsumer();
        }
    }

    /** The node can no longer take work: stop advertising capacity, and let liveness report it. */
    private void fail(Throwable e) {
        failure = e.toString();
        heartbeats.shutdownNow();
        LOG.errorf(e, "node %s stopped taking assignments (liveness is DOWN; restart the process): %s", identity.nodeId(), e);
    }

    /**
     * Publishes the signed registration and waits for the broker's ack. The producer behind the
     * publisher retries what is retriable on its own; this gives up after the registration timeout
     * or on a refusal, and says why.
     */
    private void register() {
        NodeRegistered reg = NodeRegistered.newBuilder()
                .setNodeId(identity.nodeId())
                .setPublicKey(ByteBuffer.wrap(identity.publicKey()))
                .setModels(models)
                .setModelDigests(modelDigests)
                .setCell(settings.cell())
                .setSlots(settings.slots())
                .setPricePerRowMicros(settings.pricePerRowMicros())
                .setStakeMicros(settings.stakeMicros())
                .setHardware(HARDWARE)
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
            liveness.publishRegistration(reg).toCompletableFuture().get(timeoutMs, TimeUnit.MILLISECONDS);
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
        LOG.infof("node %s (%s): registered %s in cell %s, %d slots, %d micros/row, stake %d micros",
                identity.nodeId(), settings.name(), models, settings.cell(), settings.slots(),
                settings.pricePerRowMicros(), settings.stakeMicros());
    }

    private void heartbeat() {
        try {
            sendHeartbeat(settings.slots() - active.size());
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
                .setPoolKeys(poolKeys)
                .setActiveLeases(new ArrayList<>(active.keySet()))
                .setSentAtMs(clock.getAsLong())
                .setSignature(ByteBuffer.allocate(0))
                .build();
        SignedPayloads.sign(identity, hb);
        CompletionStage<Void> sent;
        try {
            sent = liveness.publishHeartbeat(hb);
        } catch (RuntimeException e) {
            sent = CompletableFuture.failedFuture(e);
        }
        return sent.toCompletableFuture().whenComplete((ok, e) -> {
            if (e != null) {
                heartbeatsNotDelivered.incrementAndGet();
                LOG.warnf("node %s: heartbeat %d not delivered: %s", identity.nodeId(), hb.getSequence(), rootMessage(e));
            }
        });
    }

    /** Partition count of the assignments topic on the broker (what the matcher's partitioner sees); waits for the topic. */
    private int assignmentPartitions() throws InterruptedException {
        int expected = Topics.ASSIGNMENTS.partitions();
        long warnAt = 0;
        while (running) {
            List<PartitionInfo> infos;
            try {
                infos = consumer.partitionsFor(Topics.ASSIGNMENTS.name(), Duration.ofSeconds(10));
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                infos = List.of();
            }
            if (infos != null && !infos.isEmpty()) {
                if (infos.size() != expected) {
                    LOG.warnf("topic %s has %d partitions, the catalogue says %d; following the broker (that is where "
                            + "keyed records land)", Topics.ASSIGNMENTS.name(), infos.size(), expected);
                }
                return infos.size();
            }
            if (System.currentTimeMillis() >= warnAt) {
                LOG.warnf("node %s: topic %s does not exist yet; waiting", identity.nodeId(), Topics.ASSIGNMENTS.name());
                warnAt = System.currentTimeMillis() + 30_000;
            }
            Thread.sleep(RETRY_BACKOFF_MS);
        }
        return expected;
    }

    private void consume() throws InterruptedException {
        while (running) {
            ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL);
            consumerRunning = true;
            for (ConsumerRecord<byte[], byte[]> record : records) {
                if (!running) {
                    break; // not handed to the offset tracker, so never committed past: re-read on restart
                }
                offsets.register(record.offset());
                if (dispatch(record)) {
                    offsets.done(record.offset());
                }
            }
            commit();
        }
    }

    /**
     * Handles one record of the partition. Returns true when the record is finished with here
     * (skipped or rejected), false when a worker took it (it reports back through
     * {@link #finished}) or the node is stopping.
     */
    private boolean dispatch(ConsumerRecord<byte[], byte[]> record) throws InterruptedException {
        String key = record.key() == null ? null : new String(record.key(), StandardCharsets.UTF_8);
        if (!identity.nodeId().equals(key)) {
            skippedForeign.incrementAndGet();
            LOG.debugf("skipping %s@%d keyed %s: addressed to another node", partition, record.offset(), key);
            return true;
        }
        Assignment a;
        try {
            a = Topics.ASSIGNMENTS.valueSerde().deserializer().deserialize(record.topic(), record.value());
            if (a == null) {
                throw new io.inferex.wire.UndecodableRecordException("null value (tombstone) on " + record.topic(), null);
            }
        } catch (RuntimeException e) {
            return reject(record, e);
        }
        if (!identity.nodeId().equals(a.getNodeId())) {
            return reject(record, new UnprocessableAssignmentException("assignment " + a.getLeaseId() + " is keyed to node "
                    + key + " but addressed to node " + a.getNodeId()));
        }
        if (a.getRevoked()) {
            // The matcher took the lease back (expired, or its shard re-leased or done): never start it.
            // An answer to it, were one already running, is dead-lettered by the verifier and not paid.
            LOG.infof("lease %s (task %s) revoked by the matcher; not running it", a.getLeaseId(), a.getTaskId());
            return true;
        }
        long now = clock.getAsLong();
        if (a.getLeaseDeadlineMs() <= now) {
            skippedExpired.incrementAndGet();
            LOG.infof("skipping lease %s (task %s): its deadline passed %d ms ago", a.getLeaseId(), a.getTaskId(),
                    now - a.getLeaseDeadlineMs());
            return true;
        }
        synchronized (recentLeases) {
            if (active.containsKey(a.getLeaseId()) || recentLeases.contains(a.getLeaseId())) {
                LOG.infof("skipping lease %s: already run by this node", a.getLeaseId());
                return true;
            }
        }
        if (!shards.modelId().equals(a.getModel())) {
            return reject(record, new UnprocessableAssignmentException("lease " + a.getLeaseId() + " asks for model "
                    + a.getModel() + "; node " + identity.nodeId() + " serves " + models));
        }
        while (!freeSlots.tryAcquire(POLL.toMillis(), TimeUnit.MILLISECONDS)) {
            commit(); // keep committing finished shards while every slot is busy
            if (!running) {
                return false;
            }
        }
        active.put(a.getLeaseId(), a);
        runningWorkers.incrementAndGet();
        try {
            workers.execute(() -> runShard(a, record));
        } catch (RuntimeException e) { // rejected: the pool is shutting down
            active.remove(a.getLeaseId());
            runningWorkers.decrementAndGet();
            freeSlots.release();
            return false;
        }
        return false;
    }

    /** Worker: run the shard, publish the signed result, wait for the ack, report the offset finished. */
    private void runShard(Assignment a, ConsumerRecord<byte[], byte[]> record) {
        boolean finishedWithRecord = false;
        try {
            if (!adversary.answers(a.getLeaseId())) {
                finishedWithRecord = true; // adversary "drop": the lease is taken and never answered
                return;
            }
            ShardResult result;
            try {
                result = shards.execute(a);
            } catch (UnprocessableAssignmentException e) {
                finishedWithRecord = reject(record, e);
                return;
            } catch (RuntimeException e) {
                LOG.errorf(e, "lease %s failed to run", a.getLeaseId());
                finishedWithRecord = reject(record, new UnprocessableAssignmentException(
                        "lease " + a.getLeaseId() + " failed to run on node " + identity.nodeId() + ": " + e, e));
                return;
            }
            adversary.beforeAnswer(a.getLeaseId()); // adversary "delay"
            finishedWithRecord = publish(result, a, record);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            active.remove(a.getLeaseId());
            if (finishedWithRecord) {
                finished.add(record.offset());
            }
            runningWorkers.decrementAndGet();
            freeSlots.release();
        }
    }

    private boolean publish(ShardResult result, Assignment a, ConsumerRecord<byte[], byte[]> record) throws InterruptedException {
        while (publishing) {
            try {
                resultProducer.send(new ProducerRecord<>(Topics.RESULTS.name(), result.getTaskId(), result)).get();
                int n = result.getRows().size();
                leasesCompleted.incrementAndGet();
                rowsProcessed.addAndGet(n);
                synchronized (recentLeases) {
                    recentLeases.add(a.getLeaseId());
                }
                LOG.infof("lease %s (task %s): %d rows in %d ms (%.0f rows/s), result published", a.getLeaseId(),
                        a.getTaskId(), n, result.getComputeMillis(),
                        result.getComputeMillis() == 0 ? (double) n * 1000 : n * 1000.0 / result.getComputeMillis());
                adversary.answered(a.getLeaseId()); // adversary "crash-after" may halt the process here
                return true;
            } catch (ExecutionException | org.apache.kafka.common.KafkaException e) {
                Throwable cause = e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
                if (cause instanceof RecordTooLargeException) {
                    return reject(record, new UnprocessableAssignmentException("result of lease " + a.getLeaseId()
                            + " (" + result.getRows().size() + " rows) is larger than the broker accepts: " + cause.getMessage(), cause));
                }
                if (!(cause instanceof RetriableException) && !(cause instanceof org.apache.kafka.common.errors.TimeoutException)) {
                    LOG.warnf("result of lease %s not published: %s; retrying", a.getLeaseId(), cause.toString());
                }
                if (clock.getAsLong() > a.getLeaseDeadlineMs()) {
                    LOG.warnf("giving up on lease %s: result not acknowledged before its deadline (%s)", a.getLeaseId(), cause);
                    return true; // the lease is lost; the matcher re-assigns the shard
                }
                Thread.sleep(RETRY_BACKOFF_MS);
            }
        }
        return false;
    }

    /**
     * Refuses an assignment this node cannot run: logged with its position and the reason, and
     * counted ({@link #rejectedAssignments}); the record is finished with. A node writes only its
     * registration, heartbeats and results (docs/security.md), so it has no dead-letter topic: the
     * matcher notices the unanswered lease at its deadline, revokes it and leases the shard again.
     */
    private boolean reject(ConsumerRecord<byte[], byte[]> record, Throwable reason) {
        rejected.incrementAndGet();
        LOG.warnf("rejected assignment %s-%d@%d: %s", record.topic(), record.partition(), record.offset(), reason.getMessage());
        return true;
    }

    /** Node thread only. */
    private void commit() {
        commit(Duration.ofSeconds(10));
    }

    private void commit(Duration timeout) {
        Long done;
        while ((done = finished.poll()) != null) {
            offsets.done(done);
        }
        var next = offsets.toCommit();
        if (next.isEmpty()) {
            return;
        }
        try {
            consumer.commitSync(Map.of(partition, new OffsetAndMetadata(next.getAsLong())), timeout);
            offsets.committed(next.getAsLong());
        } catch (WakeupException e) {
            throw e;
        } catch (RuntimeException e) {
            LOG.warnf("commit of %s@%d failed (%s); will retry", partition, next.getAsLong(), e.toString());
        }
    }

    /** On the node thread's way out: give running shards the grace period, commit what finished, close the consumer. */
    private void drainAndCloseConsumer() {
        workers.shutdown();
        try {
            if (!workers.awaitTermination(settings.shutdownGrace().toMillis(), TimeUnit.MILLISECONDS)) {
                LOG.warnf("node %s: %d shard(s) still running after %d ms; their offsets stay uncommitted", identity.nodeId(),
                        runningWorkers.get(), settings.shutdownGrace().toMillis());
                publishing = false;
                workers.shutdownNow();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            publishing = false;
            workers.shutdownNow();
        }
        publishing = false;
        KafkaConsumer<byte[], byte[]> c = consumer;
        if (c == null) {
            return;
        }
        for (int attempt = 0; attempt < 2 && partition != null; attempt++) {
            try {
                commit(Duration.ofSeconds(3)); // shards that finished during the grace period
                break;
            } catch (WakeupException e) {
                // the wakeup() from close() was still pending; the second attempt goes through
            } catch (RuntimeException e) {
                LOG.debugf(e, "last commit");
                break;
            }
        }
        try {
            c.close(org.apache.kafka.clients.consumer.CloseOptions.timeout(Duration.ofSeconds(5)));
        } catch (RuntimeException e) {
            LOG.debugf(e, "closing consumer");
        }
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
        heartbeats.shutdown(); // cancels the periodic heartbeat; one in progress may finish
        try {
            if (!heartbeats.awaitTermination(1, TimeUnit.SECONDS)) {
                heartbeats.shutdownNow();
            }
            if (registered) {
                // Draining: tell the matcher this node takes nothing new. The publisher does not
                // block, but the ack may never come when the broker is unreachable: a second at most.
                // (In the app, ExecutorNode closes this on ShutdownEvent; the SmallRye connector closes
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
        running = false;
        KafkaConsumer<byte[], byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
        if (!consumerRunning) {
            nodeThread.interrupt(); // still registering or waiting for the topic: nothing to drain
        }
        try {
            nodeThread.join(settings.shutdownGrace().toMillis() + 10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (nodeThread.isAlive()) {
            nodeThread.interrupt();
        }
        publishing = false;
        workers.shutdownNow(); // normally drained by the node thread already; not so when start() failed
        try {
            // The model may be closed after this returns: no worker may still be inside it.
            workers.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        KafkaProducer<String, Object> p = resultProducer;
        if (p != null) {
            // Results were acknowledged (or given up) by the workers already. Heartbeats are not on
            // this producer: their channel's producer is closed by the messaging connector.
            p.close(Duration.ofSeconds(2));
        }
        LOG.infof("node %s (%s) stopped: %d leases, %d rows, %d rejected, %d foreign and %d expired skipped, "
                + "%d heartbeats not delivered", identity.nodeId(), settings.name(), leasesCompleted.get(), rowsProcessed.get(),
                rejected.get(), skippedForeign.get(), skippedExpired.get(), heartbeatsNotDelivered.get());
    }

    // ---------------------------------------------------------------- config

    private String groupId() {
        return io.inferex.security.BusAccess.nodeGroup(settings.name()); // the one group the node's ACLs allow
    }

    private Properties producerConfig(String clientId) {
        Properties p = new Properties();
        p.putAll(settings.kafka());
        p.put(ProducerConfig.CLIENT_ID_CONFIG, clientId);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 15_000);
        // A result is one record of ~1.5 KB per row (384 floats). Let the topic's max.message.bytes
        // be the only limit; a result above it fails with RecordTooLargeException and is dead-lettered.
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, 16 * 1024 * 1024);
        return p;
    }

    private Properties consumerConfig() {
        Properties p = new Properties();
        p.putAll(settings.kafka());
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "executor-" + settings.name() + "-" + identity.nodeId() + "-assignments");
        p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId()); // for committed offsets only: partitions are assign()ed
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"); // the matcher writes transactionally
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"); // a new node id has nothing older; expired leases are skipped
        p.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, false);
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, Math.max(8, settings.slots() * 4));
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);
        return p;
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.toString();
    }
}
