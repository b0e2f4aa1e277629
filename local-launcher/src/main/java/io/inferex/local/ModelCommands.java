package io.inferex.local;

import io.inferex.events.ModelRegistered;
import io.inferex.market.ModelCatalogue.Tolerance;
import io.inferex.market.ModelRegistry;
import io.inferex.models.ModelChunks;
import io.inferex.models.ModelStore;
import io.inferex.topics.Topics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code ./inferex models register|list}: the model registry, as the operator. Registering checks
 * the files (the graph loads in ONNX Runtime through DJL, as a node loads it, and gives unit sentence
 * vectors of the expected dimension), stores them in the model store ({@code model-chunks}) and then
 * publishes the registration on {@code models} ({@link ModelRegistry}).
 */
public final class ModelCommands {
    private ModelCommands() {}

    @Command(name = "models", mixinStandardHelpOptions = true, description = "Register models and list the model registry.",
            subcommands = {Register.class, ListModels.class})
    static final class Models implements Runnable {
        @Override
        public void run() {
            new picocli.CommandLine(this).usage(System.out);
        }
    }

    @Command(name = "register", mixinStandardHelpOptions = true,
            description = "Check an ONNX sentence-embedding model, store its files and register it under ID (an id never changes its model).")
    static final class Register implements Callable<Integer> {
        @Option(names = "--id", required = true, description = "Model id customers name in body.model: 1-64 of [A-Za-z0-9._-].")
        String id;

        @Option(names = "--onnx", required = true, description = "The ONNX graph (.onnx): inputs input_ids, attention_mask, token_type_ids; output last_hidden_state.")
        Path onnx;

        @Option(names = "--tokenizer", required = true, description = "The Hugging Face tokenizer json.")
        Path tokenizer;

        @Option(names = "--max-tokens", defaultValue = "256", description = "Inputs are truncated to this many tokens (default ${DEFAULT-VALUE}).")
        int maxTokens;

        @Option(names = "--tolerance", defaultValue = "0.999,0.01",
                description = "Verification tolerance MIN_COSINE,MAX_ABS a re-execution must meet (default ${DEFAULT-VALUE}).")
        String tolerance;

        @Option(names = "--dimension", description = "The output dimension the graph must have (default: whatever the check measures).")
        Integer dimension;

        @Mixin
        BusCommands.Target target = new BusCommands.Target();

        @Override
        public Integer call() {
            ModelRegistered r = register(target.operator(), new Request(id, onnx, tokenizer, maxTokens, parseTolerance(tolerance), dimension),
                    executorCheck(InferexCli.home()));
            System.out.println("registered " + r.getModelId() + ": dimension " + r.getDimension() + ", max " + r.getMaxTokens()
                    + " tokens, onnx sha256 " + r.getOnnxSha256() + ", tokenizer sha256 " + r.getTokenizerSha256()
                    + ", tolerance cos >= " + r.getMinCosine() + ", max-abs <= " + r.getMaxAbs());
            System.out.println("# nodes serve it with inferex.node.model=" + r.getModelId() + "; batch lines name it in body.model");
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List the model registry: built-in and registered models.")
    static final class ListModels implements Callable<Integer> {
        @Mixin
        BusCommands.Target target = new BusCommands.Target();

        @Override
        public Integer call() {
            ModelRegistry.Book book = ModelStore.readRegistry(target.operator(), Duration.ofSeconds(30),
                    (rec, why) -> System.err.println("refused record at offset " + rec.offset() + ": " + why));
            System.out.println(String.format("%-28s %5s %6s  %-16s %-16s %-14s %s", "MODEL", "DIM", "TOKENS", "ONNX SHA256", "TOKENIZER",
                    "TOLERANCE", "REGISTERED"));
            for (ModelRegistry.Entry e : book.entries()) {
                System.out.println(String.format("%-28s %5d %6d  %-16s %-16s %-14s %s", e.spec().id(), e.spec().dimension(), e.maxTokens(),
                        e.spec().weightsSha256().substring(0, 16), e.spec().tokenizerSha256().substring(0, 16),
                        e.spec().tolerance().minCosine() + "," + e.spec().tolerance().maxAbs(),
                        e.builtIn() ? "built-in" : Instant.ofEpochMilli(e.registeredAtMs()).toString()));
            }
            return 0;
        }
    }

    /** What to register. */
    public record Request(String id, Path onnx, Path tokenizer, int maxTokens, Tolerance tolerance, Integer expectedDimension) {}

    /** Loads the graph as a node would and returns its output dimension, or throws why it cannot be served. */
    @FunctionalInterface
    public interface GraphCheck {
        int dimension(Path onnx, Path tokenizer, int maxTokens);
    }

    static Tolerance parseTolerance(String s) {
        String[] parts = s.split(",");
        if (parts.length != 2) {
            throw new IllegalArgumentException("--tolerance is MIN_COSINE,MAX_ABS, e.g. 0.999,0.01: " + s);
        }
        return new Tolerance(Double.parseDouble(parts[0].trim()), Double.parseDouble(parts[1].trim()));
    }

    /**
     * Checks, stores and registers a model: refuses an id the registry holds with another model (and
     * returns the registration unchanged when it holds this very model), checks the graph, writes the
     * files' chunks, then the registration naming where they start.
     */
    public static ModelRegistered register(Map<String, Object> operator, Request req, GraphCheck check) {
        for (Path f : List.of(req.onnx(), req.tokenizer())) {
            if (!Files.isRegularFile(f)) {
                throw new IllegalArgumentException(f + " is not a file");
            }
        }
        if (!req.onnx().getFileName().toString().endsWith(".onnx")) {
            throw new IllegalArgumentException("--onnx must name a .onnx file: " + req.onnx());
        }
        String onnxSha = ModelChunks.sha256(req.onnx());
        String tokenizerSha = ModelChunks.sha256(req.tokenizer());
        ModelRegistry.Book book = ModelStore.readRegistry(operator, Duration.ofSeconds(30), (rec, why) -> { });
        int dimension = check.dimension(req.onnx(), req.tokenizer(), req.maxTokens());
        if (req.expectedDimension() != null && req.expectedDimension() != dimension) {
            throw new IllegalArgumentException("the graph's output dimension is " + dimension + ", not " + req.expectedDimension());
        }
        ModelRegistered r;
        try {
            r = ModelRegistered.newBuilder().setModelId(req.id()).setTask(ModelRegistry.TASK_EMBEDDING)
                    .setOnnxSha256(onnxSha).setOnnxBytes(Files.size(req.onnx())).setTokenizerSha256(tokenizerSha)
                    .setTokenizerBytes(Files.size(req.tokenizer())).setDimension(dimension).setMaxTokens(req.maxTokens())
                    .setPooling(ModelRegistry.POOLING_MEAN).setMinCosine(req.tolerance().minCosine()).setMaxAbs(req.tolerance().maxAbs())
                    .setRegisteredAtMs(System.currentTimeMillis()).build();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        ModelRegistry.Decision d = ModelRegistry.decide(ModelRegistry.recordKey(r), r, book.get(req.id()));
        if (d instanceof ModelRegistry.Decision.Refuse refuse) {
            throw new IllegalArgumentException(refuse.reason());
        }
        if (d instanceof ModelRegistry.Decision.Same) {
            return book.get(req.id());
        }
        Properties p = new Properties();
        p.putAll(operator);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, Topics.MAX_RECORD_BYTES);
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            r.setOnnxChunksOffset(store(producer, req.onnx(), onnxSha));
            r.setTokenizerChunksOffset(store(producer, req.tokenizer(), tokenizerSha));
            producer.send(new ProducerRecord<>(Topics.MODELS.name(), bytes(ModelRegistry.recordKey(r)),
                    Topics.MODELS.valueSerde().serializer().serialize(Topics.MODELS.name(), r))).get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("could not store and register " + req.id() + ": " + e.getMessage(), e);
        }
        return r;
    }

