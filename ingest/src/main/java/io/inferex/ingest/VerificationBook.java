package io.inferex.ingest;

import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.OutcomeKind;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.TaskIds;
import io.inferex.market.VerificationIds;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * What verification decided about each delivered shard of a job, from the verification outcomes,
 * the referee results and the job's status; it says when a job's provisional output file can be
 * rewritten as final (and with which corrections). Pure and thread-safe (one monitor).
 *
 * <p>Per tracked job it holds: the lease whose result is delivered for each shard (told by the
 * {@link JobBook}'s spool), the FINAL and FRAUD outcomes read (by lease; FINAL may arrive before the
 * ACCEPTED verdict), and the keys ({@code lease|digest}, the digest recomputed from the rows) of
 * the referee results held in the {@link RefereeSpool} (on disk, never the heap). A job is
 * {@link Final} once its provisional output was written, its status is COMPLETED, and either every
 * shard has its outcome and every FRAUD its correction, or the log was read past the point where
 * COMPLETED was seen (what was published before it has been read; what is still missing never
 * came). Then the book forgets the job.
 *
 * <p>Bounds: only referee results ({@code taskId~rN}) of a tracked job's shard are held, at most
 * {@link #MAX_REFEREE_RESULTS_PER_SHARD} per shard; once the shard's outcome is known only the
 * named correction is kept (FRAUD) or none (FINAL). A flood of forged referee records can at worst
 * crowd out a correction, and the line then keeps its original rows and says so; a forged record
 * is never delivered, because a correction must match the outcome's lease AND digest.
 */
public final class VerificationBook {
    /** Most referee results held per shard before its outcome names the one that counts. */
    public static final int MAX_REFEREE_RESULTS_PER_SHARD = 32;

    /** Where referee results wait (raw {@code ShardResult} bytes), under a key of lease and recomputed digest. */
    public interface RefereeSpool {
        void put(String jobId, String key, byte[] rawResult);

        void remove(String jobId, String key);
    }

    /** What a shard's lines say once the job is final. */
    public enum LineState {
        /** No FINAL or FRAUD outcome for the delivered lease was read before the log moved past COMPLETED. */
        UNRESOLVED,
        /** The challenge window closed with nothing wrong. */
        FINAL,
        /** A majority of referees disagreed; {@code correctionKey} is the referee result to deliver, or null if it never came. */
        FRAUD,
        /** A dispute of the delivered result is open (provisional output only). */
        DISPUTED
    }

    /** The verification of one shard: its delivered lease and, for FRAUD, the held correction's key (or null). */
    public record ShardVerification(int shardIndex, String leaseId, LineState state, String correctionKey,
            String correctionLeaseId) {}

    /** A job whose output can be rewritten as final; {@code shards} in shard order. */
    public record Final(String jobId, List<ShardVerification> shards) {}

    private static final class Job {
        final int shardCount;
        final String[] deliveredLease;
        final Map<String, VerificationOutcome> outcomeByLease = new HashMap<>();
        final Map<Integer, Set<String>> refereeKeysByShard = new HashMap<>();
        /** Shards whose delivered result is under an open dispute. */
        final java.util.TreeSet<Integer> disputed = new java.util.TreeSet<>();
        boolean outputWritten;
        boolean completed;
        boolean logReadPastCompletion;

        Job(int shardCount) {
            this.shardCount = shardCount;
            this.deliveredLease = new String[shardCount];
        }
    }

    private final RefereeSpool spool;
    private final Map<String, Job> jobs = new HashMap<>();
    private long refereeResultsHeld;
    private long refereeResultsRefused;

    public VerificationBook(RefereeSpool spool) {
        this.spool = spool;
    }

    /** {@code spool}, also telling this book which lease's result each shard delivers (and which it withdrew). */
    public JobBook.Spool watching(JobBook.Spool spool) {
        return new JobBook.Spool() {
            @Override
            public void put(String jobId, int shardIndex, String leaseId, byte[] rawResult) {
                spool.put(jobId, shardIndex, leaseId, rawResult);
                onDelivered(jobId, shardIndex, leaseId);
            }

            @Override
            public void remove(String jobId, int shardIndex) {
                spool.remove(jobId, shardIndex);
                onWithdrawn(jobId, shardIndex);
            }

            @Override
            public void hold(String jobId, String key, byte[] rawResult) {
                spool.hold(jobId, key, rawResult);
            }

            @Override
            public void promote(String jobId, String key, int shardIndex, String leaseId) {
                spool.promote(jobId, key, shardIndex, leaseId);
                onDelivered(jobId, shardIndex, leaseId);
            }

            @Override
            public void release(String jobId, String key) {
                spool.release(jobId, key);
            }
        };
    }

    /** The key a referee result is held under: its lease and the digest recomputed from its rows. */
    public static String refereeKey(String leaseId, String digest) {
        return leaseId + "|" + digest;
    }

    public synchronized void track(String jobId, int shardCount) {
        if (shardCount < 1) {
            throw new IllegalArgumentException("job " + jobId + " has no shards");
        }
        jobs.putIfAbsent(jobId, new Job(shardCount));
    }

    public synchronized void forget(String jobId) {
        Job j = jobs.remove(jobId);
        if (j != null) {
            j.refereeKeysByShard.values().forEach(keys -> refereeResultsHeld -= keys.size());
        }
    }

    public synchronized boolean tracks(String jobId) {
        return jobs.containsKey(jobId);
    }

    public synchronized int trackedJobs() {
        return jobs.size();
    }

    public synchronized long refereeResultsHeld() {
        return refereeResultsHeld;
    }

    /** Referee results not held because their shard already had its outcome or its cap. */
    public synchronized long refereeResultsRefused() {
        return refereeResultsRefused;
    }

    /** The JobBook accepted {@code leaseId}'s result for the shard (it is what the customer gets). */
    public synchronized void onDelivered(String jobId, int shardIndex, String leaseId) {
        Job j = jobs.get(jobId);
        if (j != null && shardIndex >= 0 && shardIndex < j.shardCount) {
            j.deliveredLease[shardIndex] = leaseId;
            prune(jobId, j, shardIndex);
        }
    }

    /** The JobBook withdrew the shard's accepted result (its lease was later rejected). */
    public synchronized void onWithdrawn(String jobId, int shardIndex) {
        Job j = jobs.get(jobId);
        if (j != null && shardIndex >= 0 && shardIndex < j.shardCount) {
            j.deliveredLease[shardIndex] = null;
        }
    }

    /**
     * The provisional output file of a job that succeeded is written. A job that ended otherwise
     * is not followed further: call {@link #forget}.
     */
    public synchronized Optional<Final> onOutputWritten(String jobId) {
        Job j = jobs.get(jobId);
        if (j == null) {
            return Optional.empty();
        }
        j.outputWritten = true;
        return check(jobId, j);
    }

    /** COMPLETED: every shard is resolved. A job that ended without success is forgotten. */
    public synchronized Optional<Final> onStatus(JobStatus s) {
        Job j = jobs.get(s.getJobId());
        if (j == null) {
            return Optional.empty();
        }
        JobState st = s.getState();
        if (st == JobState.FAILED || st == JobState.EXPIRED || st == JobState.CANCELLED) {
            forget(s.getJobId());
            return Optional.empty();
        }
        if (st == JobState.COMPLETED) {
            j.completed = true;
        }
        return check(s.getJobId(), j);
    }

    /** True once COMPLETED was seen and the job is not final yet: the caller should watch the log for it. */
    public synchronized boolean awaitsLog(String jobId) {
        Job j = jobs.get(jobId);
        return j != null && j.completed && !j.logReadPastCompletion;
    }

    /** Everything published before COMPLETED was seen has now been read: what is missing never came. */
    public synchronized Optional<Final> onLogReadPastCompletion(String jobId) {
        Job j = jobs.get(jobId);
        if (j == null) {
            return Optional.empty();
        }
        j.logReadPastCompletion = true;
        return check(jobId, j);
    }

    /**
     * A dispute opened (DISPUTED) or ended without fraud (UPHELD, INCONCLUSIVE) for a shard's
     * delivered result: the shards now disputed, when that changed and the provisional output is
     * written (the caller rewrites it), else empty. FRAUD and FINAL end a dispute too; the final
     * rewrite shows them.
     */
    public synchronized Optional<java.util.SortedSet<Integer>> onDispute(VerificationOutcome o) {
        Job j = jobs.get(o.getJobId());
        if (j == null) {
            return Optional.empty();
        }
        OptionalInt index = TaskIds.indexOf(o.getJobId(), o.getTaskId(), j.shardCount);
        if (index.isEmpty() || !o.getLeaseId().equals(j.deliveredLease[index.getAsInt()])) {
            return Optional.empty();
        }
        boolean changed = switch (o.getKind()) {
            case DISPUTED -> j.disputed.add(index.getAsInt());
            case UPHELD, INCONCLUSIVE, FRAUD, FINAL -> j.disputed.remove(index.getAsInt());
            default -> false;
        };
        return changed && j.outputWritten && o.getKind() != OutcomeKind.FRAUD && o.getKind() != OutcomeKind.FINAL
                ? Optional.of(new java.util.TreeSet<>(j.disputed)) : Optional.empty();
    }

    /** The shards of a job under an open dispute (empty when none or not tracked). */
    public synchronized java.util.SortedSet<Integer> disputed(String jobId) {
        Job j = jobs.get(jobId);
        return j == null ? new java.util.TreeSet<>() : new java.util.TreeSet<>(j.disputed);
    }

    /** A verification outcome (key jobId). FINAL and FRAUD decide a lease; UPHELD and INCONCLUSIVE inform only. */
    public synchronized Optional<Final> onOutcome(VerificationOutcome o) {
        Job j = jobs.get(o.getJobId());
        if (j == null || (o.getKind() != OutcomeKind.FINAL && o.getKind() != OutcomeKind.FRAUD)) {
            return Optional.empty();
        }
        OptionalInt index = TaskIds.indexOf(o.getJobId(), o.getTaskId(), j.shardCount);
        if (index.isEmpty() || !o.getLeaseId().startsWith(o.getTaskId() + "#")) {
            return Optional.empty();
        }
        VerificationOutcome previous = j.outcomeByLease.get(o.getLeaseId());
        if (previous != null && previous.getKind() == OutcomeKind.FRAUD) {
            return Optional.empty(); // a fraud decision stands
        }
        j.outcomeByLease.put(o.getLeaseId(), o);
        prune(o.getJobId(), j, index.getAsInt());
        return check(o.getJobId(), j);
    }

    /**
     * A result whose task id is a verification id. Held only when it is a referee's
     * ({@code ~rN}) for a shard of a tracked job that may still need a correction. {@code digest}
     * is recomputed from the rows.
     */
    public synchronized Optional<Final> onRefereeResult(String jobId, String taskId, String leaseId, String digest,
            byte[] raw) {
        Job j = jobs.get(jobId);
        OptionalInt round = VerificationIds.round(taskId);
        if (j == null || round.isEmpty() || round.getAsInt() < 1 || !leaseId.startsWith(taskId + "#")) {
            return Optional.empty();
        }
        OptionalInt index = TaskIds.indexOf(jobId, VerificationIds.shardOf(taskId).orElseThrow(), j.shardCount);
        if (index.isEmpty()) {
            return Optional.empty();
        }
        int shard = index.getAsInt();
        String key = refereeKey(leaseId, digest);
        Set<String> held = j.refereeKeysByShard.computeIfAbsent(shard, k -> new LinkedHashSet<>());
        if (held.contains(key)) {
            return Optional.empty();
        }
        VerificationOutcome decided = decidedOutcome(j, shard);
        boolean wanted = decided == null ? held.size() < MAX_REFEREE_RESULTS_PER_SHARD
                : decided.getKind() == OutcomeKind.FRAUD && key.equals(correctionKey(decided));
        if (!wanted) {
            refereeResultsRefused++;
            if (held.isEmpty()) {
                j.refereeKeysByShard.remove(shard);
            }
            return Optional.empty();
        }
        spool.put(jobId, key, raw); // first: if it fails, nothing changed
        held.add(key);
        refereeResultsHeld++;
        return check(jobId, j);
    }

    private static String correctionKey(VerificationOutcome fraud) {
        if (fraud.getCorrectionLeaseId() == null || fraud.getCorrectionDigest() == null) {
            return null;
        }
        return refereeKey(fraud.getCorrectionLeaseId(), fraud.getCorrectionDigest());
    }

    /** The FINAL or FRAUD outcome of the shard's delivered lease, or null. */
    private static VerificationOutcome decidedOutcome(Job j, int shard) {
        String lease = j.deliveredLease[shard];
        return lease == null ? null : j.outcomeByLease.get(lease);
    }

    /** Drops the referee results of a shard that its outcome does not name. */
    private void prune(String jobId, Job j, int shard) {
        VerificationOutcome decided = decidedOutcome(j, shard);
        Set<String> held = j.refereeKeysByShard.get(shard);
        if (decided == null || held == null) {
            return;
        }
        String keep = decided.getKind() == OutcomeKind.FRAUD ? correctionKey(decided) : null;
        for (String key : new ArrayList<>(held)) {
            if (!key.equals(keep)) {
                spool.remove(jobId, key); // first: if it fails, nothing changed
                held.remove(key);
                refereeResultsHeld--;
            }
        }
        if (held.isEmpty()) {
            j.refereeKeysByShard.remove(shard);
        }
    }

    private Optional<Final> check(String jobId, Job j) {
        if (!j.outputWritten || !j.completed) {
            return Optional.empty();
        }
        List<ShardVerification> shards = new ArrayList<>(j.shardCount);
        boolean complete = true;
        for (int i = 0; i < j.shardCount; i++) {
            String lease = j.deliveredLease[i];
            VerificationOutcome o = lease == null ? null : j.outcomeByLease.get(lease);
            if (o == null) {
                complete = false;
                shards.add(new ShardVerification(i, lease, LineState.UNRESOLVED, null, null));
            } else if (o.getKind() == OutcomeKind.FINAL) {
                shards.add(new ShardVerification(i, lease, LineState.FINAL, null, null));
            } else {
                String key = correctionKey(o);
                Set<String> held = j.refereeKeysByShard.getOrDefault(i, Set.of());
                boolean present = key != null && held.contains(key);
                complete &= present;
                shards.add(new ShardVerification(i, lease, LineState.FRAUD, present ? key : null, o.getCorrectionLeaseId()));
            }
        }
        if (!complete && !j.logReadPastCompletion) {
            return Optional.empty();
        }
        forget(jobId);
        return Optional.of(new Final(jobId, List.copyOf(shards)));
    }
}
