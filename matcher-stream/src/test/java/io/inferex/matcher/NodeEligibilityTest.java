package io.inferex.matcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.InputRow;
import io.inferex.events.NodeRegistered;
import io.inferex.events.NodeStake;
import io.inferex.events.ShardTask;
import io.inferex.market.NodeIdentity;
import io.inferex.market.SignedPayloads;
import io.inferex.testing.SignedFixtures;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The pure eligibility rules: stake coverage across pools, and the reasons an operator reads. */
class NodeEligibilityTest {
    final NodeEligibility rules = new NodeEligibility(new NodeEligibility.Rules(1_000, 10_000, 0.2));
    final ShardTask shard = ShardTask.newBuilder().setTaskId("j/00000").setJobId("j").setShardIndex(0).setShardCount(1)
            .setModel(SignedFixtures.MODEL).setPoolKey(SignedFixtures.POOL).setMaxPricePerRowMicros(1_000)
            .setRows(List.of(new InputRow("a", 1, "x"), new InputRow("b", 2, "y"))).setCreatedAtMs(1).build();

    static NodeStake stake(String nodeId, long locked, long unlocking) {
        return NodeStake.newBuilder().setNodeId(nodeId).setLockedMicros(locked).setUnlockingMicros(unlocking).setUnlockAtMs(0)
                .setSlashed(false).setUpdatedAtMs(1).build();
    }

    static NodeRegistered twoPoolNode(NodeIdentity id) {
        NodeRegistered reg = SignedFixtures.registration(id, 1_000, 4, 1000);
        reg.setModels(List.of(SignedFixtures.MODEL, "other-model"));
        reg.setModelDigests(List.of(reg.getModelDigests().get(0), "0".repeat(64)));
        return SignedPayloads.sign(id, reg);
    }

    @Test
    void aNodeInTwoPoolsMustCoverItsInFlightValueTwiceBecauseEachPoolSeesOnlyItsOwnLeases() {
        NodeIdentity id = NodeIdentity.generate();
        NodeRegistered reg = twoPoolNode(id);
        // in flight 3,000 here + the 2-row shard at 1,000 = 5,000; two pools: 10,000 required
        var under = new NodeEligibility.Node(reg, true, stake(id.nodeId(), 9_999, 0), null, 1, 3_000);
        var enough = new NodeEligibility.Node(reg, true, stake(id.nodeId(), 10_000, 0), null, 1, 3_000);
        Optional<String> why = rules.whyNot(under, shard, Set.of());
        assertTrue(why.orElseThrow().contains("below the 10000 required") && why.get().contains("in each of 2 pools"), why.get());
        assertEquals(Optional.empty(), rules.whyNot(enough, shard, Set.of()));
    }

    @Test
    void theIdleReasonNamesUnlockingStakeAndAMissingRecord() {
        NodeIdentity id = NodeIdentity.generate();
        NodeRegistered reg = SignedFixtures.registration(id, 1_000, 4, 1000);
        String unlocking = rules.whyIdle(new NodeEligibility.Node(reg, true, stake(id.nodeId(), 5_000, 4_500), null, 0, 0)).orElseThrow();
        assertTrue(unlocking.contains("eligible stake 500 (4500 of 5000 locked is unlocking) below the 1000 required"), unlocking);
        String none = rules.whyIdle(new NodeEligibility.Node(reg, true, null, null, 0, 0)).orElseThrow();
        assertTrue(none.contains("eligible stake 0 (no stake record)"), none);
        assertEquals(Optional.empty(), rules.whyIdle(new NodeEligibility.Node(reg, true, stake(id.nodeId(), 1_000, 0), null, 0, 0)));
    }

    @Test
    void theOperatorsRowShowsStakeInFlightValueReputationBanAndWhyTheNodeIsIdle() {
        NodeIdentity id = NodeIdentity.generate();
        NodeRegistered reg = SignedFixtures.registration(id, 1_000, 4, 1000);
        var banned = io.inferex.events.NodeReputation.newBuilder().setNodeId(id.nodeId()).setScore(0.7).setObservations(3)
                .setBanned(true).setReason("fraud on j/00001").setUpdatedAtMs(1).build();
        var row = PoolResource.row(rules, new NodeEligibility.Node(reg, true, stake(id.nodeId(), 5_000, 1_000), banned, 2, 4_000));
        assertEquals(4_000L, row.get("inFlightMicros"));
        assertEquals(4_000L, row.get("eligibleStakeMicros"));
        assertEquals(1_000L, row.get("unlockingStakeMicros"));
        assertEquals(0.7, row.get("reputation"));
        assertEquals(true, row.get("banned"));
        assertEquals("banned: fraud on j/00001", row.get("notEligible"));
        var fine = PoolResource.row(rules, new NodeEligibility.Node(reg, true, stake(id.nodeId(), 5_000, 0), null, 0, 0));
        assertEquals(NodeEligibility.UNRATED_SCORE, fine.get("reputation"));
        assertEquals(false, fine.get("rated"));
        assertEquals(null, fine.get("notEligible"));
    }

    @Test
    void anInFlightValueThatWouldOverflowIsNotEligibleInsteadOfWrapping() {
        NodeIdentity id = NodeIdentity.generate();
        NodeRegistered reg = SignedFixtures.registration(id, 1_000, 4, 1000);
        var n = new NodeEligibility.Node(reg, true, stake(id.nodeId(), Long.MAX_VALUE, 0), null, 1, Long.MAX_VALUE);
        assertEquals(Optional.of("in-flight value overflows"), rules.whyNot(n, shard, Set.of()));
    }
}
