package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class ApiKeysTest {
    @Test
    void keysAreMatchedByTheirSha256OnlyAndTheDefaultDemoHashIsThatOfTheDemoKey() {
        assertEquals("c8d6b24b043bfc8373b0edeba03e9947eee735696baa63f0d2a774b72b458e09", ApiKeys.hash("sk-inferex-demo"));
        ApiKeys keys = ApiKeys.parse(List.of("demo:" + ApiKeys.hash("sk-inferex-demo"), " acme:" + ApiKeys.hash("k2") + " "));
        assertEquals(Optional.of("demo"), keys.customerFor("sk-inferex-demo"));
        assertEquals(Optional.of("acme"), keys.customerFor("k2"));
        assertTrue(keys.customerFor("sk-inferex-dem").isEmpty());
        assertTrue(keys.customerFor(ApiKeys.hash("sk-inferex-demo")).isEmpty(), "the stored hash is not a key");
        assertTrue(keys.customerFor("").isEmpty());
    }

    @Test
    void aPlainKeyOrAMalformedEntryInConfigIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse(List.of("demo:sk-inferex-demo")));
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse(List.of("nocolon")));
        String h = ApiKeys.hash("x");
        assertThrows(IllegalArgumentException.class, () -> ApiKeys.parse(List.of("a:" + h, "b:" + h)));
    }

    @Test
    void bearerHeaderIsParsed() {
        assertEquals("sk-1", ApiKeys.bearer("Bearer sk-1"));
        assertEquals("sk-1", ApiKeys.bearer("bearer   sk-1 "));
        assertNull(ApiKeys.bearer("Basic abc"));
        assertNull(ApiKeys.bearer("Bearer "));
        assertNull(ApiKeys.bearer(null));
        assertFalse(AuthFilter.redact("sk-inferex-demo").contains("inferex"));
    }
}
