package io.inferex.deadletter;

import io.inferex.topics.Topics;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.serialization.Deserializer;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serializer;

/**
 * The value serde of a stream app's sink, refusing a value that would not fit on a catalogue
 * topic before it reaches the producer. Under exactly_once_v2 in Kafka Streams 4.1, a record the
 * producer itself rejects as too large leaves the transaction in an abortable error even if the
 * production handler answers CONTINUE: the next send fails and the app stops. A serializer that
 * throws is handled before any send ({@link DeadLetterProductionHandler#handleSerializationException}):
 * the output is skipped, its input dead-lettered, and the transaction stays good.
 */
public final class BoundedSerde<V> implements Serde<V> {
    /** The largest value a sink writes: the record limit less room for key, headers and framing. */
    public static final int MAX_VALUE_BYTES = Topics.MAX_RECORD_BYTES - DeadLetters.FRAMING_BYTES;

    private final Serde<V> inner;

    private BoundedSerde(Serde<V> inner) {
        this.inner = inner;
    }

    public static <V> Serde<V> of(Serde<V> inner) {
        return new BoundedSerde<>(inner);
    }

    @Override
    public Serializer<V> serializer() {
        Serializer<V> s = inner.serializer();
        return new Serializer<>() {
            @Override
            public byte[] serialize(String topic, V data) {
                return checked(topic, s.serialize(topic, data));
            }

            @Override
            public byte[] serialize(String topic, Headers headers, V data) {
                return checked(topic, s.serialize(topic, headers, data));
            }
        };
    }

    @Override
    public Deserializer<V> deserializer() {
        return inner.deserializer();
    }

    static byte[] checked(String topic, byte[] bytes) {
        if (bytes != null && bytes.length > MAX_VALUE_BYTES) {
            throw new RecordTooLargeException("a value of " + bytes.length + " bytes for " + topic
                    + " exceeds the " + MAX_VALUE_BYTES + " bytes a sink may write");
        }
        return bytes;
    }
}
