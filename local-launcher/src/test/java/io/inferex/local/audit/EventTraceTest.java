package io.inferex.local.audit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.InputRow;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.NodeStake;
import io.inferex.events.OutcomeKind;
import io.inferex.events.ShardResult;
import io.inferex.events.ShardTask;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.TaskIds;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.Test;

/**
 * {@code ./inferex trace} on a small log held in memory: a shard leased to node n1 while it
 * heartbeats, its lease expiring after n1 went silent, re-leased to n2, n2's result accepted and
 * final. The chain says, at each lease and result, whether the node was alive and what it
 * advertised, and ends with the line the customer got and its verification state.
 */
class EventTraceTest {
    static final String JOB = "j1";
    static final String TASK = TaskIds.of(JOB, 0, 1);
    static final long T = 1_800_000_000_000L;

    final Map<Topic<?, ?>, List<List<LogEntry>>> log = new LinkedHashMap<>();

    void add(Topic<?, ?> topic, String key, SpecificRecord value, long ts) {
        List<LogEntry> p = log.computeIfAbsent(topic, t -> List.of(new ArrayList<>())).get(0);
        p.add(new LogEntry(topic.name(), 0, p.size(), ts, key.getBytes(StandardCharsets.UTF_8), List.of(), null, value));
    }

    static NodeRegistered registration(String node, long price, int slots, long ts) {
        return NodeRegistered.newBuilder().setNodeId(node).setPublicKey(ByteBuffer.wrap(new byte[] {1})).setModels(List.of("m"))
                .setModelDigests(List.of("d")).setCell("c").setSlots(slots).setPricePerRowMicros(price).setStakeMicros(100_000)
                .setHardware("cpu").setHeartbeatIntervalMs(1_000).setRegisteredAtMs(ts).setSignature(ByteBuffer.wrap(new byte[] {2})).build();
    }

    static NodeHeartbeat heartbeat(String node, long seq, int free) {
        return NodeHeartbeat.newBuilder().setNodeId(node).setSequence(seq).setFreeSlots(free).setPoolKeys(List.of("m@c"))
                .setActiveLeases(List.of()).setSentAtMs(0).setSignature(ByteBuffer.wrap(new byte[] {3})).build();
    }

    static Assignment lease(String node, int attempt, long ts) {
        return Assignment.newBuilder().setLeaseId(TASK + "#" + attempt).setTaskId(TASK).setJobId(JOB).setShardIndex(0).setNodeId(node)
                .setAttempt(attempt).setModel("m").setPoolKey("m@c").setPricePerRowMicros(10)
                .setRows(List.of(new InputRow("a", 1, "hello"), new InputRow("b", 2, "world"))).setAssignedAtMs(ts)
                .setLeaseDeadlineMs(ts + 5_000).build();
    }

    EventTraceTest() {
        add(Topics.SHARD_TASKS, TASK, ShardTask.newBuilder().setTaskId(TASK).setJobId(JOB).setShardIndex(0).setShardCount(1).setModel("m")
                .setPoolKey("m@c").setMaxPricePerRowMicros(20).setRows(List.of(new InputRow("a", 1, "hello"), new InputRow("b", 2, "world")))
                .setCreatedAtMs(T).build(), T);
        add(Topics.NODE_REGISTRY, "n1", registration("n1", 10, 4, T - 10_000), T - 10_000);
        add(Topics.NODE_REGISTRY, "n2", registration("n2", 12, 2, T - 10_000), T - 10_000);
        add(Topics.NODE_STAKE, "n1", new NodeStake("n1", 100_000L, 0L, 0L, false, T - 9_000), T - 9_000);
        add(Topics.NODE_HEARTBEATS, "n1", heartbeat("n1", 1, 4), T - 500);
        add(Topics.NODE_HEARTBEATS, "n2", heartbeat("n2", 1, 2), T + 5_500);
        add(Topics.ASSIGNMENTS, "n1", lease("n1", 1, T + 100), T + 100); // n1 alive: heartbeat 600 ms before
        add(Topics.ASSIGNMENTS, "n2", lease("n2", 2, T + 6_000), T + 6_000); // n1 silent since; n2 alive
        add(Topics.RESULTS, TASK, ShardResult.newBuilder().setLeaseId(TASK + "#2").setTaskId(TASK).setJobId(JOB).setShardIndex(0)
                .setNodeId("n2").setModel("m").setPoolKey("m@c").setModelDigest("d")
                .setRows(List.of(new EmbeddingRow("a", List.of(0.6f, 0.8f)), new EmbeddingRow("b", List.of(1f, 0f))))
                .setOutputDigest("out2").setComputeMillis(5).setProducedAtMs(0).setSignature(ByteBuffer.wrap(new byte[] {4})).build(),
                T + 9_000); // 3.5 s after n2's last heartbeat: past 3 x 1 s, so NOT alive when it answered
        add(Topics.VERDICTS, JOB, Verdict.newBuilder().setVerdictId("v2").setTaskId(TASK).setJobId(JOB).setLeaseId(TASK + "#2")
                .setNodeId("n2").setPoolKey("m@c").setOutcome(VerdictOutcome.ACCEPTED).setReason("ok").setRowCount(2)
                .setPricePerRowMicros(12).setOutputDigest("out2").setDecidedAtMs(T + 9_100).build(), T + 9_100);
        add(Topics.VERIFICATION_OUTCOMES, JOB, VerificationOutcome.newBuilder().setOutcomeId("FINAL:" + TASK + "#2")
                .setKind(OutcomeKind.FINAL).setTaskId(TASK).setJobId(JOB).setLeaseId(TASK + "#2").setNodeId("n2").setPoolKey("m@c")
                .setRowCount(2).setPricePerRowMicros(12).setOutputDigest("out2").setSampled(false).setSamplingEpoch(1)
                .setSamplingProbability(0.1).setReason("window closed").setDecidedAtMs(T + 20_000).build(), T + 20_000);
    }

