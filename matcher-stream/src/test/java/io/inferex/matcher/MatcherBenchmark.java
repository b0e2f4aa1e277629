package io.inferex.matcher;

import io.inferex.deadletter.StreamsDeadLetters;
import io.inferex.events.InputRow;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.NodeStake;
import io.inferex.events.ShardTask;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.market.NodeIdentity;
import io.inferex.market.TaskIds;
import io.inferex.testing.SignedFixtures;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Opt-in benchmark, never part of the suite: {@code -Dinferex.benchmark=true}. The real matcher
 * topology ({@link MatcherTopology}, exactly_once_v2, commit 100 ms, as its Quarkus app runs it) on
 * the embedded broker, N registered, staked, live nodes of one pool with enough slots between them
 * for every shard, then P escrowed shards written at once: how fast the matcher leases them
 * (assignments/s from the first shard sent to the P-th lease read, read_committed), the JVM heap
 * after a GC (the in-process broker included), and the size of the matcher's state directory.
 * In the same run, a pass-through Kafka Streams hop with the same guarantee, commit interval and
 * client settings carries P records of the same size: the matcher's rate also reads as a ratio.
 *
 * <p>{@code -Dinferex.benchmark.nodes=1000 -Dinferex.benchmark.pending=100000} (the defaults);
 * {@code -Dinferex.benchmark.limit-s=120} caps the wait for the leases (a slow matcher then
 * reports what it leased in that time); {@code -Dinferex.benchmark.commit-ms=100} sets both apps'
 * commit interval (to see what another interval buys).
 */
@EnabledIfSystemProperty(named = "inferex.benchmark", matches = "true")
class MatcherBenchmark {
    private static final int NODES = Integer.getInteger("inferex.benchmark.nodes", 1000);
    private static final int PENDING = Integer.getInteger("inferex.benchmark.pending", 100_000);
    private static final long LIMIT_S = Long.getLong("inferex.benchmark.limit-s", 120);
    /** Commit interval of both apps (the matcher's default is 100 ms): to see what another interval buys. */
    private static final int COMMIT_MS = Integer.getInteger("inferex.benchmark.commit-ms", 100);
    private static final int SHARDS_PER_JOB = 1000;

    @Test
    void matcherAssignmentsPerSecondBesideAPassThroughHop() throws Exception {
        Map<String, Object> client = EmbeddedKafkaBroker.shared().clientConfig();
        try (Admin admin = Admin.create(client)) {
            TopicProvisioner.ensureTopics(admin, (short) 1, Topics.ALL);
        }
        System.out.printf("matcher benchmark: %d nodes, %d pending shards, commit %d ms, loadavg %s%n", NODES, PENDING, COMMIT_MS, loadavg());
        double hop = passThrough(client);
        Result m = matcher(client);
        System.out.printf("RESULT nodes=%d pending=%d leased=%d seconds=%.2f assignments/s=%.0f pass-through/s=%.0f ratio=%.2f"
                        + " heapAfterGcMB=%.0f stateMB=%.1f loadavg=%s%n",
                NODES, PENDING, m.leased, m.seconds, m.leased / m.seconds, hop, m.leased / m.seconds / hop, m.heapMb, m.stateMb,
                loadavg());
    }

    private record Result(long leased, double seconds, double heapMb, double stateMb) {}

