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
import org.apache.kafka.common.serialization.Serdes;
import org.junit.jupiter.api.Test;

/**
 * The matcher's index stores ({@link MatchIndex}) hold an entry exactly while the fact it indexes
 * holds; the in-memory free-node order ({@link NodeBook}) offers a node exactly while it may take
 * work, and is rebuilt from the stores when the processor is initialised over existing state.
 */
class MatcherIndexTest extends MatcherTestBase {
    long entries(String store, String prefix) {
        return TopologyFixture.entries(driver.getKeyValueStore(store), prefix);
    }

    @Test
    void aTaskIsQueuedUntilLeasedAndItsLeaseIsOpenUntilAnsweredThenAwaitsItsVerdictUntilJudged() {
        task("job1/00000", 200, 1);
        assertEquals(1, entries(MatcherTopology.PENDING_QUEUE_STORE, ""), "no node yet: queued");
        NodeIdentity n = node(2, 100);
        Assignment lease = assignments.readValue();
        assertEquals(0, entries(MatcherTopology.PENDING_QUEUE_STORE, ""), "leased: no longer queued");
        assertEquals(1, entries(MatcherTopology.LEASES_STORE, ""));
        assertEquals(1, driver.<String, io.inferex.events.TaskLeaseState>getKeyValueStore(MatcherTopology.TASKS_STORE)
                .get("job1/00000").getAttempts(), "the attempt is in the task's record");
        assertEquals(0, entries(MatcherTopology.LEGACY_ATTEMPTS_STORE, ""), "no attempts store written");
        answer(n, lease);
        assertEquals(0, entries(MatcherTopology.LEASES_STORE, ""), "answered: not open");
        assertEquals(1, entries(MatcherTopology.ANSWERED_STORE, ""), "waiting for its verdict");
        verdict(lease, VerdictOutcome.ACCEPTED);
        assertEquals(0, entries(MatcherTopology.ANSWERED_STORE, ""), "judged");
        assertEquals(0, entries(MatcherTopology.TASKS_STORE, ""), "accepted: the task with its attempts is gone");
        assertEquals(0, entries(MatcherTopology.PENDING_QUEUE_STORE, ""));
    }

    @Test
    void anExpiredLeaseLeavesTheIndexItsTaskIsQueuedAgainAndTheRevivedNodeIsFreeAgain() {
        NodeIdentity n = node(1, 100);
        task("job1/00000", 200, 1);
        Assignment first = assignments.readValue();
        driver.advanceWallClockTime(LEASE.plusSeconds(1)); // no heartbeat meanwhile: dead, and the deadline passed
        assertTrue(assignments.readValue().getRevoked());
        assertEquals(0, entries(MatcherTopology.LEASES_STORE, ""), "revoked: not open");
        assertEquals(1, entries(MatcherTopology.PENDING_QUEUE_STORE, ""), "queued again");
        driver.advanceWallClockTime(Duration.ofMillis(500));
        assertTrue(assignments.isEmpty(), "dead: not offered the shard it lost");
        heartbeat(n);
        Assignment second = assignments.readValue();
        assertEquals(first.getTaskId(), second.getTaskId());
        assertEquals(2, second.getAttempt());
        assertEquals(0, entries(MatcherTopology.PENDING_QUEUE_STORE, ""));
        assertEquals(1, entries(MatcherTopology.LEASES_STORE, ""));
    }

