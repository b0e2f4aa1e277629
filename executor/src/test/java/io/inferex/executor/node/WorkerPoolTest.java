package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Assignment;
import io.inferex.events.ShardResult;
import io.inferex.wire.CatalogueSerializer;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/** The worker pool with a stand-in for the model and a MockProducer: slots, refusals, finished offsets, no double run. */
class WorkerPoolTest {
    final List<Long> finished = new CopyOnWriteArrayList<>();
    final Rejections rejections = new Rejections();
    final MockProducer<String, Object> producer = new MockProducer<>(true, null, new StringSerializer(), new CatalogueSerializer());

    WorkerPool pool(int slots, Function<Assignment, ShardResult> shard) {
        return pool(slots, leases -> leases.stream().map(shard).toList(), MicroBatchPlan.off());
    }

    WorkerPool pool(int slots, Function<List<Assignment>, List<ShardResult>> shards, MicroBatchPlan plan) {
        ResultPublisher results = new ResultPublisher(() -> producer, () -> 0L, ms -> {});
        results.open();
        return new WorkerPool(slots, "test", NodePartsFixture.NODE, shards, plan, results, rejections, Adversary.none(), finished::add);
    }

    void awaitFinished(int n) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (finished.size() < n) {
            assertTrue(System.nanoTime() < deadline, "finished so far: " + finished);
            Thread.sleep(5);
        }
    }

    @Test
    void aRunningShardHoldsItsSlotAndIsAdvertisedThenItsAckedResultFinishesTheOffsetAndTheLeaseIsNotRunAgain() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        WorkerPool pool = pool(2, a -> {
            try {
                release.await();
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            return NodePartsFixture.result(a);
        });
        Assignment a = NodePartsFixture.lease("L1", Long.MAX_VALUE);
        assertTrue(pool.tryAcquireSlot(Duration.ZERO));
        assertTrue(pool.submit(a, NodePartsFixture.record(7, NodePartsFixture.NODE, a)));
        assertEquals(1, pool.freeSlots());
        assertEquals(List.of("L1"), pool.activeLeases());
        assertTrue(pool.alreadyRun("L1"));
        assertTrue(finished.isEmpty(), "not finished before its result is acknowledged");
        release.countDown();
        awaitFinished(1);
        assertEquals(List.of(7L), finished);
        assertEquals(1, producer.history().size());
        assertEquals(1, pool.leasesCompleted());
        assertEquals(2, pool.rowsProcessed());
        assertEquals(2, pool.freeSlots());
        assertTrue(pool.alreadyRun("L1"), "an answered lease is remembered");
        assertTrue(pool.drain(Duration.ofSeconds(5)));
    }

    /**
     * Micro-batching: leases of one batch-invariant model taken while the first waits (max wait) run in
     * one call; each gets its own result, acknowledged and finished; a lease whose run fails inside a
     * group is then run alone and declined, and the others are still answered.
     */
    @Test
    void leasesTakenTogetherRunInOneCallEachAnsweredWithItsOwnResultAndAFailingOneIsDeclinedAlone() throws Exception {
        List<List<String>> calls = new CopyOnWriteArrayList<>();
        WorkerPool pool = pool(4, leases -> {
            calls.add(leases.stream().map(Assignment::getLeaseId).toList());
            if (leases.stream().anyMatch(a -> a.getLeaseId().equals("bad"))) {
                throw new IllegalStateException("inference failed");
            }
            return NodePartsFixture.results(leases);
        }, new MicroBatchPlan(128, Duration.ofSeconds(10), NodePartsFixture.MODEL::equals));
        long offset = 0;
        for (String id : List.of("L1", "L2", "bad", "L4")) { // the fourth fills the node: the group runs without waiting 10 s
            Assignment a = NodePartsFixture.lease(id, Long.MAX_VALUE);
            assertTrue(pool.tryAcquireSlot(Duration.ZERO));
            assertTrue(pool.submit(a, NodePartsFixture.record(offset++, NodePartsFixture.NODE, a)));
        }
        awaitFinished(4);
        assertEquals(List.of("L1", "L2", "bad", "L4"), calls.get(0), "all four in one call, in arrival order");
        assertEquals(List.of(List.of("L1"), List.of("L2"), List.of("bad"), List.of("L4")), calls.subList(1, calls.size()),
                "after the group failed, each alone");
        assertEquals(List.of("L1", "L2", "L4"), producer.history().stream().map(r -> ((ShardResult) r.value()).getLeaseId()).toList(),
                "one result per good lease");
        assertEquals(3, pool.leasesCompleted());
        assertEquals(1, rejections.declined(), "the failing lease is declined to the matcher");
        assertEquals(4, pool.freeSlots());
        assertTrue(pool.drain(Duration.ofSeconds(5)));
    }

    @Test
    void leasesOfAModelNotBatchInvariantOrWithMicroBatchingOffRunOnePerCall() throws Exception {
        for (MicroBatchPlan plan : List.of(MicroBatchPlan.off(), new MicroBatchPlan(128, Duration.ofSeconds(10), model -> false))) {
            List<Integer> callSizes = new CopyOnWriteArrayList<>();
            finished.clear();
            WorkerPool pool = pool(3, leases -> {
                callSizes.add(leases.size());
                return NodePartsFixture.results(leases);
            }, plan);
            for (int i = 0; i < 3; i++) {
                Assignment a = NodePartsFixture.lease("M" + i, Long.MAX_VALUE);
                assertTrue(pool.tryAcquireSlot(Duration.ZERO));
                pool.submit(a, NodePartsFixture.record(i, NodePartsFixture.NODE, a));
            }
            awaitFinished(3);
            assertEquals(List.of(1, 1, 1), callSizes);
            assertTrue(pool.drain(Duration.ofSeconds(5)));
        }
    }

    @Test
    void aShardThatFailsToRunIsRefusedCountedAndFinishedWithNothingPublished() throws Exception {
        WorkerPool pool = pool(1, a -> {
            throw new IllegalStateException("inference failed");
        });
        Assignment a = NodePartsFixture.lease("L2", Long.MAX_VALUE);
        assertTrue(pool.tryAcquireSlot(Duration.ZERO));
        assertFalse(pool.tryAcquireSlot(Duration.ZERO), "one slot only");
        pool.submit(a, NodePartsFixture.record(3, NodePartsFixture.NODE, a));
        awaitFinished(1);
        assertEquals(List.of(3L), finished);
        assertEquals(1, rejections.count());
        assertEquals(0, producer.history().size());
        assertFalse(pool.alreadyRun("L2"), "a refused lease is not remembered as answered");
        assertTrue(pool.drain(Duration.ofSeconds(5)));
        assertFalse(pool.submit(a, NodePartsFixture.record(4, NodePartsFixture.NODE, a)), "a drained pool takes nothing");
    }
}
