package io.inferex.verifier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.inferex.events.ModelRegistered;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.market.ModelRegistry;
import io.inferex.market.OutputDigest;
import io.inferex.testing.PoisonRun;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.junit.jupiter.api.Test;

/**
 * The verifier's model registry (the global store {@code verifier-models}) after a restart that lost
 * the local state: Kafka Streams rebuilds a global store from its topic on restore, and the store must
 * come back by {@link ModelRegistry#decide} (the first registration of an id wins), not as a raw copy
 * of the topic in which a later, refused registration under the same id would sit beside it.
 */
class VerifierModelsRestartTest {

    @Test
    void afterARestartWithItsStateWipedTheVerifierStillHoldsTheFirstRegistrationOfAModelIdAndNotTheRefusedSwap()
            throws Exception {
        Map<String, Object> client = EmbeddedKafkaBroker.shared().clientConfig();
        try (Admin admin = Admin.create(client)) {
            TopicProvisioner.ensureTopics(admin, (short) 1, Topics.ALL);
        }
        String run = UUID.randomUUID().toString().substring(0, 8);
        ModelRegistered first = registration("restart-" + run, digest(run + "-first"));
        ModelRegistered swap = registration("restart-" + run, digest(run + "-swap"));
        // A later registration of another id: once the store holds it, the swap before it was applied too.
        ModelRegistered marker = registration("restart-marker-" + run, digest(run + "-marker"));
        assertNotEquals(ModelRegistry.recordKey(first), ModelRegistry.recordKey(swap), "compaction keeps both records");

        Path stateDir = Files.createTempDirectory("verifier-models-restart");
        Properties props = props(client, "inferex-verifier-models-restart-" + run, stateDir);
        try {
            KafkaStreams streams = start(props);
            try {
                // Published while the verifier runs: the first run applies them as they arrive (and dead-letters the poison).
                publish(client, first, swap, marker);
                ReadOnlyKeyValueStore<String, ModelRegistered> store = store(streams);
                PoisonRun.await(Duration.ofSeconds(30), () -> store.get(marker.getModelId()) != null,
                        () -> "the running verifier never stored " + marker.getModelId());
                assertEquals(first, store.get(first.getModelId()), "while running");
            } finally {
                // A static member that leaves: the restart need not wait for the old member's session to time out.
                streams.close(new KafkaStreams.CloseOptions().leaveGroup(true).timeout(Duration.ofSeconds(30)));
            }

            deleteTree(stateDir);
            Files.createDirectories(stateDir);

            // Restarted with no local state: the store is rebuilt from the topic before the app is RUNNING.
            KafkaStreams restarted = start(props);
            try {
                ReadOnlyKeyValueStore<String, ModelRegistered> store = store(restarted);
                assertEquals(first, store.get(first.getModelId()), "after the restart the id still has its first registration");
                assertEquals(marker, store.get(marker.getModelId()));
                // Entries are by model id, as the processor writes them, not by topic key as a raw restore would.
                assertNull(store.get(ModelRegistry.recordKey(first)));
                assertNull(store.get(ModelRegistry.recordKey(swap)));
            } finally {
                restarted.close(Duration.ofSeconds(30));
                restarted.cleanUp();
            }
        } finally {
            deleteTree(stateDir);
        }
    }

    private static ModelRegistered registration(String id, String onnxSha256) {
        return ModelRegistered.newBuilder().setModelId(id).setTask(ModelRegistry.TASK_EMBEDDING).setOnnxSha256(onnxSha256)
                .setOnnxBytes(1000).setTokenizerSha256("b".repeat(64)).setTokenizerBytes(500).setDimension(8).setMaxTokens(64)
                .setPooling(ModelRegistry.POOLING_MEAN).setMinCosine(0.999).setMaxAbs(0.01).setRegisteredAtMs(1_000).build();
    }

    private static String digest(String seed) {
        return OutputDigest.sha256Hex(seed.getBytes(StandardCharsets.UTF_8));
    }

    private static Properties props(Map<String, Object> client, String applicationId, Path stateDir) {
        Properties props = PoisonRun.appProperties(client, applicationId, stateDir);
        props.put(StreamsConfig.mainConsumerPrefix(ConsumerConfig.GROUP_INSTANCE_ID_CONFIG), applicationId);
        props.put(StreamsConfig.globalConsumerPrefix(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG), 50);
        return props;
    }

    private static KafkaStreams start(Properties props) {
        KafkaStreams streams = new KafkaStreams(VerifierTopology.buildTopology(new VerifierTopology.Config(Duration.ofSeconds(30)), props),
                props);
        streams.start();
        PoisonRun.await(Duration.ofSeconds(60), () -> streams.state() == KafkaStreams.State.RUNNING, () -> "state " + streams.state());
        return streams;
    }

    private static ReadOnlyKeyValueStore<String, ModelRegistered> store(KafkaStreams streams) {
        return streams.store(StoreQueryParameters.fromNameAndType(VerifierTopology.MODELS_GLOBAL_STORE,
                QueryableStoreTypes.<String, ModelRegistered>keyValueStore()));
    }

    /**
     * Writes, as the operator, the first registration, every kind of undecodable record (the restore
     * must get past them as the running app does), then the swap and the marker, in this order, on the
     * one partition of {@code models}.
     */
    private static void publish(Map<String, Object> client, ModelRegistered first, ModelRegistered swap, ModelRegistered marker)
            throws Exception {
        Properties pp = new Properties();
        pp.putAll(client);
        pp.put(ProducerConfig.ACKS_CONFIG, "all");
        try (var producer = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
            List<ProducerRecord<byte[], byte[]>> records = new ArrayList<>();
            records.add(record(first));
            for (PoisonRun.Poison p : PoisonRun.poisons(ModelRegistered.class)) {
                records.add(new ProducerRecord<>(Topics.MODELS.name(), ("poison-" + p.name()).getBytes(StandardCharsets.UTF_8), p.value()));
            }
            records.add(record(swap));
            records.add(record(marker));
            for (ProducerRecord<byte[], byte[]> r : records) {
                producer.send(r).get(30, TimeUnit.SECONDS);
            }
        }
    }

    private static ProducerRecord<byte[], byte[]> record(ModelRegistered r) {
        return new ProducerRecord<>(Topics.MODELS.name(), ModelRegistry.recordKey(r).getBytes(StandardCharsets.UTF_8),
                Topics.MODELS.valueSerde().serializer().serialize(Topics.MODELS.name(), r));
    }

    private static void deleteTree(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return;
        }
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.delete(p);
            }
        }
    }
}
