package io.inferex.executor.node;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.function.LongSupplier;

/**
 * Heartbeat sequence numbers that strictly increase for the life of a node id, across restarts
 * and crashes and even if the wall clock steps back. Each number is
 * {@code max(last + 1, now)}; a reserved ceiling is written to the node home before any number
 * at or above the previous ceiling is handed out, and a restart continues above the ceiling, so a
 * number used before a crash is never used again. The file is written about once per
 * {@code reserve} numbers, not once per heartbeat.
 */
public final class HeartbeatSequence {
    static final String FILE = "heartbeat-sequence";
    static final long DEFAULT_RESERVE = 1_000_000L; // ~17 min of millisecond-based numbers

    private final Path file;
    private final LongSupplier clock;
    private final long reserve;
    private long last;
    private long ceiling;

    public HeartbeatSequence(Path home, LongSupplier clock, long reserve) {
        this.file = home.resolve(FILE);
        this.clock = clock;
        this.reserve = reserve;
        try {
            Files.createDirectories(home);
            this.last = Files.exists(file) ? Long.parseLong(Files.readString(file).trim()) : 0L;
        } catch (IOException | NumberFormatException e) {
            throw new IllegalStateException("cannot read heartbeat sequence " + file + ": " + e.getMessage(), e);
        }
        this.ceiling = last;
    }

    public HeartbeatSequence(Path home) {
        this(home, System::currentTimeMillis, DEFAULT_RESERVE);
    }

    /** The next number, strictly above every number this node id has used. */
    public synchronized long next() {
        long n = Math.max(last + 1, clock.getAsLong());
        if (n >= ceiling) {
            persist(n + reserve);
            ceiling = n + reserve;
        }
        last = n;
        return n;
    }

    private void persist(long value) {
        Path tmp = file.resolveSibling(FILE + ".tmp");
        try {
            Files.writeString(tmp, Long.toString(value));
            try {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write heartbeat sequence " + file, e);
        }
    }
}
