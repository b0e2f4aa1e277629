package io.inferex.deadletter;

import java.util.Map;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.errors.SerializationException;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProcessingExceptionHandler;
import org.apache.kafka.streams.processor.api.Record;

/**
 * Kafka Streams {@code processing.exception.handler}: when a processor throws on a record, the
 * record as it was read (the raw bytes of its source topic, a repartition topic included) is
 * dead-lettered with the exception as the reason, and the app goes on (CONTINUE). It answers
 * FAIL if the dead letter cannot be written, and for Kafka's own exceptions (other than a
 * serialization error, e.g. a corrupt store entry), which say nothing about the record. Kafka Streams does not call it for global
 * store updates.
 */
public final class DeadLetterProcessingHandler implements ProcessingExceptionHandler {
    private StreamsDeadLetters deadLetters;

    @Override
    public void configure(Map<String, ?> configs) {
        deadLetters = StreamsDeadLetters.configure(configs);
    }

    @Override
    public ProcessingHandlerResponse handle(ErrorHandlerContext context, Record<?, ?> record, Exception exception) {
        if (exception instanceof KafkaException && !(exception instanceof SerializationException)) {
            // Kafka's own failure (a send on a broken transaction, a migrated task): not this
            // record's fault, so no dead letter; FAIL lets Kafka Streams recover or stop.
            return ProcessingHandlerResponse.FAIL;
        }
        return deadLetters.publish(context.sourceRawKey(), context.sourceRawValue(), context.headers(), context.topic(),
                context.partition(), context.offset(), exception)
                ? ProcessingHandlerResponse.CONTINUE : ProcessingHandlerResponse.FAIL;
    }
}
