package io.inferex.testing;

import io.inferex.deadletter.DeadLetters;
import io.inferex.deadletter.StreamsDeadLetters;
import io.inferex.market.OutputDigest;
import io.inferex.streams.StreamHealth;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import io.inferex.wire.AvroSerde;
import io.inferex.wire.AvroWire;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.TreeSet;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import java.util.function.Predicate;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyDescription;
import org.junit.jupiter.api.Assertions;

/**
 * One stream app's real topology on a real broker, as its Quarkus app runs it (exactly_once_v2,
 * the dead-letter handlers of every app), for poison-record tests: write each kind of bad record
 * to every topic the topology reads (input, repartition and global-table topics, found from
 * {@link Topology#describe()}), wait for their dead letters, then prove a valid record is still
 * processed.
 */
public final class PoisonRun implements AutoCloseable {
    /** A poison record: what it is called in a test report, and its value bytes. */
    public record Poison(String name, byte[] value) {}

    /** Where a poison was written, and its dead letter once found. */
    public record Sent(Poison poison, String topic, int partition, long offset) {}

    /** Size of the 1 MB poison: accepted by the broker (max.message.bytes 1,048,588), but its dead-letter copy is not. */
    public static final int ONE_MB_POISON_BYTES = 1_040_000;

    private final Map<String, Object> client;
    private final String app;
    private final String applicationId;
    private final Topology topology;
    private final KafkaStreams streams;
    private final Path stateDir;
    private final KafkaProducer<byte[], byte[]> producer;

