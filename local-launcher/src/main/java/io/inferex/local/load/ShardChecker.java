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
 * it; never delivered when its job's output never completed. Plus the ledger: every balance sums to zero and every finished job's
 * escrow is empty. Pure: the run's observations in, anomalies out.
 */
public final class ShardChecker {
    /** A job as the run saw it at the end: shards settlement says it has, whether its output was delivered, escrow left. */
    public record Job(String jobId, int shardCount, boolean delivered, long escrowLeftMicros) {}

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
        for (StageObserver.Shard s : shards) {
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
        }
        List<Anomaly> out = new ArrayList<>();
        add(out, "lost", lost, "accepted, never an ACCEPTED verdict");
        add(out, "unresolved", unresolved, "ACCEPTED verdict, never FINAL or FRAUD");
        add(out, "unpaid", unpaid, "FINAL, no payout");
        add(out, "fraud-paid", fraudPaid, "FRAUD outcome, yet paid");
        add(out, "paid-twice", paidTwice, "more than one payout");
        add(out, "never-delivered", undelivered, "job output not completed");
        add(out, "unknown-shard", unknown, "leased or judged but never published by ingest in this run");
        add(out, "escrow-not-released", escrow, "completed job with escrow left");
        if (!ledger.conserved() || ledger.sumMicros() != 0) {
            out.add(new Anomaly("ledger-not-conserved", List.of(), "sum of all balances " + ledger.sumMicros()
                    + ", conserved=" + ledger.conserved()));
        }
        return out;
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
