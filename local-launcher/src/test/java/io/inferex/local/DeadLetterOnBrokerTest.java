package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.inferex.deadletter.DeadLetterPublisher;
import io.inferex.deadletter.DeadLetters;
import io.inferex.events.Challenge;
import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import io.inferex.wire.AvroWire;
import io.inferex.wire.UndecodableRecordException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import java.util.Random;
import java.util.UUID;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;

/** A plain consumer reading a catalogue topic with the project's serdes, against the real broker. */
class DeadLetterOnBrokerTest {

    @Test
    void poisonPillsOnARealTopicAreDeadLetteredWithHeadersAndTheReaderGoesOn() throws Exception {
                TopicProvisioner.ensureTopics(EmbeddedKafkaBroker.shared().clientConfig(), (short) 1, Topics.ALL);
        String key = "customer:dlq-" + UUID.randomUUID();
        byte[] junk = new byte[25];
        new Random(9).nextBytes(junk);
        Challenge wrongType = Challenge.newBuilder().setChallengeId("c").setTaskId("t").setJobId("j")
                .setChallengerId("x").setBondMicros(1).setReason("r").setCreatedAtMs(1).build();
        byte[] wrongBytes = AvroWire.of(Challenge.class).encode(wrongType);

        Properties pp = new Properties();
        pp.putAll(EmbeddedKafkaBroker.shared().clientConfig());
        try (var producer = new KafkaProducer<>(pp, new ByteArraySerializer(), new ByteArraySerializer())) {
            byte[] k = key.getBytes(StandardCharsets.UTF_8);
            producer.send(new ProducerRecord<>(Topics.PAYMENTS.name(), k, encode(key, "before"))).get();
            producer.send(new ProducerRecord<>(Topics.PAYMENTS.name(), k, junk)).get();
            producer.send(new ProducerRecord<>(Topics.PAYMENTS.name(), k, wrongBytes)).get();
            producer.send(new ProducerRecord<>(Topics.PAYMENTS.name(), k, encode(key, "after"))).get();
        }

        // The reader: raw bytes from the consumer, the catalogue serde to decode, the publisher for rejects.
        List<String> decoded = new ArrayList<>();
        try (var consumer = consumer();
                var deadLetters = DeadLetterPublisher.create(EmbeddedKafkaBroker.shared().clientConfig(), "dlq-test-reader")) {
            consumer.subscribe(List.of(Topics.PAYMENTS.name()));
            long deadline = System.currentTimeMillis() + 30_000;
            while (!decoded.contains("after") && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    if (!key.equals(new String(r.key(), StandardCharsets.UTF_8))) {
                        continue;
                    }
                    try {
                        decoded.add(Topics.PAYMENTS.valueSerde().deserializer().deserialize(r.topic(), r.value()).getPaymentId());
                    } catch (UndecodableRecordException e) {
                        deadLetters.publish(r, e);
                    }
                }
                consumer.commitSync();
            }
        }
        assertEquals(List.of("before", "after"), decoded);

        List<ConsumerRecord<byte[], byte[]>> letters = new ArrayList<>();
        try (var consumer = consumer()) {
            consumer.subscribe(List.of(Topics.DEAD_LETTER.name()));
            long deadline = System.currentTimeMillis() + 30_000;
            while (letters.size() < 2 && System.currentTimeMillis() < deadline) {
                consumer.poll(Duration.ofMillis(200)).forEach(r -> {
                    if (r.key() != null && key.equals(new String(r.key(), StandardCharsets.UTF_8))) {
                        letters.add(r);
                    }
                });
            }
        }
        assertEquals(2, letters.size());
        assertArrayEquals(junk, letters.get(0).value());
        assertArrayEquals(wrongBytes, letters.get(1).value());
        for (ConsumerRecord<byte[], byte[]> letter : letters) {
            assertEquals(Topics.PAYMENTS.name(), DeadLetters.header(letter.headers(), DeadLetters.SOURCE_TOPIC));
            assertEquals(UndecodableRecordException.class.getName(), DeadLetters.header(letter.headers(), DeadLetters.ERROR_CLASS));
            assertEquals("dlq-test-reader", DeadLetters.header(letter.headers(), DeadLetters.READER));
            Integer.parseInt(DeadLetters.header(letter.headers(), DeadLetters.SOURCE_PARTITION));
            Long.parseLong(DeadLetters.header(letter.headers(), DeadLetters.SOURCE_OFFSET));
            Long.parseLong(DeadLetters.header(letter.headers(), DeadLetters.TIME));
        }
        assertEquals(Long.parseLong(DeadLetters.header(letters.get(0).headers(), DeadLetters.SOURCE_OFFSET)) + 1,
                Long.parseLong(DeadLetters.header(letters.get(1).headers(), DeadLetters.SOURCE_OFFSET)));
        String reason = DeadLetters.header(letters.get(1).headers(), DeadLetters.ERROR_MESSAGE);
        assertEquals(true, reason.contains("is not a known version of io.inferex.events.Payment"), reason);
    }

    private static byte[] encode(String account, String id) {
        return AvroWire.of(Payment.class).encode(Payment.newBuilder().setPaymentId(id).setAccountId(account)
                .setKind(PaymentKind.DEPOSIT).setAmountMicros(5).setAtMs(1).build());
    }

    private static KafkaConsumer<byte[], byte[]> consumer() {
        Properties cp = new Properties();
        cp.putAll(EmbeddedKafkaBroker.shared().clientConfig());
        cp.put(ConsumerConfig.GROUP_ID_CONFIG, "dlq-" + UUID.randomUUID());
        cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        cp.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        return new KafkaConsumer<>(cp, new ByteArrayDeserializer(), new ByteArrayDeserializer());
    }
}