    @Test
    void aNodeIsOfferedWorkExactlyWhileItHasAFreeSlotAndNeverOnceSlashed() {
        NodeIdentity n = node(2, 100);
        task("job1/00000", 200, 1);
        task("job1/00001", 200, 2);
        List<Assignment> both = assignments.readValuesToList();
        assertEquals(2, both.size(), "one shard per free slot");
        task("job1/00002", 200, 3);
        assertTrue(assignments.isEmpty(), "both slots leased: not offered a third");
        assertEquals(1, entries(MatcherTopology.PENDING_QUEUE_STORE, ""));
        answer(n, both.get(0));
        assertEquals("job1/00002", assignments.readValue().getTaskId(), "answered: its slot is free again");
        answer(n, both.get(1));
        stake(n, 0, 0, true); // slashed: found on the next tick
        driver.advanceWallClockTime(Duration.ofMillis(500));
        List<Assignment> revoked = assignments.readValuesToList();
        assertEquals(List.of("job1/00002#1"), revoked.stream().filter(Assignment::getRevoked).map(Assignment::getLeaseId).toList(),
                "its open lease is taken back");
        task("job1/00003", 200, 4);
        assertTrue(assignments.isEmpty(), "slashed: never offered work");
        assertEquals(2, entries(MatcherTopology.PENDING_QUEUE_STORE, ""), "the shards nobody can take are queued");
    }

    @Test
    void theFreeNodeOrderHoldsANodeOncePerOrderUnderItsCurrentKeysAndNoneWhenItHasNone() {
        NodeBook book = new NodeBook();
        NodeIdentity id = NodeIdentity.generate();
        var reg = SignedFixtures.registration(id, 100, 2, 1000);
        List<String> idle = MatchIndex.freeKeys(new NodeEligibility.Node(reg, true, null, null, 0, 0));
        List<String> busy = MatchIndex.freeKeys(new NodeEligibility.Node(reg, true, null, null, 1, 100));
        book.index(id.nodeId(), idle);
        assertTrue(book.anyFree());
        assertEquals(List.of(id.nodeId()), List.copyOf(book.free(MatchIndex.byPricePrefix(POOL))));
        assertEquals(List.of(id.nodeId()), List.copyOf(book.free(MatchIndex.byReputationPrefix(POOL))));
        book.index(id.nodeId(), busy);
        assertEquals(1, book.free(MatchIndex.byPricePrefix(POOL)).size(), "re-keyed by its load, not added twice");
        assertEquals(busy, book.keys(id.nodeId()));
        book.index(id.nodeId(), List.of(MatchIndex.parked(id.nodeId())));
        assertTrue(!book.anyFree() && book.free(MatchIndex.byReputationPrefix(POOL)).isEmpty(), "parked: in no order");
        assertEquals(List.of(id.nodeId()), book.indexed(), "but still re-checked on every tick");
        book.index(id.nodeId(), List.of());
        assertEquals(List.of(), book.indexed());
    }

