package io.inferex.executor;

import io.inferex.executor.model.DjlEnvironment;
import io.inferex.executor.model.ModelFiles;
import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.executor.node.NodeHomeLock;
import io.inferex.executor.node.NodeKeyStore;
import io.inferex.executor.node.NodeRuntime;
import io.inferex.executor.node.NodeSettings;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import java.nio.file.Path;
import java.time.Duration;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.logging.Logger;

/**
 * Boots the node when Quarkus starts: identity, model files (verified against the catalogue),
 * the ONNX Runtime model, then the {@link NodeRuntime} (registration, heartbeats, assignments)
 * on its own threads. Anything wrong with the key or the model fails startup, so the process
 * exits with the reason instead of advertising a model it cannot run.
 */
@ApplicationScoped
public class ExecutorNode {
    private static final Logger LOG = Logger.getLogger(ExecutorNode.class);

    private final ExecutorConfig config;
    private final String bootstrapServers;
    private volatile SentenceEmbedder embedder;
    private volatile NodeRuntime runtime;
    private volatile NodeHomeLock homeLock;

    public ExecutorNode(ExecutorConfig config, @ConfigProperty(name = "kafka.bootstrap.servers") String bootstrapServers) {
        this.config = config;
        this.bootstrapServers = bootstrapServers;
    }

    void onStart(@Observes StartupEvent event) {
        NodeSettings settings = new NodeSettings(
                config.name(),
                Path.of(config.home()).toAbsolutePath().normalize(),
                bootstrapServers,
                config.cell(),
                config.slots(),
                config.pricePerRowMicros(),
                config.stakeMicros(),
                Duration.ofMillis(config.heartbeatIntervalMs()),
                config.microBatchSize(),
                Duration.ofMillis(config.shutdownGraceMs()));
        // Before any DJL class initialises: offline, no call-home, caches in the node home.
        DjlEnvironment.configureOffline(settings.djlCacheDir());
        homeLock = NodeHomeLock.acquire(settings.home());
        NodeIdentity identity = NodeKeyStore.loadOrCreate(settings.home());
        ModelCatalogue.ModelSpec spec = ModelCatalogue.ALL_MINILM_L6_V2;
        ModelFiles files = ModelFiles.prepare(spec, ModelFiles.ALL_MINILM_L6_V2, settings.modelDir(spec.id()),
                ExecutorNode.class.getClassLoader());
        embedder = SentenceEmbedder.load(files, settings.djlCacheDir(), new SentenceEmbedder.Options(
                SentenceEmbedder.DEFAULT_MAX_TOKENS, settings.microBatchSize(), config.intraOpThreads()));
        runtime = new NodeRuntime(settings, identity, embedder, System::currentTimeMillis);
        runtime.start();
        LOG.infof("executor %s: node %s, home %s, Kafka %s", settings.name(), identity.nodeId(), settings.home(), bootstrapServers);
    }

    void onStop(@Observes ShutdownEvent event) {
        NodeRuntime r = runtime;
        if (r != null) {
            r.close();
        }
        SentenceEmbedder e = embedder;
        if (e != null) {
            e.close();
        }
        NodeHomeLock l = homeLock;
        if (l != null) {
            l.close();
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
