package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import io.inferex.executor.node.MicroBatchPlan.Decision;
import io.inferex.executor.node.MicroBatchPlan.Pending;
import java.time.Duration;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;

class MicroBatchPlanTest {
    static final String FP32 = "fp32";
    static final String INT8 = "int8";
    final MicroBatchPlan plan = new MicroBatchPlan(64, Duration.ofMillis(20), Set.of(FP32)::contains);

    static Pending p(String id, String model, int rows, long at) {
        return new Pending(id, model, rows, at);
    }

    static List<String> ids(Decision d) {
        return d.run().stream().map(Pending::leaseId).toList();
    }

    @Test
    void leasesOfOneModelJoinInArrivalOrderUpToMaxRowsAndAFullGroupRunsAtOnce() {
        List<Pending> pending = List.of(p("a", FP32, 16, 0), p("b", FP32, 16, 1), p("c", FP32, 16, 2), p("d", FP32, 16, 3),
                p("e", FP32, 16, 4));
        Decision d = plan.next(pending, 5, true);
        assertEquals(List.of("a", "b", "c", "d"), ids(d), "64 rows: full, runs before max wait");
    }

    @Test
    void theFirstLeaseThatDoesNotFitEndsTheGroupSoNoLaterLeaseOvertakesIt() {
        Decision d = plan.next(List.of(p("a", FP32, 40, 0), p("b", FP32, 30, 1), p("c", FP32, 10, 2)), 5, true);
        assertEquals(List.of("a"), ids(d));
        assertEquals(0, d.waitMs());
    }

    @Test
    void aGroupNotFullWaitsForTheRestOfTheHeadsMaxWaitThenRuns() {
        List<Pending> pending = List.of(p("a", FP32, 16, 100), p("b", FP32, 16, 110));
        Decision early = plan.next(pending, 105, true);
        assertEquals(List.of(), ids(early));
        assertEquals(15, early.waitMs());
        assertEquals(List.of("a", "b"), ids(plan.next(pending, 120, true)));
    }

    @Test
    void aFullNodeTakesNoMoreLeasesSoThePendingOnesRunWithoutWaiting() {
        Decision d = plan.next(List.of(p("a", FP32, 16, 100), p("b", FP32, 16, 101)), 101, false);
        assertEquals(List.of("a", "b"), ids(d));
    }

    @Test
    void aModelNotKnownBatchInvariantRunsEachShardAloneAtOnce() {
        List<Pending> pending = List.of(p("a", INT8, 4, 100), p("b", INT8, 4, 100), p("c", "unmeasured", 4, 100));
        assertEquals(List.of("a"), ids(plan.next(pending, 100, true)));
        assertEquals(List.of("c"), ids(plan.next(pending.subList(2, 3), 100, true)));
    }

    @Test
    void otherModelsAreSkippedNotMixedIntoTheCall() {
        Decision d = plan.next(List.of(p("a", FP32, 8, 0), p("x", INT8, 8, 0), p("b", FP32, 8, 0)), 50, true);
        assertEquals(List.of("a", "b"), ids(d));
    }

    @Test
    void aShardLargerThanMaxRowsStillRunsAlone() {
        assertEquals(List.of("big"), ids(plan.next(List.of(p("big", FP32, 500, 0), p("b", FP32, 1, 0)), 0, true)));
    }

    @Test
    void nothingPendingMeansWaitAndBadBoundsAreRefused() {
        assertEquals(List.of(), ids(plan.next(List.of(), 0, true)));
        assertThrows(IllegalArgumentException.class, () -> new MicroBatchPlan(0, Duration.ZERO, m -> true));
        assertThrows(IllegalArgumentException.class, () -> new MicroBatchPlan(1, Duration.ofMillis(-1), m -> true));
    }
}
