package io.inferex.executor.node;

import java.util.OptionalLong;
import java.util.TreeMap;

/**
 * Which offset of a partition is safe to commit when records finish out of order (shards run in
 * parallel slots): every record read is registered in offset order and marked done when it is
 * fully handled (result acknowledged, dead-lettered, or deliberately skipped); the commit point is
 * just past the longest done prefix, so a record that is not done is never committed past. Not
 * thread-safe: owned by the consumer thread.
 */
final class OffsetTracker {
    private final TreeMap<Long, Boolean> pending = new TreeMap<>();
    private long committable = -1L; // next offset to commit; -1 = nothing yet
    private long committed = -1L;

    void register(long offset) {
        pending.put(offset, Boolean.FALSE);
    }

    void done(long offset) {
        if (pending.containsKey(offset)) {
            pending.put(offset, Boolean.TRUE);
        }
        while (!pending.isEmpty() && pending.firstEntry().getValue()) {
            committable = pending.pollFirstEntry().getKey() + 1;
        }
    }

    /** The offset to commit now, if it moved since the last {@link #committed}. */
    OptionalLong toCommit() {
        return committable > committed ? OptionalLong.of(committable) : OptionalLong.empty();
    }

    void committed(long offset) {
        committed = Math.max(committed, offset);
    }

    int inFlight() {
        return pending.size();
    }
}
