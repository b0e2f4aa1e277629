package io.inferex.deadletter;

import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.FixedKeyProcessor;
import org.apache.kafka.streams.processor.api.FixedKeyProcessorContext;
import org.apache.kafka.streams.processor.api.FixedKeyRecord;

/**
 * How a topology reads a catalogue topic without ever stopping on a bad record: the source is
 * read as raw bytes and decoded in a processor; a record that does not decode goes to the
 * dead-letter topic, raw (a reference instead when it is too large to copy), with the {@link DeadLetters} headers, and the stream goes on. Because
 * the dead letter is an ordinary sink of the topology, under exactly_once_v2 it commits
 * atomically with the offsets: a bad record is dead-lettered exactly once, never lost.
 */
public final class DecodeOrDeadLetter {
    private DecodeOrDeadLetter() {}

    /** The decoded stream of {@code topic}; undecodable records are routed to the dead-letter topic. */
    public static <V> KStream<String, V> stream(StreamsBuilder builder, Topic<String, V> topic, String reader) {
        String base = topic.name() + "-decode";
        // Keys are UTF-8 ids and decode as String whatever the bytes; only values are decoded in
        // the processor, so the key is untouched and no downstream join is forced to repartition.
        KStream<String, Outcome> outcomes = builder
                .stream(topic.name(), Consumed.with(Serdes.String(), Serdes.ByteArray()).withName(topic.name() + "-source"))
                .processValues(() -> new Decoder(topic, reader), Named.as(base));
        Map<String, KStream<String, Outcome>> branches = outcomes.split(Named.as(base + "-"))
                .branch((k, o) -> o.error() != null, Branched.as("bad"))
                .defaultBranch(Branched.as("good"));
        branches.get(base + "-bad")
                .mapValues(Outcome::raw, Named.as(base + "-raw"))
                .to(Topics.DEAD_LETTER.name(), Produced.with(Serdes.String(), Serdes.ByteArray())
                        .withName(base + "-dead-letter"));
        @SuppressWarnings("unchecked")
        KStream<String, V> good = branches.get(base + "-good")
                .mapValues(o -> (V) o.value(), Named.as(base + "-typed"));
        return good;
    }

    /** Either a decoded value or the raw bytes and the error. */
    record Outcome(Object value, byte[] raw, Throwable error) {}

    private static final class Decoder implements FixedKeyProcessor<String, byte[], Outcome> {
        private final Topic<String, ?> topic;
        private final String reader;
        private FixedKeyProcessorContext<String, Outcome> context;

        Decoder(Topic<String, ?> topic, String reader) {
            this.topic = topic;
            this.reader = reader;
        }

        @Override
        public void init(FixedKeyProcessorContext<String, Outcome> context) {
            this.context = context;
        }

        @Override
        public void process(FixedKeyRecord<String, byte[]> record) {
            try {
                Object value = topic.valueSerde().deserializer().deserialize(topic.name(), record.value());
                if (value == null) {
                    throw new IllegalArgumentException("tombstone (null value) on event topic " + topic.name());
                }
                context.forward(record.withValue(new Outcome(value, null, null)));
            } catch (RuntimeException e) {
                var meta = context.recordMetadata().orElseThrow();
                // A copy when it fits on the dead-letter topic, else a reference (size, SHA-256): a
                // 1 MB poison record must not make the dead-letter sink itself fail to produce.
                var letter = DeadLetters.letter(record.key() == null ? null : record.key().getBytes(StandardCharsets.UTF_8),
                        record.value(), record.headers(), meta.topic(), meta.partition(), meta.offset(), e, reader,
                        context.currentSystemTimeMs());
                context.forward(record.withValue(new Outcome(null, letter.value(), e)).withHeaders(letter.headers()));
            }
        }
    }
}
