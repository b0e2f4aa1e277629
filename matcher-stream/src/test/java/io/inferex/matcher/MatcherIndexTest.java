package io.inferex.matcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Assignment;
import io.inferex.events.NodeReputation;
import io.inferex.events.VerdictOutcome;
import io.inferex.market.NodeIdentity;
import io.inferex.testing.SignedFixtures;
import io.inferex.testing.TopologyFixture;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** The matcher's index stores ({@link MatchIndex}) hold an entry exactly while the fact it indexes holds. */
class MatcherIndexTest extends MatcherTestBase {
    long entries(String store, String prefix) {
        return TopologyFixture.entries(driver.getKeyValueStore(store), prefix);
    }

    @Test
    void aTaskIsQueuedUntilLeasedAndItsLeaseIsIndexedByDeadlineAndNodeUntilAnsweredThenByVerdictDeadlineUntilJudged() {
        task("job1/00000", 200, 1);
        assertEquals(1, entries(MatcherTopology.PENDING_QUEUE_STORE, ""), "no node yet: queued");
        NodeIdentity n = node(2, 100);
        Assignment lease = assignments.readValue();
        assertEquals(0, entries(MatcherTopology.PENDING_QUEUE_STORE, ""), "leased: no longer queued");
        assertEquals(1, entries(MatcherTopology.LEASE_INDEX_STORE, "e|"));
        assertEquals(1, entries(MatcherTopology.LEASE_INDEX_STORE, "o|"));
        answer(n, lease);
        assertEquals(0, entries(MatcherTopology.LEASE_INDEX_STORE, "e|"), "answered: no lease deadline");
        assertEquals(0, entries(MatcherTopology.LEASE_INDEX_STORE, "o|"), "answered: not the node's open lease");
        assertEquals(1, entries(MatcherTopology.LEASE_INDEX_STORE, "a|"), "waiting for its verdict");
        verdict(lease, VerdictOutcome.ACCEPTED);
        assertEquals(0, entries(MatcherTopology.LEASE_INDEX_STORE, ""), "judged: nothing indexed");
        assertEquals(0, entries(MatcherTopology.PENDING_QUEUE_STORE, ""));
    }

    @Test
    void anExpiredLeaseLeavesTheIndexItsTaskIsQueuedAgainAndTheRevivedNodeIsFreeAgain() {
        NodeIdentity n = node(1, 100);
        task("job1/00000", 200, 1);
        Assignment first = assignments.readValue();
        assertEquals(0, entries(MatcherTopology.FREE_NODES_STORE, "p|"), "its only slot is leased: not free");
        driver.advanceWallClockTime(LEASE.plusSeconds(1)); // no heartbeat meanwhile: dead, and the deadline passed
        assertTrue(assignments.readValue().getRevoked());
        assertEquals(0, entries(MatcherTopology.LEASE_INDEX_STORE, ""), "revoked: nothing indexed");
        assertEquals(1, entries(MatcherTopology.PENDING_QUEUE_STORE, ""), "queued again");
        assertEquals(0, entries(MatcherTopology.FREE_NODES_STORE, "p|"), "dead: not free");
        heartbeat(n);
        Assignment second = assignments.readValue();
        assertEquals(first.getTaskId(), second.getTaskId());
        assertEquals(2, second.getAttempt());
        assertEquals(0, entries(MatcherTopology.PENDING_QUEUE_STORE, ""));
        assertEquals(1, entries(MatcherTopology.LEASE_INDEX_STORE, "e|"));
    }

    @Test
    void aNodeIsInTheFreeIndexOncePerOrderWhileItHasAFreeSlot() {
        NodeIdentity n = node(2, 100);
        assertEquals(1, entries(MatcherTopology.FREE_NODES_STORE, "p|"));
        assertEquals(1, entries(MatcherTopology.FREE_NODES_STORE, "r|"));
        task("job1/00000", 200, 1);
        assertEquals(1, entries(MatcherTopology.FREE_NODES_STORE, "p|"), "one slot left: still free, re-keyed by its load");
        task("job1/00001", 200, 2);
        assertEquals(0, entries(MatcherTopology.FREE_NODES_STORE, "p|"), "both slots leased");
        assertEquals(0, entries(MatcherTopology.FREE_NODES_STORE, "r|"));
        answer(n, assignments.readValuesToList().get(0));
        assertEquals(1, entries(MatcherTopology.FREE_NODES_STORE, "p|"), "answered: a slot is free again");
        stake(n, 0, 0, true); // slashed: found on the next tick
        driver.advanceWallClockTime(Duration.ofMillis(500));
        assertEquals(0, entries(MatcherTopology.FREE_NODES_STORE, "p|"), "slashed: never free");
    }

    @Test
    void freeNodeKeysSortExactlyAsTheShardAndTheReExecutionPreferences() {
        Random random = new Random(8);
        List<NodeEligibility.Node> nodes = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            NodeIdentity id = NodeIdentity.generate();
            double score = random.nextInt(4) * 0.25;
            NodeReputation rep = NodeReputation.newBuilder().setNodeId(id.nodeId()).setScore(score).setObservations(1)
                    .setBanned(false).setReason(null).setUpdatedAtMs(1).build();
            nodes.add(new NodeEligibility.Node(SignedFixtures.registration(id, random.nextInt(3) * 1000L, 8, 1000), true, null,
                    random.nextBoolean() ? rep : null, random.nextInt(3), 0));
        }
        for (int family = 0; family < 2; family++) {
            int f = family;
            Function<NodeEligibility.Node, String> key = n -> MatchIndex.freeKeys(n).get(f);
            Comparator<NodeEligibility.Node> preference = f == 0 ? NodeEligibility.PREFERENCE : NodeEligibility.VERIFIER_PREFERENCE;
            List<NodeEligibility.Node> byKey = new ArrayList<>(nodes);
            Collections.shuffle(byKey, random);
            byKey.sort(Comparator.comparing(key));
            List<NodeEligibility.Node> byPreference = new ArrayList<>(nodes);
            byPreference.sort(preference);
            assertEquals(byPreference.stream().map(NodeEligibility.Node::nodeId).toList(),
                    byKey.stream().map(NodeEligibility.Node::nodeId).toList(), f == 0 ? "shard order" : "re-execution order");
        }
        assertTrue(MatchIndex.ordered(-1).compareTo(MatchIndex.ordered(0)) < 0);
        assertTrue(MatchIndex.ordered(Long.MAX_VALUE).compareTo(MatchIndex.ordered(Long.MIN_VALUE)) > 0);
    }
}
