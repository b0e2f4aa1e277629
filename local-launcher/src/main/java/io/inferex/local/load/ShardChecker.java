package io.inferex.local.load;

import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/**
 * Accounts for every shard of a run, in the spirit of Jepsen's Kafka checker: a shard is lost when
 * it was accepted (or its job promised it) and never got an ACCEPTED verdict; unresolved when
 * accepted but verification never declared it FINAL (or FRAUD); unpaid when FINAL but no payout
 * followed; paid for fraud when a FRAUD shard was paid; paid twice when more than one payout names
 * it; duplicated when ingest published it more than once, verification resolved it more than once,
 * or its job's output holds one of its lines twice; never delivered when its job's output never
 * completed (or lacks one of its lines); delivered wrong when a line of the output is not what the
 * model gives for the input (and the output does not say so: a line marked
 * {@code fraud_uncorrected} is disclosed, not wrong), or is out of order. Plus the ledger: every
 * balance sums to zero and every finished job's escrow is empty. Pure: the run's observations in,
 * anomalies out.
 */
public final class ShardChecker {
    /**
     * A job as the run saw it at the end: shards settlement says it has, whether its output was
     * delivered, escrow left; and, when the output file was read, the customer's custom ids in input
     * order, the output's lines in file order, and the rows per shard (to name a line's shard).
     */
    public record Job(String jobId, int shardCount, boolean delivered, long escrowLeftMicros, List<String> inputIds,
            List<Line> output, int rowsPerShard) {
        public Job(String jobId, int shardCount, boolean delivered, long escrowLeftMicros) {
            this(jobId, shardCount, delivered, escrowLeftMicros, null, null, 1);
        }
    }

    /**
     * One line of a job's output file: its custom id, its {@code inferex.verification} label, and
     * whether its embedding is the model's for its input ({@link #matches}).
     */
    public record Line(String customId, String verification, boolean correct) {}

    /** The output label of a line whose shard was found fraudulent and could not be corrected: disclosed to the customer. */
    public static final String FRAUD_UNCORRECTED = "fraud_uncorrected";

    /**
     * Whether a real model's output embedding has the form every answer of it has: its dimension,
     * finite values, unit length (to 1e-3). The harness cannot compute a real model's answer itself;
     * whether the values are right is the verifier's re-execution's to say, and the output file's
     * {@code inferex.verification} says what it found.
     */
    public static boolean wellFormed(float[] got, int dimension) {
        if (got == null || got.length != dimension) {
            return false;
        }
        double norm = 0;
        for (float v : got) {
            if (!Float.isFinite(v)) {
                return false;
            }
            norm += (double) v * v;
        }
        return Math.abs(Math.sqrt(norm) - 1.0) <= 1e-3;
    }

    /** Whether an output embedding is the expected one, to float precision. */
    public static boolean matches(float[] expected, float[] got) {
        if (got == null || expected.length != got.length) {
            return false;
        }
        for (int i = 0; i < expected.length; i++) {
            if (Math.abs(expected[i] - got[i]) > 1e-6f) {
                return false;
            }
        }
        return true;
    }

    /** The ledger as settlement reports it. */
    public record Ledger(boolean conserved, long sumMicros) {}

    /** One anomaly: its kind, the shards (or job) concerned, and detail. */
    public record Anomaly(String kind, List<String> ids, String detail) {
        @Override
        public String toString() {
            return kind + " (" + ids.size() + "): " + (ids.size() > 20 ? ids.subList(0, 20) + " ..." : ids)
                    + (detail.isEmpty() ? "" : " " + detail);
        }
    }

    public static final String ALL_ACCOUNTED = "ALL-SHARDS-ACCOUNTED";

    private ShardChecker() {}

