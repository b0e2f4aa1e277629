package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.topics.Topic;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class EmbeddedKafkaBrokerTest {

    @BeforeAll
    static void broker() {
        TopicProvisioner.ensureTopics(EmbeddedKafkaBroker.shared().clientConfig(), (short) 1, Topics.ALL);
    }

    @Test
    void provisioningCreatesEveryCatalogueTopicAsDeclaredAndIsIdempotent() throws Exception {
        var again = TopicProvisioner.ensureTopics(EmbeddedKafkaBroker.shared().clientConfig(), (short) 1, Topics.ALL);
        assertEquals(List.of(), again.created());
        assertEquals(Topics.ALL.size(), again.existing().size());
        try (Admin admin = Admin.create(EmbeddedKafkaBroker.shared().clientConfig())) {
            Map<String, TopicDescription> described = admin.describeTopics(
                    Topics.ALL.stream().map(Topic::name).toList()).allTopicNames().get();
            for (Topic<?, ?> t : Topics.ALL) {
                assertEquals(t.partitions(), described.get(t.name()).partitions().size(), t.name());
                var resource = new ConfigResource(ConfigResource.Type.TOPIC, t.name());
                var config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
                assertEquals(t.cleanupPolicy().kafkaValue, config.get("cleanup.policy").value(), t.name());
                assertEquals(Long.toString(t.retentionMs()), config.get("retention.ms").value(), t.name());
            }
        }
    }

    /*
     * txn A: p1 p2  commit   -> visible
     * txn B: p3     abort    -> never visible
     * txn C: p4     commit   -> visible
     * read_committed sees exactly p1 p2 p4, in order.
     */
    @Test
    void readCommittedConsumerSeesCommittedTransactionsAndNeverAbortedOnes() {
        String account = "customer:txn-" + UUID.randomUUID();
        Properties pp = new Properties();
        pp.putAll(EmbeddedKafkaBroker.shared().clientConfig());
        pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "txn-test-" + UUID.randomUUID());
        try (var producer = new KafkaProducer<>(pp, Topics.PAYMENTS.keySerde().serializer(),
                Topics.PAYMENTS.valueSerde().serializer())) {
            producer.initTransactions();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(Topics.PAYMENTS.name(), account, payment(account, "p1")));
            producer.send(new ProducerRecord<>(Topics.PAYMENTS.name(), account, payment(account, "p2")));
            producer.commitTransaction();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(Topics.PAYMENTS.name(), account, payment(account, "p3")));
            producer.flush();
            producer.abortTransaction();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(Topics.PAYMENTS.name(), account, payment(account, "p4")));
            producer.commitTransaction();
        }

        List<String> seen = readAll(Topics.PAYMENTS, "read_committed").stream()
                .filter(p -> p.getAccountId().equals(account)).map(Payment::getPaymentId).toList();
        assertEquals(List.of("p1", "p2", "p4"), seen);

        // read_uncommitted does see the aborted record: the test above proves isolation, not absence.
        Set<String> dirty = readAll(Topics.PAYMENTS, "read_uncommitted").stream()
                .filter(p -> p.getAccountId().equals(account)).map(Payment::getPaymentId).collect(Collectors.toSet());
        assertTrue(dirty.contains("p3"), "aborted record is in the log: " + dirty);
    }

    private static Payment payment(String account, String id) {
        return Payment.newBuilder().setPaymentId(id).setAccountId(account).setKind(PaymentKind.DEPOSIT)
                .setAmountMicros(1_000_000).setAtMs(1).build();
    }

    static <V> List<V> readAll(Topic<String, V> topic, String isolation) {
        Properties cp = new Properties();
        cp.putAll(EmbeddedKafkaBroker.shared().clientConfig());
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, "reader-" + UUID.randomUUID());
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        List<V> out = new ArrayList<>();
        try (var consumer = new KafkaConsumer<>(cp, topic.keySerde().deserializer(), topic.valueSerde().deserializer())) {
            consumer.subscribe(List.of(topic.name()));
            long quietSince = System.currentTimeMillis();
            long deadline = System.currentTimeMillis() + 30_000;
            // Read until the log has been quiet for 2 s after at least one assignment.
            while (System.currentTimeMillis() < deadline) {
                var records = consumer.poll(Duration.ofMillis(200));
                records.forEach(r -> out.add(r.value()));
                if (!records.isEmpty() || consumer.assignment().isEmpty()) {
                    quietSince = System.currentTimeMillis();
                } else if (System.currentTimeMillis() - quietSince > 2_000) {
                    break;
                }
            }
        }
        return out;
    }
}