    private PoisonRun(Map<String, Object> client, String app, String applicationId, Topology topology,
            KafkaStreams streams, Path stateDir) {
        this.client = client;
        this.app = app;
        this.applicationId = applicationId;
        this.topology = topology;
        this.streams = streams;
        this.stateDir = stateDir;
        Properties pp = new Properties();
        pp.putAll(client);
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        pp.put(ProducerConfig.LINGER_MS_CONFIG, 0);
        this.producer = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer());
    }

    /** Provisions the catalogue, starts the topology under a fresh application id and waits for RUNNING. */
    public static PoisonRun start(Map<String, Object> clientConfig, String app, Function<Properties, Topology> build)
            throws Exception {
        try (Admin admin = Admin.create(clientConfig)) {
            TopicProvisioner.ensureTopics(admin, (short) 1, Topics.ALL);
        }
        String applicationId = app + "-poison-" + UUID.randomUUID().toString().substring(0, 8);
        Path stateDir = Files.createTempDirectory("poison-state");
        Properties props = appProperties(clientConfig, applicationId, stateDir);
        Topology topology = build.apply(props);
        KafkaStreams streams = new KafkaStreams(topology, props);
        streams.start();
        PoisonRun run = new PoisonRun(Map.copyOf(clientConfig), app, applicationId, topology, streams, stateDir);
        await(Duration.ofSeconds(60), () -> streams.state() == KafkaStreams.State.RUNNING, () -> "state " + streams.state());
        return run;
    }

    /**
     * A stream app's settings as its Quarkus app runs it (exactly_once_v2, the dead-letter handlers),
     * with short commit and fetch waits for tests.
     */
    public static Properties appProperties(Map<String, Object> clientConfig, String applicationId, Path stateDir) {
        Properties props = new Properties();
        props.putAll(clientConfig);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.STATE_DIR_CONFIG, stateDir.toString());
        props.put(StreamsConfig.consumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 50);
        props.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 5);
        props.putAll(StreamsDeadLetters.handlerConfigs());
        return props;
    }

    public KafkaStreams streams() {
        return streams;
    }

    public String applicationId() {
        return applicationId;
    }

    /**
     * Every topic the topology reads: sources of its sub-topologies (repartition topics under
     * their real, application-id-prefixed names) and of its global stores, sorted.
     */
    public List<String> sourceTopics() {
        TreeSet<String> names = new TreeSet<>();
        TopologyDescription d = topology.describe();
        for (TopologyDescription.Subtopology sub : d.subtopologies()) {
            for (TopologyDescription.Node node : sub.nodes()) {
                if (node instanceof TopologyDescription.Source source) {
                    source.topicSet().forEach(t -> names.add(realName(t)));
                }
            }
        }
        for (TopologyDescription.GlobalStore store : d.globalStores()) {
            store.source().topicSet().forEach(t -> names.add(realName(t)));
        }
        return List.copyOf(names);
    }

    private String realName(String described) {
        return Topics.byName(described).isPresent() ? described : applicationId + "-" + described;
    }

    /**
     * The six kinds of poison for a topic whose values are {@code type}: empty, a truncated
     * single-object header, an unknown writer fingerprint, random bytes, a 1 MB record, and a
     * length bomb (a valid header of {@code type}, then a 2 GB length prefix for its first field).
     */
    public static List<Poison> poisons(Class<? extends SpecificRecord> type) {
        Random random = new Random(42);
        byte[] randomBytes = new byte[64];
        random.nextBytes(randomBytes);
        byte[] unknownFingerprint = {(byte) 0xC3, 0x01, 1, 2, 3, 4, 5, 6, 7, 8, 'b', 'o', 'd', 'y'};
        byte[] oneMb = new byte[ONE_MB_POISON_BYTES];
        random.nextBytes(oneMb);
        oneMb[0] = (byte) 0xC3;
        oneMb[1] = 0x01;
        return List.of(
                new Poison("empty", new byte[0]),
                new Poison("truncated header", new byte[] {(byte) 0xC3, 0x01, 0x12, 0x34}),
                new Poison("unknown fingerprint", unknownFingerprint),
                new Poison("random bytes", randomBytes),
                new Poison("1 MB record", oneMb),
                new Poison("length bomb", lengthBomb(type)));
    }

    /** A {@code type} header, then a zig-zag varint string length of 2,000,000,000 and nothing else. */
    public static byte[] lengthBomb(Class<? extends SpecificRecord> type) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(0xC3);
        out.write(0x01);
        long fp = Long.parseUnsignedLong(AvroWire.of(type).fingerprint(), 16);
        for (int i = 0; i < 8; i++) {
            out.write((int) (fp >>> (8 * i)) & 0xff);
        }
        long zigzag = 2_000_000_000L << 1;
        while ((zigzag & ~0x7FL) != 0) {
            out.write((int) ((zigzag & 0x7F) | 0x80));
            zigzag >>>= 7;
        }
        out.write((int) zigzag);
        return out.toByteArray();
    }

    /** The value type of a catalogue topic, or of a repartition topic from {@code repartitionTypes} (by name suffix). */
    public Class<? extends SpecificRecord> valueType(String topic, Map<String, Class<? extends SpecificRecord>> repartitionTypes) {
        var catalogue = Topics.byName(topic);
        if (catalogue.isPresent()) {
            return ((AvroSerde<?>) catalogue.get().valueSerde()).type();
        }
        return repartitionTypes.entrySet().stream().filter(e -> topic.endsWith(e.getKey())).map(Map.Entry::getValue)
                .findFirst().orElseThrow(() -> new IllegalArgumentException("no value type given for " + topic));
    }

    /** Writes every poison to every source topic; returns where each landed. */
    public List<Sent> poisonEveryTopic(Map<String, Class<? extends SpecificRecord>> repartitionTypes) throws Exception {
        List<Sent> sent = new ArrayList<>();
        for (String topic : sourceTopics()) {
            for (Poison p : poisons(valueType(topic, repartitionTypes))) {
                byte[] key = ("poison-" + p.name().replace(' ', '-')).getBytes(StandardCharsets.UTF_8);
                RecordMetadata m = producer.send(new ProducerRecord<>(topic, key, p.value())).get(30, TimeUnit.SECONDS);
                sent.add(new Sent(p, topic, m.partition(), m.offset()));
            }
        }
        return sent;
    }

    /** Waits until every sent poison has a dead letter from this app; returns each one's letter. */
    public Map<Sent, ConsumerRecord<byte[], byte[]>> awaitDeadLetters(List<Sent> sent, Duration timeout) {
        Map<String, Sent> wanted = new HashMap<>();
        sent.forEach(s -> wanted.put(s.topic() + "-" + s.partition() + "@" + s.offset(), s));
        Map<Sent, ConsumerRecord<byte[], byte[]>> found = new LinkedHashMap<>();
        readUntil(Topics.DEAD_LETTER.name(), timeout, r -> {
            String where = DeadLetters.header(r.headers(), DeadLetters.SOURCE_TOPIC) + "-"
                    + DeadLetters.header(r.headers(), DeadLetters.SOURCE_PARTITION) + "@"
                    + DeadLetters.header(r.headers(), DeadLetters.SOURCE_OFFSET);
            Sent s = wanted.get(where);
            // Input topics are dead-lettered by the topology (reader: the app's name), the others by
            // the handlers (reader: the application id, here the app's name plus a run suffix).
            String reader = DeadLetters.header(r.headers(), DeadLetters.READER);
            if (s != null && (app.equals(reader) || applicationId.equals(reader))) {
                found.putIfAbsent(s, r);
            }
            return found.size() == wanted.size();
        }, () -> "dead letters for " + found.size() + " of " + wanted.size() + " poisons; missing "
                + sent.stream().filter(s -> !found.containsKey(s)).map(s -> s.poison().name() + " on " + s.topic()).toList()
                + "; app state " + streams.state());
        return found;
    }

    /**
     * The whole poison check: every poison on every source topic, each dead-lettered with its
     * reason (see {@link #assertEachLetterCarriesItsReason}), the app still RUNNING and ready.
     * Prints the figures (how many, on how many topics, how long) as one POISON line.
     */
    public void assertEveryPoisonIsDeadLetteredAndTheAppRuns(Map<String, Class<? extends SpecificRecord>> repartitionTypes)
            throws Exception {
        long t0 = System.nanoTime();
        List<Sent> sent = poisonEveryTopic(repartitionTypes);
        var letters = awaitDeadLetters(sent, Duration.ofSeconds(60));
        long ms = (System.nanoTime() - t0) / 1_000_000;
        System.out.printf("POISON %s: %d poison records on %d topics, %d dead-lettered in %d ms, state %s%n",
                app, sent.size(), sourceTopics().size(), letters.size(), ms, streams.state());
        Assertions.assertEquals(sent.size(), letters.size());
        assertEachLetterCarriesItsReason(letters);
        Assertions.assertEquals(KafkaStreams.State.RUNNING, streams.state());
        Assertions.assertTrue(StreamHealth.of(streams.state()).ready());
    }

    /**
     * Each letter names its reason (error class and message); a poison that fits is copied
     * byte for byte, the 1 MB one is a reference (no value; its size and SHA-256), and the
     * length bomb is refused by Avro's length limit rather than by running out of input.
     */
    public static void assertEachLetterCarriesItsReason(Map<Sent, ConsumerRecord<byte[], byte[]>> letters) {
        letters.forEach((s, r) -> {
            String what = s.poison().name() + " on " + s.topic() + ": ";
            String errorClass = DeadLetters.header(r.headers(), DeadLetters.ERROR_CLASS);
            String message = DeadLetters.header(r.headers(), DeadLetters.ERROR_MESSAGE);
            Assertions.assertNotNull(errorClass, what + "no error class");
            Assertions.assertTrue(message != null && !message.isBlank() && !message.equals("null"), what + "no reason");
            if (s.poison().value().length == ONE_MB_POISON_BYTES) {
                Assertions.assertNull(r.value(), what + "a 1 MB dead letter must be a reference, not a copy");
                Assertions.assertEquals(Integer.toString(ONE_MB_POISON_BYTES), DeadLetters.header(r.headers(), DeadLetters.SOURCE_SIZE), what);
                Assertions.assertEquals(OutputDigest.sha256Hex(s.poison().value()),
                        DeadLetters.header(r.headers(), DeadLetters.SOURCE_SHA256), what);
            } else {
                Assertions.assertArrayEquals(s.poison().value(), r.value(), what + "dead letter is not the record's bytes");
            }
            if (s.poison().name().equals("length bomb")) {
                Assertions.assertTrue(message.contains("SystemLimitException"), what + message);
            }
        });
    }

    /** Writes a valid event to a catalogue topic. */
    public void send(String topic, String key, SpecificRecord value) throws Exception {
        @SuppressWarnings({"unchecked", "rawtypes"})
        byte[] bytes = ((AvroSerde) Topics.byName(topic).orElseThrow().valueSerde()).serialize(topic, value);
        producer.send(new ProducerRecord<>(topic, key.getBytes(StandardCharsets.UTF_8), bytes)).get(30, TimeUnit.SECONDS);
    }

    /** Reads {@code topic} from the start (committed records only) until {@code done} says so; the last record seen. */
    public ConsumerRecord<byte[], byte[]> awaitRecord(String topic, Predicate<ConsumerRecord<byte[], byte[]>> match,
            Duration timeout) {
        List<ConsumerRecord<byte[], byte[]>> hit = new ArrayList<>();
        readUntil(topic, timeout, r -> {
            if (match.test(r)) {
                hit.add(r);
            }
            return !hit.isEmpty();
        }, () -> "no matching record on " + topic + "; app state " + streams.state());
        return hit.get(0);
    }

    private void readUntil(String topic, Duration timeout, Predicate<ConsumerRecord<byte[], byte[]>> done,
            java.util.function.Supplier<String> failure) {
        readCommitted(client, topic, timeout, done, failure);
    }

    /**
     * Reads {@code topic} from the start, committed records only, until {@code done} says so;
     * fails with {@code failure} after {@code timeout}.
     */
    public static void readCommitted(Map<String, Object> client, String topic, Duration timeout,
            Predicate<ConsumerRecord<byte[], byte[]>> done, java.util.function.Supplier<String> failure) {
        Properties cp = new Properties();
        cp.putAll(client);
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        cp.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 2 * Topics.MAX_RECORD_BYTES);
        try (var consumer = new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = consumer.partitionsFor(topic).stream()
                    .map(p -> new TopicPartition(topic, p.partition())).toList();
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(100))) {
                    if (done.test(r)) {
                        return;
                    }
                }
            }
        }
        throw new AssertionError(failure.get());
    }

    /** Polls {@code condition} every 50 ms until it holds or {@code timeout} passes. */
    public static void await(Duration timeout, BooleanSupplier condition, java.util.function.Supplier<String> what) {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("not within " + timeout.toSeconds() + " s: " + what.get());
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted");
            }
        }
    }

    @Override
    public void close() {
        producer.close();
        streams.close(Duration.ofSeconds(30));
        streams.cleanUp();
    }
}