    /**
     * A processor initialised over stores that already hold the market (a restart, a restore, a
     * task moved to another instance by a rebalance) rebuilds its in-memory aids from them: a node
     * whose slot the stores say is leased is not offered work, the next is, and an answer on the
     * old lease frees the slot for the shard that waited.
     */
    @Test
    void aProcessorInitialisedOverExistingStoresRebuildsTheNodesFreeSlotsAndPreferencesFromThem() {
        var context = new org.apache.kafka.streams.processor.api.MockProcessorContext<String, Object>();
        context.setCurrentSystemTimeMs(1_000_000);
        addStores(context);
        var config = new MatcherTopology.Config(LEASE, 3, 1_000_000, Duration.ofMillis(500));
        NodeIdentity cheap = NodeIdentity.generate();
        NodeIdentity dear = NodeIdentity.generate();
        LeaseMatcher before = new LeaseMatcher(config);
        before.init(context);
        io.inferex.events.JobStatus open = io.inferex.events.JobStatus.newBuilder().setJobId("job1").setCustomerId("c")
                .setState(io.inferex.events.JobState.IN_PROGRESS).setRowCount(4).setCompletedRows(0).setFailedRows(0).setShardCount(4)
                .setShardsDone(0).setSpentMicros(0).setUpdatedAtMs(1).build();
        context.<org.apache.kafka.streams.state.TimestampedKeyValueStore<String, io.inferex.events.JobStatus>>getStateStore(
                MatcherTopology.JOB_STATUS_STORE).put("job1", org.apache.kafka.streams.state.ValueAndTimestamp.make(open, 1));
        for (NodeIdentity id : List.of(cheap, dear)) {
            context.<org.apache.kafka.streams.state.TimestampedKeyValueStore<String, io.inferex.events.NodeStake>>getStateStore(
                    MatcherTopology.NODE_STAKE_STORE).put(id.nodeId(), org.apache.kafka.streams.state.ValueAndTimestamp.make(
                            io.inferex.events.NodeStake.newBuilder().setNodeId(id.nodeId()).setLockedMicros(STAKE).setUnlockingMicros(0)
                                    .setUnlockAtMs(0).setSlashed(false).setUpdatedAtMs(1).build(), 1));
            before.process(new org.apache.kafka.streams.processor.api.Record<>(POOL,
                    SignedFixtures.registration(id, id == cheap ? 100 : 200, 1, 1000), 1));
            before.process(new org.apache.kafka.streams.processor.api.Record<>(POOL, signedHeartbeat(id, 1), 1));
        }
        before.process(new org.apache.kafka.streams.processor.api.Record<>(POOL, shard("job1/00000"), 1));
        Assignment first = leasedIn(context);
        assertEquals(cheap.nodeId(), first.getNodeId());

        LeaseMatcher after = new LeaseMatcher(config); // another instance: knows nothing but the stores
        context.resetForwards();
        after.init(context);
        after.process(new org.apache.kafka.streams.processor.api.Record<>(POOL, shard("job1/00001"), 2));
        assertEquals(dear.nodeId(), leasedIn(context).getNodeId(), "the cheap node's only slot is leased, as the stores say");
        after.process(new org.apache.kafka.streams.processor.api.Record<>(POOL, shard("job1/00002"), 3));
        assertTrue(context.forwarded().isEmpty(), "no free slot left");
        after.process(new org.apache.kafka.streams.processor.api.Record<>(POOL, signedResult(cheap, first), 4));
        Assignment third = leasedIn(context);
        assertEquals("job1/00002", third.getTaskId());
        assertEquals(cheap.nodeId(), third.getNodeId(), "its answer freed the slot");
    }

    /**
     * The lease index is in memory only ({@link LeaseIndex}): a processor initialised over the stores
     * (a restart, a restore, a rebalance) rebuilds it from the leases and answered-leases stores, and
     * then expires, revokes and re-leases exactly the leases one that never restarted does, with the
     * same attempt counts (a re-lease after a revocation is attempt 2, from the task's record).
     */
    @Test
    void aProcessorRestartedOverExistingStoresRebuildsTheLeaseIndexAndExpiresRevokesAndReLeasesAsOneThatNeverRestarted() {
        NodeIdentity cheap = NodeIdentity.generate();
        NodeIdentity dear = NodeIdentity.generate();
        List<String> continuous = leaseLifecycle(cheap, dear, false);
        List<String> restarted = leaseLifecycle(cheap, dear, true);
        assertEquals(List.of("job1/00000#1 " + cheap.nodeId() + " leased", "job1/00001#1 " + dear.nodeId() + " leased",
                // the first lease's deadline passed: revoked, its (live) node excluded, re-leased as attempt 2
                "job1/00000#1 " + cheap.nodeId() + " revoked", "job1/00000#2 " + dear.nodeId() + " leased",
                // the answered lease got no verdict in time: revoked, re-leased as attempt 2
                "job1/00001#1 " + dear.nodeId() + " revoked", "job1/00001#2 " + cheap.nodeId() + " leased"), continuous);
        assertEquals(continuous, restarted, "restarted before each tick: the same revocations and leases");
    }

