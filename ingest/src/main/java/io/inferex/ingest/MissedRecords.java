package io.inferex.ingest;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the tracker passed records of jobs it did not follow, so that a batch learned later from
 * {@code ingest-batches} (created through another instance, whose record this instance's feed read
 * after some of the job's results or statuses) gets them read again: per job, the earliest offset
 * seen on each partition of the job topics. Bounded: the {@link #MAX_JOBS} jobs noted last
 * (normally the feed learns a batch long before its first result exists, and nothing is noted for
 * it). Pure and thread-safe: the tracker notes and takes, the feed tells what it learned.
 */
final class MissedRecords {
    static final int MAX_JOBS = 10_000;

    /** A partition of a job topic and an offset in it. */
    record Position(String topic, int partition, long offset) {}

    private final LinkedHashMap<String, Map<String, Position>> byJob = new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Map<String, Position>> eldest) {
            return size() > MAX_JOBS;
        }
    };
    private final List<Position> rewinds = new ArrayList<>();

    /** A record of a job the tracker does not follow, at {@code offset} of {@code topic}-{@code partition}. */
    synchronized void note(String jobId, String topic, int partition, long offset) {
        byJob.computeIfAbsent(jobId, j -> new HashMap<>()).merge(topic + "-" + partition, new Position(topic, partition, offset),
                (a, b) -> a.offset() <= b.offset() ? a : b);
    }

    /**
     * {@link #note}, unless the job is followed by now: then the record is read again at once. The
     * tracker found the job not followed and a feed may have learned it since (and called
     * {@link #learned} before anything was noted); checking again under this lock, after noting,
     * closes that window, since {@code learned} then either already ran (the check sees the job
     * followed) or runs later (and takes the note).
     */
    synchronized void noteUnlessFollowed(String jobId, String topic, int partition, long offset,
            java.util.function.BooleanSupplier followedNow) {
        note(jobId, topic, partition, offset);
        if (followedNow.getAsBoolean()) {
            learned(jobId);
        }
    }

    /** The job is followed from now on: the records passed over are to be read again. */
    synchronized void learned(String jobId) {
        Map<String, Position> passed = byJob.remove(jobId);
        if (passed != null) {
            rewinds.addAll(passed.values());
        }
    }

    /** Positions to read again from (the earliest per partition), once. */
    synchronized List<Position> takeRewinds() {
        if (rewinds.isEmpty()) {
            return List.of();
        }
        Map<String, Position> earliest = new HashMap<>();
        for (Position p : rewinds) {
            earliest.merge(p.topic() + "-" + p.partition(), p, (a, b) -> a.offset() <= b.offset() ? a : b);
        }
        rewinds.clear();
        return List.copyOf(earliest.values());
    }

    synchronized int jobs() {
        return byJob.size();
    }
}
