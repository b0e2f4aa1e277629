package io.inferex.verifier;

import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.InputRow;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardResult;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.inferex.market.OutputDigest;
import io.inferex.market.Pools;
import io.inferex.market.SignedPayloads;
import io.inferex.testing.SignedFixtures;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Signed registrations, leases and honest results for verifier tests. */
final class MarketFixtures {
    static final String MODEL = SignedFixtures.MODEL;
    static final String POOL = SignedFixtures.POOL;

    private MarketFixtures() {}

    static NodeRegistered registration(NodeIdentity node) {
        return SignedFixtures.registration(node, 100, 2, 1000);
    }

    static Assignment lease(String nodeId, String taskId, int rows) {
        return lease(nodeId, taskId, rows, MODEL);
    }

    /** A lease of {@code rows} rows of {@code model} in the default cell. */
    static Assignment lease(String nodeId, String taskId, int rows, String model) {
        List<InputRow> in = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            in.add(new InputRow("req-" + i, i + 1, "sentence " + i));
        }
        return Assignment.newBuilder().setLeaseId(taskId + "#1").setTaskId(taskId).setJobId(taskId.substring(0, taskId.indexOf('/')))
                .setShardIndex(0).setNodeId(nodeId).setAttempt(1).setModel(model).setPoolKey(Pools.poolKey(model, Pools.DEFAULT_CELL)).setPricePerRowMicros(100)
                .setRows(in).setAssignedAtMs(System.currentTimeMillis()).setLeaseDeadlineMs(System.currentTimeMillis() + 60_000).build();
    }

    /** What an honest node returns: unit vectors, right ids, digest and signature. */
    static ShardResult honestResult(NodeIdentity node, Assignment lease) {
        Random random = new Random(lease.getLeaseId().hashCode());
        List<EmbeddingRow> rows = new ArrayList<>();
        for (InputRow in : lease.getRows()) {
            float[] v = new float[ModelCatalogue.ALL_MINILM_L6_V2.dimension()];
            double sq = 0;
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) random.nextGaussian();
                sq += v[i] * v[i];
            }
            List<Float> unit = new ArrayList<>();
            for (float f : v) {
                unit.add((float) (f / Math.sqrt(sq)));
            }
            rows.add(new EmbeddingRow(in.getCustomId(), unit));
        }
        ShardResult r = ShardResult.newBuilder().setLeaseId(lease.getLeaseId()).setTaskId(lease.getTaskId()).setJobId(lease.getJobId())
                .setShardIndex(lease.getShardIndex()).setNodeId(node.nodeId()).setModel(MODEL).setPoolKey(POOL)
                .setModelDigest(ModelCatalogue.ALL_MINILM_L6_V2.weightsSha256()).setRows(rows).setOutputDigest(OutputDigest.of(rows))
                .setComputeMillis(5).setProducedAtMs(2).setSignature(ByteBuffer.allocate(0)).build();
        return sign(node, r);
    }

    static ShardResult sign(NodeIdentity node, ShardResult r) {
        SignedPayloads.sign(node, r);
        return r;
    }
}
