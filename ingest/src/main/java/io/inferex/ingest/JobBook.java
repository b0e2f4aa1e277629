package io.inferex.ingest;

import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.Verdict;
import java.util.BitSet;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * Which result of each shard the customer gets, from the result and verdict streams. Per tracked
 * job it holds results not judged yet (raw bytes, by lease), and the accepted lease of each shard;
 * an ACCEPTED verdict picks its lease's result (whichever of the two arrives first), a REJECTED or
 * FRAUD verdict discards that lease's result and, if it had been accepted, re-opens the shard. An
 * accepted result is handed to the {@link Spool} (off the heap) right away. When every shard is
 * accepted, or a JobStatus says the job ended without success, the job is {@link Ready} and the
 * book forgets it, so memory holds only the undecided results of unfinished jobs.
 *
 * <p>Thread-safe (one monitor); the spool is called under it.
 */
public final class JobBook {
    /** Where accepted shard results go (raw {@code ShardResult} bytes as read from Kafka). */
    public interface Spool {
        void put(String jobId, int shardIndex, String leaseId, byte[] rawResult);

        void remove(String jobId, int shardIndex);
    }

    /**
     * A job whose output can be written. {@code state} is COMPLETED (or FINALIZING, as settlement
     * reported it) when every shard was accepted, otherwise the terminal state settlement reported
     * (then some shards may be missing).
     */
    public record Ready(String jobId, JobState state, int acceptedShards, int shardCount, String error) {}

    private record Pending(String taskId, int shardIndex, byte[] raw) {}

    /** An ACCEPTED verdict whose result has not been read yet; {@code digest} empty means "any" (a v1 verdict). */
    private record Awaited(String taskId, String digest) {}

    // Results are held by lease AND content digest: anyone can write a record naming a lease, and
    // the verdict names the digest of the one result it judged.
    private static String resultKey(String leaseId, String digest) {
        return leaseId + "|" + digest;
    }

    private static final class Job {
        final int shardCount;
        final BitSet accepted = new BitSet();
        final Map<String, String> acceptedLeaseByTask = new HashMap<>();
        final Map<String, Pending> pendingByLease = new HashMap<>(); // resultKey(lease, digest) -> result
        final Map<String, Awaited> acceptedAwaitingResult = new HashMap<>(); // leaseId -> awaited result
        final Set<String> discardedLeases = new HashSet<>();

        Job(int shardCount) {
            this.shardCount = shardCount;
        }
    }

    private final Spool spool;
    private final Map<String, Job> jobs = new HashMap<>();
    private long pendingBytes;

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
            j.pendingByLease.values().forEach(p -> pendingBytes -= p.raw().length);
        }
    }

    public synchronized boolean tracks(String jobId) {
        return jobs.containsKey(jobId);
    }

    public synchronized int trackedJobs() {
        return jobs.size();
    }

    /** Bytes of undecided results held in memory. */
    public synchronized long pendingBytes() {
        return pendingBytes;
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
     * A ShardResult was read; {@code raw} is its record value and {@code digest} the output digest
     * recomputed from its rows (not the digest the record claims).
     */
    public synchronized Optional<Ready> onResult(String jobId, String taskId, String leaseId, int shardIndex, String digest,
            byte[] raw) {
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
            Optional<Ready> ready = accept(jobId, j, taskId, shardIndex, leaseId, raw);
            j.acceptedAwaitingResult.remove(leaseId);
            return ready;
        }
        if (j.accepted.get(shardIndex)) {
            return Optional.empty(); // a later lease of a shard that already has its result
        }
        Pending previous = j.pendingByLease.put(resultKey(leaseId, digest), new Pending(taskId, shardIndex, raw));
        pendingBytes += raw.length - (previous == null ? 0 : previous.raw().length);
        return Optional.empty();
    }

    public synchronized Optional<Ready> onVerdict(Verdict v) {
        Job j = jobs.get(v.getJobId());
        if (j == null) {
            return Optional.empty();
        }
        String leaseId = v.getLeaseId();
        String taskId = v.getTaskId();
        switch (v.getOutcome()) {
            case ACCEPTED -> {
                if (j.acceptedLeaseByTask.containsKey(taskId) || j.discardedLeases.contains(leaseId)) {
                    return Optional.empty(); // the first accepted lease of a shard stands
                }
                Pending p = judgedResult(j, leaseId, v.getOutputDigest());
                if (p != null && p.taskId().equals(taskId)) {
                    return accept(v.getJobId(), j, taskId, p.shardIndex(), leaseId, p.raw());
                }
                j.acceptedAwaitingResult.put(leaseId, new Awaited(taskId, v.getOutputDigest()));
                return Optional.empty();
            }
            case REJECTED, FRAUD -> {
                if (leaseId.equals(j.acceptedLeaseByTask.get(taskId))) {
                    int index = indexOf(v.getJobId(), taskId, j.shardCount);
                    if (index >= 0) {
                        spool.remove(v.getJobId(), index); // first: if it fails, nothing changed
                        j.accepted.clear(index);
                    }
                    j.acceptedLeaseByTask.remove(taskId);
                }
                j.discardedLeases.add(leaseId);
                j.acceptedAwaitingResult.remove(leaseId);
                dropPending(j, leaseId);
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
            return Optional.of(finish(s.getJobId(), j, st, s.getError()));
        }
        if ((st == JobState.COMPLETED || st == JobState.FINALIZING) && j.accepted.cardinality() == j.shardCount) {
            return Optional.of(finish(s.getJobId(), j, st, null));
        }
        return Optional.empty();
    }

    private Optional<Ready> accept(String jobId, Job j, String taskId, int shardIndex, String leaseId, byte[] raw) {
        spool.put(jobId, shardIndex, leaseId, raw);
        j.accepted.set(shardIndex);
        j.acceptedLeaseByTask.put(taskId, leaseId);
        // Other leases' results of this shard are no longer needed.
        j.pendingByLease.entrySet().removeIf(e -> {
            if (e.getValue().shardIndex() == shardIndex) {
                pendingBytes -= e.getValue().raw().length;
                return true;
            }
            return false;
        });
        if (j.accepted.cardinality() == j.shardCount) {
            return Optional.of(finish(jobId, j, JobState.COMPLETED, null));
        }
        return Optional.empty();
    }

    private Ready finish(String jobId, Job j, JobState state, String error) {
        Ready r = new Ready(jobId, state, j.accepted.cardinality(), j.shardCount, error);
        forget(jobId);
        return r;
    }

    /** The held result the verdict judged: by digest, or (a v1 verdict without one) any result of the lease. */
    private static Pending judgedResult(Job j, String leaseId, String digest) {
        if (!digest.isEmpty()) {
            return j.pendingByLease.get(resultKey(leaseId, digest));
        }
        return j.pendingByLease.entrySet().stream().filter(e -> e.getKey().startsWith(leaseId + "|"))
                .map(Map.Entry::getValue).findFirst().orElse(null);
    }

    private void dropPending(Job j, String leaseId) {
        j.pendingByLease.entrySet().removeIf(e -> {
            if (e.getKey().startsWith(leaseId + "|")) {
                pendingBytes -= e.getValue().raw().length;
                return true;
            }
            return false;
        });
    }

    private static int indexOf(String jobId, String taskId, int shardCount) {
        return io.inferex.market.TaskIds.indexOf(jobId, taskId, shardCount).orElse(-1);
    }
}
