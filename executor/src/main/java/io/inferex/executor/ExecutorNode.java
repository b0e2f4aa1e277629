package io.inferex.executor;

import io.inferex.executor.model.DjlEnvironment;
import io.inferex.executor.model.EngineSelection;
import io.inferex.executor.model.ModelFiles;
import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.executor.node.Adversary;
import io.inferex.executor.node.NodeHomeLock;
import io.inferex.executor.node.LivenessPublisher;
import io.inferex.executor.node.NodeKeyStore;
import io.inferex.executor.node.NodeRuntime;
import io.inferex.executor.node.NodeSettings;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.ModelRegistry;
import io.inferex.market.NodeIdentity;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.time.Duration;
import org.jboss.logging.Logger;

/**
 * Boots the node when Quarkus starts (after SmallRye Reactive Messaging wired its channels):
 * identity, model files (verified against the catalogue), the model on the engine {@code inferex.node.engine} selects
 * ({@link EngineSelection}: TensorRT, or ONNX Runtime), then the
 * {@link NodeRuntime}, which publishes the registration through {@link EmitterLivenessPublisher}
 * and waits for its acknowledgement before heartbeats and assignments start on its own threads.
 * Anything wrong with the key or the model, or a registration the broker does not acknowledge in
 * time, fails startup, so the process exits with the reason instead of advertising a model it
 * cannot run or sitting unregistered.
 */
@ApplicationScoped
public class ExecutorNode {
    private static final Logger LOG = Logger.getLogger(ExecutorNode.class);

    private final ExecutorConfig config;
    private final java.util.Map<String, Object> kafka;
    private final LivenessPublisher liveness;
    private volatile SentenceEmbedder embedder;
    private volatile NodeRuntime runtime;
    private volatile NodeHomeLock homeLock;

    /** {@code kafka} is Quarkus's {@code kafka.*} config: bootstrap servers and this node's credential. */
    public ExecutorNode(ExecutorConfig config,
            @io.smallrye.common.annotation.Identifier("default-kafka-broker") java.util.Map<String, Object> kafka,
            LivenessPublisher liveness) {
        this.config = config;
        this.kafka = io.inferex.security.BusCredentials.connection(kafka);
        this.liveness = liveness;
    }

    void onStart(@Observes StartupEvent event) {
        NodeSettings settings = new NodeSettings(
                config.name(),
                Path.of(config.home()).toAbsolutePath().normalize(),
                kafka,
                config.cell(),
                config.slots(),
                config.pricePerRowMicros(),
                config.stakeMicros(),
                Duration.ofMillis(config.heartbeatIntervalMs()),
                Duration.ofMillis(config.registrationTimeoutMs()),
                config.microBatchSize(),
                Duration.ofMillis(config.shutdownGraceMs()),
                new NodeSettings.MicroBatching(config.microBatch().enabled(), config.microBatch().maxRows(),
                        Duration.ofMillis(config.microBatch().maxWaitMs())),
                Duration.ofMillis(config.fullWaitMs()));
        // Before any DJL class initialises: offline, no call-home, caches in the node home.
        DjlEnvironment.configureOffline(settings.djlCacheDir());
        homeLock = NodeHomeLock.acquire(settings.home());
        NodeIdentity identity = NodeKeyStore.loadOrCreate(settings.home());
        Adversary.Mode mode = Adversary.Mode.parse(config.adversary());
        Adversary adversary = new Adversary(mode, new SecureRandom().nextLong(), ExecutorNode::crash);
        java.util.function.Function<String, Path> modelDir = id -> config.modelDir()
                .map(d -> Path.of(d).toAbsolutePath().normalize().resolve(id)).orElseGet(() -> settings.modelDir(id));
        ModelRegistry.Entry entry;
        ModelFiles files;
        try {
            entry = modelEntry(config.model());
            files = modelFiles(entry, mode, modelDir);
        } catch (RuntimeException e) {
            LOG.errorf("executor %s: node %s cannot start: %s", settings.name(), identity.nodeId(), e.getMessage());
            stop();
            throw e;
        }
        SentenceEmbedder.Options options = new SentenceEmbedder.Options(entry.maxTokens(),
                settings.microBatchSize(), config.intraOpThreads());
        EngineSelection.Choice choice = EngineSelection.Choice.parse(config.engine());
        EngineSelection.Selected selected;
        try {
            selected = EngineSelection.select(choice,
                    engine -> SentenceEmbedder.load(files, settings.djlCacheDir(), options, engine));
        } catch (RuntimeException e) {
            LOG.errorf("executor %s: node %s cannot start: %s", settings.name(), identity.nodeId(), e.getMessage());
            stop();
            throw e;
        }
        embedder = selected.embedder();
        String selection = choice.name().toLowerCase(java.util.Locale.ROOT)
                + (selected.fallbackReason() == null ? "" : ": TensorRT not usable (" + selected.fallbackReason() + ")");
        LOG.infof("executor %s: engine %s (%s, inferex.node.engine=%s)", settings.name(), embedder.engineDescription(),
                embedder.hardware(), choice.name().toLowerCase(java.util.Locale.ROOT)); // the fallback's reason: EngineSelection's line
        runtime = new NodeRuntime(settings, identity, embedder, liveness, System::currentTimeMillis, adversary, selection);
        try {
            runtime.start(); // blocks until the registration is acknowledged, or throws why it was not
        } catch (RuntimeException e) {
            LOG.errorf("executor %s: node %s cannot start: %s", settings.name(), identity.nodeId(), e.getMessage());
            stop();
            throw e;
        }
        LOG.infof("executor %s: node %s, home %s, Kafka %s", settings.name(), identity.nodeId(), settings.home(), settings.bootstrapServers());
    }

