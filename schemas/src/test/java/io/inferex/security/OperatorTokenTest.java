package io.inferex.security;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import org.junit.jupiter.api.Test;

class OperatorTokenTest {
    private static final String TOKEN = "op-secret-token";
    private final OperatorToken gate = OperatorToken.fromConfig(Optional.of(OperatorToken.sha256Hex(TOKEN)));

    @Test
    void onlyTheTokenWhoseHashIsConfiguredPasses() {
        assertTrue(gate.decide("/ledger/balances", "Bearer " + TOKEN).allowed());
        assertTrue(gate.decide("/ledger/balances", "bearer   " + TOKEN + " ").allowed(), "scheme is case-insensitive");
        OperatorToken.Decision wrong = gate.decide("/ledger/balances", "Bearer " + TOKEN + "x");
        assertFalse(wrong.allowed());
        assertEquals(401, wrong.status());
        assertTrue(wrong.challenges());
        assertTrue(wrong.body().contains("invalid_operator_token"));
        assertFalse(gate.decide("/ledger/balances", "Bearer " + OperatorToken.sha256Hex(TOKEN)).allowed(),
                "the configured hash is not itself a credential");
    }

    @Test
    void aMissingOrNonBearerHeaderIsRefusedWithAChallenge() {
        for (String header : new String[] {null, "", "Bearer ", "Basic " + TOKEN, TOKEN}) {
            OperatorToken.Decision d = gate.decide("/pools/nodes", header);
            assertFalse(d.allowed(), "header " + header);
            assertEquals(401, d.status());
            assertTrue(d.challenges());
            assertTrue(d.body().contains("missing_operator_token"), d.body());
        }
    }

    @Test
    void healthIsOpenAndNothingElseIs() {
        assertTrue(gate.decide("/q/health", null).allowed());
        assertTrue(gate.decide("/q/health/ready", null).allowed());
        assertFalse(gate.decide("/q/healthz", null).allowed());
        assertFalse(gate.decide("/q/metrics", null).allowed());
        assertFalse(gate.decide("/", null).allowed());
        assertFalse(gate.decide("/no-such-path", null).allowed());
        assertFalse(gate.decide(null, null).allowed());
    }

    @Test
    void withoutAConfiguredHashEveryProtectedRequestIsRefusedNotOpened() {
        for (Optional<String> none : java.util.List.of(Optional.<String>empty(), Optional.of(" "))) {
            OperatorToken unset = OperatorToken.fromConfig(none);
            assertFalse(unset.configured());
            OperatorToken.Decision d = unset.decide("/ledger/balances", "Bearer " + TOKEN);
            assertFalse(d.allowed());
            assertEquals(503, d.status());
            assertTrue(d.body().contains(OperatorToken.CONFIG_KEY), d.body());
            assertTrue(unset.decide("/q/health/live", null).allowed());
        }
    }

    @Test
    void aMalformedHashIsAStartupErrorThatDoesNotEchoTheValue() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> OperatorToken.fromConfig(Optional.of("plain-token-by-mistake")));
        assertTrue(e.getMessage().contains(OperatorToken.CONFIG_KEY));
        assertFalse(e.getMessage().contains("plain-token-by-mistake"));
        assertTrue(OperatorToken.fromConfig(Optional.of(OperatorToken.sha256Hex(TOKEN).toUpperCase()))
                .decide("/x", "Bearer " + TOKEN).allowed(), "hex case does not matter");
    }

    @Test
    void generatedTokensAreLongAndDistinct() {
        String a = OperatorToken.generate();
        assertEquals(43, a.length());
        assertNotEquals(a, OperatorToken.generate());
        assertNull(Bearer.token("Bearer"));
        assertEquals("abc", Bearer.token("Bearer abc"));
    }
}