    /**
     * Two nodes with one slot each and two shards: both leased, the dear node answers its shard; then
     * a tick after the first lease's deadline, and one after the answered lease's verdict wait. With
     * {@code restart}, a new processor is initialised over the same stores before each tick.
     */
    private List<String> leaseLifecycle(NodeIdentity cheap, NodeIdentity dear, boolean restart) {
        var context = new org.apache.kafka.streams.processor.api.MockProcessorContext<String, Object>();
        long t0 = 1_000_000;
        context.setCurrentSystemTimeMs(t0);
        addStores(context);
        var config = new MatcherTopology.Config(LEASE, 3, 1_000_000, Duration.ofMillis(500));
        LeaseMatcher matcher = new LeaseMatcher(config);
        matcher.init(context);
        openJobAndStake(context, List.of(cheap, dear));
        for (NodeIdentity id : List.of(cheap, dear)) {
            matcher.process(new org.apache.kafka.streams.processor.api.Record<>(POOL,
                    SignedFixtures.registration(id, id == cheap ? 100 : 200, 1, LeaseMatcher.MAX_HEARTBEAT_INTERVAL_MS), 1));
            matcher.process(new org.apache.kafka.streams.processor.api.Record<>(POOL, signedHeartbeat(id, 1), 1));
        }
        List<String> out = new ArrayList<>();
        matcher.process(new org.apache.kafka.streams.processor.api.Record<>(POOL, shard("job1/00000"), 1));
        matcher.process(new org.apache.kafka.streams.processor.api.Record<>(POOL, shard("job1/00001"), 1));
        List<Assignment> leased = drain(context, out);
        context.setCurrentSystemTimeMs(t0 + 1_000);
        matcher.process(new org.apache.kafka.streams.processor.api.Record<>(POOL, signedResult(dear, leased.get(1)), 2));
        for (long at : List.of(t0 + LEASE.toMillis() + 2_000, t0 + 1_000 + MatcherTopology.DEFAULT_VERDICT_WAIT.toMillis() + 500)) {
            context.setCurrentSystemTimeMs(at);
            if (restart) {
                matcher = new LeaseMatcher(config); // knows nothing but the stores
                matcher.init(context);
            }
            var ticks = context.scheduledPunctuators();
            ticks.get(ticks.size() - 1).getPunctuator().punctuate(at);
            drain(context, out);
        }
        return out;
    }

    private static List<Assignment> drain(org.apache.kafka.streams.processor.api.MockProcessorContext<String, Object> context,
            List<String> out) {
        List<Assignment> leases = new ArrayList<>();
        for (var forwarded : context.forwarded()) {
            Assignment a = (Assignment) forwarded.record().value();
            leases.add(a);
            out.add(a.getLeaseId() + " " + a.getNodeId() + (a.getRevoked() ? " revoked" : " leased"));
        }
        context.resetForwards();
        return leases;
    }

