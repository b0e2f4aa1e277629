package io.inferex.executor.node;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Objects;

/**
 * What a node is configured with, independent of Quarkus (the application maps its
 * {@code inferex.*} config onto this; tests build it directly).
 *
 * @param name human-readable instance name (executor-1, ...); not an identity
 * @param home directory the node owns: key pair, heartbeat sequence, model files, DJL caches
 * @param kafka how to reach and authenticate to the bus (bootstrap servers and the node's own
 *     credential, see {@code io.inferex.security.BusCredentials#connection})
 * @param cell placement cell, part of every pool key
 * @param slots shards run at once (worker threads), advertised as capacity
 * @param registrationTimeout how long start waits for the broker to acknowledge the registration
 * @param shutdownGrace how long a stopping node waits for shards it is running
 * @param microBatching whether and how the rows of several leases share one inference call
 * @param fullWait how long a lease that finds every slot held waits for one before the node declines it
 */
public record NodeSettings(
        String name,
        Path home,
        java.util.Map<String, Object> kafka,
        String cell,
        int slots,
        long pricePerRowMicros,
        long stakeMicros,
        Duration heartbeatInterval,
        Duration registrationTimeout,
        int microBatchSize,
        Duration shutdownGrace,
        MicroBatching microBatching,
        Duration fullWait) {

    /** Default {@link #fullWait}. */
    public static final Duration DEFAULT_FULL_WAIT = Duration.ofSeconds(1);

    /**
     * Micro-batching across leased shards ({@code inferex.node.micro-batch.*}): the rows of several
     * leases of one batch-invariant model run in one inference call, at most {@code maxRows} rows,
     * a lease waiting at most {@code maxWait} for others; off, every lease runs alone.
     */
    public record MicroBatching(boolean enabled, int maxRows, Duration maxWait) {
        public static final MicroBatching DEFAULT = new MicroBatching(true, 128, Duration.ofMillis(20));
        public static final MicroBatching OFF = new MicroBatching(false, 1, Duration.ZERO);

        public MicroBatching {
            Objects.requireNonNull(maxWait, "maxWait");
            if (maxRows < 1 || maxWait.isNegative()) {
                throw new IllegalArgumentException("micro-batch max rows must be at least 1 and max wait not negative: "
                        + maxRows + ", " + maxWait);
            }
        }
    }

    /** With the default micro-batching ({@link MicroBatching#DEFAULT}) and full wait. */
    public NodeSettings(String name, Path home, java.util.Map<String, Object> kafka, String cell, int slots, long pricePerRowMicros,
            long stakeMicros, Duration heartbeatInterval, Duration registrationTimeout, int microBatchSize, Duration shutdownGrace) {
        this(name, home, kafka, cell, slots, pricePerRowMicros, stakeMicros, heartbeatInterval, registrationTimeout, microBatchSize,
                shutdownGrace, MicroBatching.DEFAULT, DEFAULT_FULL_WAIT);
    }

    public NodeSettings {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(home, "home");
        kafka = io.inferex.security.BusCredentials.connection(kafka);
        Objects.requireNonNull(cell, "cell");
        Objects.requireNonNull(heartbeatInterval, "heartbeatInterval");
        Objects.requireNonNull(registrationTimeout, "registrationTimeout");
        Objects.requireNonNull(shutdownGrace, "shutdownGrace");
        Objects.requireNonNull(microBatching, "microBatching");
        Objects.requireNonNull(fullWait, "fullWait");
        if (fullWait.isNegative()) {
            throw new IllegalArgumentException("full wait must not be negative, was " + fullWait);
        }
        if (slots < 1) {
            throw new IllegalArgumentException("slots must be at least 1, was " + slots);
        }
        if (pricePerRowMicros < 0 || stakeMicros < 0) {
            throw new IllegalArgumentException("price and stake must not be negative");
        }
        if (heartbeatInterval.toMillis() < 1) {
            throw new IllegalArgumentException("heartbeat interval must be at least 1 ms");
        }
        if (registrationTimeout.toMillis() < 1) {
            throw new IllegalArgumentException("registration timeout must be at least 1 ms");
        }
        if (microBatchSize < 1) {
            throw new IllegalArgumentException("micro-batch size must be at least 1, was " + microBatchSize);
        }
    }

    public String bootstrapServers() {
        return String.valueOf(kafka.get("bootstrap.servers"));
    }

    public Path modelDir(String modelId) {
        return home.resolve("models").resolve(modelId);
    }

    public Path djlCacheDir() {
        return home.resolve("djl-cache");
    }
}
