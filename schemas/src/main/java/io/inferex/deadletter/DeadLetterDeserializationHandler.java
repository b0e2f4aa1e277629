package io.inferex.deadletter;

import java.util.Map;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.streams.errors.DeserializationExceptionHandler;
import org.apache.kafka.streams.errors.ErrorHandlerContext;

/**
 * Kafka Streams {@code deserialization.exception.handler}: a record of an input, repartition or
 * global-table topic that its serde cannot decode is dead-lettered with the reason, and the app
 * goes on (CONTINUE). It stops (FAIL) only if the dead letter itself cannot be written.
 */
public final class DeadLetterDeserializationHandler implements DeserializationExceptionHandler {
    private StreamsDeadLetters deadLetters;

    @Override
    public void configure(Map<String, ?> configs) {
        deadLetters = StreamsDeadLetters.configure(configs);
    }

    @Override
    public DeserializationHandlerResponse handle(ErrorHandlerContext context, ConsumerRecord<byte[], byte[]> record,
            Exception exception) {
        return deadLetters.publish(record.key(), record.value(), record.headers(), record.topic(), record.partition(),
                record.offset(), exception) ? DeserializationHandlerResponse.CONTINUE : DeserializationHandlerResponse.FAIL;
    }
}