    /**
     * State restored from an earlier build's changelogs holds the bare task in the open-task store and
     * its attempts ("2|node") in the old attempts store: the task keeps its count and exclusions (its
     * next lease is attempt 3, never to the excluded node, as the old build would have leased it), its
     * record is rewritten in the folded layout and the old entry is deleted.
     */
    @Test
    void aTaskRestoredFromTheOldLayoutKeepsItsAttemptCountAndExcludedNodesAndItsOldAttemptsEntryIsFoldedIn() {
        var context = new org.apache.kafka.streams.processor.api.MockProcessorContext<String, Object>();
        context.setCurrentSystemTimeMs(1_000_000);
        addStores(context, Serdes.<Object>serdeFrom((topic, v) -> v instanceof io.inferex.events.ShardTask t
                ? io.inferex.topics.Topics.SHARD_TASKS.valueSerde().serializer().serialize(topic, t)
                : OpenTasks.serde().serializer().serialize(topic, (io.inferex.events.TaskLeaseState) v),
                (topic, bytes) -> OpenTasks.serde().deserializer().deserialize(topic, bytes)));
        var config = new MatcherTopology.Config(LEASE, 3, 1_000_000, Duration.ofMillis(500));
        NodeIdentity excluded = NodeIdentity.generate();
        NodeIdentity other = NodeIdentity.generate();
        LeaseMatcher before = new LeaseMatcher(config);
        before.init(context);
        openJobAndStake(context, List.of(excluded, other));
        for (NodeIdentity id : List.of(excluded, other)) {
            before.process(new org.apache.kafka.streams.processor.api.Record<>(POOL,
                    SignedFixtures.registration(id, id == excluded ? 100 : 200, 1, 1000), 1));
            before.process(new org.apache.kafka.streams.processor.api.Record<>(POOL, signedHeartbeat(id, 1), 1));
        }
        io.inferex.events.ShardTask old = shard("job1/00000");
        context.<org.apache.kafka.streams.state.KeyValueStore<String, Object>>getStateStore(MatcherTopology.TASKS_STORE)
                .put(old.getTaskId(), old);
        context.<org.apache.kafka.streams.state.KeyValueStore<String, String>>getStateStore(MatcherTopology.LEGACY_ATTEMPTS_STORE)
                .put(old.getTaskId(), "2|" + excluded.nodeId());
        context.<org.apache.kafka.streams.state.KeyValueStore<String, Long>>getStateStore(MatcherTopology.PENDING_QUEUE_STORE)
                .put(MatchIndex.queueKey(old), 1L);

        LeaseMatcher after = new LeaseMatcher(config);
        after.init(context);
        var ticks = context.scheduledPunctuators();
        ticks.get(ticks.size() - 1).getPunctuator().punctuate(1_000_000);
        Assignment lease = leasedIn(context);
        assertEquals("job1/00000#3", lease.getLeaseId());
        assertEquals(3, lease.getAttempt());
        assertEquals(other.nodeId(), lease.getNodeId(), "the node the old attempts entry excluded is not chosen");
        var folded = context.<org.apache.kafka.streams.state.KeyValueStore<String, io.inferex.events.TaskLeaseState>>getStateStore(
                MatcherTopology.TASKS_STORE).get(old.getTaskId());
        assertEquals(3, folded.getAttempts());
        assertEquals(List.of(excluded.nodeId()), folded.getExcludedNodes());
        assertEquals(null, context.<org.apache.kafka.streams.state.KeyValueStore<String, String>>getStateStore(
                MatcherTopology.LEGACY_ATTEMPTS_STORE).get(old.getTaskId()), "the old entry is folded in and deleted");
    }

    private static void openJobAndStake(org.apache.kafka.streams.processor.api.MockProcessorContext<String, Object> context,
            List<NodeIdentity> nodes) {
        io.inferex.events.JobStatus open = io.inferex.events.JobStatus.newBuilder().setJobId("job1").setCustomerId("c")
                .setState(io.inferex.events.JobState.IN_PROGRESS).setRowCount(4).setCompletedRows(0).setFailedRows(0).setShardCount(4)
                .setShardsDone(0).setSpentMicros(0).setUpdatedAtMs(1).build();
        context.<org.apache.kafka.streams.state.TimestampedKeyValueStore<String, io.inferex.events.JobStatus>>getStateStore(
                MatcherTopology.JOB_STATUS_STORE).put("job1", org.apache.kafka.streams.state.ValueAndTimestamp.make(open, 1));
        for (NodeIdentity id : nodes) {
            context.<org.apache.kafka.streams.state.TimestampedKeyValueStore<String, io.inferex.events.NodeStake>>getStateStore(
                    MatcherTopology.NODE_STAKE_STORE).put(id.nodeId(), org.apache.kafka.streams.state.ValueAndTimestamp.make(
                            io.inferex.events.NodeStake.newBuilder().setNodeId(id.nodeId()).setLockedMicros(STAKE).setUnlockingMicros(0)
                                    .setUnlockAtMs(0).setSlashed(false).setUpdatedAtMs(1).build(), 1));
        }
    }

