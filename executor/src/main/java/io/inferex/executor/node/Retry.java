package io.inferex.executor.node;

import java.time.Duration;
import java.util.Optional;
import java.util.function.BooleanSupplier;

/**
 * The node's one retry loop: try, and after an attempt that did not settle, wait a fixed backoff
 * and try again, while a condition holds (the node is running, results may still be published) and
 * at most a number of times. Each caller says what "settled" means: an attempt returns a value
 * (done) or empty (not yet, e.g. the topic does not exist yet); a failed attempt's exception goes
 * to the caller's handler, which returns a value to stop with, empty to try again, or throws.
 * Plain Java, no timer threads: it sleeps on the calling thread (a test passes its own sleeper).
 */
public final class Retry {
    /** One attempt: a value settles the retry, empty means "not yet". */
    @FunctionalInterface
    public interface Attempt<T> {
        Optional<T> call() throws Exception;
    }

    /** What a failed attempt means: a value stops the retry with it, empty tries again; it may throw to stop. */
    @FunctionalInterface
    public interface OnFailure<T> {
        Optional<T> handle(Exception failure);
    }

    @FunctionalInterface
    public interface Sleeper {
        void sleep(long millis) throws InterruptedException;
    }

    private final long backoffMs;
    private final int maxAttempts;
    private final BooleanSupplier mayContinue;
    private final Sleeper sleeper;

    private Retry(long backoffMs, int maxAttempts, BooleanSupplier mayContinue, Sleeper sleeper) {
        if (backoffMs < 0 || maxAttempts < 1) {
            throw new IllegalArgumentException("backoff " + backoffMs + " ms, attempts " + maxAttempts);
        }
        this.backoffMs = backoffMs;
        this.maxAttempts = maxAttempts;
        this.mayContinue = mayContinue;
        this.sleeper = sleeper;
    }

    /** Unbounded attempts, {@code backoff} apart, while {@code mayContinue} holds (checked before each attempt). */
    public static Retry every(Duration backoff, BooleanSupplier mayContinue) {
        return new Retry(backoff.toMillis(), Integer.MAX_VALUE, mayContinue, Thread::sleep);
    }

    /** The same, but at most {@code attempts} attempts. */
    public Retry atMost(int attempts) {
        return new Retry(backoffMs, attempts, mayContinue, sleeper);
    }

    /** The same with another way to wait (tests). */
    public Retry sleepingWith(Sleeper s) {
        return new Retry(backoffMs, maxAttempts, mayContinue, s);
    }

    /**
     * Runs attempts until one settles (its value), the handler stops the retry (its value), the
     * condition no longer holds or the attempts are used up (empty). An {@link InterruptedException}
     * from an attempt or from the backoff ends it at once.
     */
    public <T> Optional<T> run(Attempt<T> attempt, OnFailure<T> onFailure) throws InterruptedException {
        for (int n = 1; n <= maxAttempts && mayContinue.getAsBoolean(); n++) {
            Optional<T> outcome;
            try {
                outcome = attempt.call();
            } catch (InterruptedException e) {
                throw e;
            } catch (Exception e) {
                outcome = onFailure.handle(e);
            }
            if (outcome.isPresent()) {
                return outcome;
            }
            if (n < maxAttempts && backoffMs > 0 && mayContinue.getAsBoolean()) {
                sleeper.sleep(backoffMs);
            }
        }
        return Optional.empty();
    }
}
