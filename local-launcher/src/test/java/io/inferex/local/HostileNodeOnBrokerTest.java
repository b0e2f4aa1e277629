package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.inferex.security.BusAccess;
import io.inferex.security.BusCredentials;
import io.inferex.topics.Topic;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.AuthorizationException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * A node with its own valid credential, on the real broker with the ACLs of {@link BusAccess}:
 * every write and read the table does not give it is refused by the broker; what it does give works.
 */
class HostileNodeOnBrokerTest {
    /** A Streams app's internal topic (the matcher's changelog naming), created by the operator so it exists. */
    static final String CHANGELOG = "inferex-matcher-hostile-probe-store-changelog";
    static final String REPARTITION = "inferex-settlement-hostile-probe-repartition";

    static Map<String, Object> operator;

    @BeforeAll
    static void provision() throws Exception {
        operator = EmbeddedKafkaBroker.shared().clientConfig();
        TopicProvisioner.ensureTopics(operator, (short) 1, Topics.ALL);
        try (Admin admin = Admin.create(operator)) {
            for (String t : List.of(CHANGELOG, REPARTITION)) {
                try {
                    admin.createTopics(List.of(new NewTopic(t, 1, (short) 1))).all().get(30, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    if (!(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException)) {
                        throw e;
                    }
                }
            }
        }
    }

    static Map<String, Object> issue(String name) {
        return BusCommands.issueNode(operator, name);
    }

    static KafkaProducer<byte[], byte[]> producer(Map<String, Object> client) {
        return producer(client, 10_000);
    }

    static KafkaProducer<byte[], byte[]> producer(Map<String, Object> client, int maxBlockMs) {
        return new KafkaProducer<>(BusCredentials.properties(client, Map.of(ProducerConfig.ACKS_CONFIG, "all",
                ProducerConfig.MAX_BLOCK_MS_CONFIG, maxBlockMs, ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 15_000,
                ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 10_000)), new ByteArraySerializer(), new ByteArraySerializer());
    }

    static KafkaConsumer<byte[], byte[]> consumer(Map<String, Object> client, String group) {
        Map<String, Object> extra = new HashMap<>(Map.of(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest",
                ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false, ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 10_000));
        if (group != null) {
            extra.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        }
        return new KafkaConsumer<>(BusCredentials.properties(client, extra), new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }

    /** Sends one record; returns the exception the broker answered with, or null when it was written. */
    static Throwable write(KafkaProducer<byte[], byte[]> producer, String topic) {
        try {
            producer.send(new ProducerRecord<>(topic, "hostile".getBytes(), "not a real event".getBytes())).get(20, TimeUnit.SECONDS);
            return null;
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (Exception e) {
            return e;
        }
    }

    @Test
    void aNodeIsRefusedEveryWriteTheTableDoesNotGiveItAndItsAllowedWritesSucceed() {
        Map<String, Object> node = issue("hostile-writer");
        List<String> forbidden = new ArrayList<>(Topics.ALL.stream().map(Topic::name)
                .filter(t -> !BusAccess.node("hostile-writer").writes().contains(t)).toList());
        forbidden.add(CHANGELOG);
        forbidden.add(REPARTITION);
        assertTrue(forbidden.containsAll(List.of("jobs", "shard-tasks", "assignments", "verdicts", "payments", "ledger",
                "job-status", "verification-tasks", "challenges", "dead-letter")), forbidden.toString());
        List<String> notRefused = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> producer = producer(node)) {
            for (String topic : forbidden) {
                Throwable e = write(producer, topic);
                if (!(e instanceof AuthorizationException)) {
                    notRefused.add(topic + " -> " + e);
                }
            }
            assertEquals(List.of(), notRefused, "refused " + (forbidden.size() - notRefused.size()) + " of " + forbidden.size());
            for (String allowed : List.of(Topics.NODE_REGISTRY.name(), Topics.NODE_HEARTBEATS.name(), Topics.RESULTS.name(),
                    Topics.LEASE_DECLINES.name())) {
                assertEquals(null, write(producer, allowed), allowed);
            }
        }
    }

    @Test
    void aNodeIsRefusedEveryReadButAssignmentsTheModelRegistryAndStoreAndEveryGroupButItsOwn() {
        Map<String, Object> node = issue("hostile-reader");
        List<String> readable = List.of(Topics.ASSIGNMENTS.name(), Topics.MODELS.name(), Topics.MODEL_CHUNKS.name());
        assertEquals(readable, BusAccess.node("hostile-reader").reads(), "a node reads its assignments and fetches models, nothing else");
        List<String> forbidden = new ArrayList<>(Topics.ALL.stream().map(Topic::name).filter(t -> !readable.contains(t)).toList());
        forbidden.add(CHANGELOG);
        forbidden.add(REPARTITION);
        List<String> notRefused = new ArrayList<>();
        for (String topic : forbidden) {
            try (KafkaConsumer<byte[], byte[]> c = consumer(node, null)) {
                c.assign(List.of(new TopicPartition(topic, 0)));
                c.poll(Duration.ofSeconds(2));
                notRefused.add(topic);
            } catch (AuthorizationException expected) {
                // refused by the broker
            }
        }
        assertEquals(List.of(), notRefused);
        // Another principal's consumer group (here the matcher's) is refused too.
        try (KafkaConsumer<byte[], byte[]> c = consumer(node, "inferex-matcher")) {
            c.assign(List.of(new TopicPartition(Topics.ASSIGNMENTS.name(), 0)));
            assertThrows(AuthorizationException.class, () -> c.committed(java.util.Set.of(new TopicPartition(Topics.ASSIGNMENTS.name(), 0))));
        }
        // Its own group and assignments work.
        try (KafkaConsumer<byte[], byte[]> c = consumer(node, BusAccess.nodeGroup("hostile-reader"))) {
            TopicPartition tp = new TopicPartition(Topics.ASSIGNMENTS.name(), 0);
            c.assign(List.of(tp));
            c.poll(Duration.ofMillis(500));
            c.commitSync(Map.of(tp, new org.apache.kafka.clients.consumer.OffsetAndMetadata(c.position(tp))));
        }
    }

    @Test
    void aNodeCannotCreateTopicsOrChangeAcls() {
        Map<String, Object> node = issue("hostile-admin");
        try (Admin admin = Admin.create(node)) {
            ExecutionException e = assertThrows(ExecutionException.class, () -> admin.createTopics(
                    List.of(new NewTopic("inferex-matcher-evil-changelog", 1, (short) 1))).all().get(20, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof AuthorizationException, e.toString());
            e = assertThrows(ExecutionException.class, () -> admin.createAcls(BusAccess.bindings(BusAccess.SETTLEMENT).stream()
                    .map(b -> new org.apache.kafka.common.acl.AclBinding(b.pattern(), new org.apache.kafka.common.acl.AccessControlEntry(
                            "User:node-hostile-admin", "*", b.entry().operation(), b.entry().permissionType()))).toList())
                    .all().get(20, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof AuthorizationException, e.toString());
        }
    }

    @Test
    void aWrongPasswordAndAnUnauthenticatedClientAreRefused() {
        Map<String, Object> wrong = BusCredentials.clientConfig(EmbeddedKafkaBroker.shared().bootstrapServers(), BusAccess.OPERATOR,
                BusCredentials.newSecret());
        try (KafkaProducer<byte[], byte[]> p = producer(wrong)) {
            assertTrue(write(p, Topics.PAYMENTS.name()) instanceof SaslAuthenticationException);
        }
        Map<String, Object> none = BusCredentials.unauthenticated(EmbeddedKafkaBroker.shared().bootstrapServers());
        try (KafkaProducer<byte[], byte[]> p = producer(none, 3_000)) {
            Throwable e = write(p, Topics.PAYMENTS.name());
            // The SASL listener does not answer a plaintext client's requests: the send never completes.
            assertTrue(e != null, "an unauthenticated client wrote to payments");
        }
    }

    @Test
    void aRevokedNodeIsRefusedOnItsOpenConnectionAndOnNewOnes() {
        Map<String, Object> node = issue("revoked");
        try (KafkaProducer<byte[], byte[]> open = producer(node)) {
            assertEquals(null, write(open, Topics.NODE_HEARTBEATS.name()));
            try (Admin admin = Admin.create(operator)) {
                BusAccess.revokeAll(admin, BusAccess.nodePrincipal("revoked"));
                BusAccess.deleteUser(admin, BusAccess.nodePrincipal("revoked"));
                // The deletion is a controller record; the broker answering the listing may apply it a moment later.
                long listed = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
                while (listNodes(admin).contains("revoked")) {
                    if (System.nanoTime() > listed) {
                        fail("a deleted node is still listed after 15 s");
                    }
                    sleep(100);
                }
            }
            // Its ACLs are gone: the connection it already has is refused at the next request (the
            // credential itself is checked again within connections.max.reauth.ms).
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            Throwable e;
            while (!((e = write(open, Topics.NODE_HEARTBEATS.name())) instanceof AuthorizationException
                    || e instanceof SaslAuthenticationException)) {
                if (System.nanoTime() > deadline) {
                    fail("a revoked node's open producer still got " + e);
                }
            }
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (true) {
            try (KafkaProducer<byte[], byte[]> p = producer(node)) {
                Throwable e = write(p, Topics.NODE_HEARTBEATS.name());
                if (e instanceof SaslAuthenticationException) {
                    return;
                }
                if (System.nanoTime() > deadline) {
                    fail("a revoked node's new connection got " + e);
                }
            }
        }
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
    }

    private static List<String> listNodes(Admin admin) {
        try {
            return BusCommands.listNodes(admin);
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
