package io.inferex.local;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.TimeUnit;
import io.inferex.security.BusAccess;
import io.inferex.security.BusCredentials;
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
 *
 * <p>Authenticated and authorized, always: clients connect to the {@code CLIENT} listener with
 * SASL/SCRAM-SHA-512 (credentials live in the cluster metadata, salted and hashed); the broker's
 * own inter-broker and controller traffic uses separate listeners with SASL/PLAIN and a secret made
 * up at each start that only this process knows. The KRaft {@code StandardAuthorizer} denies
 * whatever no ACL allows. Super users: the broker itself and the operator, whose SCRAM credential
 * is written into the metadata when the data dir is formatted and whose client settings are in
 * {@link #OPERATOR_CONFIG} (mode 0600) in the data dir.
 */
public final class EmbeddedKafkaBroker implements AutoCloseable {
    private static final String CONTROLLER = "CONTROLLER";
    private static final String CLIENT = "CLIENT";
    private static final String INTERNAL = "INTERNAL";
    private static final String BROKER_PRINCIPAL = "broker";
    /** The operator's client settings (bootstrap servers and credential), in the data dir. */
    public static final String OPERATOR_CONFIG = "operator-client.properties";
    /** A live connection re-authenticates this often, so a deleted credential loses its connections within it. */
    public static final long REAUTH_MS = 60_000;
    private static EmbeddedKafkaBroker shared;
    /** System property naming the data dir of this JVM's shared test broker (see {@link #shared}). */
    static final String SHARED_PROPERTY = "inferex.test.shared-broker-dir";

    private final Path dataDir;
    private final boolean deleteOnClose;
    private final KafkaRaftServer server;
    private final String bootstrapServers;
    private final Map<String, Object> operatorConfig;

    private EmbeddedKafkaBroker(Path dataDir, boolean deleteOnClose, KafkaRaftServer server, String bootstrapServers,
            Map<String, Object> operatorConfig) {
        this.dataDir = dataDir;
        this.deleteOnClose = deleteOnClose;
        this.server = server;
        this.bootstrapServers = bootstrapServers;
        this.operatorConfig = Map.copyOf(operatorConfig);
    }

    /**
     * One broker per JVM for tests, started on first use and stopped at JVM exit. Its data goes
     * under the {@code inferex.test.tmp} directory (target/test-tmp in Maven) when set.
     *
     * <p>One per JVM, not per class loader: a {@code @QuarkusTest} loads this class in its own
     * class loader, so a plain test and a Quarkus test of one module would otherwise start two
     * brokers in one JVM, and the second one's controller then refused its own broker's SASL login
     * (seen in matcher-stream's tests). The first one records its data dir in the system property
     * {@value #SHARED_PROPERTY}; any later class loader attaches to it through the operator's
     * client config in that dir.
     */
    public static EmbeddedKafkaBroker shared() {
        synchronized (System.getProperties()) {
            if (shared == null) {
                String running = System.getProperty(SHARED_PROPERTY);
                if (running != null) {
                    Path dir = Path.of(running);
                    Map<String, Object> operator = BusCredentials.read(dir.resolve(OPERATOR_CONFIG));
                    shared = new EmbeddedKafkaBroker(dir, false, null,
                            String.valueOf(operator.get(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG)), operator);
                    return shared;
                }
                try {
                    String base = System.getProperty("inferex.test.tmp");
                    Path parent = base == null ? Path.of(System.getProperty("java.io.tmpdir")) : Path.of(base);
                    Files.createDirectories(parent);
                    shared = start(Files.createTempDirectory(parent, "kafka-"), true);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
                EmbeddedKafkaBroker broker = shared;
                System.setProperty(SHARED_PROPERTY, broker.dataDir().toString());
                Runtime.getRuntime().addShutdownHook(new Thread(broker::close, "embedded-kafka-stop"));
            }
            return shared;
        }
    }

    /** Formats {@code dataDir} if it is new and starts the broker; returns once it answers the operator. */
    public static EmbeddedKafkaBroker start(Path dataDir, boolean deleteOnClose) {
        return start(dataDir, deleteOnClose, java.util.List.of());
    }

    /**
     * A client listener reached through a proxy (the load harness's network faults): the broker
     * listens on {@code port} with the same SASL/SCRAM as its {@code CLIENT} listener, but advertises
     * {@code 127.0.0.1:advertisedPort}, the proxy's port, in the metadata it gives the clients that
     * connect there. A Kafka client connects to the brokers its metadata names, not to its
     * bootstrap address, so a client bootstrapped at the proxy keeps going through the proxy only
     * because this listener advertises it; clients of the {@code CLIENT} listener see no difference.
     */
    public record ProxiedListener(String name, int port, int advertisedPort) {
        public ProxiedListener {
            if (!name.matches("[A-Z][A-Z0-9_]*") || java.util.Set.of(CLIENT, INTERNAL, CONTROLLER).contains(name)) {
                throw new IllegalArgumentException("a proxied listener's name is upper case letters, digits and _,"
                        + " and not one of the broker's own: " + name);
            }
        }

        /** Parses {@code NAME=PORT:ADVERTISED_PORT}, as {@code inferex broker --proxied-listener} takes it. */
        public static ProxiedListener parse(String spec) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("([^=]+)=(\\d+):(\\d+)").matcher(spec);
            if (!m.matches()) {
                throw new IllegalArgumentException("not NAME=PORT:ADVERTISED_PORT: " + spec);
            }
            return new ProxiedListener(m.group(1), Integer.parseInt(m.group(2)), Integer.parseInt(m.group(3)));
        }

        @Override
        public String toString() {
            return name + "=" + port + ":" + advertisedPort;
        }
    }

    /**
     * As {@link #start(Path, boolean)}, with {@code proxied} client listeners beside {@code CLIENT}
     * (their ports are the caller's: a restart with the same list listens where it did).
     */
    public static EmbeddedKafkaBroker start(Path dataDir, boolean deleteOnClose, java.util.List<ProxiedListener> proxied) {
        int[] ports = ports(dataDir);
        int port = ports[0];
        int internalPort = ports[1];
        int controllerPort = ports[2];
        Path logDir = dataDir.resolve("kraft-combined-logs");
        Path operatorFile = dataDir.resolve(OPERATOR_CONFIG);
        String bootstrap = "127.0.0.1:" + port;
        // Only this process knows it: nothing else can use the inter-broker or controller listener.
        String brokerSecret = BusCredentials.newSecret();
        String brokerJaas = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"" + BROKER_PRINCIPAL
                + "\" password=\"" + brokerSecret + "\" user_" + BROKER_PRINCIPAL + "=\"" + brokerSecret + "\";";
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        StringBuilder listeners = new StringBuilder(CLIENT + "://" + bootstrap + "," + INTERNAL + "://127.0.0.1:" + internalPort + ","
                + CONTROLLER + "://127.0.0.1:" + controllerPort);
        StringBuilder advertised = new StringBuilder(CLIENT + "://" + bootstrap + "," + INTERNAL + "://127.0.0.1:" + internalPort);
        StringBuilder protocols = new StringBuilder(CLIENT + ":SASL_PLAINTEXT," + INTERNAL + ":SASL_PLAINTEXT," + CONTROLLER + ":SASL_PLAINTEXT");
        java.util.List<String> scramListeners = new java.util.ArrayList<>(java.util.List.of(CLIENT));
        for (ProxiedListener l : proxied) {
            listeners.append(',').append(l.name()).append("://127.0.0.1:").append(l.port());
            advertised.append(',').append(l.name()).append("://127.0.0.1:").append(l.advertisedPort());
            protocols.append(',').append(l.name()).append(":SASL_PLAINTEXT");
            scramListeners.add(l.name());
        }
        p.put("listeners", listeners.toString());
        p.put("advertised.listeners", advertised.toString());
        p.put("controller.listener.names", CONTROLLER);
        p.put("inter.broker.listener.name", INTERNAL);
        p.put("listener.security.protocol.map", protocols.toString());
        for (String l : scramListeners) {
            String prefix = "listener.name." + l.toLowerCase(java.util.Locale.ROOT) + ".";
            p.put(prefix + "sasl.enabled.mechanisms", BusCredentials.MECHANISM);
            p.put(prefix + "scram-sha-512.sasl.jaas.config", "org.apache.kafka.common.security.scram.ScramLoginModule required;");
        }
        p.put("listener.name.internal.sasl.enabled.mechanisms", "PLAIN");
        p.put("listener.name.internal.plain.sasl.jaas.config", brokerJaas);
        p.put("listener.name.controller.sasl.enabled.mechanisms", "PLAIN");
        p.put("listener.name.controller.plain.sasl.jaas.config", brokerJaas);
        p.put("sasl.mechanism.inter.broker.protocol", "PLAIN");
        p.put("sasl.mechanism.controller.protocol", "PLAIN");
        p.put("authorizer.class.name", "org.apache.kafka.metadata.authorizer.StandardAuthorizer");
        p.put("allow.everyone.if.no.acl.found", "false");
        p.put("super.users", "User:" + BROKER_PRINCIPAL + ";User:" + BusAccess.OPERATOR);
        p.put("connections.max.reauth.ms", Long.toString(REAUTH_MS));
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
            String operatorPassword;
            if (!Files.exists(logDir.resolve("meta.properties"))) {
                operatorPassword = BusCredentials.newSecret();
                new Formatter()
                        .setNodeId(1)
                        .setClusterId(Uuid.randomUuid().toString())
                        .setDirectories(java.util.List.of(logDir.toString()))
                        .setControllerListenerName(CONTROLLER)
                        .setReleaseVersion(MetadataVersion.LATEST_PRODUCTION)
                        // KIP-900: the operator's SCRAM credential is in the metadata from the first record on.
                        .setScramArguments(java.util.List.of(BusCredentials.MECHANISM + "=[name=" + BusAccess.OPERATOR
                                + ",password=" + operatorPassword + "]"))
                        .setPrintStream(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()))
                        .run();
            } else if (Files.isRegularFile(operatorFile)) {
                operatorPassword = null;
            } else {
                throw new IllegalStateException(operatorFile + " is missing: the operator's credential of this data dir is lost");
            }
            KafkaRaftServer server = new KafkaRaftServer(new KafkaConfig(p, false), Time.SYSTEM);
            server.startup();
            Map<String, Object> operator;
            if (operatorPassword != null) {
                operator = BusCredentials.clientConfig(bootstrap, BusAccess.OPERATOR, operatorPassword);
            } else {
                // Same credential; the port too unless it was taken meanwhile.
                operator = new java.util.LinkedHashMap<>(BusCredentials.read(operatorFile));
                operator.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            }
            BusCredentials.write(operatorFile, operator);
            EmbeddedKafkaBroker broker = new EmbeddedKafkaBroker(dataDir, deleteOnClose, server, bootstrap, operator);
            broker.awaitClients(Duration.ofSeconds(60));
            return broker;
        } catch (Exception e) {
            throw new IllegalStateException("embedded Kafka broker did not start in " + dataDir + ": " + e, e);
        }
    }

    /** The ports of a data dir's last start, so a restarted broker (after a crash) is where its clients look. */
    static final String PORTS_FILE = "ports";

    /**
     * Client, internal and controller ports: the ones this data dir's broker last listened on when
     * they are free again (a restart after a crash or a stop: every client's bootstrap address stays
     * right), else new free ones; recorded in {@value #PORTS_FILE}.
     */
    static int[] ports(Path dataDir) {
        Path file = dataDir.resolve(PORTS_FILE);
        try {
            if (Files.isRegularFile(file)) {
                String[] saved = Files.readString(file).trim().split(",");
                int[] ports = new int[3];
                boolean free = saved.length == 3;
                for (int i = 0; free && i < 3; i++) {
                    ports[i] = Integer.parseInt(saved[i]);
                    free = isFree(ports[i]);
                }
                if (free) {
                    return ports;
                }
            }
            int[] ports = {freePort(), freePort(), freePort()};
            Files.createDirectories(dataDir);
            Files.writeString(file, ports[0] + "," + ports[1] + "," + ports[2] + "\n");
            return ports;
        } catch (IOException | NumberFormatException e) {
            throw new IllegalStateException("cannot read or write " + file + ": " + e.getMessage(), e);
        }
    }

    private static boolean isFree(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true); // as the broker binds: a port whose old connections linger in TIME_WAIT is free
            s.bind(new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    /**
     * The operator's full client settings (bootstrap servers, security protocol, SASL mechanism and
     * JAAS line). Tests build their clients from this map; the operator is a super user.
     */
    public Map<String, Object> clientConfig() {
        return operatorConfig;
    }

    /** Where the operator's client settings are (mode 0600), for Kafka tools and {@code ./inferex} commands. */
    public Path operatorConfigFile() {
        return dataDir.resolve(OPERATOR_CONFIG);
    }

    public Path dataDir() {
        return dataDir;
    }

    private void awaitClients(Duration timeout) throws Exception {
        try (Admin admin = Admin.create(operatorConfig)) {
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
        if (server == null) {
            return; // attached to a broker another class loader of this JVM started and stops
        }
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

    /** Every port {@link #freePort} handed out in this JVM. */
    private static final java.util.Set<Integer> HANDED_OUT = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /**
     * A loopback port free now and never handed out before by this JVM. A port is only bound later, by
     * the process it is given to (a service's JVM takes seconds to start), so the system could offer
     * the same free port to two of a stack's services started one after the other; the second would
     * then fail to bind while its readiness check reached the first (a CI run saw an executor's
     * `/node` answered by settlement). Remembering what was handed out rules that out within a launcher.
     */
    static int freePort() {
        for (int attempt = 0; attempt < 1_000; attempt++) {
            int port;
            try (ServerSocket s = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress())) {
                s.setReuseAddress(true);
                port = s.getLocalPort();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            if (HANDED_OUT.add(port)) {
                return port;
            }
        }
        throw new IllegalStateException("no free loopback port that this JVM has not handed out already");
    }
}
