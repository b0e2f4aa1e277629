package io.inferex.executor.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.executor.TestDirs;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.ModelCatalogue.ModelSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Uses the small tokenizer file as both "files" so no test copies the 90 MB weights. */
class ModelFilesTest {
    static final String TOKENIZER = ModelFiles.ALL_MINILM_L6_V2.tokenizer();
    static final String TOKENIZER_SHA = ModelCatalogue.ALL_MINILM_L6_V2.tokenizerSha256();
    static final ModelFiles.Resources SMALL = new ModelFiles.Resources(TOKENIZER, TOKENIZER);

    @Test
    void fileAlteredOnDiskIsReplacedByTheVerifiedCopy() throws Exception {
        Path dir = TestDirs.fresh("model");
        ModelSpec spec = new ModelSpec("probe", 384, TOKENIZER_SHA, TOKENIZER_SHA);
        ModelFiles files = ModelFiles.prepare(spec, SMALL, dir, getClass().getClassLoader());
        assertEquals(TOKENIZER_SHA, ModelFiles.sha256(files.tokenizer()));
        Files.writeString(files.tokenizer(), "{\"tampered\": true}");
        ModelFiles again = ModelFiles.prepare(spec, SMALL, dir, getClass().getClassLoader());
        assertEquals(TOKENIZER_SHA, ModelFiles.sha256(again.tokenizer()));
    }

