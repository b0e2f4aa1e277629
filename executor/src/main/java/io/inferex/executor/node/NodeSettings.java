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
        Duration shutdownGrace) {

    public NodeSettings {
        Objects.requireNonNull(name, "name");
        Objects.requireNonNull(home, "home");
        kafka = io.inferex.security.BusCredentials.connection(kafka);
        Objects.requireNonNull(cell, "cell");
        Objects.requireNonNull(heartbeatInterval, "heartbeatInterval");
        Objects.requireNonNull(registrationTimeout, "registrationTimeout");
        Objects.requireNonNull(shutdownGrace, "shutdownGrace");
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
