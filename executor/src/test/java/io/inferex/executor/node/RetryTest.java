package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class RetryTest {
    final List<Long> sleeps = new ArrayList<>();
    final AtomicInteger attempts = new AtomicInteger();

    Retry retry(AtomicBoolean mayContinue) {
        return Retry.every(Duration.ofMillis(250), mayContinue::get).sleepingWith(sleeps::add);
    }

    @Test
    void retriesNotYetAndFailuresTheHandlerForgivesUntilAnAttemptSettlesWaitingTheBackoffBetween() throws Exception {
        Optional<String> out = retry(new AtomicBoolean(true)).<String>run(() -> {
            int n = attempts.incrementAndGet();
            if (n == 1) {
                return Optional.empty(); // not yet
            }
            if (n == 2) {
                throw new IllegalStateException("transient");
            }
            return Optional.of("done@" + n);
        }, e -> Optional.empty());
        assertEquals(Optional.of("done@3"), out);
        assertEquals(List.of(250L, 250L), sleeps);
    }

    @Test
    void theHandlersValueStopsTheRetryAndItsExceptionPropagates() throws Exception {
        Optional<String> out = retry(new AtomicBoolean(true)).<String>run(() -> {
            attempts.incrementAndGet();
            throw new java.io.IOException("fatal");
        }, e -> Optional.of("stopped: " + e.getMessage()));
        assertEquals(Optional.of("stopped: fatal"), out);
        assertEquals(1, attempts.get());
        assertEquals(List.of(), sleeps);
        assertThrows(IllegalArgumentException.class, () -> retry(new AtomicBoolean(true)).run(() -> {
            throw new java.io.IOException("x");
        }, e -> {
            throw new IllegalArgumentException("refused", e);
        }));
    }

    @Test
    void endsEmptyWhenTheConditionTurnsFalseOrTheAttemptsAreUsedUpWithoutSleepingAfterTheLast() throws Exception {
        AtomicBoolean running = new AtomicBoolean(true);
        Optional<String> out = retry(running).<String>run(() -> {
            if (attempts.incrementAndGet() == 3) {
                running.set(false);
            }
            return Optional.empty();
        }, e -> Optional.empty());
        assertEquals(Optional.empty(), out);
        assertEquals(3, attempts.get());
        assertEquals(List.of(250L, 250L), sleeps, "no wait once the condition is false");

        attempts.set(0);
        sleeps.clear();
        out = retry(new AtomicBoolean(true)).atMost(2).<String>run(() -> {
            attempts.incrementAndGet();
            return Optional.empty();
        }, e -> Optional.empty());
        assertEquals(Optional.empty(), out);
        assertEquals(2, attempts.get());
        assertEquals(List.of(250L), sleeps);
    }
}
