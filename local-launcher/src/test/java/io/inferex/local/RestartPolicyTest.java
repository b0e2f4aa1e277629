package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class RestartPolicyTest {
    static final long MIN = 60_000;

    /** 1 s doubling to 8 s, give up on the 6th crash within 5 min. */
    static RestartPolicy policy() {
        return new RestartPolicy(Duration.ofSeconds(1), Duration.ofSeconds(8), 6, Duration.ofMinutes(5));
    }

    @Test
    void backoffDoublesPerCrashWithinTheWindowAndIsCapped() {
        RestartPolicy p = policy();
        p.started("matcher", 0);
        List<Long> delays = new ArrayList<>();
        long t = 1_000;
        for (int i = 0; i < 5; i++) {
            RestartPolicy.Decision d = p.exited("matcher", "137", t);
            assertTrue(d.restart(), d.message());
            assertEquals(i + 1, d.crash());
            delays.add(d.delay().toMillis());
            t += d.delay().toMillis() + 2_000;
            p.started("matcher", t);
            t += 1_000;
        }
        assertEquals(List.of(1_000L, 2_000L, 4_000L, 8_000L, 8_000L), delays);
    }

    @Test
    void aCrashLoopGivesUpWithAClearMessage() {
        RestartPolicy p = policy();
        RestartPolicy.Decision d = null;
        for (int i = 0; i < 6; i++) {
            d = p.exited("settlement", "1", i * 10_000L);
        }
        assertFalse(d.restart());
        assertEquals(6, d.crash());
        assertTrue(d.message().startsWith("GAVE UP on settlement: it exited 6 times within 5 min (last exit code 1)"), d.message());
        RestartPolicy.Decision first = policy().exited("settlement", "1", 0);
        assertTrue(first.message().startsWith("CRASHED settlement (exit code 1), crash 1 of 6 within 5 min; restarting in 1 s"),
                first.message());
    }

    @Test
    void crashesOlderThanTheWindowAreForgottenAndAStableRunResetsTheBackoff() {
        RestartPolicy p = policy();
        for (int i = 0; i < 5; i++) {
            p.exited("ingest", "137", i * 1_000L);
        }
        // 5 min later the old crashes are out of the window: this one is the first again.
        RestartPolicy.Decision later = p.exited("ingest", "137", 6 * MIN);
        assertTrue(later.restart());
        assertEquals(1, later.crash());
        assertEquals(1_000, later.delay().toMillis());

        RestartPolicy q = policy();
        q.exited("verifier", "137", 0);
        q.exited("verifier", "137", 1_000);
        q.started("verifier", 4_000);
        // Up for a whole window since its restart: a new first crash, even though earlier ones are close.
        RestartPolicy.Decision afterStable = q.exited("verifier", "137", 4_000 + 5 * MIN);
        assertEquals(1, afterStable.crash());
        // Each service has its own count.
        assertEquals(1, q.exited("matcher", "137", 2_000).crash());
    }

    @Test
    void aPolicyThatCouldNeverRestartOrNeverWaitIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new RestartPolicy(Duration.ZERO, Duration.ofSeconds(1), 3, Duration.ofMinutes(1)));
        assertThrows(IllegalArgumentException.class,
                () -> new RestartPolicy(Duration.ofSeconds(2), Duration.ofSeconds(1), 3, Duration.ofMinutes(1)));
        assertThrows(IllegalArgumentException.class,
                () -> new RestartPolicy(Duration.ofSeconds(1), Duration.ofSeconds(1), 1, Duration.ofMinutes(1)));
    }
}
