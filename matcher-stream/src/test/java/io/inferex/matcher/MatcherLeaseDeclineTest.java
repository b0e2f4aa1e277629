package io.inferex.matcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.DeadLetters;
import io.inferex.events.Assignment;
import io.inferex.events.DeclineReason;
import io.inferex.events.LeaseDeclined;
import io.inferex.market.NodeIdentity;
import io.inferex.market.SignedPayloads;
import io.inferex.topics.Topics;
import java.nio.ByteBuffer;
import java.util.List;
import org.apache.kafka.streams.TestInputTopic;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Explicit back-pressure: a node's signed decline of a lease it holds ({@code lease-declines}) makes
 * the matcher revoke the lease and lease the shard to another node at once, without waiting for the
 * lease deadline; any other decline (forged, another node's lease, replayed, unknown) is
 * dead-lettered with the reason and changes nothing ({@link LeaseDeclines}).
 */
class MatcherLeaseDeclineTest extends MatcherTestBase {
    TestInputTopic<String, LeaseDeclined> declines;

    @BeforeEach
    void declinesTopic() {
        declines = fixture.input(Topics.LEASE_DECLINES);
    }

    /** A decline of {@code lease} naming {@code claimed} as the node, signed by {@code signer}. */
    static LeaseDeclined decline(NodeIdentity signer, String claimed, Assignment lease, DeclineReason reason) {
        LeaseDeclined d = LeaseDeclined.newBuilder().setLeaseId(lease.getLeaseId()).setTaskId(lease.getTaskId()).setNodeId(claimed)
                .setPoolKey(lease.getPoolKey()).setReason(reason).setDetail("no free slot").setDeclinedAtMs(1_000_100)
                .setSignature(ByteBuffer.allocate(0)).build();
        return SignedPayloads.sign(signer, d);
    }

    void send(LeaseDeclined d) {
        declines.pipeInput(d.getPoolKey(), d);
    }

    List<String> deadLetterReasons() {
        return dead.readRecordsToList().stream().map(r -> DeadLetters.header(r.headers(), DeadLetters.ERROR_MESSAGE)).toList();
    }

    @Test
    void aSignedDeclineByTheLeasesOwnNodeRevokesItAtOnceAndLeasesTheShardToAnotherNodeWithoutWaitingForTheDeadline() {
        NodeIdentity full = node(1, 100);
        NodeIdentity other = node(1, 120);
        task("job1/00000", 200, 1);
        Assignment lease = assignments.readValue();
        assertEquals(full.nodeId(), lease.getNodeId(), "the cheaper node gets it first");

        send(decline(full, full.nodeId(), lease, DeclineReason.FULL)); // no wall-clock advance: not the deadline

        var revocation = assignments.readKeyValue();
        assertEquals(full.nodeId(), revocation.key);
        assertTrue(revocation.value.getRevoked(), "the declined lease is revoked to its node (and the verifier)");
        assertEquals("job1/00000#1", revocation.value.getLeaseId());
        var again = assignments.readKeyValue();
        assertEquals(other.nodeId(), again.key, "the declining node is not asked again for this shard while another can run it");
        assertEquals("job1/00000#2", again.value.getLeaseId());
        assertTrue(assignments.isEmpty());
        assertTrue(dead.isEmpty());
        assertEquals(null, driver.getKeyValueStore(MatcherTopology.LEASES_STORE).get("job1/00000#1"));
        assertNotNull(driver.getKeyValueStore(MatcherTopology.LEASES_STORE).get("job1/00000#2"));
    }

    @Test
    void aForgedForeignUnregisteredOrReplayedDeclineIsDeadLetteredWithTheReasonAndChangesNothing() {
        NodeIdentity holder = node(1, 100);
        NodeIdentity rival = node(1, 120);
        NodeIdentity stranger = NodeIdentity.generate(); // never registered
        task("job1/00000", 200, 1);
        Assignment lease = assignments.readValue();
        assertEquals(holder.nodeId(), lease.getNodeId());

        send(decline(rival, holder.nodeId(), lease, DeclineReason.FULL)); // forged: names the holder, signed by the rival
        send(decline(rival, rival.nodeId(), lease, DeclineReason.CANNOT_RUN)); // the rival's own word about the holder's lease
        send(decline(stranger, stranger.nodeId(), lease, DeclineReason.FULL));
        LeaseDeclined otherTask = decline(holder, holder.nodeId(), lease, DeclineReason.FULL);
        otherTask.setTaskId("job1/00001");
        SignedPayloads.sign(holder, otherTask);
        send(otherTask);
        LeaseDeclined tampered = decline(holder, holder.nodeId(), lease, DeclineReason.FULL);
        tampered.setDetail("edited after signing");
        send(tampered);

        assertTrue(assignments.isEmpty(), "no revocation, no re-lease");
        assertNotNull(driver.getKeyValueStore(MatcherTopology.LEASES_STORE).get(lease.getLeaseId()), "the lease stays with its node");
        List<String> reasons = deadLetterReasons();
        assertEquals(5, reasons.size(), reasons.toString());
        assertTrue(reasons.get(0).contains("signature does not verify"), reasons.get(0));
        assertTrue(reasons.get(1).contains("held by node " + holder.nodeId() + "; only its own node may decline it"), reasons.get(1));
        assertTrue(reasons.get(2).contains("not registered"), reasons.get(2));
        assertTrue(reasons.get(3).contains("names task job1/00001"), reasons.get(3));
        assertTrue(reasons.get(4).contains("signature does not verify"), reasons.get(4));

        LeaseDeclined honest = decline(holder, holder.nodeId(), lease, DeclineReason.FULL);
        send(honest);
        assertTrue(assignments.readValue().getRevoked());
        Assignment second = assignments.readValue();
        assertEquals(rival.nodeId(), second.getNodeId());

        send(honest); // replayed: the lease it names is closed
        Assignment rivalsLease = second;
        send(decline(holder, holder.nodeId(), rivalsLease, DeclineReason.FULL)); // the old holder declining the new lease
        assertTrue(assignments.isEmpty(), "a replay or a decline of someone else's re-lease changes nothing");
        assertNotNull(driver.getKeyValueStore(MatcherTopology.LEASES_STORE).get(rivalsLease.getLeaseId()));
        reasons = deadLetterReasons();
        assertEquals(2, reasons.size(), reasons.toString());
        assertTrue(reasons.get(0).contains("no such open lease"), reasons.get(0));
        assertTrue(reasons.get(1).contains("only its own node may decline it"), reasons.get(1));
    }

    @Test
    void aDeclineOfAnAnsweredLeaseChangesNothing() {
        NodeIdentity a = node(1, 100);
        node(1, 120);
        task("job1/00000", 200, 1);
        Assignment lease = assignments.readValue();
        answer(a, lease);
        send(decline(a, a.nodeId(), lease, DeclineReason.CANNOT_RUN));
        assertTrue(assignments.isEmpty(), "an answered lease waits for its verdict; a late decline does not re-lease it");
        assertTrue(deadLetterReasons().get(0).contains("no such open lease"));
    }
}