    public static List<Anomaly> check(Collection<StageObserver.Shard> shards, Collection<Job> jobs, Ledger ledger) {
        Map<String, List<StageObserver.Shard>> byJob = new HashMap<>();
        for (StageObserver.Shard s : shards) {
            byJob.computeIfAbsent(s.jobId == null ? "?" : s.jobId, k -> new ArrayList<>()).add(s);
        }
        TreeSet<String> lost = new TreeSet<>();
        TreeSet<String> unresolved = new TreeSet<>();
        TreeSet<String> unpaid = new TreeSet<>();
        TreeSet<String> fraudPaid = new TreeSet<>();
        TreeSet<String> paidTwice = new TreeSet<>();
        TreeSet<String> undelivered = new TreeSet<>();
        TreeSet<String> unknown = new TreeSet<>();
        TreeSet<String> escrow = new TreeSet<>();
        TreeSet<String> duplicated = new TreeSet<>();
        TreeSet<String> wrong = new TreeSet<>();
        for (StageObserver.Shard s : shards) {
            if (s.published > 1 || s.resolutions > 1) {
                duplicated.add(s.taskId + (s.published > 1 ? " (published " + s.published + "x)" : "")
                        + (s.resolutions > 1 ? " (resolved " + s.resolutions + "x)" : ""));
            }
            if (s.accepted == 0) {
                unknown.add(s.taskId); // a verdict or lease for a shard ingest never published in this run
                continue;
            }
            if (s.verdict == 0 && s.outcome == null) {
                lost.add(s.taskId);
            } else if (s.outcome == null) {
                unresolved.add(s.taskId);
            } else if (s.outcome == io.inferex.events.OutcomeKind.FRAUD) {
                if (s.payouts > 0) {
                    fraudPaid.add(s.taskId);
                }
            } else if (s.payouts == 0) {
                unpaid.add(s.taskId);
            }
            if (s.payouts > 1) {
                paidTwice.add(s.taskId);
            }
        }
        for (Job j : jobs) {
            List<StageObserver.Shard> seen = byJob.getOrDefault(j.jobId(), List.of());
            for (int i = seen.size(); i < j.shardCount(); i++) {
                lost.add(j.jobId() + "/(never published, " + (j.shardCount() - seen.size()) + " missing)");
                break;
            }
            if (!j.delivered()) {
                seen.forEach(s -> undelivered.add(s.taskId));
                if (seen.isEmpty()) {
                    undelivered.add(j.jobId() + "/*");
                }
            } else if (j.escrowLeftMicros() != 0) {
                escrow.add(j.jobId() + " (" + j.escrowLeftMicros() + " micros)");
            }
            if (j.delivered() && j.output() != null && j.inputIds() != null) {
                checkOutput(j, duplicated, undelivered, wrong);
            }
        }
        List<Anomaly> out = new ArrayList<>();
        add(out, "lost", lost, "accepted, never an ACCEPTED verdict");
        add(out, "unresolved", unresolved, "ACCEPTED verdict, never FINAL or FRAUD");
        add(out, "unpaid", unpaid, "FINAL, no payout");
        add(out, "fraud-paid", fraudPaid, "FRAUD outcome, yet paid");
        add(out, "paid-twice", paidTwice, "more than one payout");
        add(out, "duplicated", duplicated, "published, resolved or delivered more than once");
        add(out, "never-delivered", undelivered, "job output not completed, or a line missing from it");
        add(out, "delivered-wrong", wrong, "an output line not the model's answer to its input, or out of order");
        add(out, "unknown-shard", unknown, "leased or judged but never published by ingest in this run");
        add(out, "escrow-not-released", escrow, "completed job with escrow left");
        if (!ledger.conserved() || ledger.sumMicros() != 0) {
            out.add(new Anomaly("ledger-not-conserved", List.of(), "sum of all balances " + ledger.sumMicros()
                    + ", conserved=" + ledger.conserved()));
        }
        return out;
    }

    /** A delivered job's output file against its input: every line once, in input order, each the model's answer. */
    private static void checkOutput(Job j, TreeSet<String> duplicated, TreeSet<String> undelivered, TreeSet<String> wrong) {
        Map<String, Integer> index = new HashMap<>();
        for (int i = 0; i < j.inputIds().size(); i++) {
            index.put(j.inputIds().get(i), i);
        }
        java.util.Set<String> seen = new java.util.HashSet<>();
        for (int pos = 0; pos < j.output().size(); pos++) {
            Line line = j.output().get(pos);
            Integer i = index.get(line.customId());
            if (i == null) {
                wrong.add(j.jobId() + "/? (custom_id " + line.customId() + " is not in the input)");
                continue;
            }
            String shard = shardOf(j, i) + " (" + line.customId() + ")";
            if (!seen.add(line.customId())) {
                duplicated.add(shard);
            } else if (i != pos) {
                wrong.add(shard + " at line " + (pos + 1) + ", input line " + (i + 1));
            } else if (!line.correct() && !FRAUD_UNCORRECTED.equals(line.verification())) {
                wrong.add(shard);
            }
        }
        for (int i = 0; i < j.inputIds().size(); i++) {
            if (!seen.contains(j.inputIds().get(i))) {
                undelivered.add(shardOf(j, i) + " (" + j.inputIds().get(i) + " missing from the output)");
            }
        }
    }

    private static String shardOf(Job j, int line) {
        return io.inferex.market.TaskIds.of(j.jobId(), line / j.rowsPerShard(), j.shardCount());
    }

    private static void add(List<Anomaly> out, String kind, TreeSet<String> ids, String detail) {
        if (!ids.isEmpty()) {
            out.add(new Anomaly(kind, List.copyOf(ids), detail));
        }
    }

    /** The checker's verdict line: {@link #ALL_ACCOUNTED} or one line per anomaly. */
    public static String summary(List<Anomaly> anomalies) {
        if (anomalies.isEmpty()) {
            return ALL_ACCOUNTED;
        }
        StringBuilder sb = new StringBuilder("ANOMALIES:");
        anomalies.forEach(a -> sb.append("\n  ").append(a));
        return sb.toString();
    }
}
