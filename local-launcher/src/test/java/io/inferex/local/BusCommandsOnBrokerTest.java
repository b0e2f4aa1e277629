package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.security.BusAccess;
import io.inferex.security.BusCredentials;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code ./inferex nodes add|list|revoke}, {@code fund} and {@code withdraw} against a real broker with ACLs. */
class BusCommandsOnBrokerTest {
    @TempDir
    static Path dir;
    static String bootstrap;
    static Path operatorFile;
    static Path gatewayFile;

    @BeforeAll
    static void provision() {
        EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.shared();
        bootstrap = broker.bootstrapServers();
        operatorFile = broker.operatorConfigFile();
        TopicProvisioner.ensureTopics(broker.clientConfig(), (short) 1, Topics.ALL);
        try (Admin admin = Admin.create(broker.clientConfig())) {
            gatewayFile = dir.resolve("gateway.properties");
            BusCredentials.write(gatewayFile, BusAccess.provision(admin, bootstrap, BusAccess.PAYMENT_GATEWAY, BusCredentials.newSecret()));
        }
    }

    record Run(int code, String out) {}

    static Run inferex(String... args) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream old = System.out;
        int code;
        try (PrintStream capture = new PrintStream(bytes, true)) {
            System.setOut(capture);
            code = new CommandLine(new InferexCli()).execute(args);
        } finally {
            System.setOut(old);
        }
        return new Run(code, bytes.toString());
    }

    @Test
    void nodesAddIssuesAPrivateCredentialThatWorksListShowsItAndRevokeEndsIt() throws Exception {
        Path file = dir.resolve("probe.properties");
        Run add = inferex("nodes", "add", "probe", "--bootstrap-servers", bootstrap, "--client-config", operatorFile.toString(),
                "--out", file.toString());
        assertEquals(0, add.code(), add.out());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        Map<String, Object> node = BusCredentials.read(file);
        try (var producer = HostileNodeOnBrokerTest.producer(node)) {
            assertEquals(null, HostileNodeOnBrokerTest.write(producer, Topics.NODE_HEARTBEATS.name()));
        }

        Run list = inferex("nodes", "list", "--bootstrap-servers", bootstrap, "--client-config", operatorFile.toString());
        assertTrue(list.out().lines().anyMatch("probe"::equals), list.out());

        Run revoke = inferex("nodes", "revoke", "probe", "--bootstrap-servers", bootstrap, "--client-config", operatorFile.toString());
        assertEquals(0, revoke.code(), revoke.out());
        list = inferex("nodes", "list", "--bootstrap-servers", bootstrap, "--client-config", operatorFile.toString());
        assertTrue(list.out().lines().noneMatch("probe"::equals), list.out());
    }

    @Test
    void customersCreatePrintsAKeyOnceStoresOnlyItsHashAndListRotateRevokeFollowIt() {
        String name = "cust" + Long.toHexString(UUID.randomUUID().getMostSignificantBits() & 0xffffffL);
        String[] op = {"--bootstrap-servers", bootstrap, "--client-config", operatorFile.toString()};
        Run create = inferex(concat(new String[] {"customers", "create", name}, op));
        assertEquals(0, create.code(), create.out());
        assertTrue(create.out().contains("account  customer:" + name), create.out());
        String key = create.out().lines().filter(l -> l.startsWith("api key  ")).findFirst().orElseThrow().substring(9);
        assertTrue(key.startsWith("sk-inferex-"), key);

        Map<String, io.inferex.events.CustomerKey> live = CustomerCommands.read(EmbeddedKafkaBroker.shared().clientConfig());
        String keyId = io.inferex.security.CustomerKeys.keyId(io.inferex.security.CustomerKeys.sha256(key));
        assertEquals(name, live.get(keyId).getCustomerId());
        assertEquals(io.inferex.security.CustomerKeys.sha256(key), live.get(keyId).getKeySha256());
        assertTrue(live.values().stream().noneMatch(k -> k.toString().contains(key.substring(15))), "the key itself is not stored");

        assertNotEquals(0, inferex(concat(new String[] {"customers", "create", name}, op)).code(), "a second create of one name");
        assertNotEquals(0, inferex(concat(new String[] {"customers", "create", "Not A Name"}, op)).code());
        Run list = inferex(concat(new String[] {"customers", "list", name}, op));
        assertEquals(List.of(keyId), list.out().lines().map(l -> l.split("  ")[0]).toList(), list.out());
        assertTrue(list.out().contains(key.substring(0, 15) + "…") && !list.out().contains(key), list.out());

        Run rotate = inferex(concat(new String[] {"customers", "rotate", name}, op));
        assertEquals(0, rotate.code(), rotate.out());
        String rotated = rotate.out().lines().filter(l -> l.startsWith("api key  ")).findFirst().orElseThrow().substring(9);
        String rotatedId = io.inferex.security.CustomerKeys.keyId(io.inferex.security.CustomerKeys.sha256(rotated));
        live = CustomerCommands.read(EmbeddedKafkaBroker.shared().clientConfig());
        assertTrue(!live.containsKey(keyId) && name.equals(live.get(rotatedId).getCustomerId()), "rotate revokes the old key");

        assertEquals(0, inferex(concat(new String[] {"customers", "revoke", rotatedId}, op)).code());
        assertTrue(inferex(concat(new String[] {"customers", "list", name}, op)).out().isBlank());
        assertNotEquals(0, inferex(concat(new String[] {"customers", "revoke", rotatedId}, op)).code(), "no live key any more");
    }

    private static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    @Test
    void fundAndWithdrawWritePaymentsAsThePaymentGatewayAndANodeCredentialCannot() {
        String account = "customer:cli-" + UUID.randomUUID();
        Run fund = inferex("fund", account, "5000000", "--bootstrap-servers", bootstrap, "--client-config", gatewayFile.toString());
        assertEquals(0, fund.code(), fund.out());
        Run withdraw = inferex("withdraw", account, "2000000", "--bootstrap-servers", bootstrap, "--client-config", gatewayFile.toString());
        assertEquals(0, withdraw.code(), withdraw.out());

        Path nodeFile = dir.resolve("thief.properties");
        assertEquals(0, inferex("nodes", "add", "thief", "--bootstrap-servers", bootstrap, "--client-config", operatorFile.toString(),
                "--out", nodeFile.toString()).code());
        Run stolen = inferex("fund", account, "999000000", "--bootstrap-servers", bootstrap, "--client-config", nodeFile.toString());
        assertNotEquals(0, stolen.code(), "a node wrote a deposit");

        List<Payment> seen = payments(account, 2);
        assertEquals(List.of(PaymentKind.DEPOSIT, PaymentKind.WITHDRAWAL), seen.stream().map(Payment::getKind).toList());
        assertEquals(List.of(5_000_000L, 2_000_000L), seen.stream().map(Payment::getAmountMicros).toList());
    }

    /** The payments keyed {@code key}, read from the start until {@code expected} came (or 20 s passed). */
    static List<Payment> payments(String key, int expected) {
        List<Payment> seen = new ArrayList<>();
        Properties p = new Properties();
        p.putAll(EmbeddedKafkaBroker.shared().clientConfig());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "cli-test-" + UUID.randomUUID());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        try (var c = new KafkaConsumer<>(p, Topics.PAYMENTS.keySerde().deserializer(), Topics.PAYMENTS.valueSerde().deserializer())) {
            c.subscribe(List.of(Topics.PAYMENTS.name()));
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (seen.size() < expected && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(r -> {
                    if (key.equals(r.key())) {
                        seen.add(r.value());
                    }
                });
            }
        }
        return seen;
    }

    @Test
    void unstakeWritesAWithdrawalNamingTheNodesStakeAccountAsThePaymentGateway() {
        String nodeId = "cli" + Long.toHexString(UUID.randomUUID().getMostSignificantBits());
        Run refused = inferex("unstake", "node:" + nodeId, "1000000", "--bootstrap-servers", bootstrap, "--client-config", gatewayFile.toString());
        assertEquals(2, refused.code(), "an account instead of a node id: " + refused.out());
        Run unstake = inferex("unstake", nodeId, "1000000", "--bootstrap-servers", bootstrap, "--client-config", gatewayFile.toString());
        assertEquals(0, unstake.code(), unstake.out());

        List<Payment> seen = payments("stake:" + nodeId, 1);
        assertEquals(1, seen.size());
        assertEquals(PaymentKind.WITHDRAWAL, seen.get(0).getKind());
        assertEquals("stake:" + nodeId, seen.get(0).getAccountId());
        assertEquals(1_000_000L, seen.get(0).getAmountMicros());
    }

    @Test
    void theCommandsFindTheOperatorAndPaymentGatewayConfigsInARunDirOfUp() throws Exception {
        // What `./inferex up` leaves in its run dir: client.properties (operator), secrets/payment-gateway.properties.
        Path run = Files.createDirectories(dir.resolve("run-x"));
        BusCredentials.write(run.resolve(LocalStack.CLIENT_PROPERTIES), EmbeddedKafkaBroker.shared().clientConfig());
        BusCredentials.write(LocalStack.paymentGatewayConfigFile(run), BusCredentials.read(gatewayFile));
        Run add = inferex("nodes", "add", "from-run-dir", "--run-dir", run.toString());
        assertEquals(0, add.code(), add.out());
        assertTrue(add.out().contains("sasl.jaas.config=") && add.out().contains("username=\"node-from-run-dir\""), add.out());
        Run list = inferex("nodes", "list", "--run-dir", run.toString());
        assertTrue(list.out().lines().anyMatch("from-run-dir"::equals), list.out());
        Run fund = inferex("fund", "customer:run-dir", "1000000", "--run-dir", run.toString());
        assertEquals(0, fund.code(), fund.out());
        assertNotEquals(0, inferex("nodes", "list", "--run-dir", dir.resolve("no-such-run").toString()).code());
    }
}
