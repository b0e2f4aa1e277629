package io.inferex.deadletter;

import java.nio.charset.StandardCharsets;
import io.inferex.market.OutputDigest;
import io.inferex.topics.Topics;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
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
 *   <tr><td>{@value #SOURCE_SIZE}</td><td>bytes of the rejected value (decimal); only on a reference</td></tr>
 *   <tr><td>{@value #SOURCE_SHA256}</td><td>hex SHA-256 of the rejected value; only on a reference</td></tr>
 * </table>
 *
 * A dead letter is a copy when it fits in {@link Topics#MAX_RECORD_BYTES}; otherwise it is a
 * <em>reference</em>: a null value, and the headers above plus size and SHA-256, so the record
 * can be found at its source offset (while retention keeps it) and recognised.
 */
public final class DeadLetters {
    public static final String SOURCE_TOPIC = "inferex.dlq.source.topic";
    public static final String SOURCE_PARTITION = "inferex.dlq.source.partition";
    public static final String SOURCE_OFFSET = "inferex.dlq.source.offset";
    public static final String ERROR_CLASS = "inferex.dlq.error.class";
    public static final String ERROR_MESSAGE = "inferex.dlq.error.message";
    public static final String TIME = "inferex.dlq.time";
    public static final String READER = "inferex.dlq.reader";
    public static final String SOURCE_SIZE = "inferex.dlq.source.size";
    public static final String SOURCE_SHA256 = "inferex.dlq.source.sha256";
    /** Room kept for the record's framing and the dead-letter headers when deciding copy or reference. */
    static final int FRAMING_BYTES = 16 * 1024;

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

    /**
     * The dead letter of a rejected record: a copy of its key and value with the reason headers,
     * or, when that would not fit on the dead-letter topic, a reference (null value, size and
     * SHA-256 of the value) with the reason.
     */
    public static ProducerRecord<byte[], byte[]> letter(byte[] key, byte[] value, Headers original, String sourceTopic,
            int partition, long offset, Throwable error, String reader, long nowMs) {
        Headers h = headers(original, sourceTopic, partition, offset, error, reader, nowMs);
        if (fitsAsCopy(key, value, h)) {
            return new ProducerRecord<>(Topics.DEAD_LETTER.name(), null, key, value, h);
        }
        return reference(key, value, h);
    }

    /** The same letter with the value replaced by its size and SHA-256 (and the key cut to fit). */
    public static ProducerRecord<byte[], byte[]> reference(byte[] key, byte[] value, Headers letterHeaders) {
        RecordHeaders h = new RecordHeaders();
        long room = Topics.MAX_RECORD_BYTES - FRAMING_BYTES;
        for (Header each : letterHeaders) {
            // The original headers may be the oversized part: keep the reason headers, and the others while they fit.
            room -= each.key().length() + (each.value() == null ? 0 : each.value().length);
            if (each.key().startsWith("inferex.dlq.") || room > 0) {
                h.add(each);
            }
        }
        put(h, SOURCE_SIZE, Integer.toString(value == null ? 0 : value.length));
        put(h, SOURCE_SHA256, OutputDigest.sha256Hex(value == null ? new byte[0] : value));
        byte[] shortKey = key == null || key.length <= 1024 ? key : java.util.Arrays.copyOf(key, 1024);
        return new ProducerRecord<>(Topics.DEAD_LETTER.name(), null, shortKey, null, h);
    }

    static boolean fitsAsCopy(byte[] key, byte[] value, Headers headers) {
        long size = (key == null ? 0 : key.length) + (value == null ? 0 : value.length);
        for (Header each : headers) {
            size += each.key().length() + (each.value() == null ? 0 : each.value().length);
        }
        return size + FRAMING_BYTES <= Topics.MAX_RECORD_BYTES;
    }

    /** The last value of a header as a string, or null. */
    public static String header(Headers headers, String name) {
        var last = headers.lastHeader(name);
        return last == null ? null : new String(last.value(), StandardCharsets.UTF_8);
    }

    static void put(Headers h, String name, String value) {
        h.remove(name);
        h.add(name, value.getBytes(StandardCharsets.UTF_8));
    }
}
