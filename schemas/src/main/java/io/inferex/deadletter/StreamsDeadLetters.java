package io.inferex.deadletter;

import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.streams.StreamsConfig;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The dead-letter writer behind the three Kafka Streams exception handlers
 * ({@link DeadLetterDeserializationHandler}, {@link DeadLetterProcessingHandler},
 * {@link DeadLetterProductionHandler}). Kafka Streams 4.1 has no dead-letter queue of its own, so
 * a handler writes the letter with a {@link DeadLetterPublisher} built from the configs the
 * handler is configured with: the app's own bootstrap servers and security settings, acks=all.
 *
 * <p>Kafka Streams makes a handler per task, and a handler is never closed, so the producer is
 * not the handler's: one per distinct client config in the JVM, created on the first dead letter
 * and closed when the JVM exits. Its sends are not part of the Streams transaction: if the task
 * aborts after a handler ran, the record is read again and dead-lettered again (at least once,
 * never lost).
 */
public final class StreamsDeadLetters {
    private static final Logger LOG = LoggerFactory.getLogger(StreamsDeadLetters.class);
    private static final ConcurrentHashMap<Properties, DeadLetterPublisher> PUBLISHERS = new ConcurrentHashMap<>();

    private final Map<String, ?> configs;
    private final String reader;

    private StreamsDeadLetters(Map<String, ?> configs, String reader) {
        this.configs = Map.copyOf(configs);
        this.reader = reader;
    }

    /**
     * The three handler settings every stream app has (its application.properties writes them
     * with the {@code kafka-streams.} prefix); for apps and tests that build a Streams config.
     */
    public static Map<String, String> handlerConfigs() {
        return Map.of(
                StreamsConfig.DESERIALIZATION_EXCEPTION_HANDLER_CLASS_CONFIG, DeadLetterDeserializationHandler.class.getName(),
                StreamsConfig.PROCESSING_EXCEPTION_HANDLER_CLASS_CONFIG, DeadLetterProcessingHandler.class.getName(),
                StreamsConfig.PRODUCTION_EXCEPTION_HANDLER_CLASS_CONFIG, DeadLetterProductionHandler.class.getName());
    }

    /** The writer for a handler configured with {@code configs} (the Streams app's configs). */
    static StreamsDeadLetters configure(Map<String, ?> configs) {
        Map<String, Object> present = new java.util.HashMap<>();
        configs.forEach((k, v) -> {
            if (v != null) {
                present.put(k, v);
            }
        });
        Object appId = present.get(StreamsConfig.APPLICATION_ID_CONFIG);
        return new StreamsDeadLetters(present, appId == null ? "kafka-streams" : appId.toString());
    }

    /**
     * Writes the dead letter of the record read from {@code topic-partition@offset}; true once
     * it is acknowledged, false (logged) if it could not be written, so the handler can stop the
     * app rather than lose the record.
     */
    boolean publish(byte[] key, byte[] value, Headers headers, String topic, int partition, long offset, Exception error) {
        String source = topic == null ? "(punctuation)" : topic;
        try {
            publisher().publish(key, value, headers, source, partition, offset, error);
            LOG.warn("{}: dead-lettered {}-{}@{}: {}", reader, source, partition, offset, error.toString());
            return true;
        } catch (RuntimeException e) {
            LOG.error("{}: could not dead-letter {}-{}@{} ({}); stopping rather than losing it", reader, source, partition,
                    offset, error, e);
            return false;
        }
    }

    private DeadLetterPublisher publisher() {
        Properties producer = DeadLetterPublisher.producerConfig(configs, reader);
        return PUBLISHERS.computeIfAbsent(producer, p -> {
            DeadLetterPublisher created = DeadLetterPublisher.create(configs, reader);
            Runtime.getRuntime().addShutdownHook(new Thread(created::close, reader + "-dead-letters-close"));
            return created;
        });
    }
}