    private static Assignment leasedIn(org.apache.kafka.streams.processor.api.MockProcessorContext<String, Object> context) {
        var forwarded = context.forwarded();
        assertEquals(1, forwarded.size(), forwarded.toString());
        context.resetForwards();
        return (Assignment) forwarded.get(0).record().value();
    }

    private static io.inferex.events.ShardTask shard(String taskId) {
        return io.inferex.events.ShardTask.newBuilder().setTaskId(taskId).setJobId("job1")
                .setShardIndex(Integer.parseInt(taskId.substring(taskId.indexOf('/') + 1))).setShardCount(4).setModel(MODEL)
                .setPoolKey(POOL).setMaxPricePerRowMicros(500).setRows(List.of(new io.inferex.events.InputRow("a", 1, "hello")))
                .setCreatedAtMs(taskId.hashCode() & 0xffff).build();
    }

    /** The matcher's stores, in memory, as a restore leaves them for init. */
    private static void addStores(org.apache.kafka.streams.processor.api.MockProcessorContext<String, Object> context) {
        addStores(context, OpenTasks.serde());
    }

    private static void addStores(org.apache.kafka.streams.processor.api.MockProcessorContext<String, Object> context,
            org.apache.kafka.common.serialization.Serde<?> tasksSerde) {
        var strings = org.apache.kafka.common.serialization.Serdes.String();
        var longs = org.apache.kafka.common.serialization.Serdes.Long();
        java.util.Map<String, org.apache.kafka.common.serialization.Serde<?>> plain = new java.util.LinkedHashMap<>();
        plain.put(MatcherTopology.NODES_STORE, io.inferex.topics.Topics.NODE_REGISTRY.valueSerde());
        plain.put(MatcherTopology.EPOCHS_STORE, longs);
        plain.put(MatcherTopology.LAST_HEARTBEAT_STORE, io.inferex.topics.Topics.NODE_HEARTBEATS.valueSerde());
        plain.put(MatcherTopology.LAST_SEEN_STORE, longs);
        plain.put(MatcherTopology.TASKS_STORE, tasksSerde);
        plain.put(MatcherTopology.PENDING_QUEUE_STORE, longs);
        plain.put(MatcherTopology.LEASES_STORE, io.inferex.topics.Topics.ASSIGNMENTS.valueSerde());
        plain.put(MatcherTopology.ANSWERED_STORE, io.inferex.topics.Topics.ASSIGNMENTS.valueSerde());
        plain.put(MatcherTopology.NODE_LOAD_STORE, strings);
        plain.put(MatcherTopology.LEGACY_ATTEMPTS_STORE, strings);
        plain.put(MatcherTopology.ACCEPTED_STORE, longs);
        plain.forEach((name, serde) -> add(context, org.apache.kafka.streams.state.Stores.keyValueStoreBuilder(
                org.apache.kafka.streams.state.Stores.inMemoryKeyValueStore(name), strings, serde).withLoggingDisabled().build()));
        for (var global : List.of(java.util.Map.entry(MatcherTopology.JOB_STATUS_STORE, io.inferex.topics.Topics.JOB_STATUS.valueSerde()),
                java.util.Map.entry(MatcherTopology.NODE_STAKE_STORE, io.inferex.topics.Topics.NODE_STAKE.valueSerde()),
                java.util.Map.entry(MatcherTopology.NODE_REPUTATION_STORE, io.inferex.topics.Topics.NODE_REPUTATION.valueSerde()))) {
            add(context, org.apache.kafka.streams.state.Stores.timestampedKeyValueStoreBuilder(
                    org.apache.kafka.streams.state.Stores.inMemoryKeyValueStore(global.getKey()), strings, global.getValue())
                    .withLoggingDisabled().build());
        }
    }

    @SuppressWarnings({"unchecked", "rawtypes"})
    private static void add(org.apache.kafka.streams.processor.api.MockProcessorContext<String, Object> context,
            org.apache.kafka.streams.processor.StateStore store) {
        store.init(context.getStateStoreContext(), store);
        context.addStateStore(store);
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
