package io.inferex.ingest;

import io.inferex.events.EmbeddingRow;
import io.inferex.events.OutcomeKind;
import io.inferex.events.ShardResult;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.OutputDigest;
import io.inferex.topics.Topics;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/** ShardResults and Verdicts as executors and the verifier would publish them, for tests. */
final class Results {
    static final int DIM = 384;

    private Results() {}

    /** A deterministic unit-ish vector for a custom id, offset by {@code salt} (another node, a cheat). */
    static List<Float> vector(String customId, float salt) {
        List<Float> v = new ArrayList<>(DIM);
        int h = customId.hashCode();
        for (int i = 0; i < DIM; i++) {
            v.add(((h >>> (i % 24)) & 0xff) / 255f - 0.5f + salt);
        }
        return v;
    }

    static ShardResult result(String jobId, int shardIndex, int shardCount, int attempt, List<String> customIds, float salt) {
        String taskId = ShardPlanner.taskId(jobId, shardIndex, shardCount);
        List<EmbeddingRow> rows = new ArrayList<>();
        for (String id : customIds) {
            rows.add(EmbeddingRow.newBuilder().setCustomId(id).setEmbedding(vector(id, salt)).build());
        }
        return ShardResult.newBuilder()
                .setLeaseId(taskId + "#" + attempt)
                .setTaskId(taskId)
                .setJobId(jobId)
                .setShardIndex(shardIndex)
                .setNodeId("node-" + attempt)
                .setModel("all-MiniLM-L6-v2")
                .setPoolKey("all-MiniLM-L6-v2@local")
                .setModelDigest("759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e")
                .setRows(rows)
                .setOutputDigest(OutputDigest.of(rows))
                .setComputeMillis(5)
                .setProducedAtMs(System.currentTimeMillis())
                .setSignature(ByteBuffer.wrap(new byte[64]))
                .build();
    }

    static Verdict verdict(ShardResult r, VerdictOutcome outcome) {
        return Verdict.newBuilder()
                .setVerdictId("v-" + r.getLeaseId() + "-" + outcome)
                .setTaskId(r.getTaskId())
                .setJobId(r.getJobId())
                .setLeaseId(r.getLeaseId())
                .setNodeId(r.getNodeId())
                .setPoolKey(r.getPoolKey())
                .setOutcome(outcome)
                .setReason(outcome == VerdictOutcome.ACCEPTED ? "ok" : "embedding differs from re-execution")
                .setRowCount(r.getRows().size())
                .setPricePerRowMicros(100)
                .setOutputDigest(r.getOutputDigest())
                .setDecidedAtMs(System.currentTimeMillis())
                .build();
    }

    static byte[] bytes(ShardResult r) {
        return Topics.RESULTS.valueSerde().serializer().serialize(Topics.RESULTS.name(), r);
    }

    /** A verification outcome on {@code r}; a FRAUD names {@code correction}'s lease and the digest of its rows. */
    static VerificationOutcome outcome(ShardResult r, OutcomeKind kind, ShardResult correction) {
        return VerificationOutcome.newBuilder().setOutcomeId(kind + ":" + r.getLeaseId()).setKind(kind)
                .setTaskId(r.getTaskId()).setJobId(r.getJobId()).setLeaseId(r.getLeaseId()).setNodeId(r.getNodeId())
                .setPoolKey(r.getPoolKey()).setRowCount(r.getRows().size()).setPricePerRowMicros(100)
                .setOutputDigest(r.getOutputDigest()).setSampled(true).setSamplingEpoch(1).setSamplingProbability(0.1)
                .setRewardAccount(correction == null ? null : "node:sampler")
                .setCorrectionLeaseId(correction == null ? null : correction.getLeaseId())
                .setCorrectionDigest(correction == null ? null : OutputDigest.of(correction.getRows()))
                .setReason("test").setDecidedAtMs(System.currentTimeMillis()).build();
    }
}
