package io.inferex.local.load;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The network-fault chaos entry's "restore-to-caught-up-ms": when the backlog a fault left behind was worked off. */
class NetworkFaultSummaryTest {
    /** A shard with its stage times: accepted, assigned, result, verdict, FINAL, paid (0: not seen). */
    private static StageObserver.Shard shard(String id, long... t) {
        StageObserver.Shard s = new StageObserver.Shard(id);
        s.accepted = t[0];
        s.assigned = t[1];
        s.result = t[2];
        s.verdict = t[3];
        s.resolved = t[4];
        s.outcome = t[4] == 0 ? null : io.inferex.events.OutcomeKind.FINAL;
        s.paid = t[5];
        return s;
    }

    @Test
    void caughtUpIsWhenTheLastShardWaitingOnTheTargetAtTheRestorePassedItsStage() {
        List<StageObserver.Shard> shards = List.of(
                shard("a", 100, 150, 200, 300, 800, 900),
                shard("b", 200, 700, 900, 1_800, 2_300, 2_500),
                // accepted before the restore, assigned after it: the matcher's backlog, not the verifier's
                shard("c", 300, 1_200, 1_300, 4_000, 4_100, 4_200),
                shard("after", 1_100, 5_000, 5_100, 6_000, 8_900, 9_000));
        assertEquals(200L, LoadRun.caughtUp(shards, "matcher", 1_000));
        assertEquals(800L, LoadRun.caughtUp(shards, "verifier", 1_000));
        assertEquals(0L, LoadRun.caughtUp(shards, "settlement", 1_000)); // a was paid before; none other was FINAL
        assertEquals(100L, LoadRun.caughtUp(shards, "settlement", 2_400)); // b: FINAL at 2300, paid at 2500
        assertEquals(100L, LoadRun.caughtUp(shards, "fleet", 800)); // b: assigned at 700, answered at 900
        assertEquals(0L, LoadRun.caughtUp(shards, "fleet", 1_000)); // every shard assigned before had its result by then
    }

    @Test
    void aShardThatNeverPassedTheStageMeansNeverCaughtUp() {
        List<StageObserver.Shard> shards = List.of(shard("a", 100, 150, 200, 0, 0, 0));
        assertEquals("never", LoadRun.caughtUp(shards, "verifier", 1_000));
    }
}