    /** Writes a file's chunks; returns the offset of its first chunk. */
    static long store(KafkaProducer<byte[], byte[]> producer, Path file, String sha256) throws Exception {
        List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>();
        ModelChunks.split(file, sha256, c -> sent.add(producer.send(new ProducerRecord<>(Topics.MODEL_CHUNKS.name(),
                bytes(ModelChunks.key(sha256, c.getIndex())),
                Topics.MODEL_CHUNKS.valueSerde().serializer().serialize(Topics.MODEL_CHUNKS.name(), c)))));
        long first = -1;
        for (var f : sent) {
            long offset = f.get(60, TimeUnit.SECONDS).offset();
            first = first < 0 ? offset : Math.min(first, offset);
        }
        return first;
    }

    /**
     * Runs {@code io.inferex.executor.model.ModelCheck} in a process on the packaged executor's class
     * path ({@code executor/target/quarkus-app}): the very code a node loads a model with.
     */
    public static GraphCheck executorCheck(Path home) {
        return (onnx, tokenizer, maxTokens) -> checkWithExecutor(home, onnx, tokenizer, maxTokens);
    }

    private static int checkWithExecutor(Path home, Path onnx, Path tokenizer, int maxTokens) {
        Path app = home.resolve("executor/target/quarkus-app");
        if (!Files.isDirectory(app)) {
            throw new IllegalStateException(app + " is missing: build the executor (./mvnw -DskipTests package)");
        }
        String cp = String.join(java.io.File.pathSeparator, app.resolve("lib/boot/*").toString(), app.resolve("lib/main/*").toString(),
                app.resolve("app/*").toString());
        Path cache = home.resolve(".inferex/model-check-djl");
        List<String> cmd = List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-cp", cp,
                "io.inferex.executor.model.ModelCheck", onnx.toAbsolutePath().toString(), tokenizer.toAbsolutePath().toString(),
                Integer.toString(maxTokens), cache.toAbsolutePath().toString());
        try {
            Process proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(proc.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!proc.waitFor(120, TimeUnit.SECONDS) || proc.exitValue() != 0) {
                throw new IllegalArgumentException("the model check refused the files: " + lastLine(out));
            }
            String line = out.lines().filter(l -> l.startsWith("dimension ")).reduce((a, b) -> b)
                    .orElseThrow(() -> new IllegalStateException("the model check said nothing about a dimension: " + lastLine(out)));
            return Integer.parseInt(line.substring("dimension ".length()).trim());
        } catch (IOException e) {
            throw new UncheckedIOException("could not run the model check: " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    private static String lastLine(String out) {
        List<String> lines = out.lines().filter(l -> !l.isBlank()).toList();
        return lines.isEmpty() ? "(no output)" : lines.get(lines.size() - 1);
    }

    private static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
