package io.inferex.executor.node;

import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.InputRow;
import io.inferex.events.ShardResult;
import io.inferex.market.Pools;
import io.inferex.topics.Topics;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.clients.consumer.ConsumerRecord;

/** Assignments, records and results for the node's part tests: no model, no broker. */
final class NodePartsFixture {
    static final String NODE = "node-a";
    static final String MODEL = "all-MiniLM-L6-v2";

    private NodePartsFixture() {}

    static Assignment lease(String leaseId, long deadlineMs) {
        return Assignment.newBuilder().setLeaseId(leaseId).setTaskId("job/" + leaseId).setJobId("job").setShardIndex(0)
                .setNodeId(NODE).setAttempt(1).setModel(MODEL).setPoolKey(Pools.poolKey(MODEL, Pools.DEFAULT_CELL))
                .setPricePerRowMicros(100).setRows(List.of(new InputRow("r1", 1, "hello"), new InputRow("r2", 2, "world")))
                .setAssignedAtMs(1_000).setLeaseDeadlineMs(deadlineMs).setRevoked(false).build();
    }

    static ConsumerRecord<byte[], byte[]> record(long offset, String key, Assignment a) {
        byte[] value = a == null ? null : Topics.ASSIGNMENTS.valueSerde().serializer().serialize(Topics.ASSIGNMENTS.name(), a);
        return new ConsumerRecord<>(Topics.ASSIGNMENTS.name(), 0, offset, key.getBytes(StandardCharsets.UTF_8), value);
    }

    /** {@link #result} of each lease, in order (a stand-in for {@link ShardExecutor#executeTogether}). */
    static List<ShardResult> results(List<Assignment> leases) {
        return leases.stream().map(NodePartsFixture::result).toList();
    }

    /** A well-formed (unsigned) result of {@code a}: one two-float row per input row. */
    static ShardResult result(Assignment a) {
        List<EmbeddingRow> rows = new ArrayList<>();
        for (InputRow r : a.getRows()) {
            rows.add(new EmbeddingRow(r.getCustomId(), List.of(0.6f, 0.8f)));
        }
        return ShardResult.newBuilder().setLeaseId(a.getLeaseId()).setTaskId(a.getTaskId()).setJobId(a.getJobId())
                .setShardIndex(a.getShardIndex()).setNodeId(NODE).setModel(a.getModel()).setPoolKey(a.getPoolKey())
                .setModelDigest("digest").setRows(rows).setOutputDigest("out").setComputeMillis(1).setProducedAtMs(2_000)
                .setSignature(ByteBuffer.allocate(0)).build();
    }
}
