package io.inferex.deadletter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.NodeHeartbeat;
import io.inferex.events.Payment;
import io.inferex.topics.Topics;
import io.inferex.wire.AvroWire;
import io.inferex.wire.RandomEvents;
import io.inferex.wire.UndecodableRecordException;
import java.util.List;
import java.util.Properties;
import java.util.Random;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.Test;

class DecodeOrDeadLetterTest {

    /*
     * heartbeats in:  [hb1] [random bytes] [hb2] [a Payment] [hb3]
     * pass-through:   hb1, hb2, hb3                      (the stream never stops)
     * dead-letter:    random bytes, Payment              (raw, with the reason in headers)
     */
    @Test
    void poisonPillsGoToDeadLetterWithHeadersAndTheStreamGoesOn() {
        StreamsBuilder builder = new StreamsBuilder();
        DecodeOrDeadLetter.stream(builder, Topics.NODE_HEARTBEATS, "test-reader")
                .to("out", Produced.with(Serdes.String(), Topics.NODE_HEARTBEATS.valueSerde()));
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, "dlq-test");
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");

        RandomEvents random = new RandomEvents(11);
        List<NodeHeartbeat> good = List.of(random.specific(NodeHeartbeat.class),
                random.specific(NodeHeartbeat.class), random.specific(NodeHeartbeat.class));
        byte[] junk = new byte[33];
        new Random(2).nextBytes(junk);
        byte[] wrongType = AvroWire.of(Payment.class).encode(random.specific(Payment.class));

        try (TopologyTestDriver driver = new TopologyTestDriver(builder.build(), props)) {
            TestInputTopic<String, byte[]> in = driver.createInputTopic(Topics.NODE_HEARTBEATS.name(),
                    Serdes.String().serializer(), Serdes.ByteArray().serializer());
            TestOutputTopic<String, NodeHeartbeat> out = driver.createOutputTopic("out",
                    Serdes.String().deserializer(), Topics.NODE_HEARTBEATS.valueSerde().deserializer());
            TestOutputTopic<String, byte[]> dead = driver.createOutputTopic(Topics.DEAD_LETTER.name(),
                    Serdes.String().deserializer(), Serdes.ByteArray().deserializer());
            var hbSerializer = Topics.NODE_HEARTBEATS.valueSerde().serializer();

            in.pipeInput("n1", hbSerializer.serialize("t", good.get(0)));
            in.pipeInput("n2", junk);
            in.pipeInput("n1", hbSerializer.serialize("t", good.get(1)));
            in.pipeInput("n3", wrongType);
            in.pipeInput("n1", hbSerializer.serialize("t", good.get(2)));

            assertEquals(good, out.readValuesToList());
            List<TestRecord<String, byte[]>> letters = dead.readRecordsToList();
            assertEquals(2, letters.size());

            TestRecord<String, byte[]> first = letters.get(0);
            assertEquals("n2", first.key());
            assertArrayEquals(junk, first.value());
            assertEquals(Topics.NODE_HEARTBEATS.name(), DeadLetters.header(first.headers(), DeadLetters.SOURCE_TOPIC));
            assertEquals("0", DeadLetters.header(first.headers(), DeadLetters.SOURCE_PARTITION));
            assertEquals("1", DeadLetters.header(first.headers(), DeadLetters.SOURCE_OFFSET));
            assertEquals(UndecodableRecordException.class.getName(), DeadLetters.header(first.headers(), DeadLetters.ERROR_CLASS));
            assertEquals("test-reader", DeadLetters.header(first.headers(), DeadLetters.READER));
            assertTrue(Long.parseLong(DeadLetters.header(first.headers(), DeadLetters.TIME)) > 0);

            TestRecord<String, byte[]> second = letters.get(1);
            assertArrayEquals(wrongType, second.value());
            assertEquals("3", DeadLetters.header(second.headers(), DeadLetters.SOURCE_OFFSET));
            assertTrue(DeadLetters.header(second.headers(), DeadLetters.ERROR_MESSAGE)
                    .contains("is not a known version of io.inferex.events.NodeHeartbeat"));
        }
    }
}
