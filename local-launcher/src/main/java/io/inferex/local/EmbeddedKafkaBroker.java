package io.inferex.local;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.common.Uuid;
import org.apache.kafka.common.utils.Time;
import org.apache.kafka.metadata.storage.Formatter;
import org.apache.kafka.server.common.MetadataVersion;

/**
 * A real Apache Kafka broker, one node in KRaft combined mode (broker + controller), on
 * 127.0.0.1 with free ports. Used in-process by tests ({@link #shared()}) and as its own
 * process by the launcher ({@code inferex broker}).
 */
public final class EmbeddedKafkaBroker implements AutoCloseable {
    private static final String CONTROLLER = "CONTROLLER";
    private static EmbeddedKafkaBroker shared;

    private final Path dataDir;
    private final boolean deleteOnClose;
    private final KafkaRaftServer server;
    private final String bootstrapServers;

    private EmbeddedKafkaBroker(Path dataDir, boolean deleteOnClose, KafkaRaftServer server, String bootstrapServers) {
        this.dataDir = dataDir;
        this.deleteOnClose = deleteOnClose;
        this.server = server;
        this.bootstrapServers = bootstrapServers;
    }

    /**
     * One broker per JVM for tests, started on first use and stopped at JVM exit. Its data goes
     * under the {@code inferex.test.tmp} directory (target/test-tmp in Maven) when set.
     */
    public static synchronized EmbeddedKafkaBroker shared() {
        if (shared == null) {
            try {
                String base = System.getProperty("inferex.test.tmp");
                Path parent = base == null ? Path.of(System.getProperty("java.io.tmpdir")) : Path.of(base);
                Files.createDirectories(parent);
                shared = start(Files.createTempDirectory(parent, "kafka-"), true);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            EmbeddedKafkaBroker broker = shared;
            Runtime.getRuntime().addShutdownHook(new Thread(broker::close, "embedded-kafka-stop"));
        }
        return shared;
    }

    /** Formats {@code dataDir} if it is new and starts the broker; returns once it answers clients. */
    public static EmbeddedKafkaBroker start(Path dataDir, boolean deleteOnClose) {
        int port = freePort();
        int controllerPort = freePort();
        Path logDir = dataDir.resolve("kraft-combined-logs");
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        p.put("listeners", "PLAINTEXT://127.0.0.1:" + port + "," + CONTROLLER + "://127.0.0.1:" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + port);
        p.put("controller.listener.names", CONTROLLER);
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT," + CONTROLLER + ":PLAINTEXT");
        p.put("log.dirs", logDir.toString());
        // One node: every internal topic has one replica.
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "3");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "3");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("group.initial.rebalance.delay.ms", "0");
        // Every topic comes from the catalogue; a typo must fail, not create a topic.
        p.put("auto.create.topics.enable", "false");
        p.put("num.partitions", "1");
        p.put("log.retention.check.interval.ms", "60000");
        try {
            Files.createDirectories(logDir);
            if (!Files.exists(logDir.resolve("meta.properties"))) {
                new Formatter()
                        .setNodeId(1)
                        .setClusterId(Uuid.randomUuid().toString())
                        .setDirectories(java.util.List.of(logDir.toString()))
                        .setControllerListenerName(CONTROLLER)
                        .setReleaseVersion(MetadataVersion.LATEST_PRODUCTION)
                        .setPrintStream(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()))
                        .run();
            }
            KafkaRaftServer server = new KafkaRaftServer(new KafkaConfig(p, false), Time.SYSTEM);
            server.startup();
            EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(dataDir, deleteOnClose, server, "127.0.0.1:" + port);
            broker.awaitClients(Duration.ofSeconds(60));
            return broker;
        } catch (Exception e) {
            throw new IllegalStateException("embedded Kafka broker did not start in " + dataDir + ": " + e, e);
        }
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    /**
     * Settings every Kafka client of this broker starts from (bootstrap servers and, once the bus
     * is authenticated, the operator's credentials). Tests build their clients from this map.
     */
    public java.util.Map<String, Object> clientConfig() {
        return java.util.Map.of(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
    }

    public Path dataDir() {
        return dataDir;
    }

    private void awaitClients(Duration timeout) throws Exception {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        try (Admin admin = Admin.create(p)) {
            long deadline = System.nanoTime() + timeout.toNanos();
            while (true) {
                try {
                    if (!admin.describeCluster().nodes().get(5, TimeUnit.SECONDS).isEmpty()) {
                        return;
                    }
                } catch (Exception e) {
                    if (System.nanoTime() > deadline) {
                        throw e;
                    }
                }
                Thread.sleep(100);
            }
        }
    }

    @Override
    public synchronized void close() {
        server.shutdown();
        server.awaitShutdown();
        if (deleteOnClose) {
            deleteRecursively(dataDir);
        }
    }

    static void deleteRecursively(Path dir) {
        if (!Files.exists(dir)) {
            return;
        }
        try (var paths = Files.walk(dir)) {
            paths.sorted(Comparator.reverseOrder()).forEach(path -> path.toFile().delete());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
            s.setReuseAddress(true);
            return s.getLocalPort();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
