package io.inferex.local;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;

/**
 * When {@code inferex up} restarts a service that exited, and when it gives up. Pure: exits and
 * starts come in with their times, decisions come out.
 *
 * <p>Backoff: the n-th crash within {@code window} waits {@code initial × 2^(n-1)}, capped at
 * {@code max}. A service that stays up for {@code window} after a (re)start has its crash count
 * reset. The {@code giveUpAfter}-th crash within {@code window} is not restarted: a crash loop
 * (bad config, a corrupt state dir, a broker that refuses it) is stopped and said plainly, rather
 * than restarted forever.
 */
public final class RestartPolicy {
    /** What to do about one exit: restart after {@code delay} (crash {@code crash} of the window), or give up. */
    public record Decision(boolean restart, Duration delay, int crash, String message) {}

    private final Duration initial;
    private final Duration max;
    private final int giveUpAfter;
    private final Duration window;
    private final Map<String, Deque<Long>> crashes = new HashMap<>();
    private final Map<String, Long> startedAt = new HashMap<>();

    public RestartPolicy(Duration initial, Duration max, int giveUpAfter, Duration window) {
        if (initial.isNegative() || initial.isZero() || max.compareTo(initial) < 0 || giveUpAfter < 2 || window.isNegative()) {
            throw new IllegalArgumentException("need 0 < initial <= max, giveUpAfter >= 2, window >= 0");
        }
        this.initial = initial;
        this.max = max;
        this.giveUpAfter = giveUpAfter;
        this.window = window;
    }

    /** {@code up}'s policy: 1 s, 2 s, 4 s ... capped at 30 s; the 5th crash within 5 minutes gives up. */
    public static RestartPolicy standard() {
        return new RestartPolicy(Duration.ofSeconds(1), Duration.ofSeconds(30), 5, Duration.ofMinutes(5));
    }

    /** {@code name} (re)started at {@code nowMs}. */
    public synchronized void started(String name, long nowMs) {
        startedAt.put(name, nowMs);
    }

    /** {@code name} exited at {@code nowMs}, with {@code exitCode}. */
    public synchronized Decision exited(String name, String exitCode, long nowMs) {
        Deque<Long> recent = crashes.computeIfAbsent(name, k -> new ArrayDeque<>());
        Long since = startedAt.get(name);
        if (since != null && nowMs - since >= window.toMillis()) {
            recent.clear(); // it ran stably for a whole window: this is a new, first crash
        }
        while (!recent.isEmpty() && nowMs - recent.peekFirst() > window.toMillis()) {
            recent.pollFirst();
        }
        recent.addLast(nowMs);
        int n = recent.size();
        String within = " within " + human(window);
        if (n >= giveUpAfter) {
            return new Decision(false, Duration.ZERO, n, "GAVE UP on " + name + ": it exited " + n + " times" + within
                    + " (last exit code " + exitCode + "); not restarting it. Fix the cause (see its log), then restart `inferex up`");
        }
        long delayMs = initial.toMillis();
        for (int i = 1; i < n && delayMs < max.toMillis(); i++) {
            delayMs = Math.min(max.toMillis(), delayMs * 2);
        }
        Duration delay = Duration.ofMillis(Math.min(delayMs, max.toMillis()));
        return new Decision(true, delay, n, "CRASHED " + name + " (exit code " + exitCode + "), crash " + n + " of " + giveUpAfter
                + within + "; restarting in " + human(delay));
    }

    private static String human(Duration d) {
        long ms = d.toMillis();
        return ms % 60_000 == 0 && ms > 0 ? ms / 60_000 + " min" : ms % 1000 == 0 ? ms / 1000 + " s" : ms + " ms";
    }
}
