package io.inferex.deadletter;

import java.util.Map;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.RecordTooLargeException;
import org.apache.kafka.streams.errors.DefaultProductionExceptionHandler;
import org.apache.kafka.streams.errors.ErrorHandlerContext;
import org.apache.kafka.streams.errors.ProductionExceptionHandler;

/**
 * Kafka Streams {@code production.exception.handler}. An output too large to produce, or one
 * that cannot be serialized, is skipped (CONTINUE) and the input record that caused it is
 * dead-lettered with the reason (a reference instead of a copy when the copy would not fit, see
 * {@link DeadLetters#letter}). Any other send error is left to Kafka's default handler (retry
 * what is retriable, fail the rest).
 *
 * <p>Sinks refuse oversized values in their serializer ({@link BoundedSerde}): that path runs
 * before any send and keeps an exactly_once_v2 app running. A record the producer itself rejects
 * as too large is still dead-lettered here, but Kafka Streams 4.1 then finds the transaction in
 * error, the next send fails and the app stops (its health goes DOWN).
 */
public final class DeadLetterProductionHandler implements ProductionExceptionHandler {
    private final DefaultProductionExceptionHandler otherwise = new DefaultProductionExceptionHandler();
    private StreamsDeadLetters deadLetters;

    @Override
    public void configure(Map<String, ?> configs) {
        deadLetters = StreamsDeadLetters.configure(configs);
        otherwise.configure(configs);
    }

    @Override
    public ProductionExceptionHandlerResponse handle(ErrorHandlerContext context, ProducerRecord<byte[], byte[]> record,
            Exception exception) {
        if (!(exception instanceof RecordTooLargeException)) {
            return otherwise.handle(context, record, exception);
        }
        int size = (record.key() == null ? 0 : record.key().length) + (record.value() == null ? 0 : record.value().length);
        var reason = new RecordTooLargeException("output to " + record.topic() + " of " + size + " bytes is too large: "
                + exception.getMessage());
        return deadLetterSource(context, reason);
    }

    @Override
    public ProductionExceptionHandlerResponse handleSerializationException(ErrorHandlerContext context,
            ProducerRecord record, Exception exception, SerializationExceptionOrigin origin) {
        String what = "the " + origin.name().toLowerCase(java.util.Locale.ROOT) + " of an output to " + record.topic();
        Exception reason = exception instanceof RecordTooLargeException
                ? new RecordTooLargeException(what + " is too large: " + exception.getMessage())
                : new IllegalStateException("cannot serialize " + what + ": " + exception, exception);
        return deadLetterSource(context, reason);
    }

    private ProductionExceptionHandlerResponse deadLetterSource(ErrorHandlerContext context, Exception reason) {
        return deadLetters.publish(context.sourceRawKey(), context.sourceRawValue(), context.headers(), context.topic(),
                context.partition(), context.offset(), reason)
                ? ProductionExceptionHandlerResponse.CONTINUE : ProductionExceptionHandlerResponse.FAIL;
    }
}