    static JsonNode json(EventTrace.Link l) throws Exception {
        return EventExport.JSON.readTree(l.record());
    }

    @Test
    void eachLeaseAndResultShowsWhetherItsNodeWasAliveAndWhatItAdvertisedAndStaked() throws Exception {
        List<EventTrace.Link> chain = EventTrace.trace(ExportArchive.of(log), TASK, null);
        List<EventTrace.Link> steps = chain.stream().filter(l -> l.type().equals(EventTrace.NODE_AT_STEP)).toList();
        assertEquals(3, steps.size(), "one after each of the two leases and the result: " + chain);
        JsonNode n1 = json(steps.get(0));
        assertEquals("n1", n1.get("node").asText());
        assertTrue(n1.get("alive").asBoolean());
        assertEquals(600, n1.get("lastHeartbeat").get("ageMs").asLong());
        assertEquals(10, n1.get("advertised").get("pricePerRowMicros").asLong());
        assertEquals(4, n1.get("advertised").get("slots").asInt());
        assertEquals(100_000, n1.get("stake").get("lockedMicros").asLong());
        JsonNode n2 = json(steps.get(1));
        assertEquals("n2", n2.get("node").asText());
        assertTrue(n2.get("alive").asBoolean());
        assertEquals(12, n2.get("advertised").get("pricePerRowMicros").asLong());
        assertTrue(n2.get("stake").isNull(), "n2 never had a stake published: " + n2);
        assertTrue(n2.get("summary").asText().contains("no stake"), n2.get("summary").asText());
        JsonNode atResult = json(steps.get(2));
        assertFalse(atResult.get("alive").asBoolean(), "its last heartbeat was 3.5 s old, past 3 x 1 s: " + atResult);
        assertTrue(steps.get(2).where().contains("node-heartbeats/0@1") && steps.get(2).where().contains("node-registry/0@1"),
                "names the events it is derived from: " + steps.get(2).where());
        assertEquals("ShardResult", chain.get(chain.indexOf(steps.get(2)) - 1).type(), "follows the step it describes");
    }

    @Test
    void aCustomIdsChainEndsWithTheLineDeliveredAndItsVerificationState() throws Exception {
        List<EventTrace.Link> chain = EventTrace.trace(ExportArchive.of(log), "b", JOB);
        EventTrace.Link last = chain.get(chain.size() - 1);
        assertEquals(EventTrace.DELIVERED, last.type());
        JsonNode d = json(last);
        assertEquals("final", d.get("verification").asText());
        assertEquals(TASK + "#2", d.get("acceptedLease").asText());
        assertEquals(1, d.get("rows").size(), "only custom_id b's row: " + d);
        assertEquals("b", d.get("rows").get(0).get("customId").asText());
        assertEquals(1.0, d.get("rows").get(0).get("first").get(0).asDouble());
    }

    @Test
    void aShardWhoseAcceptedResultIsOnlyDisputedIsDeliveredAsDisputedNotFinal() throws Exception {
        log.get(Topics.VERIFICATION_OUTCOMES).get(0).clear();
        add(Topics.VERIFICATION_OUTCOMES, JOB, VerificationOutcome.newBuilder().setOutcomeId("DISPUTED:" + TASK + "#2")
                .setKind(OutcomeKind.DISPUTED).setTaskId(TASK).setJobId(JOB).setLeaseId(TASK + "#2").setNodeId("n2").setPoolKey("m@c")
                .setRowCount(2).setPricePerRowMicros(12).setOutputDigest("out2").setSampled(true).setSamplingEpoch(1)
                .setSamplingProbability(0.1).setReason("sample disagreed").setDecidedAtMs(T + 12_000).build(), T + 12_000);
        List<EventTrace.Link> chain = EventTrace.trace(ExportArchive.of(log), TASK, null);
        JsonNode d = json(chain.get(chain.size() - 1));
        assertEquals("disputed", d.get("verification").asText());
        assertEquals(2, d.get("rows").size(), "a shard's trace shows all its rows");
    }
}