    private static Properties streamsProps(Map<String, Object> client, String applicationId, Path stateDir) {
        Properties props = new Properties();
        props.putAll(client);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        // As matcher-stream's application.properties sets them.
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, COMMIT_MS);
        props.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 50);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.putAll(StreamsDeadLetters.handlerConfigs());
        return props;
    }

    private static ShardTask task(String jobId, int index) {
        String taskId = TaskIds.of(jobId, index, SHARDS_PER_JOB);
        return ShardTask.newBuilder().setTaskId(taskId).setJobId(jobId).setShardIndex(index).setShardCount(SHARDS_PER_JOB)
                .setModel(SignedFixtures.MODEL).setPoolKey(SignedFixtures.POOL).setMaxPricePerRowMicros(100)
                .setRows(List.of(new InputRow("r" + index, index, "hello"))).setCreatedAtMs(1_000_000L + index).build();
    }

    /** P records of a shard's size through a one-step Streams app (same guarantee and commit): records/s. */
    private static double passThrough(Map<String, Object> client) throws Exception {
        String in = "bench-pass-in-" + UUID.randomUUID().toString().substring(0, 6);
        String out = in.replace("-in-", "-out-");
        try (Admin admin = Admin.create(client)) {
            admin.createTopics(List.of(new NewTopic(in, 1, (short) 1), new NewTopic(out, 1, (short) 1))).all().get();
        }
        byte[] value = Topics.SHARD_TASKS.valueSerde().serializer().serialize(Topics.SHARD_TASKS.name(), task("job-pass", 1));
        StreamsBuilder b = new StreamsBuilder();
        b.stream(in, Consumed.with(Serdes.String(), Serdes.ByteArray())).to(out, Produced.with(Serdes.String(), Serdes.ByteArray()));
        Path state = Files.createTempDirectory("bench-pass");
        try (KafkaStreams streams = new KafkaStreams(b.build(), streamsProps(client, in + "-app", state));
                var consumer = readCommitted(client, out, 1)) {
            startAndWait(streams);
            long t0 = System.nanoTime();
            try (var producer = producer(client)) {
                for (int i = 0; i < PENDING; i++) {
                    producer.send(new ProducerRecord<>(in, ("k" + i).getBytes(), value));
                }
            }
            long seen = drain(consumer, PENDING, t0);
            double rate = seen / ((System.nanoTime() - t0) / 1e9);
            System.out.printf("pass-through: %d records in %.2f s = %.0f/s%n", seen, (System.nanoTime() - t0) / 1e9, rate);
            return rate;
        }
    }

    private static Result matcher(Map<String, Object> client) throws Exception {
        var config = new MatcherTopology.Config(Duration.ofMinutes(10), 3, 1_000_000, Duration.ofMillis(500),
                Duration.ofMinutes(10), Duration.ofHours(1));
        Path state = Files.createTempDirectory("bench-matcher");
        Properties props = streamsProps(client, "bench-matcher-" + UUID.randomUUID().toString().substring(0, 6), state);
        int slots = (PENDING + NODES - 1) / NODES;
        try (KafkaStreams streams = new KafkaStreams(MatcherTopology.buildTopology(config, props), props);
                var consumer = readCommitted(client, Topics.ASSIGNMENTS.name(), Topics.ASSIGNMENTS.partitions());
                var producer = producer(client)) {
            startAndWait(streams);
            var reg = Topics.NODE_REGISTRY.valueSerde().serializer();
            var hb = Topics.NODE_HEARTBEATS.valueSerde().serializer();
            var stake = Topics.NODE_STAKE.valueSerde().serializer();
            var status = Topics.JOB_STATUS.valueSerde().serializer();
            var taskSer = Topics.SHARD_TASKS.valueSerde().serializer();
            List<NodeIdentity> fleet = new ArrayList<>();
            for (int i = 0; i < NODES; i++) {
                NodeIdentity id = NodeIdentity.generate();
                fleet.add(id);
                byte[] key = id.nodeId().getBytes();
                producer.send(new ProducerRecord<>(Topics.NODE_STAKE.name(), key, stake.serialize(Topics.NODE_STAKE.name(),
                        NodeStake.newBuilder().setNodeId(id.nodeId()).setLockedMicros(1_000_000_000_000L).setUnlockingMicros(0)
                                .setUnlockAtMs(0).setSlashed(false).setUpdatedAtMs(1).build())));
                // The longest heartbeat interval the matcher allows: alive for 3 minutes on one heartbeat.
                producer.send(new ProducerRecord<>(Topics.NODE_REGISTRY.name(), key, reg.serialize(Topics.NODE_REGISTRY.name(),
                        SignedFixtures.registration(id, 1 + i % 10, slots, LeaseMatcher.MAX_HEARTBEAT_INTERVAL_MS))));
                producer.send(new ProducerRecord<>(Topics.NODE_HEARTBEATS.name(), key, hb.serialize(Topics.NODE_HEARTBEATS.name(),
                        SignedFixtures.heartbeat(id, 1, slots))));
            }
            int jobs = (PENDING + SHARDS_PER_JOB - 1) / SHARDS_PER_JOB;
            for (int j = 0; j < jobs; j++) {
                String jobId = "bench-job-" + j;
                producer.send(new ProducerRecord<>(Topics.JOB_STATUS.name(), jobId.getBytes(), status.serialize(Topics.JOB_STATUS.name(),
                        JobStatus.newBuilder().setJobId(jobId).setCustomerId("c").setState(JobState.IN_PROGRESS)
                                .setRowCount(SHARDS_PER_JOB).setCompletedRows(0).setFailedRows(0).setShardCount(SHARDS_PER_JOB)
                                .setShardsDone(0).setSpentMicros(0).setUpdatedAtMs(1).build())));
            }
            producer.flush();
            // The nodes reach the matcher through two repartitions: wait until a probe shard is leased.
            String probeJob = "bench-job-" + (jobs - 1);
            int probeIndex = SHARDS_PER_JOB - 1;
            producer.send(new ProducerRecord<>(Topics.SHARD_TASKS.name(), SignedFixtures.POOL.getBytes(),
                    taskSer.serialize(Topics.SHARD_TASKS.name(), task(probeJob, probeIndex)))).get();
            if (drain(consumer, 1, System.nanoTime()) < 1) {
                throw new IllegalStateException("the probe shard was never leased");
            }
            Thread.sleep(3000); // the rest of the fleet's registrations
            // One heartbeat keeps a node alive 3 minutes: beat every 30 s, so a long run is not cut short by the fleet dying.
            var beats = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
            var sequence = new java.util.concurrent.atomic.AtomicLong(1);
            beats.scheduleAtFixedRate(() -> {
                long seq = sequence.incrementAndGet();
                for (NodeIdentity id : fleet) {
                    producer.send(new ProducerRecord<>(Topics.NODE_HEARTBEATS.name(), id.nodeId().getBytes(),
                            hb.serialize(Topics.NODE_HEARTBEATS.name(), SignedFixtures.heartbeat(id, seq, slots))));
                }
            }, 30, 30, java.util.concurrent.TimeUnit.SECONDS);
            long t0 = System.nanoTime();
            int sent = 0;
            for (int j = 0; j < jobs && sent < PENDING; j++) {
                for (int i = 0; i < SHARDS_PER_JOB && sent < PENDING; i++) {
                    if (j == jobs - 1 && i == probeIndex) {
                        continue;
                    }
                    producer.send(new ProducerRecord<>(Topics.SHARD_TASKS.name(), SignedFixtures.POOL.getBytes(),
                            taskSer.serialize(Topics.SHARD_TASKS.name(), task("bench-job-" + j, i))));
                    sent++;
                }
            }
            producer.flush();
            System.out.printf("matcher: %d shards sent in %.2f s%n", sent, (System.nanoTime() - t0) / 1e9);
            long leased = drain(consumer, sent, t0);
            double seconds = (System.nanoTime() - t0) / 1e9;
            beats.shutdownNow();
            printChangelogs(client, props.getProperty(StreamsConfig.APPLICATION_ID_CONFIG), leased);
            System.gc();
            double heap = ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed() / 1e6;
            return new Result(leased, seconds, heap, size(state) / 1e6);
        }
    }

    /**
     * End offsets of the matcher's changelog topics: the records its stores wrote, set-up included,
     * plus one transaction marker per partition and commit (so a slight over-count), and per lease.
     */
    private static void printChangelogs(Map<String, Object> client, String appId, long leased) throws Exception {
        try (Admin admin = Admin.create(client)) {
            List<String> names = admin.listTopics().names().get().stream()
                    .filter(n -> n.startsWith(appId + "-") && n.endsWith("-changelog")).sorted().toList();
            Map<TopicPartition, org.apache.kafka.clients.admin.OffsetSpec> latest = new java.util.HashMap<>();
            admin.describeTopics(names).allTopicNames().get().forEach((name, d) -> d.partitions().forEach(
                    p -> latest.put(new TopicPartition(name, p.partition()), org.apache.kafka.clients.admin.OffsetSpec.latest())));
            Map<String, Long> perTopic = new java.util.TreeMap<>();
            admin.listOffsets(latest).all().get().forEach((tp, info) -> perTopic.merge(tp.topic(), info.offset(), Long::sum));
            perTopic.forEach((t, n) -> System.out.printf("  changelog %s: %d offsets, %.2f per lease%n",
                    t.substring(appId.length() + 1), n, n / (double) leased));
            long total = perTopic.values().stream().mapToLong(Long::longValue).sum();
            System.out.printf("CHANGELOG offsets=%d perLease=%.2f%n", total, total / (double) leased);
        }
    }

    private static KafkaProducer<byte[], byte[]> producer(Map<String, Object> client) {
        Properties p = new Properties();
        p.putAll(client);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, 256 * 1024);
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    private static KafkaConsumer<byte[], byte[]> readCommitted(Map<String, Object> client, String topic, int partitions) {
        Properties p = new Properties();
        p.putAll(client);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
        var consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> parts = new ArrayList<>();
        for (int i = 0; i < partitions; i++) {
            parts.add(new TopicPartition(topic, i));
        }
        consumer.assign(parts);
        consumer.seekToEnd(parts);
        parts.forEach(consumer::position);
        return consumer;
    }

    /** Reads until {@code want} records came or the limit passed; returns how many came. */
    private static long drain(KafkaConsumer<byte[], byte[]> consumer, long want, long t0) {
        long seen = 0;
        long deadline = t0 + Duration.ofSeconds(LIMIT_S).toNanos();
        long lastPrint = System.nanoTime();
        while (seen < want && System.nanoTime() < deadline) {
            seen += consumer.poll(Duration.ofMillis(100)).count();
            if (System.nanoTime() - lastPrint > 10_000_000_000L) {
                lastPrint = System.nanoTime();
                System.out.printf("  %d of %d after %.1f s%n", seen, want, (lastPrint - t0) / 1e9);
            }
        }
        return seen;
    }

    private static void startAndWait(KafkaStreams streams) throws InterruptedException {
        streams.start();
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (streams.state() != KafkaStreams.State.RUNNING) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("streams state " + streams.state());
            }
            Thread.sleep(50);
        }
    }

    private static long size(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            return files.filter(Files::isRegularFile).mapToLong(f -> {
                try {
                    return Files.size(f);
                } catch (IOException e) {
                    return 0; // a RocksDB file compacted away meanwhile
                }
            }).sum();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String loadavg() {
        try {
            return Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (IOException e) {
            return "n/a";
        }
    }
}
