package io.inferex.load;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.testcontainers.junit.jupiter.Container;
import org.testcontainers.junit.jupiter.Testcontainers;
import org.testcontainers.redpanda.RedpandaContainer;

/**
 * The same catalogue, provisioning, transactions and serdes against Redpanda, where Docker
 * exists. Without a Docker engine (as on the 2-core dev machines) JUnit reports it skipped:
 * "Docker is not available"; everything else runs on the embedded Apache Kafka broker.
 */
@Testcontainers(disabledWithoutDocker = true)
class RedpandaCatalogueTest {
    @Container
    static final RedpandaContainer REDPANDA = new RedpandaContainer("docker.redpanda.com/redpandadata/redpanda:v24.2.4");

    @Test
    void catalogueTopicsAndTransactionalPaymentsWorkOnRedpanda() {
        String bootstrap = REDPANDA.getBootstrapServers();
        var report = TopicProvisioner.ensureTopics(io.inferex.security.BusCredentials.unauthenticated(bootstrap), (short) 1, Topics.ALL);
        assertEquals(Topics.ALL.size(), report.created().size() + report.existing().size());

        Properties pp = new Properties();
        pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "redpanda-" + UUID.randomUUID());
        try (var producer = new KafkaProducer<>(pp, Topics.PAYMENTS.keySerde().serializer(), Topics.PAYMENTS.valueSerde().serializer())) {
            producer.initTransactions();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(Topics.PAYMENTS.name(), "customer:rp", Payment.newBuilder().setPaymentId("p1")
                    .setAccountId("customer:rp").setKind(PaymentKind.DEPOSIT).setAmountMicros(7).setAtMs(1).build()));
            producer.commitTransaction();
        }
        Properties cp = new Properties();
        cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, "rp-" + UUID.randomUUID());
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<Payment> seen = new ArrayList<>();
        try (var consumer = new KafkaConsumer<>(cp, Topics.PAYMENTS.keySerde().deserializer(), Topics.PAYMENTS.valueSerde().deserializer())) {
            consumer.subscribe(List.of(Topics.PAYMENTS.name()));
            long deadline = System.currentTimeMillis() + 30_000;
            while (seen.isEmpty() && System.currentTimeMillis() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(r -> seen.add(r.value()));
            }
        }
        assertEquals(List.of("p1"), seen.stream().map(Payment::getPaymentId).toList());
    }
}
