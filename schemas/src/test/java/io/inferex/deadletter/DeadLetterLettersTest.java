package io.inferex.deadletter;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import io.inferex.market.OutputDigest;
import io.inferex.topics.Topics;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.junit.jupiter.api.Test;

class DeadLetterLettersTest {
    final byte[] key = "k".getBytes(StandardCharsets.UTF_8);

    @Test
    void aRecordThatFitsIsCopiedWithItsReason() {
        byte[] value = {1, 2, 3};
        var letter = DeadLetters.letter(key, value, null, "payments", 2, 7, new IllegalArgumentException("bad"), "app", 5);
        assertEquals(Topics.DEAD_LETTER.name(), letter.topic());
        assertArrayEquals(value, letter.value());
        assertEquals("payments", DeadLetters.header(letter.headers(), DeadLetters.SOURCE_TOPIC));
        assertEquals("bad", DeadLetters.header(letter.headers(), DeadLetters.ERROR_MESSAGE));
        assertNull(DeadLetters.header(letter.headers(), DeadLetters.SOURCE_SHA256));
    }

    @Test
    void aRecordWhoseCopyWouldNotFitBecomesAReferenceWithSizeHashAndReason() {
        byte[] value = new byte[Topics.MAX_RECORD_BYTES - 100];
        value[0] = 9;
        var letter = DeadLetters.letter(key, value, null, "results", 1, 42, new IllegalStateException("too big"), "app", 5);
        assertNull(letter.value(), "no bytes of the record");
        assertArrayEquals(key, letter.key());
        var h = letter.headers();
        assertEquals("results", DeadLetters.header(h, DeadLetters.SOURCE_TOPIC));
        assertEquals("1", DeadLetters.header(h, DeadLetters.SOURCE_PARTITION));
        assertEquals("42", DeadLetters.header(h, DeadLetters.SOURCE_OFFSET));
        assertEquals(Integer.toString(value.length), DeadLetters.header(h, DeadLetters.SOURCE_SIZE));
        assertEquals(OutputDigest.sha256Hex(value), DeadLetters.header(h, DeadLetters.SOURCE_SHA256));
        assertEquals("too big", DeadLetters.header(h, DeadLetters.ERROR_MESSAGE));
    }

    @Test
    void oversizedOriginalHeadersAreDroppedFromAReferenceButTheReasonIsKept() {
        RecordHeaders original = new RecordHeaders();
        original.add("junk", new byte[Topics.MAX_RECORD_BYTES]);
        var letter = DeadLetters.letter(key, new byte[] {1}, original, "jobs", 0, 1, new RuntimeException("r"), "app", 5);
        assertNull(letter.value());
        assertNull(letter.headers().lastHeader("junk"));
        assertEquals("r", DeadLetters.header(letter.headers(), DeadLetters.ERROR_MESSAGE));
        assertEquals("1", DeadLetters.header(letter.headers(), DeadLetters.SOURCE_SIZE));
    }

    @Test
    void theHandlersProducerTakesTheAppsConnectionAndSecuritySettingsButNotItsTransactionalOnes() {
        var p = DeadLetterPublisher.producerConfig(Map.of("bootstrap.servers", "b:9092", "security.protocol", "SASL_PLAINTEXT",
                "sasl.mechanism", "SCRAM-SHA-512", "sasl.jaas.config", "x", "application.id", "app",
                "producer.transactional.id", "t", "processing.guarantee", "exactly_once_v2", "producer.linger.ms", "7"), "app");
        assertEquals("b:9092", p.get("bootstrap.servers"));
        assertEquals("SASL_PLAINTEXT", p.get("security.protocol"));
        assertEquals("SCRAM-SHA-512", p.get("sasl.mechanism"));
        assertEquals("x", p.get("sasl.jaas.config"));
        assertEquals("7", p.get("linger.ms"));
        assertEquals("all", p.get("acks"));
        assertNull(p.get("transactional.id"));
        assertNull(p.get("application.id"));
        assertNull(p.get("processing.guarantee"));
    }
}