    @Test
    void aVerifiedFileIsMarkedAndAnyWriteToItVoidsTheMarkSoItIsVerifiedAndReplacedAgain() throws Exception {
        Path dir = TestDirs.fresh("model-marked");
        ModelSpec spec = new ModelSpec("probe", 384, TOKENIZER_SHA, TOKENIZER_SHA);
        Path file = ModelFiles.prepare(spec, SMALL, dir, getClass().getClassLoader()).tokenizer();
        assertEquals(TOKENIZER_SHA, ModelFiles.markedDigest(file), "verified once, marked");
        assertEquals(file, ModelFiles.prepare(spec, SMALL, dir, getClass().getClassLoader()).tokenizer());
        assertEquals(TOKENIZER_SHA, ModelFiles.markedDigest(file), "still marked after a start that trusted the mark");

        // Same size, other bytes, a later time: the mark no longer describes the file.
        byte[] bytes = Files.readAllBytes(file);
        bytes[0] ^= 0x01;
        Files.write(file, bytes);
        Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(Files.getLastModifiedTime(file).toMillis() + 2_000));
        assertEquals(null, ModelFiles.markedDigest(file));
        ModelFiles.prepare(spec, SMALL, dir, getClass().getClassLoader());
        assertEquals(TOKENIZER_SHA, ModelFiles.sha256(file), "altered file replaced by the verified copy");
        assertEquals(TOKENIZER_SHA, ModelFiles.markedDigest(file));
    }

    @Test
    void modelWhoseDigestIsNotTheCataloguesRefusesToStart() throws Exception {
        Path dir = TestDirs.fresh("model-bad");
        ModelSpec wrong = new ModelSpec("probe", 384, "00".repeat(32), TOKENIZER_SHA);
        ModelIntegrityException e = assertThrows(ModelIntegrityException.class,
                () -> ModelFiles.prepare(wrong, SMALL, dir, getClass().getClassLoader()));
        assertTrue(e.getMessage().contains("00".repeat(32)) && e.getMessage().contains(TOKENIZER_SHA), e.getMessage());
        try (var left = Files.list(dir)) {
            assertEquals(0, left.count(), "no unverified file is left behind");
        }
    }

    @Test
    void missingResourceRefusesToStart() throws Exception {
        Path dir = TestDirs.fresh("model-missing");
        ModelSpec spec = new ModelSpec("probe", 384, TOKENIZER_SHA, TOKENIZER_SHA);
        assertThrows(ModelIntegrityException.class, () -> ModelFiles.prepare(spec,
                new ModelFiles.Resources("no-such-model.onnx", TOKENIZER), dir, getClass().getClassLoader()));
    }

    /**
     * A model registered with the CLI's code (checked on ONNX Runtime, its files stored as chunks) is
     * fetched by a node principal that can only read the registry and the store, verified, and run;
     * a tampered chunk the store kept instead of the original is refused loudly and nothing is placed.
     */
    @Test
    void aRegisteredModelIsFetchedByDigestWithReadAccessOnlyRunsOnOnnxRuntimeAndATamperedChunkIsRefused() throws Exception {
        Path dir = TestDirs.fresh("registered");
        Path onnx = io.inferex.testing.TinyEmbeddingModel.write(dir.resolve("tiny.onnx"), 8, 42);
        Path tokenizer = dir.resolve("tokenizer.json");
        try (var in = getClass().getClassLoader().getResourceAsStream(TOKENIZER)) {
            Files.copy(in, tokenizer);
        }
        Path djl = Path.of("target", "test-embedder-home", "djl-cache");
        var broker = io.inferex.local.EmbeddedKafkaBroker.shared();
        io.inferex.topics.TopicProvisioner.ensureTopics(broker.clientConfig(), (short) 1,
                java.util.List.of(io.inferex.topics.Topics.MODELS, io.inferex.topics.Topics.MODEL_CHUNKS));
        String id = "tiny-" + dir.getFileName().toString().replaceAll("[^A-Za-z0-9]", "").toLowerCase(java.util.Locale.ROOT);
        var registered = io.inferex.local.ModelCommands.register(broker.clientConfig(),
                new io.inferex.local.ModelCommands.Request(id, onnx, tokenizer, 64, new ModelCatalogue.Tolerance(0.999, 0.01), 8),
                (o, t, max) -> ModelCheck.dimension(o, t, max, djl));
        assertEquals(8, registered.getDimension());
        assertEquals(ModelFiles.sha256(onnx), registered.getOnnxSha256());
        assertThrows(IllegalArgumentException.class, () -> io.inferex.local.ModelCommands.register(broker.clientConfig(),
                new io.inferex.local.ModelCommands.Request(id, onnx, tokenizer, 64, new ModelCatalogue.Tolerance(0.9, 0.1), 8),
                (o, t, max) -> 8), "the same id with another tolerance is another model: refused");

        java.util.Map<String, Object> node;
        try (var admin = org.apache.kafka.clients.admin.Admin.create(broker.clientConfig())) {
            node = io.inferex.security.BusAccess.provision(admin, broker.bootstrapServers(), io.inferex.security.BusAccess.node(id),
                    io.inferex.security.BusCredentials.newSecret());
        }
        var entry = io.inferex.models.ModelStore.readRegistry(node, java.time.Duration.ofSeconds(30), (r, why) -> { })
                .registry().entry(id).orElseThrow();
        ModelFiles files = ModelFiles.fetch(entry, node, dir.resolve("node-models"), java.time.Duration.ofSeconds(30));
        assertEquals(registered.getOnnxSha256(), ModelFiles.sha256(files.weights()));
        assertEquals(TOKENIZER_SHA, ModelFiles.sha256(files.tokenizer()));
        try (SentenceEmbedder e = SentenceEmbedder.load(files, djl, new SentenceEmbedder.Options(64, 8, 1))) {
            var v = e.embed(java.util.List.of("a registered model", "a registered model", "something else entirely"));
            assertEquals(8, v.get(0).length);
            assertTrue(java.util.Arrays.equals(v.get(0), v.get(1)), "deterministic");
            assertTrue(!java.util.Arrays.equals(v.get(0), v.get(2)), "it depends on the input");
        }

        // The store kept an altered copy of chunk 0 (as compaction would, keeping the last record of a key).
        var chunk0 = new java.util.ArrayList<io.inferex.events.ModelChunk>();
        io.inferex.models.ModelChunks.split(onnx, registered.getOnnxSha256(), c -> {
            if (c.getIndex() == 0) {
                chunk0.add(c);
            }
        });
        byte[] altered = new byte[chunk0.get(0).getData().remaining()];
        chunk0.get(0).getData().duplicate().get(altered);
        altered[altered.length - 1] ^= 1;
        chunk0.get(0).setData(java.nio.ByteBuffer.wrap(altered));
        long tamperedAt;
        var props = new java.util.Properties();
        props.putAll(broker.clientConfig());
        try (var p = new org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]>(props,
                new org.apache.kafka.common.serialization.ByteArraySerializer(), new org.apache.kafka.common.serialization.ByteArraySerializer())) {
            tamperedAt = p.send(new org.apache.kafka.clients.producer.ProducerRecord<>(io.inferex.topics.Topics.MODEL_CHUNKS.name(),
                    io.inferex.models.ModelChunks.key(registered.getOnnxSha256(), 0).getBytes(java.nio.charset.StandardCharsets.UTF_8),
                    io.inferex.topics.Topics.MODEL_CHUNKS.valueSerde().serializer().serialize("model-chunks", chunk0.get(0)))).get().offset();
        }
        var compacted = io.inferex.events.ModelRegistered.newBuilder(entry.registration()).setOnnxChunksOffset(tamperedAt).build();
        Path elsewhere = dir.resolve("other-node-models");
        ModelIntegrityException refused = assertThrows(ModelIntegrityException.class, () -> ModelFiles.fetch(
                io.inferex.market.ModelRegistry.entryOf(compacted), node, elsewhere, java.time.Duration.ofSeconds(30)));
        assertTrue(refused.getMessage().contains("refusing to serve it") && refused.getMessage().contains("altered"), refused.getMessage());
        assertTrue(!Files.exists(elsewhere.resolve(registered.getOnnxSha256() + ".onnx")), "nothing placed");
    }
}
