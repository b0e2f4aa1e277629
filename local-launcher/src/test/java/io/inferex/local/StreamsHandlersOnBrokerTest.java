package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.BoundedSerde;
import io.inferex.deadletter.DeadLetters;
import io.inferex.deadletter.StreamsDeadLetters;
import io.inferex.testing.PoisonRun;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Produced;
import org.junit.jupiter.api.Test;

/**
 * The processing and production handlers on a real broker under exactly_once_v2: a processor
 * that throws, and an output too large to produce, are dead-lettered with the reason, and the
 * records after them are still processed.
 */
class StreamsHandlersOnBrokerTest {

    @Test
    void aThrowingProcessorAndATooLargeOutputAreDeadLetteredAndTheAppGoesOn() throws Exception {
        Map<String, Object> client = EmbeddedKafkaBroker.shared().clientConfig();
        String id = "handlers-" + UUID.randomUUID().toString().substring(0, 8);
        String in = id + "-in";
        String out = id + "-out";
        try (Admin admin = Admin.create(client)) {
            TopicProvisioner.ensureTopics(admin, (short) 1, Topics.ALL);
            admin.createTopics(List.of(new NewTopic(in, 1, (short) 1), new NewTopic(out, 1, (short) 1))).all().get();
        }
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(in, Consumed.with(Serdes.String(), Serdes.String()))
                .mapValues(v -> switch (v) {
                    case "boom" -> throw new IllegalStateException("processor failed on purpose");
                    case "big" -> new byte[Topics.MAX_RECORD_BYTES + 100_000];
                    default -> v.getBytes(StandardCharsets.UTF_8);
                })
                .to(out, Produced.with(Serdes.String(), BoundedSerde.of(Serdes.ByteArray())));
        Properties props = new Properties();
        props.putAll(client);
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, id);
        props.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.EXACTLY_ONCE_V2);
        props.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        props.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("handlers").toString());
        props.putAll(StreamsDeadLetters.handlerConfigs());
        try (KafkaStreams streams = new KafkaStreams(builder.build(), props)) {
            streams.start();
            try (var producer = new KafkaProducer<>(new HashMap<>(client), new ByteArraySerializer(), new ByteArraySerializer())) {
                for (String v : List.of("before", "boom", "big", "after")) {
                    producer.send(new ProducerRecord<>(in, v.getBytes(StandardCharsets.UTF_8), v.getBytes(StandardCharsets.UTF_8))).get();
                }
            }
            List<String> outputs = new ArrayList<>();
            read(client, out, r -> {
                outputs.add(new String(r.value(), StandardCharsets.UTF_8));
                return outputs.contains("after");
            });
            assertEquals(List.of("before", "after"), outputs);

            Map<String, ConsumerRecord<byte[], byte[]>> letters = new HashMap<>();
            read(client, Topics.DEAD_LETTER.name(), r -> {
                if (id.equals(DeadLetters.header(r.headers(), DeadLetters.READER))) {
                    letters.put(new String(r.key(), StandardCharsets.UTF_8), r);
                }
                return letters.size() == 2;
            });
            var boom = letters.get("boom");
            assertEquals(IllegalStateException.class.getName(), DeadLetters.header(boom.headers(), DeadLetters.ERROR_CLASS));
            assertEquals("processor failed on purpose", DeadLetters.header(boom.headers(), DeadLetters.ERROR_MESSAGE));
            assertEquals(in, DeadLetters.header(boom.headers(), DeadLetters.SOURCE_TOPIC));
            assertEquals("boom", new String(boom.value(), StandardCharsets.UTF_8), "the input record, raw");
            var big = letters.get("big");
            assertEquals(RecordTooLargeException.class.getName(), DeadLetters.header(big.headers(), DeadLetters.ERROR_CLASS));
            assertTrue(DeadLetters.header(big.headers(), DeadLetters.ERROR_MESSAGE).contains("output to " + out),
                    DeadLetters.header(big.headers(), DeadLetters.ERROR_MESSAGE));
            assertEquals("big", new String(big.value(), StandardCharsets.UTF_8), "the input that caused the output");
            assertEquals(KafkaStreams.State.RUNNING, streams.state());
            assertNull(letters.get("before"));
        }
    }

    private static void read(Map<String, Object> client, String topic,
            java.util.function.Predicate<ConsumerRecord<byte[], byte[]>> done) {
        PoisonRun.readCommitted(client, topic, Duration.ofSeconds(60), done, () -> "timed out reading " + topic);
    }
}
