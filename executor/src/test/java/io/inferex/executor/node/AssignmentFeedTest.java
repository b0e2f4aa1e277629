package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Assignment;
import io.inferex.events.DeclineReason;
import io.inferex.events.LeaseDeclined;
import io.inferex.market.NodeIdentity;
import io.inferex.market.SignedPayloads;
import io.inferex.topics.Topics;
import io.inferex.wire.CatalogueSerializer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.kafka.clients.consumer.MockConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

/** The assignment feed on MockConsumer/MockProducer: which records run, and that commits never pass an unanswered lease. */
class AssignmentFeedTest {
    static final long NOW = 1_000_000;
    final MockConsumer<byte[], byte[]> consumer = new MockConsumer<>("earliest");
    final MockProducer<String, Object> producer = new MockProducer<>(false, null, new StringSerializer(), new CatalogueSerializer());
    final NodeIdentity identity = NodeIdentity.generate();
    Rejections rejections;
    final AtomicBoolean running = new AtomicBoolean(true);
    final List<Long> sleeps = new ArrayList<>();
    AssignmentFeed feed;
    WorkerPool pool;

    void build(int partitions) {
        List<PartitionInfo> infos = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            infos.add(new PartitionInfo(Topics.ASSIGNMENTS.name(), p, null, null, null));
        }
        consumer.updatePartitions(Topics.ASSIGNMENTS.name(), infos);
        ResultPublisher results = new ResultPublisher(() -> producer, () -> NOW, ms -> {});
        results.open();
        rejections = new Rejections((lease, reason, detail) -> results.decline(NodeRuntime.declined(identity, lease, reason, detail, NOW)));
        AssignmentFeed[] ref = new AssignmentFeed[1];
        pool = new WorkerPool(2, "test", NodePartsFixture.NODE, NodePartsFixture::results, MicroBatchPlan.off(), results, rejections,
                Adversary.none(), offset -> ref[0].finished(offset));
        feed = new AssignmentFeed(() -> consumer, NodePartsFixture.NODE, NodePartsFixture.MODEL, pool, rejections, () -> NOW,
                running::get, sleeps::add, Duration.ofMillis(50));
        ref[0] = feed;
    }

    Long committed(TopicPartition tp) {
        OffsetAndMetadata o = consumer.committed(Set.of(tp)).get(tp);
        return o == null ? null : o.offset();
    }

    @Test
    void readsThePartitionItsIdHashesToAndCommitsOnlyPastRecordsFinishedWithNeverPastAnUnansweredLease() throws Exception {
        build(Topics.ASSIGNMENTS.partitions());
        TopicPartition tp = feed.assign();
        assertEquals(new TopicPartition(Topics.ASSIGNMENTS.name(),
                AssignmentPartition.of(NodePartsFixture.NODE, Topics.ASSIGNMENTS.partitions())), tp);
        assertEquals(Set.of(tp), consumer.assignment());

        Assignment live = NodePartsFixture.lease("L-live", NOW + 60_000);
        Assignment expired = NodePartsFixture.lease("L-expired", NOW - 1);
        Assignment revoked = Assignment.newBuilder(NodePartsFixture.lease("L-revoked", NOW + 60_000)).setRevoked(true).build();
        Assignment otherModel = Assignment.newBuilder(NodePartsFixture.lease("L-model", NOW + 60_000)).setModel("other").build();
        Assignment misaddressed = Assignment.newBuilder(NodePartsFixture.lease("L-addr", NOW + 60_000)).setNodeId("node-b").build();
        feed.handle(NodePartsFixture.record(0, "node-b", live)); // another node's key
        feed.handle(NodePartsFixture.record(1, NodePartsFixture.NODE, live)); // runs; result not acked yet
        feed.handle(NodePartsFixture.record(2, NodePartsFixture.NODE, expired));
        feed.handle(NodePartsFixture.record(3, NodePartsFixture.NODE, revoked));
        feed.handle(NodePartsFixture.record(4, NodePartsFixture.NODE, otherModel)); // refused
        feed.handle(NodePartsFixture.record(5, NodePartsFixture.NODE, misaddressed)); // refused
        feed.handle(NodePartsFixture.record(6, NodePartsFixture.NODE, null)); // tombstone: refused
        feed.handle(NodePartsFixture.record(7, NodePartsFixture.NODE, live)); // the same lease again while running: skipped
        assertEquals(3, rejections.count());
        assertEquals(1, rejections.declined(), "the lease of a model it does not serve is declined; the others are no lease of this node");
        LeaseDeclined declined = declines().get(0);
        assertEquals("L-model", declined.getLeaseId());
        assertEquals(DeclineReason.CANNOT_RUN, declined.getReason());
        assertEquals(1, feed.skippedForeign());
        assertEquals(1, feed.skippedExpired());

        feed.commit(Duration.ofSeconds(1));
        assertEquals(1L, committed(tp), "only past the foreign record: offset 1 is running");

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!producer.completeNext()) { // the worker's send, once it is there
            assertTrue(System.nanoTime() < deadline, "the worker never sent its result");
            Thread.sleep(5);
        }
        while (!Long.valueOf(8L).equals(committed(tp))) { // past everything once the result is acknowledged
            assertTrue(System.nanoTime() < deadline, "committed " + committed(tp));
            Thread.sleep(5);
            feed.commit(Duration.ofSeconds(1));
        }
        assertEquals(1, pool.leasesCompleted());
        assertEquals(1, producer.history().stream().filter(r -> r.topic().equals(Topics.RESULTS.name())).count(), "the lease ran once");
        pool.drain(Duration.ofSeconds(5));
        feed.commitAndClose();
        assertTrue(consumer.closed());
    }

    List<LeaseDeclined> declines() {
        return producer.history().stream().filter(r -> r.topic().equals(Topics.LEASE_DECLINES.name()))
                .map(r -> (LeaseDeclined) r.value()).toList();
    }

    /** Back-pressure: every slot held (results not yet acknowledged), a further lease is declined, signed, and finished with. */
    @Test
    void aLeaseThatFindsNoFreeSlotWithinTheFullWaitIsDeclinedAsFullSignedByTheNodeAndTheFeedGoesOn() throws Exception {
        build(Topics.ASSIGNMENTS.partitions());
        TopicPartition tp = feed.assign();
        feed.handle(NodePartsFixture.record(0, NodePartsFixture.NODE, NodePartsFixture.lease("L1", NOW + 60_000)));
        feed.handle(NodePartsFixture.record(1, NodePartsFixture.NODE, NodePartsFixture.lease("L2", NOW + 60_000)));
        Assignment third = NodePartsFixture.lease("L3", NOW + 60_000);
        feed.handle(NodePartsFixture.record(2, NodePartsFixture.NODE, third)); // both slots held: waits 50 ms, then declines
        assertEquals(0, pool.freeSlots());
        assertEquals(1, rejections.declined());
        List<LeaseDeclined> declined = declines();
        assertEquals(1, declined.size());
        LeaseDeclined d = declined.get(0);
        assertEquals("L3", d.getLeaseId());
        assertEquals(third.getTaskId(), d.getTaskId());
        assertEquals(third.getPoolKey(), d.getPoolKey());
        assertEquals(identity.nodeId(), d.getNodeId());
        assertEquals(DeclineReason.FULL, d.getReason());
        assertTrue(d.getDetail().contains("full"), d.getDetail());
        assertTrue(SignedPayloads.verifies(java.nio.ByteBuffer.wrap(identity.publicKey()), d), "signed by the node");
        assertEquals(third.getPoolKey(), producer.history().stream().filter(r -> r.topic().equals(Topics.LEASE_DECLINES.name()))
                .findFirst().orElseThrow().key(), "keyed by pool: the matcher partition that holds the lease");
        assertFalse(pool.alreadyRun("L3"), "a declined lease is not held");
        // the declined record is finished with, the running ones are not: nothing committed until L1 is answered
        feed.commit(Duration.ofSeconds(1));
        assertNull(committed(tp));
        running.set(false);
        pool.stopNow(Duration.ofSeconds(1));
    }

    @Test
    void waitsForTheTopicToExistAndGivesUpWhenTheNodeStops() throws Exception {
        build(0);
        consumer.updatePartitions(Topics.ASSIGNMENTS.name(), List.of());
        AssignmentFeed waiting = new AssignmentFeed(() -> consumer, NodePartsFixture.NODE, NodePartsFixture.MODEL, pool, rejections,
                () -> NOW, running::get, ms -> {
                    sleeps.add(ms);
                    if (sleeps.size() == 3) {
                        running.set(false);
                    }
                }, Duration.ofMillis(50));
        assertNull(waiting.assign());
        assertEquals(List.of(1_000L, 1_000L, 1_000L), sleeps);
        assertEquals(Set.of(), consumer.assignment());
        assertNull(waiting.partition());
    }
}
