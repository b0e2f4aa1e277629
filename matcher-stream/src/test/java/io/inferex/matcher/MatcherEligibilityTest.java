package io.inferex.matcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Assignment;
import io.inferex.market.NodeIdentity;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Who may take work: stake from the ledger's node-stake (locked minus unlocking, covering the
 * node's in-flight value), never slashed or banned, reputation above the minimum; and who is
 * preferred among the eligible.
 */
class MatcherEligibilityTest extends MatcherTestBase {
    static final long MIN_STAKE = 1_000_000;

    void tick() {
        driver.advanceWallClockTime(Duration.ofMillis(600));
    }

    String leasedTo() {
        return assignments.readValue().getNodeId();
    }

    @Test
    void aNodeWithoutANodeStakeRecordGetsNoLeaseWhateverItsRegistrationClaimsUntilTheLedgerShowsItsStake() {
        NodeIdentity n = unstakedNode(2, 100); // its registration claims 10 units of stake
        task("job1/00000", 200, 1);
        tick();
        assertTrue(assignments.isEmpty(), "leased on a claimed stake");
        stake(n, MIN_STAKE, 0, false);
        heartbeat(n);
        tick();
        assertEquals(n.nodeId(), leasedTo());
    }

    @Test
    void aNodeWhoseStakeIsBelowTheMinimumGetsNoLease() {
        NodeIdentity n = unstakedNode(2, 100);
        stake(n, MIN_STAKE - 1, 0, false);
        task("job1/00000", 200, 1);
        tick();
        assertTrue(assignments.isEmpty());
    }

    @Test
    void unlockingStakeIsNotEligibleStake() {
        NodeIdentity n = unstakedNode(2, 100);
        stake(n, 10 * MIN_STAKE, 9 * MIN_STAKE + 1, false); // 10 locked, just over 9 of them unlocking
        task("job1/00000", 200, 1);
        tick();
        assertTrue(assignments.isEmpty(), "unlocking stake counted");
        stake(n, 10 * MIN_STAKE, 9 * MIN_STAKE, false);
        heartbeat(n);
        tick();
        assertEquals(n.nodeId(), leasedTo());
    }

    @Test
    void aSlashedNodeNeverGetsALeaseWhateverItLocks() {
        NodeIdentity n = unstakedNode(2, 100);
        stake(n, 100 * MIN_STAKE, 0, true);
        task("job1/00000", 200, 1);
        tick();
        assertTrue(assignments.isEmpty());
    }

    @Test
    void aBannedNodeNeverGetsALeaseAndAnotherDoes() {
        NodeIdentity banned = node(2, 100);
        reputation(banned, 0.9, true);
        NodeIdentity honest = node(2, 150);
        task("job1/00000", 200, 1);
        assertEquals(honest.nodeId(), leasedTo());
        assertTrue(assignments.isEmpty());
    }

    @Test
    void aNodeBannedOrSlashedWhileHoldingLeasesHasThemRevokedAndTheShardsGoElsewhere() {
        NodeIdentity cheat = node(1, 100);
        NodeIdentity thief = node(1, 110);
        NodeIdentity honest = node(2, 150);
        task("job1/00000", 200, 1);
        task("job1/00001", 200, 2);
        List<Assignment> first = assignments.readValuesToList();
        assertEquals(List.of(cheat.nodeId(), thief.nodeId()), first.stream().map(Assignment::getNodeId).toList());
        reputation(cheat, 0.9, true);
        stake(thief, STAKE, 0, true);
        tick();
        List<Assignment> out = assignments.readValuesToList();
        assertEquals(4, out.size(), out.toString());
        assertTrue(out.get(0).getRevoked() && out.get(1).getRevoked());
        assertEquals(List.of("job1/00000#1", "job1/00001#1"), out.subList(0, 2).stream().map(Assignment::getLeaseId).sorted().toList());
        assertEquals(List.of("job1/00000#2@" + honest.nodeId(), "job1/00001#2@" + honest.nodeId()),
                out.subList(2, 4).stream().map(a -> a.getLeaseId() + "@" + a.getNodeId()).sorted().toList());
        // the per-node load follows the leases: the revoked nodes carry none, the honest one both 1-row shards at 150
        var load = driver.<String, String>getKeyValueStore(MatcherTopology.NODE_LOAD_STORE);
        assertEquals(null, load.get(cheat.nodeId()));
        assertEquals(null, load.get(thief.nodeId()));
        assertEquals("2:300", load.get(honest.nodeId()));
    }

