package io.inferex.matcher;

import io.inferex.events.Assignment;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;

/**
 * One matcher task's lease index, in memory only: its unanswered leases by deadline and by node,
 * and its answered leases by verdict deadline, so that expiring is a walk up to now and a dead or
 * barred node's leases are one map lookup. It writes no changelog.
 *
 * <p>Never the truth: the leases and answered-leases stores are, and every change is written to
 * them first. The index is cleared and rebuilt from those two stores on every init of the processor
 * (a start, a restore, a task migrated by a rebalance, a task revived after an aborted
 * transaction). Bounded: one entry per unanswered lease (at most the slots the pool's nodes
 * registered) plus one per answered lease waiting for its verdict (at most {@code verdictWait} of
 * answers; at most one per open task).
 */
final class LeaseIndex {
    /** A lease id with the deadline it is indexed under; ordered by deadline, then lease id. */
    private record Due(long at, String leaseId) implements Comparable<Due> {
        @Override
        public int compareTo(Due o) {
            int c = Long.compare(at, o.at);
            return c != 0 ? c : leaseId.compareTo(o.leaseId);
        }
    }

    private final TreeSet<Due> unanswered = new TreeSet<>();
    private final TreeSet<Due> awaitingVerdict = new TreeSet<>();
    private final Map<String, Set<String>> ofNode = new HashMap<>();

    void clear() {
        unanswered.clear();
        awaitingVerdict.clear();
        ofNode.clear();
    }

    /** An unanswered lease opened (or was found open in the store on init). */
    void opened(Assignment lease) {
        unanswered.add(new Due(lease.getLeaseDeadlineMs(), lease.getLeaseId()));
        ofNode.computeIfAbsent(lease.getNodeId(), n -> new HashSet<>()).add(lease.getLeaseId());
    }

    /** An unanswered lease closed (answered, judged, expired, revoked), as it was stored. */
    void closed(Assignment lease) {
        unanswered.remove(new Due(lease.getLeaseDeadlineMs(), lease.getLeaseId()));
        Set<String> held = ofNode.get(lease.getNodeId());
        if (held != null && held.remove(lease.getLeaseId()) && held.isEmpty()) {
            ofNode.remove(lease.getNodeId());
        }
    }

    /** An answered lease now waits for its verdict until its (verdict) deadline. */
    void awaiting(Assignment answered) {
        awaitingVerdict.add(new Due(answered.getLeaseDeadlineMs(), answered.getLeaseId()));
    }

    /** An answered lease was judged, revoked or forgotten, as it was stored. */
    void judged(Assignment answered) {
        awaitingVerdict.remove(new Due(answered.getLeaseDeadlineMs(), answered.getLeaseId()));
    }

    /** Unanswered leases whose deadline is before {@code now}, earliest first. */
    List<String> expiredBefore(long now) {
        return idsBefore(unanswered, now);
    }

    /** Answered leases whose verdict deadline is before {@code now}, earliest first. */
    List<String> verdictOverdueBefore(long now) {
        return idsBefore(awaitingVerdict, now);
    }

    private static List<String> idsBefore(TreeSet<Due> set, long now) {
        List<String> out = new ArrayList<>();
        for (Due d : set.headSet(new Due(now, ""), false)) {
            out.add(d.leaseId());
        }
        return out;
    }

    /** The node's unanswered leases. */
    List<String> ofNode(String nodeId) {
        Set<String> held = ofNode.get(nodeId);
        return held == null ? List.of() : List.copyOf(held);
    }

    /** Entries held: unanswered leases, answered leases waiting for a verdict (for tests and sizing). */
    int unansweredCount() {
        return unanswered.size();
    }

    int awaitingVerdictCount() {
        return awaitingVerdict.size();
    }
}
