package io.inferex.matcher;

import io.inferex.events.Assignment;
import io.inferex.events.LeaseDeclined;
import io.inferex.events.NodeRegistered;
import io.inferex.market.SignedPayloads;
import java.util.Optional;

/**
 * Whether a node's {@link LeaseDeclined} is acted on (the lease revoked and its shard leased again
 * at once, to another node) or dead-lettered. Pure: the decline, the lease open under its id and the
 * registration of the node it names in; empty (act) or the reason to refuse it out.
 *
 * <p>Written against an attacker who can write {@code lease-declines} under any node id and read
 * every lease on its assignments partition: only the lease's own node may decline it, so a decline
 * must be signed with the key the node registered (a forged one fails), name the node that holds
 * the lease (nobody can take work from another node), and name a lease that is open now, unanswered
 * (a replayed decline names a lease that is already closed: revoked, declined, answered or never
 * issued, so it changes nothing; a re-lease has a new lease id, which an old decline cannot name).
 */
final class LeaseDeclines {
    private LeaseDeclines() {}

    /**
     * @param open the unanswered lease under the decline's lease id in this pool partition, or null
     * @param node the registration of the node the decline names, or null
     * @return empty when the matcher revokes the lease and re-leases its shard now; else why not
     */
    static Optional<String> problem(LeaseDeclined d, Assignment open, NodeRegistered node) {
        String what = "decline of lease " + d.getLeaseId() + " by node " + d.getNodeId() + ": ";
        if (node == null) {
            return Optional.of(what + "the node is not registered in this pool");
        }
        if (!SignedPayloads.verifies(node.getPublicKey(), d)) {
            return Optional.of(what + "signature does not verify against the node's registered key");
        }
        if (open == null) {
            return Optional.of(what + "no such open lease (answered, revoked, declined already or never issued); a replay changes nothing");
        }
        if (!open.getNodeId().equals(d.getNodeId())) {
            return Optional.of(what + "the lease is held by node " + open.getNodeId() + "; only its own node may decline it");
        }
        if (!open.getTaskId().equals(d.getTaskId()) || !open.getPoolKey().equals(d.getPoolKey())) {
            return Optional.of(what + "names task " + d.getTaskId() + " in pool " + d.getPoolKey() + " but the lease is for task "
                    + open.getTaskId() + " in pool " + open.getPoolKey());
        }
        return Optional.empty();
    }
}