    /** The registry entry of the model this node serves: a built-in one, or one read from the {@code models} topic. */
    private ModelRegistry.Entry modelEntry(String id) {
        return ModelRegistry.builtIns().entry(id).or(() -> io.inferex.models.ModelStore
                .readRegistry(kafka, Duration.ofSeconds(30), (rec, why) -> LOG.debugf("models record %d refused: %s", rec.offset(), why))
                .registry().entry(id))
                .orElseThrow(() -> new IllegalArgumentException("inferex.node.model=" + id + " is not in the model registry"));
    }

    /** The model's files, checked: from the classpath for a built-in model, else fetched from the model store by digest. */
    private ModelFiles modelFiles(ModelRegistry.Entry entry, Adversary.Mode mode, java.util.function.Function<String, Path> modelDir) {
        ModelCatalogue.ModelSpec spec = entry.spec();
        ClassLoader loader = ExecutorNode.class.getClassLoader();
        if (mode.kind() == Adversary.Kind.SUBSTITUTE_MODEL) {
            // the cheat: int8 weights (checked against their own digest) declaring the catalogue's fp32 digest
            return ModelFiles.prepareInt8(modelDir.apply(ModelCatalogue.ALL_MINILM_L6_V2.id() + "-int8"), loader).claimingCatalogueDigest();
        }
        if (spec.equals(ModelCatalogue.ALL_MINILM_L6_V2)) {
            return ModelFiles.prepare(spec, ModelFiles.ALL_MINILM_L6_V2, modelDir.apply(spec.id()), loader);
        }
        if (spec.equals(ModelCatalogue.ALL_MINILM_L6_V2_INT8)) {
            return ModelFiles.prepare(spec, ModelFiles.ALL_MINILM_L6_V2_INT8, modelDir.apply(spec.id()), loader);
        }
        if (entry.builtIn()) {
            throw new IllegalArgumentException("model " + spec.id() + " has no files an executor can run (the synthetic model is the load harness's)");
        }
        return ModelFiles.fetch(entry, kafka, modelDir.apply(spec.id()), Duration.ofMinutes(2));
    }

    /** Exit status of a node that crashed on purpose (adversary {@code crash-after:N}). */
    public static final int ADVERSARY_CRASH_STATUS = 70;

    /** The adversary's crash: halt at once, no shutdown hooks, nothing drained or committed (like a kill -9). */
    private static void crash() {
        LOG.errorf("ADVERSARY crash-after: halting the JVM now (exit status %d)", ADVERSARY_CRASH_STATUS);
        System.out.flush();
        System.err.flush();
        Runtime.getRuntime().halt(ADVERSARY_CRASH_STATUS);
    }

    void onStop(@Observes ShutdownEvent event) {
        stop();
    }

    private synchronized void stop() {
        NodeRuntime r = runtime;
        if (r != null) {
            r.close();
        }
        SentenceEmbedder e = embedder;
        if (e != null) {
            e.close();
            embedder = null;
        }
        NodeHomeLock l = homeLock;
        if (l != null) {
            l.close();
            homeLock = null;
        }
    }

    /** The running node; null only before startup completed. */
    public NodeRuntime runtime() {
        return runtime;
    }

    public boolean modelLoaded() {
        return embedder != null;
    }
}
