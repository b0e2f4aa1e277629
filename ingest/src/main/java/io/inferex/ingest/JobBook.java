package io.inferex.ingest;

import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.Verdict;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Which result of each shard the customer gets, from the result and verdict streams. Per tracked
 * job it knows the results not judged yet, by shard, lease and the digest recomputed from their
 * rows (only these keys are in memory: the bytes wait in the {@link Spool}, on disk), and the
 * accepted lease of each shard; an ACCEPTED verdict picks the result of its lease with its
 * {@code outputDigest} (whichever of the two arrives first), a REJECTED or FRAUD verdict discards
 * that lease's results and, if it had been accepted, re-opens the shard. When every shard is
 * accepted, or a JobStatus says the job ended without success, the job is {@link Ready} and the
 * book forgets it.
 *
 * <p>Bounds (anyone with a node credential can write {@code results}, naming any lease): a result
 * is held only for a shard without an accepted result, of a lease not rejected, and at most
 * {@link #MAX_DIGESTS_PER_LEASE} digests per lease and {@link #MAX_LEASES_PER_SHARD} leases per
 * shard; a result whose lease already has its ACCEPTED verdict is taken if it is the judged one and
 * dropped otherwise, never held. A result refused by the caps is not lost: the book remembers, per
 * shard and partition, the earliest position of a refused result, and an ACCEPTED verdict whose
 * result is not held asks the caller ({@link #takeRereads}) to read the results topic again from
 * there, when the verdict now names the one result wanted. So a flood of forged records costs at
 * most the caps per shard (on disk) and a re-read, and never crowds out the honest result.
 *
 * <p>Thread-safe (one monitor); the spool is called under it.
 */
public final class JobBook {
    /** Most results (distinct digests) held per lease of a shard before its verdict. */
    public static final int MAX_DIGESTS_PER_LEASE = 2;
    /** Most leases of one shard with results held before a verdict. */
    public static final int MAX_LEASES_PER_SHARD = 4;

    /** Where results go (raw {@code ShardResult} bytes as read from Kafka): held ones by key, accepted ones by shard. */
    public interface Spool {
        /** The shard's accepted result. */
        void put(String jobId, int shardIndex, String leaseId, byte[] rawResult);

        void remove(String jobId, int shardIndex);

        /** A result waiting for its verdict, under {@code key} (lease and recomputed digest). */
        void hold(String jobId, String key, byte[] rawResult);

        /** The held result under {@code key} becomes the shard's accepted result (as {@link #put} would). */
        void promote(String jobId, String key, int shardIndex, String leaseId);

        /** Drops a held result. */
        void release(String jobId, String key);
    }

    /**
     * A job whose output can be written. {@code state} is COMPLETED (or FINALIZING, as settlement
     * reported it) when every shard was accepted, otherwise the terminal state settlement reported
     * (then some shards may be missing). {@code atMs}: when it became ready by the log, the same on
     * every instance that reads it, live or replaying: the latest decision time of the ACCEPTED
     * verdicts taken (every shard accepted), or the time of the terminal status.
     */
    public record Ready(String jobId, JobState state, int acceptedShards, int shardCount, String error, long atMs) {}

    /** Where a result record was read: partition and offset of the results topic. */
    public record Position(int partition, long offset) {}

    /** An ACCEPTED verdict whose result has not been read yet; {@code digest} empty means "any" (a v1 verdict). */
    private record Awaited(String taskId, String digest, long decidedAtMs) {}

    /** Held results are keyed by lease AND content digest: anyone can write a record naming a lease. */
    static String resultKey(String leaseId, String digest) {
        return leaseId + "|" + digest;
    }

    /** What one shard without an accepted result holds: digests by lease, and where refused results were read. */
    private static final class Held {
        final Map<String, Set<String>> digestsByLease = new LinkedHashMap<>();
        final Map<Integer, Long> refusedFrom = new HashMap<>(); // partition -> earliest offset
    }

    private static final class Job {
        final int shardCount;
        final BitSet accepted = new BitSet();
        final Map<String, String> acceptedLeaseByTask = new HashMap<>();
        final Map<Integer, Held> heldByShard = new HashMap<>();
        final Map<String, Awaited> acceptedAwaitingResult = new HashMap<>(); // leaseId -> awaited result
        final Set<String> discardedLeases = new HashSet<>();
        /** The latest decision time of the ACCEPTED verdicts taken: when the job's last shard was accepted. */
        long acceptedAtMs;

        Job(int shardCount) {
            this.shardCount = shardCount;
        }
    }

    private final Spool spool;
    private final Map<String, Job> jobs = new HashMap<>();
    private final List<Position> rereads = new ArrayList<>();
    private long heldResults;
    private long refusedResults;

    public JobBook(Spool spool) {
        this.spool = spool;
    }

    /** Starts following a job (idempotent). */
    public synchronized void track(String jobId, int shardCount) {
        if (shardCount < 1) {
            throw new IllegalArgumentException("job " + jobId + " has no shards");
        }
        jobs.putIfAbsent(jobId, new Job(shardCount));
    }

    /** Stops following a job and drops what is held for it. */
    public synchronized void forget(String jobId) {
        Job j = jobs.remove(jobId);
        if (j != null) {
            for (int shard : List.copyOf(j.heldByShard.keySet())) {
                dropHeld(jobId, j, shard);
            }
        }
    }

    public synchronized boolean tracks(String jobId) {
        return jobs.containsKey(jobId);
    }

    public synchronized int trackedJobs() {
        return jobs.size();
    }

    /** Results held (in the spool) for their verdict, over every tracked job. */
    public synchronized long heldResults() {
        return heldResults;
    }

    /** Results not held because their shard or lease had reached its cap (see the class comment). */
    public synchronized long refusedResults() {
        return refusedResults;
    }

    /**
     * Where the caller should read the results topic again (earliest refused result of a shard
     * whose ACCEPTED verdict found its result not held), since the last call; empty normally.
     */
    public synchronized List<Position> takeRereads() {
        List<Position> out = List.copyOf(rereads);
        rereads.clear();
        return out;
    }

    public synchronized int acceptedShards(String jobId) {
        Job j = jobs.get(jobId);
        return j == null ? 0 : j.accepted.cardinality();
    }

    /** A copy of the indices of the job's shards with an accepted result; empty when the job is not followed. */
    public synchronized Optional<BitSet> acceptedShardSet(String jobId) {
        Job j = jobs.get(jobId);
        return j == null ? Optional.empty() : Optional.of((BitSet) j.accepted.clone());
    }

    /**
     * A ShardResult was read at {@code at}; {@code raw} is its record value and {@code digest} the
     * output digest recomputed from its rows (not the digest the record claims).
     */
    public synchronized Optional<Ready> onResult(String jobId, String taskId, String leaseId, int shardIndex, String digest,
            byte[] raw, Position at) {
        Job j = jobs.get(jobId);
        if (j == null || shardIndex < 0 || shardIndex >= j.shardCount
                || !ShardPlanner.taskId(jobId, shardIndex, j.shardCount).equals(taskId)
                || j.discardedLeases.contains(leaseId)) {
            return Optional.empty();
        }
        Awaited awaited = j.acceptedAwaitingResult.get(leaseId);
        if (awaited != null) {
            if (!awaited.taskId().equals(taskId) || !(awaited.digest().isEmpty() || awaited.digest().equals(digest))) {
                return Optional.empty(); // the verdict was about another shard or other rows: not this result
            }
            // Spool first: if that fails, nothing changed and the record can be processed again.
            spool.put(jobId, shardIndex, leaseId, raw);
            j.acceptedAwaitingResult.remove(leaseId);
            return accepted(jobId, j, taskId, shardIndex, leaseId, awaited.decidedAtMs());
        }
        if (j.accepted.get(shardIndex)) {
            return Optional.empty(); // a later lease of a shard that already has its result
        }
        Held h = j.heldByShard.computeIfAbsent(shardIndex, k -> new Held());
        Set<String> digests = h.digestsByLease.get(leaseId);
        if (digests != null && digests.contains(digest)) {
            return Optional.empty(); // read again (a replay, a re-read): already held
        }
        boolean full = digests == null ? h.digestsByLease.size() >= MAX_LEASES_PER_SHARD : digests.size() >= MAX_DIGESTS_PER_LEASE;
        if (full) {
            refusedResults++;
            h.refusedFrom.merge(at.partition(), at.offset(), Math::min);
            return Optional.empty();
        }
        spool.hold(jobId, resultKey(leaseId, digest), raw); // first: if it fails, nothing changed
        h.digestsByLease.computeIfAbsent(leaseId, k -> new LinkedHashSet<>()).add(digest);
        heldResults++;
        return Optional.empty();
    }

    public synchronized Optional<Ready> onVerdict(Verdict v) {
        Job j = jobs.get(v.getJobId());
        if (j == null) {
            return Optional.empty();
        }
        String jobId = v.getJobId();
        String leaseId = v.getLeaseId();
        String taskId = v.getTaskId();
        int index = indexOf(jobId, taskId, j.shardCount);
        if (index < 0) {
            return Optional.empty(); // no shard of this job: no result of it is ever held or taken
        }
        switch (v.getOutcome()) {
            case ACCEPTED -> {
                if (j.acceptedLeaseByTask.containsKey(taskId) || j.discardedLeases.contains(leaseId)) {
                    return Optional.empty(); // the first accepted lease of a shard stands
                }
                Held h = j.heldByShard.get(index);
                String digest = judgedDigest(h, leaseId, v.getOutputDigest());
                if (digest != null) {
                    spool.promote(jobId, resultKey(leaseId, digest), index, leaseId); // first: if it fails, nothing changed
                    h.digestsByLease.get(leaseId).remove(digest);
                    heldResults--;
                    return accepted(jobId, j, taskId, index, leaseId, v.getDecidedAtMs());
                }
                j.acceptedAwaitingResult.put(leaseId, new Awaited(taskId, v.getOutputDigest(), v.getDecidedAtMs()));
                if (h != null && !h.refusedFrom.isEmpty()) {
                    // Its result may be one the caps refused: read those again, now that the verdict names it.
                    h.refusedFrom.forEach((partition, offset) -> rereads.add(new Position(partition, offset)));
                    h.refusedFrom.clear();
                }
                return Optional.empty();
            }
            case REJECTED, FRAUD -> {
                if (leaseId.equals(j.acceptedLeaseByTask.get(taskId))) {
                    spool.remove(jobId, index); // first: if it fails, nothing changed
                    j.accepted.clear(index);
                    j.acceptedLeaseByTask.remove(taskId);
                }
                j.discardedLeases.add(leaseId);
                j.acceptedAwaitingResult.remove(leaseId);
                Held h = j.heldByShard.get(index);
                Set<String> digests = h == null ? null : h.digestsByLease.remove(leaseId);
                if (digests != null) {
                    digests.forEach(d -> release(jobId, resultKey(leaseId, d)));
                    heldResults -= digests.size();
                }
                return Optional.empty();
            }
            default -> {
                return Optional.empty(); // FRIVOLOUS_CHALLENGE: the result stands
            }
        }
    }

    /**
     * Latest status of a job. A job that ended without success (FAILED, EXPIRED, CANCELLED) is
     * ready with what was accepted; COMPLETED, and FINALIZING (every shard accepted, payment waits for
     * verification to make the results final), wait until every shard's accepted result is here.
     */
    public synchronized Optional<Ready> onStatus(JobStatus s) {
        Job j = jobs.get(s.getJobId());
        if (j == null) {
            return Optional.empty();
        }
        JobState st = s.getState();
        if (st == JobState.FAILED || st == JobState.EXPIRED || st == JobState.CANCELLED) {
            return Optional.of(finish(s.getJobId(), j, st, s.getError(), s.getUpdatedAtMs()));
        }
        if ((st == JobState.COMPLETED || st == JobState.FINALIZING) && j.accepted.cardinality() == j.shardCount) {
            return Optional.of(finish(s.getJobId(), j, st, null, j.acceptedAtMs));
        }
        return Optional.empty();
    }

    /** The shard's result is spooled as accepted: the book says so, and drops the shard's other held results. */
    private Optional<Ready> accepted(String jobId, Job j, String taskId, int shardIndex, String leaseId, long decidedAtMs) {
        j.accepted.set(shardIndex);
        j.acceptedAtMs = Math.max(j.acceptedAtMs, decidedAtMs);
        j.acceptedLeaseByTask.put(taskId, leaseId);
        dropHeld(jobId, j, shardIndex);
        if (j.accepted.cardinality() == j.shardCount) {
            return Optional.of(finish(jobId, j, JobState.COMPLETED, null, j.acceptedAtMs));
        }
        return Optional.empty();
    }

    private Ready finish(String jobId, Job j, JobState state, String error, long atMs) {
        Ready r = new Ready(jobId, state, j.accepted.cardinality(), j.shardCount, error, atMs);
        forget(jobId);
        return r;
    }

    /** The held digest of the lease the verdict judged: its digest, or (a v1 verdict without one) any. */
    private static String judgedDigest(Held h, String leaseId, String digest) {
        Set<String> digests = h == null ? null : h.digestsByLease.get(leaseId);
        if (digests == null || digests.isEmpty()) {
            return null;
        }
        if (!digest.isEmpty()) {
            return digests.contains(digest) ? digest : null;
        }
        return digests.iterator().next();
    }

    private void dropHeld(String jobId, Job j, int shardIndex) {
        Held h = j.heldByShard.remove(shardIndex);
        if (h != null) {
            h.digestsByLease.forEach((lease, digests) -> {
                digests.forEach(d -> release(jobId, resultKey(lease, d)));
                heldResults -= digests.size();
            });
        }
    }

    /**
     * Best effort, after the decision it follows is made: a held result that could not be deleted
     * is never read again, and goes with the job's spool directory.
     */
    private void release(String jobId, String key) {
        try {
            spool.release(jobId, key);
        } catch (RuntimeException e) {
            // left on disk; see above
        }
    }

    private static int indexOf(String jobId, String taskId, int shardCount) {
        return io.inferex.market.TaskIds.indexOf(jobId, taskId, shardCount).orElse(-1);
    }
}
