package io.inferex.local.load;

import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.InputRow;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardResult;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.inferex.market.OutputDigest;
import io.inferex.market.Pools;
import io.inferex.market.SignedPayloads;
import io.inferex.market.SyntheticHashModel;
import io.inferex.security.BusCredentials;
import io.inferex.topics.Topics;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.random.RandomGenerator;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.avro.specific.SpecificRecord;
import io.inferex.wire.AnyEventSerde;

/**
 * Hundreds of executor nodes in one JVM. Each node has its own Ed25519 identity and signs its
 * registration, heartbeats and results exactly as a real node does ({@link SignedPayloads}); it
 * serves {@link SyntheticHashModel}, so its "compute" is a sleep of its drawn per-row time plus a
 * hash. What the nodes share is the Kafka plumbing: the fleet runs under a few node principals
 * (one credential each, issued by the caller), and each principal has one producer and one
 * consumer of the whole {@code assignments} topic, which hands each record to the node it is
 * addressed to. A real node reads only its own partition; sharing is what keeps a 1,000-node fleet
 * at a handful of connections. An adversarial node answers with an output digest that does not
 * match its rows, which the verifier rejects.
 */
public final class SimulatedFleet implements AutoCloseable {
    /** What the fleet did, for the report. */
    public record Counts(long registrations, long heartbeats, long results, long adversarialResults, long revokedSkipped,
            long sendErrors, long corruptedResults, long droppedLeases, long vanishedNodes, long leasesAbandoned,
            long returnedNodes) {}

    private static final Duration HEARTBEAT = Duration.ofSeconds(1);
    private final List<Principal> principals = new ArrayList<>();
    private final List<Node> nodes = new ArrayList<>();
    private final ScheduledExecutorService work = Executors.newScheduledThreadPool(2, r -> daemon(r, "sim-fleet-work"));
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final AtomicLong registrations = new AtomicLong();
    private final AtomicLong heartbeats = new AtomicLong();
    private final AtomicLong results = new AtomicLong();
    private final AtomicLong adversarial = new AtomicLong();
    private final AtomicLong revokedSkipped = new AtomicLong();
    private final AtomicLong sendErrors = new AtomicLong();
    private final AtomicLong dropped = new AtomicLong();
    private final AtomicLong vanished = new AtomicLong();
    private final AtomicLong abandoned = new AtomicLong();
    private final AtomicLong returned = new AtomicLong();
    private final java.util.Set<String> abandonedTasks = ConcurrentHashMap.newKeySet();
    private final Map<String, CheatMode> cheatersById = new ConcurrentHashMap<>();
    private final java.util.Set<String> corruptedLeases = ConcurrentHashMap.newKeySet();

    /** One simulated node: identity, offer, and its own strictly increasing sequence (epoch and heartbeats). */
    static final class Node {
        final NodeIdentity identity = NodeIdentity.generate();
        final int slots;
        final long pricePerRowMicros;
        final double msPerRow;
        final boolean adversary;
        /** How this node cheats, or null for an honest node. */
        final CheatMode cheat;
        final AtomicLong sequence = new AtomicLong(System.currentTimeMillis());
        /** Lease id → task id of each lease it holds. */
        final Map<String, String> active = new ConcurrentHashMap<>();
        final AtomicInteger principal = new AtomicInteger();
        /** Vanished (churn): sends nothing, answers nothing, ignores its assignments. */
        volatile boolean gone;

        Node(int slots, long pricePerRowMicros, double msPerRow, boolean adversary, CheatMode cheat) {
            this.slots = slots;
            this.pricePerRowMicros = pricePerRowMicros;
            this.msPerRow = msPerRow;
            this.adversary = adversary;
            this.cheat = cheat;
        }

        String id() {
            return identity.nodeId();
        }
    }

    private final class Principal {
        final KafkaProducer<String, SpecificRecord> producer;
        final KafkaConsumer<String, byte[]> consumer;
        final Map<String, Node> own = new ConcurrentHashMap<>();
        final Thread poller;

