package io.inferex.verifier;

import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardResult;
import io.inferex.market.ModelRegistry;
import io.inferex.market.NodeIdentity;
import io.inferex.market.OutputDigest;
import io.inferex.market.SignedPayloads;
import java.util.Optional;

/**
 * Everything a verifier can check about a result without re-running the model: who signed it,
 * that it answers the lease it names, that it ran the catalogue's exact weights, and that its
 * rows have the right shape and digest. Pure: no Kafka, no clock.
 */
public final class ResultCheck {
    /** Norm tolerance for L2-normalised sentence embeddings (float32 rounding across hardware). */
    static final double NORM_TOLERANCE = 1e-3;

    private ResultCheck() {}

    /**
     * Empty when the result provably comes from the node it names: that node is registered, its
     * key hashes to its id and it signed the result. A result that fails this says nothing about
     * that node (anyone can write a record naming it), so it earns no verdict at all.
     */
    public static Optional<String> attributionProblems(ShardResult r, NodeRegistered node) {
        if (node == null) {
            return Optional.of("node " + r.getNodeId() + " is not registered");
        }
        byte[] key = SignedPayloads.bytes(node.getPublicKey());
        if (!NodeIdentity.nodeIdOf(key).equals(r.getNodeId())) {
            return Optional.of("registered key does not hash to node id " + r.getNodeId());
        }
        if (!SignedPayloads.verifies(node.getPublicKey(), r)) {
            return Optional.of("signature does not verify with node " + r.getNodeId() + "'s key");
        }
        return Optional.empty();
    }

    /** For an attributed result: empty when it is acceptable for its lease, else the first reason it is not. */
    public static Optional<String> problems(ShardResult r, Assignment lease, NodeRegistered node, ModelRegistry models) {
        if (!r.getNodeId().equals(lease.getNodeId())) {
            return Optional.of("lease " + lease.getLeaseId() + " belongs to node " + lease.getNodeId() + ", not " + r.getNodeId());
        }
        if (!r.getTaskId().equals(lease.getTaskId()) || !r.getJobId().equals(lease.getJobId())
                || r.getShardIndex() != lease.getShardIndex() || !r.getPoolKey().equals(lease.getPoolKey())) {
            return Optional.of("result names task " + r.getTaskId() + " but lease " + lease.getLeaseId() + " is for " + lease.getTaskId());
        }
        if (!r.getModel().equals(lease.getModel())) {
            return Optional.of("ran model " + r.getModel() + " but the lease asked for " + lease.getModel());
        }
        var spec = models.byId(r.getModel());
        if (spec.isEmpty()) {
            return Optional.of("model " + r.getModel() + " is not in the model registry");
        }
        if (!spec.get().weightsSha256().equals(r.getModelDigest())) {
            return Optional.of("model digest " + r.getModelDigest() + " is not the registry's " + spec.get().weightsSha256());
        }
        int i = node.getModels().indexOf(r.getModel());
        if (i < 0 || i >= node.getModelDigests().size() || !node.getModelDigests().get(i).equals(r.getModelDigest())) {
            return Optional.of("node " + r.getNodeId() + " did not register model " + r.getModel() + " with that digest");
        }
        if (r.getRows().size() != lease.getRows().size()) {
            return Optional.of(r.getRows().size() + " output rows for " + lease.getRows().size() + " input rows");
        }
        for (int row = 0; row < r.getRows().size(); row++) {
            EmbeddingRow out = r.getRows().get(row);
            String expectedId = lease.getRows().get(row).getCustomId();
            if (!out.getCustomId().equals(expectedId)) {
                return Optional.of("row " + row + " has custom_id " + out.getCustomId() + ", expected " + expectedId);
            }
            if (out.getEmbedding().size() != spec.get().dimension()) {
                return Optional.of("row " + row + " (" + expectedId + ") has dimension " + out.getEmbedding().size()
                        + ", expected " + spec.get().dimension());
            }
            double sumSq = 0;
            for (Float f : out.getEmbedding()) {
                if (!Float.isFinite(f)) {
                    return Optional.of("row " + row + " (" + expectedId + ") has a non-finite value");
                }
                sumSq += (double) f * f;
            }
            if (Math.abs(Math.sqrt(sumSq) - 1.0) > NORM_TOLERANCE) {
                return Optional.of("row " + row + " (" + expectedId + ") has norm " + Math.sqrt(sumSq) + ", expected 1");
            }
        }
        String digest = OutputDigest.of(r.getRows());
        if (!digest.equals(r.getOutputDigest())) {
            return Optional.of("output digest " + r.getOutputDigest() + " does not match the rows (" + digest + ")");
        }
        return Optional.empty();
    }
}
