package io.inferex.deadletter;

import java.nio.charset.StandardCharsets;
import org.apache.kafka.common.header.Headers;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * The header set of a record on the dead-letter topic. The value and key are the original raw
 * bytes; every header value is a UTF-8 string.
 *
 * <table>
 *   <tr><th>header</th><th>meaning</th></tr>
 *   <tr><td>{@value #SOURCE_TOPIC}</td><td>topic the record was read from</td></tr>
 *   <tr><td>{@value #SOURCE_PARTITION}</td><td>its partition (decimal)</td></tr>
 *   <tr><td>{@value #SOURCE_OFFSET}</td><td>its offset (decimal)</td></tr>
 *   <tr><td>{@value #ERROR_CLASS}</td><td>class name of the error</td></tr>
 *   <tr><td>{@value #ERROR_MESSAGE}</td><td>what was wrong, for a person</td></tr>
 *   <tr><td>{@value #TIME}</td><td>when it was dead-lettered, epoch milliseconds (decimal)</td></tr>
 *   <tr><td>{@value #READER}</td><td>the application that rejected it</td></tr>
 * </table>
 */
public final class DeadLetters {
    public static final String SOURCE_TOPIC = "inferex.dlq.source.topic";
    public static final String SOURCE_PARTITION = "inferex.dlq.source.partition";
    public static final String SOURCE_OFFSET = "inferex.dlq.source.offset";
    public static final String ERROR_CLASS = "inferex.dlq.error.class";
    public static final String ERROR_MESSAGE = "inferex.dlq.error.message";
    public static final String TIME = "inferex.dlq.time";
    public static final String READER = "inferex.dlq.reader";

    private DeadLetters() {}

    /** The headers for a record rejected by {@code reader}; the original headers are kept before them. */
    public static Headers headers(Headers original, String sourceTopic, int partition, long offset,
            Throwable error, String reader, long nowMs) {
        RecordHeaders h = new RecordHeaders(original == null ? new RecordHeaders() : original);
        put(h, SOURCE_TOPIC, sourceTopic);
        put(h, SOURCE_PARTITION, Integer.toString(partition));
        put(h, SOURCE_OFFSET, Long.toString(offset));
        put(h, ERROR_CLASS, error.getClass().getName());
        put(h, ERROR_MESSAGE, String.valueOf(error.getMessage()));
        put(h, TIME, Long.toString(nowMs));
        put(h, READER, reader);
        return h;
    }

    /** The last value of a header as a string, or null. */
    public static String header(Headers headers, String name) {
        var last = headers.lastHeader(name);
        return last == null ? null : new String(last.value(), StandardCharsets.UTF_8);
    }

    private static void put(RecordHeaders h, String name, String value) {
        h.remove(name);
        h.add(name, value.getBytes(StandardCharsets.UTF_8));
    }
}
