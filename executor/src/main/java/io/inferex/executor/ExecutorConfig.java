package io.inferex.executor;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithName;

/**
 * The executor's {@code inferex.node.*} settings. Every default lives in application.properties
 * (one place); the launcher overrides {@code inferex.node.name} and {@code inferex.node.home} per
 * instance and {@code kafka.bootstrap.servers} for all. The root is {@code inferex.node}, not
 * {@code inferex}, so that other {@code inferex.*} properties in the JVM (the build's
 * {@code inferex.test.tmp}, settings of other tools) are not taken for misspelt executor keys.
 */
@ConfigMapping(prefix = "inferex.node")
public interface ExecutorConfig {
    /** Instance name, e.g. executor-1 (a label; the identity is the key). */
    String name();

    /** Directory the node owns: key pair, heartbeat sequence, model files, DJL caches. */
    String home();

    /**
     * Directory of the model files (one sub-directory per model), when not {@code <home>/models}:
     * nodes on one machine may share it, so the 90 MB weights are copied out and verified once
     * ({@link io.inferex.executor.model.ModelFiles}).
     */
    @WithName("model-dir")
    java.util.Optional<String> modelDir();

    /**
     * The model this node serves, by id in the model registry: a built-in one
     * ({@code all-MiniLM-L6-v2}, the default, or {@code all-MiniLM-L6-v2-int8}: files from the
     * classpath) or one the operator registered ({@code ./inferex models register}): its files are
     * fetched from the model store by digest and verified ({@link io.inferex.executor.model.ModelFiles#fetch}).
     */
    @io.smallrye.config.WithDefault("all-MiniLM-L6-v2")
    String model();

    /** Placement cell; with the model it forms the node's pool key. */
    String cell();

    /**
     * Which DJL engine runs the model: {@code auto} (TensorRT on the GPU when it loads here, else
     * ONNX Runtime on the CPU, with one log line saying why), {@code tensorrt} (refuse to start
     * without it) or {@code onnxruntime}. See {@link io.inferex.executor.model.EngineSelection}.
     */
    String engine();

    /** Shards run at once. */
    int slots();

    @WithName("price-per-row-micros")
    long pricePerRowMicros();

    @WithName("stake-micros")
    long stakeMicros();

    @WithName("heartbeat-interval-ms")
    long heartbeatIntervalMs();

    /** How long startup waits for the broker to acknowledge the node's registration before it fails. */
    @WithName("registration-timeout-ms")
    long registrationTimeoutMs();

    /** Sentences per forward pass (inside one inference call; see {@link #microBatch()} for calls shared by leases). */
    @WithName("micro-batch-size")
    int microBatchSize();

    /** Micro-batching across leased shards: several leases' rows in one inference call. */
    @WithName("micro-batch")
    MicroBatch microBatch();

    /** {@code inferex.node.micro-batch.*}. */
    interface MicroBatch {
        /** Off: every lease runs alone (one shard per inference call). */
        boolean enabled();

        /** Most rows in one shared call (a larger single shard still runs, alone). */
        @WithName("max-rows")
        int maxRows();

        /** Longest a lease waits for others to join its call (it runs at once when the node is full). */
        @WithName("max-wait-ms")
        long maxWaitMs();
    }

    /** ONNX Runtime intra-op threads per forward pass; 0 = one per core (ONNX Runtime's default). */
    @WithName("model.intra-op-threads")
    int intraOpThreads();

    /**
     * Deliberate cheating, for tests, the simulation and SREs: {@code none} (the default), or
     * {@code substitute-model}, {@code random-vectors}, {@code corrupt-fraction:F}, {@code drop},
     * {@code delay:D}, {@code crash-after:N} (see {@link io.inferex.executor.node.Adversary}).
     */
    String adversary();

    /**
     * Back-pressure: how long a lease that finds every slot held waits for one before the node
     * declines it to the matcher (signed {@code LeaseDeclined}), which leases it elsewhere at once.
     */
    @WithName("full-wait-ms")
    long fullWaitMs();

    /** How long a stopping node waits for the shards it is running before it gives them up (uncommitted). */
    @WithName("shutdown-grace-ms")
    long shutdownGraceMs();
}
