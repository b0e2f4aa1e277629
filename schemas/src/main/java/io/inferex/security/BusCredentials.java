package io.inferex.security;

import java.io.IOException;
import java.io.Reader;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.regex.Pattern;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.common.config.SaslConfigs;

/**
 * The one place that turns "bootstrap servers + principal + password" into Kafka client settings
 * (SASL/SCRAM-SHA-512), reads and writes them as a private {@code client.properties} file, and picks
 * the connection settings out of a larger client config (a Quarkus {@code kafka.*} map).
 */
public final class BusCredentials {
    private BusCredentials() {}

    /** The SASL mechanism of the market's client listener. */
    public static final String MECHANISM = "SCRAM-SHA-512";
    public static final String PROTOCOL = "SASL_PLAINTEXT";
    private static final Pattern SAFE = Pattern.compile("[A-Za-z0-9._-]{1,128}");
    private static final SecureRandom RANDOM = new SecureRandom();

    /** Client settings that authenticate {@code principal} with {@code password} at {@code bootstrapServers}. */
    public static Map<String, Object> clientConfig(String bootstrapServers, String principal, String password) {
        requireSafe("principal", principal);
        requireSafe("password", password);
        Map<String, Object> c = new LinkedHashMap<>();
        c.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        c.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, PROTOCOL);
        c.put(SaslConfigs.SASL_MECHANISM, MECHANISM);
        c.put(SaslConfigs.SASL_JAAS_CONFIG, "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + principal + "\" password=\"" + password + "\";");
        return c;
    }

    /** Settings of a cluster that cannot authenticate (only with an explicit --insecure-no-auth). */
    public static Map<String, Object> unauthenticated(String bootstrapServers) {
        return Map.of(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    }

    /**
     * The connection part (bootstrap servers, security protocol, SASL and SSL settings) of a client
     * config, e.g. Quarkus's {@code default-kafka-broker} map, which also carries a default group id
     * and whatever else the application set under {@code kafka.}.
     */
    public static Map<String, Object> connection(Map<String, ?> clientConfig) {
        Map<String, Object> c = new TreeMap<>();
        clientConfig.forEach((k, v) -> {
            if (v != null && (k.equals(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG) || k.equals(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG)
                    || k.startsWith("sasl.") || k.startsWith("ssl."))) {
                c.put(k, v);
            }
        });
        if (!c.containsKey(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG)) {
            throw new IllegalArgumentException("client config has no bootstrap.servers");
        }
        return c;
    }

    /** {@code connection} plus {@code extra} as {@link Properties}, for a Kafka client constructor. */
    public static Properties properties(Map<String, ?> connection, Map<String, ?> extra) {
        Properties p = new Properties();
        p.putAll(connection(connection));
        p.putAll(extra);
        return p;
    }

    /** A new random secret (256 bits, hex): a password or a broker's internal secret. */
    public static String newSecret() {
        byte[] b = new byte[32];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    /** Writes {@code config} as a properties file only its owner can read (0600 where POSIX). */
    public static void write(Path file, Map<String, ?> config) {
        Properties p = new Properties();
        config.forEach((k, v) -> p.setProperty(k, String.valueOf(v)));
        try {
            Files.createDirectories(file.toAbsolutePath().getParent());
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            Files.deleteIfExists(tmp);
            Files.createFile(tmp);
            restrict(tmp);
            try (Writer w = Files.newBufferedWriter(tmp)) {
                p.store(w, "Inferex Kafka client settings; secret, keep it 0600");
            }
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + file, e);
        }
    }

    /** Reads a client properties file written by {@link #write} (or by hand, Kafka tools' format). */
    public static Map<String, Object> read(Path file) {
        Properties p = new Properties();
        try (Reader r = Files.newBufferedReader(file)) {
            p.load(r);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read client config " + file, e);
        }
        Map<String, Object> c = new LinkedHashMap<>();
        p.stringPropertyNames().stream().sorted().forEach(k -> c.put(k, p.getProperty(k)));
        return c;
    }

    static void restrict(Path file) throws IOException {
        try {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        } catch (UnsupportedOperationException e) {
            file.toFile().setReadable(false, false);
            file.toFile().setReadable(true, true);
        }
    }

    private static void requireSafe(String what, String value) {
        if (value == null || !SAFE.matcher(value).matches()) {
            throw new IllegalArgumentException(what + " must be 1-128 of [A-Za-z0-9._-]");
        }
    }
}
