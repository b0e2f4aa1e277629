package io.inferex.verification;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.security.SecureRandom;
import org.junit.jupiter.api.Test;

class SamplingDrawTest {
    static final String SECRET = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    @Test
    void theDrawIsAFunctionOfSecretAndLeaseOnlyAndLiesInTheUnitInterval() {
        double a = SamplingDraw.fraction(SECRET, "job/00003#1");
        assertEquals(a, SamplingDraw.fraction(SECRET, "job/00003#1"));
        assertNotEquals(a, SamplingDraw.fraction(SECRET, "job/00003#2"));
        assertNotEquals(a, SamplingDraw.fraction(SECRET.replace('0', '1'), "job/00003#1"));
        for (int i = 0; i < 1000; i++) {
            double f = SamplingDraw.fraction(SECRET, "lease-" + i);
            assertTrue(f >= 0 && f < 1, "fraction " + f);
        }
    }

    @Test
    void sampledIffTheDrawIsBelowP() {
        double f = SamplingDraw.fraction(SECRET, "job/00003#1");
        assertTrue(SamplingDraw.sampled(SECRET, "job/00003#1", Math.nextUp(f)));
        assertFalse(SamplingDraw.sampled(SECRET, "job/00003#1", f));
        assertFalse(SamplingDraw.sampled(SECRET, "job/00003#1", 0.0));
        assertTrue(SamplingDraw.sampled(SECRET, "job/00003#1", 1.0));
    }

    @Test
    void tenThousandDrawsAtPTenPercentSampleAboutOneTenth() {
        int sampled = 0;
        for (int i = 0; i < 10_000; i++) {
            if (SamplingDraw.sampled(SECRET, "job/" + i + "#1", 0.1)) {
                sampled++;
            }
        }
        assertTrue(sampled > 900 && sampled < 1100, "10,000 draws at p = 0.1 sampled " + sampled);
    }

    @Test
    void aSecretOpensItsOwnCommitmentOnly() {
        String secret = SamplingDraw.newSecret(new SecureRandom());
        assertEquals(64, secret.length());
        String commitment = SamplingDraw.commitment(secret);
        assertTrue(SamplingDraw.opens(commitment, secret));
        assertFalse(SamplingDraw.opens(commitment, SECRET));
        assertEquals(64, commitment.length());
    }
}
