package io.inferex.deadletter;

import io.inferex.topics.Topics;
import io.inferex.wire.AnyEventSerde;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;

/**
 * An event that decoded fine but that a processor cannot apply (an overdraft, a verdict for an
 * unknown job, a registration whose signature does not verify). The processor forwards it
 * like any output; {@link #sink} sends it to the dead-letter topic, re-encoded, with the reason
 * in the {@link DeadLetters} headers, and the topology goes on. Its key is the event's type
 * name, and the source headers name the topic the processor read it from (for a merged,
 * repartitioned stream, the repartition topic).
 */
public record Unprocessable(SpecificRecord event, String reason) {

    /** The record a processor forwards for {@code event}; its headers say where it came from and why. */
    public static Record<String, Object> letter(ProcessorContext<?, ?> context, SpecificRecord event, String reason,
            String reader, long timestamp) {
        // From a punctuator there is no current record: the source is then named "(punctuation)".
        var meta = context.recordMetadata();
        return new Record<String, Object>(event.getClass().getSimpleName(), new Unprocessable(event, reason), timestamp)
                .withHeaders(DeadLetters.headers(null, meta.map(m -> m.topic()).orElse("(punctuation)"),
                        meta.map(m -> m.partition()).orElse(-1), meta.map(m -> m.offset()).orElse(-1L),
                        new IllegalStateException(reason), reader, context.currentSystemTimeMs()));
    }

    /** Writes a stream of {@link Unprocessable} values to the dead-letter topic. */
    public static void sink(KStream<String, Object> unprocessable, String name) {
        AnyEventSerde serde = new AnyEventSerde();
        unprocessable.mapValues(v -> serde.serialize(Topics.DEAD_LETTER.name(), ((Unprocessable) v).event()), Named.as(name + "-raw"))
                .to(Topics.DEAD_LETTER.name(), Produced.with(Serdes.String(), BoundedSerde.of(Serdes.ByteArray())).withName(name + "-sink"));
    }
}