        Principal(String name, Map<String, Object> client) {
            producer = new KafkaProducer<>(BusCredentials.properties(client, Map.of(ProducerConfig.ACKS_CONFIG, "all",
                    ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true, ProducerConfig.LINGER_MS_CONFIG, 0)),
                    new StringSerializer(), new AnyEventSerde());
            // read_committed as a real executor: the matcher writes assignments transactionally, and an
            // aborted lease must never be run.
            consumer = new KafkaConsumer<>(BusCredentials.properties(client, Map.of(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false,
                    ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed", ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 10)),
                    new StringDeserializer(), new ByteArrayDeserializer());
            List<TopicPartition> parts = new ArrayList<>();
            for (int p = 0; p < Topics.ASSIGNMENTS.partitions(); p++) {
                parts.add(new TopicPartition(Topics.ASSIGNMENTS.name(), p));
            }
            consumer.assign(parts);
            consumer.seekToEnd(parts);
            parts.forEach(consumer::position); // resolve now: only assignments from here on are ours
            poller = new Thread(this::poll, "sim-fleet-" + name);
            poller.setDaemon(true);
        }

        void poll() {
            var decoder = Topics.ASSIGNMENTS.valueSerde().deserializer();
            while (running.get()) {
                try {
                    for (ConsumerRecord<String, byte[]> rec : consumer.poll(Duration.ofMillis(100))) {
                        Node node = own.get(rec.key());
                        if (node == null) {
                            continue; // another principal's node, or not ours at all
                        }
                        Assignment a;
                        try {
                            a = (Assignment) decoder.deserialize(rec.topic(), rec.value());
                        } catch (RuntimeException undecodable) {
                            sendErrors.incrementAndGet();
                            continue;
                        }
                        if (a.getRevoked()) {
                            node.active.remove(a.getLeaseId());
                            revokedSkipped.incrementAndGet();
                            continue;
                        }
                        if (node.gone) {
                            abandoned.incrementAndGet(); // a vanished node never sees it: the matcher must take it back
                            abandonedTasks.add(a.getTaskId());
                            continue;
                        }
                        node.active.put(a.getLeaseId(), a.getTaskId());
                        if (node.cheat != null && !node.cheat.answers()) {
                            dropped.incrementAndGet();
                            continue; // takes the lease and never answers
                        }
                        long delayMs = Math.round(node.msPerRow * a.getRows().size())
                                + (node.cheat == null ? 0 : node.cheat.delay().toMillis());
                        work.schedule(() -> answer(this, node, a), delayMs, TimeUnit.MILLISECONDS);
                    }
                } catch (org.apache.kafka.common.errors.WakeupException e) {
                    return;
                } catch (RuntimeException e) {
                    if (running.get()) {
                        sendErrors.incrementAndGet();
                    }
                }
            }
        }

        void send(String topic, String key, SpecificRecord value) {
            producer.send(new ProducerRecord<>(topic, key, value), (md, e) -> {
                if (e != null) {
                    sendErrors.incrementAndGet();
                }
            });
        }
    }

    /**
     * Creates the nodes and registers them. {@code principalConfigs}: one client config per node
     * principal (from {@code BusCommands.issueNode}); node {@code i} runs under principal {@code i mod n}.
     */
    public SimulatedFleet(Scenario.Fleet fleet, double adversaryFraction, List<Map<String, Object>> principalConfigs,
            RandomGenerator random) {
        this(fleet, adversaryFraction, List.of(), principalConfigs, random);
    }

    /** As above, plus {@code cheaters}: extra nodes, each cheating in its mode (see {@link CheatMode}). */
    public SimulatedFleet(Scenario.Fleet fleet, double adversaryFraction, List<Scenario.Cheater> cheaters,
            List<Map<String, Object>> principalConfigs, RandomGenerator random) {
        for (int i = 0; i < principalConfigs.size(); i++) {
            principals.add(new Principal("p" + i, principalConfigs.get(i)));
        }
        int adversaries = (int) Math.floor(fleet.nodes() * adversaryFraction);
        for (int i = 0; i < fleet.nodes(); i++) {
            add(new Node(fleet.slots(), Math.round(fleet.pricePerRowMicros().draw(random)), fleet.msPerRow().draw(random),
                    i < adversaries, null));
        }
        for (Scenario.Cheater c : cheaters) {
            for (int i = 0; i < c.nodes(); i++) {
                long price = c.pricePerRowMicros() != null ? c.pricePerRowMicros() : Math.round(fleet.pricePerRowMicros().draw(random));
                Node n = new Node(fleet.slots(), price, fleet.msPerRow().draw(random), false, c.mode());
                add(n);
                cheatersById.put(n.id(), c.mode());
            }
        }
        principals.forEach(p -> p.poller.start());
        for (Principal p : principals) {
            for (Node n : p.own.values()) {
                p.send(Topics.NODE_REGISTRY.name(), n.id(), registration(n));
                registrations.incrementAndGet();
            }
            p.producer.flush();
        }
        work.scheduleAtFixedRate(this::heartbeatAll, 0, HEARTBEAT.toMillis(), TimeUnit.MILLISECONDS);
    }

    private void add(Node n) {
        Principal p = principals.get(nodes.size() % principals.size());
        p.own.put(n.id(), n);
        nodes.add(n);
    }

    static NodeRegistered registration(Node n) {
        return registration(n.identity, n.slots, n.pricePerRowMicros, n.sequence.incrementAndGet());
    }

    /** The model a simulated node serves: the synthetic load model, a built-in entry of the model registry. */
    static final ModelCatalogue.ModelSpec SYNTHETIC = io.inferex.market.ModelRegistry.builtIns().byId(SyntheticHashModel.ID).orElseThrow();

    /** A simulated node's signed registration: it serves {@link SyntheticHashModel} in the default cell. */
    public static NodeRegistered registration(NodeIdentity node, int slots, long pricePerRowMicros, long epoch) {
        ModelCatalogue.ModelSpec spec = SYNTHETIC;
        return SignedPayloads.sign(node, NodeRegistered.newBuilder().setNodeId(node.nodeId())
                .setPublicKey(ByteBuffer.wrap(node.publicKey())).setModels(List.of(spec.id()))
                .setModelDigests(List.of(spec.weightsSha256())).setCell(Pools.DEFAULT_CELL).setSlots(slots)
                .setPricePerRowMicros(pricePerRowMicros).setStakeMicros(10_000_000).setHardware("simulated/" + spec.id())
                .setHeartbeatIntervalMs(HEARTBEAT.toMillis()).setRegisteredAtMs(epoch)
                .setSignature(ByteBuffer.allocate(0)).build());
    }

    private void heartbeatAll() {
        try {
            for (Principal p : principals) {
                for (Node n : p.own.values()) {
                    if (n.gone) {
                        continue;
                    }
                    NodeHeartbeat hb = SignedPayloads.sign(n.identity, NodeHeartbeat.newBuilder().setNodeId(n.id())
                            .setSequence(n.sequence.incrementAndGet()).setFreeSlots(Math.max(0, n.slots - n.active.size()))
                            .setPoolKeys(List.of(Pools.poolKey(SyntheticHashModel.ID, Pools.DEFAULT_CELL)))
                            .setActiveLeases(new ArrayList<>(n.active.keySet())).setSentAtMs(System.currentTimeMillis())
                            .setSignature(ByteBuffer.allocate(0)).build());
                    p.send(Topics.NODE_HEARTBEATS.name(), n.id(), hb);
                    heartbeats.incrementAndGet();
                }
            }
        } catch (RuntimeException e) {
            sendErrors.incrementAndGet(); // a thrown exception would cancel the schedule
        }
    }

    private void answer(Principal p, Node node, Assignment a) {
        try {
            if (node.active.remove(a.getLeaseId()) == null || node.gone) {
                return; // revoked while "computing", or the node vanished with it
            }
            ShardResult r = result(node.identity, a, node.adversary);
            if (node.cheat != null && node.cheat.corrupts()) {
                List<EmbeddingRow> rows = node.cheat.apply(r.getRows(), java.util.concurrent.ThreadLocalRandom.current());
                r = SignedPayloads.sign(node.identity, ShardResult.newBuilder(r).setRows(rows).setOutputDigest(OutputDigest.of(rows))
                        .setSignature(ByteBuffer.allocate(0)).build());
                corruptedLeases.add(a.getLeaseId());
            }
            p.send(Topics.RESULTS.name(), r.getTaskId(), r);
            results.incrementAndGet();
            if (node.adversary) {
                adversarial.incrementAndGet();
            }
        } catch (RuntimeException e) {
            sendErrors.incrementAndGet();
        }
    }

    /**
     * The signed answer of {@code node} to lease {@code a}: one {@link SyntheticHashModel} row per
     * input row. A dishonest node's output digest does not match its rows (the verifier rejects it).
     */
    public static ShardResult result(NodeIdentity node, Assignment a, boolean dishonest) {
        List<EmbeddingRow> rows = new ArrayList<>(a.getRows().size());
        for (InputRow in : a.getRows()) {
            float[] v = SyntheticHashModel.embed(in.getInput());
            List<Float> list = new ArrayList<>(v.length);
            for (float f : v) {
                list.add(f);
            }
            rows.add(new EmbeddingRow(in.getCustomId(), list));
        }
        String digest = OutputDigest.of(rows);
        if (dishonest) {
            digest = OutputDigest.of(List.of(new EmbeddingRow("forged", List.of(1f))));
        }
        return SignedPayloads.sign(node, ShardResult.newBuilder().setLeaseId(a.getLeaseId()).setTaskId(a.getTaskId())
                .setJobId(a.getJobId()).setShardIndex(a.getShardIndex()).setNodeId(node.nodeId()).setModel(a.getModel())
                .setPoolKey(a.getPoolKey()).setModelDigest(SYNTHETIC.weightsSha256()).setRows(rows)
                .setOutputDigest(digest).setComputeMillis(0).setProducedAtMs(System.currentTimeMillis())
                .setSignature(ByteBuffer.allocate(0)).build());
    }

    /**
     * Churn: {@code fraction} of the nodes vanish now (honest ones first, picked with {@code random}):
     * no more heartbeats or answers, the leases they hold abandoned (a vanished machine's work is
     * lost with it). Returns their ids.
     */
    public List<String> vanish(double fraction, RandomGenerator random) {
        List<Node> pool = new ArrayList<>(nodes.stream().filter(n -> !n.adversary && n.cheat == null && !n.gone).toList());
        java.util.Collections.shuffle(pool, new java.util.Random(random.nextLong()));
        int count = (int) Math.round(nodes.size() * fraction);
        List<String> ids = new ArrayList<>();
        for (Node n : pool.subList(0, Math.min(count, pool.size()))) {
            n.gone = true;
            abandoned.addAndGet(n.active.size());
            abandonedTasks.addAll(n.active.values());
            ids.add(n.id());
        }
        vanished.addAndGet(ids.size());
        return ids;
    }

    /**
     * The vanished nodes come back, as a restarted machine does: they forget the leases they held,
     * register again (a new epoch) and heartbeat with all their slots free.
     */
    public int comeBack() {
        int n = 0;
        for (Principal p : principals) {
            for (Node node : p.own.values()) {
                if (node.gone) {
                    node.active.clear();
                    p.send(Topics.NODE_REGISTRY.name(), node.id(), registration(node));
                    registrations.incrementAndGet();
                    node.gone = false;
                    n++;
                }
            }
            p.producer.flush();
        }
        returned.addAndGet(n);
        return n;
    }

    /** Task ids of the leases vanished nodes held or were sent while gone: work the market must lease again. */
    public java.util.Set<String> abandonedTasks() {
        return java.util.Set.copyOf(abandonedTasks);
    }

    /** Node id → cheat mode of every cheater. */
    public Map<String, CheatMode> cheaters() {
        return Map.copyOf(cheatersById);
    }

    /** Leases a cheater answered with wrong rows. */
    public java.util.Set<String> corruptedLeases() {
        return java.util.Set.copyOf(corruptedLeases);
    }

    /** Every simulated node's id. */
    public List<String> nodeIds() {
        return nodes.stream().map(Node::id).toList();
    }

    public int size() {
        return nodes.size();
    }

    public Counts counts() {
        return new Counts(registrations.get(), heartbeats.get(), results.get(), adversarial.get(), revokedSkipped.get(),
                sendErrors.get(), corruptedLeases.size(), dropped.get(), vanished.get(), abandoned.get(), returned.get());
    }

    @Override
    public void close() {
        running.set(false);
        work.shutdownNow();
        for (Principal p : principals) {
            p.consumer.wakeup();
            try {
                p.poller.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            p.consumer.close(Duration.ofSeconds(5));
            p.producer.close(Duration.ofSeconds(5));
        }
    }

    private static Thread daemon(Runnable r, String name) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        return t;
    }
}
