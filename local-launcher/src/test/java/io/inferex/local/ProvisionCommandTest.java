package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.inferex.events.PaymentKind;
import io.inferex.security.BusAccess;
import io.inferex.security.BusCredentials;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.common.errors.AuthorizationException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code ./inferex provision} (compose/'s one-shot set-up) on the real broker: each principal's
 * written config authenticates as that principal and carries exactly its access-table rights.
 */
class ProvisionCommandTest {
    static Map<String, Object> operator;

    @BeforeAll
    static void topics() {
        operator = EmbeddedKafkaBroker.shared().clientConfig();
        TopicProvisioner.ensureTopics(operator, (short) 1, Topics.ALL);
    }

    @Test
    void everyServiceAndNamedNodeGetsItsOwnPrivateConfigWithOnlyItsRights(@TempDir Path dir) throws Exception {
        Map<String, Path> files = ProvisionCommand.provision(operator, ProvisionCommand.principals(List.of("compose-n1")),
                name -> dir.resolve(name).resolve("kafka.properties"));

        assertEquals(List.of("ingest", "matcher", "verifier", "settlement", "payment-gateway", "compose-n1"),
                List.copyOf(files.keySet()));
        for (Path file : files.values()) {
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)), file.toString());
        }
        Map<String, Object> settlement = BusCredentials.read(files.get("settlement"));
        assertEquals(settlement.get("sasl.jaas.config"), settlement.get("kafka-streams.sasl.jaas.config"),
                "a stream app reads the same credential through kafka-streams.*");
        assertEquals(settlement.get("sasl.jaas.config"), settlement.get("kafka.sasl.jaas.config"));

        Map<String, Object> node = connection(files.get("compose-n1"));
        try (var producer = HostileNodeOnBrokerTest.producer(node)) {
            assertNull(HostileNodeOnBrokerTest.write(producer, Topics.RESULTS.name()), "a node writes results");
            assertInstanceOf(AuthorizationException.class, HostileNodeOnBrokerTest.write(producer, Topics.PAYMENTS.name()),
                    "a node never writes payments");
        }
        Map<String, Object> gateway = connection(files.get(BusAccess.PAYMENT_GATEWAY.principal()));
        // A real deposit (other tests of this JVM read payments with the typed serde).
        try (PaymentGateway payments = new PaymentGateway(gateway)) {
            payments.pay(List.of(PaymentGateway.payment("customer:provisioned", PaymentKind.DEPOSIT, 1_000_000)));
        }
        try (var producer = HostileNodeOnBrokerTest.producer(gateway)) {
            assertInstanceOf(AuthorizationException.class, HostileNodeOnBrokerTest.write(producer, Topics.VERDICTS.name()),
                    "the payment gateway writes nothing else");
        }
    }

    @Test
    void anEmptyOperatorPasswordFileIsRefusedWithItsName(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("operator_password"), "\n");
        var e = assertThrows(IllegalArgumentException.class, () -> ProvisionCommand.readPassword(file));
        assertEquals(file + " is empty: it must hold the operator's password", e.getMessage());
    }

    /** The plain Kafka client keys of a written config (Kafka tools read the file the same way). */
    private static Map<String, Object> connection(Path file) {
        Map<String, Object> plain = new LinkedHashMap<>();
        BusCredentials.read(file).forEach((k, v) -> {
            if (!k.startsWith("kafka.") && !k.startsWith("kafka-streams.")) {
                plain.put(k, v);
            }
        });
        return plain;
    }
}