    @Test
    void aNodeWhoseReputationIsBelowTheMinimumGetsNoLeaseAndANewUnscoredNodeDoes() {
        NodeIdentity poor = node(2, 100);
        reputation(poor, MatcherTopology.DEFAULT_MIN_REPUTATION - 0.01, false);
        task("job1/00000", 200, 1);
        tick();
        assertTrue(assignments.isEmpty(), "a node below the minimum reputation got work");
        NodeIdentity fresh = node(2, 150); // no reputation record yet
        assertEquals(fresh.nodeId(), leasedTo());
    }

    @Test
    void stakeMustCoverTheValueOfTheCandidateShard() {
        // minimum 1 unit; a 1-row shard at 1.2 units per row is worth more than a 1-unit stake
        NodeIdentity n = unstakedNode(2, 1_200_000);
        stake(n, MIN_STAKE, 0, false);
        task("job1/00000", 2_000_000, 1);
        tick();
        assertTrue(assignments.isEmpty(), "stake below the shard's value got the lease");
        stake(n, 1_200_000, 0, false);
        heartbeat(n);
        tick();
        assertEquals(n.nodeId(), leasedTo());
    }

    @Test
    void stakeMustCoverEveryOpenLeasePlusTheCandidateAndAnAnswerFreesTheCover() {
        // stake 1 unit covers one 0.6-unit shard, not two, though the node has 4 slots
        NodeIdentity n = unstakedNode(4, 600_000);
        stake(n, MIN_STAKE, 0, false);
        task("job1/00000", 2_000_000, 1);
        task("job1/00001", 2_000_000, 2);
        tick();
        List<Assignment> out = assignments.readValuesToList();
        assertEquals(List.of("job1/00000#1"), out.stream().map(Assignment::getLeaseId).toList());
        answer(n, out.get(0)); // no longer unanswered: it no longer counts in flight
        assertEquals("job1/00001#1", assignments.readValue().getLeaseId());
    }

    @Test
    void aHigherCoverageDemandsMoreStakeForTheSameShard() {
        startWith(new MatcherTopology.Config(LEASE, 3, 1, Duration.ofMillis(500), MatcherTopology.DEFAULT_VERDICT_WAIT,
                MatcherTopology.DEFAULT_ACCEPTED_RETENTION, 30_000, MatcherTopology.DEFAULT_MIN_REPUTATION));
        NodeIdentity n = unstakedNode(2, 1_000);
        stake(n, 2_999, 0, false); // a 1-row shard at 1,000 needs 3x = 3,000
        task("job1/00000", 2_000, 1);
        tick();
        assertTrue(assignments.isEmpty());
        stake(n, 3_000, 0, false);
        heartbeat(n);
        tick();
        assertEquals(n.nodeId(), leasedTo());
    }

    @Test
    void amongEquallyCheapNodesTheBetterReputationBandWinsAndCheaperStillBeatsReputation() {
        NodeIdentity good = node(4, 100);
        NodeIdentity better = node(4, 100);
        NodeIdentity cheaperButMeh = node(4, 90);
        reputation(good, 0.55, false);
        reputation(better, 0.91, false);
        reputation(cheaperButMeh, 0.3, false);
        tick(); // reputation is a global table: the matcher re-reads each node's standing per tick
        task("job1/00000", 200, 1);
        assertEquals(cheaperButMeh.nodeId(), leasedTo(), "price comes first");
        reputation(cheaperButMeh, 0.1, false); // now below the minimum: out
        task("job1/00001", 200, 2);
        assertEquals(better.nodeId(), leasedTo());
        task("job1/00002", 200, 3);
        assertEquals(better.nodeId(), leasedTo(), "a better reputation band beats a lighter load");
    }

    @Test
    void withinOneReputationBandTheLeastLoadedNodeWinsSoWorkIsSpread() {
        NodeIdentity a = node(4, 100);
        NodeIdentity b = node(4, 100);
        reputation(a, 0.52, false); // same band as 0.58 (tenths)
        reputation(b, 0.58, false);
        task("job1/00000", 200, 1);
        String first = leasedTo();
        assertTrue(List.of(a.nodeId(), b.nodeId()).contains(first)); // either may start (ties break on node id)
        task("job1/00001", 200, 2);
        String second = leasedTo();
        assertTrue(!second.equals(first), "the loaded node got the second shard while an equal one was idle");
    }
}
