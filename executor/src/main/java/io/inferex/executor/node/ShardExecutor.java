package io.inferex.executor.node;

import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.InputRow;
import io.inferex.events.ShardResult;
import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.market.NodeIdentity;
import io.inferex.market.OutputDigest;
import io.inferex.market.SignedPayloads;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongSupplier;

/**
 * Runs one leased shard and turns it into the node's signed answer: one embedding per input row,
 * in input order, with each row's token count, the output digest over the rows and an Ed25519
 * signature over the canonical result payload (token counts included). No Kafka here. A lease of a re-execution (task id
 * {@code VerificationIds.sample/referee}, e.g. {@code job/00003~s}) runs exactly like a shard's:
 * its result carries the lease's task id.
 */
public final class ShardExecutor {
    private final NodeIdentity identity;
    private final SentenceEmbedder embedder;
    private final LongSupplier clock;
    private final Adversary adversary;

    public ShardExecutor(NodeIdentity identity, SentenceEmbedder embedder, LongSupplier clock) {
        this(identity, embedder, clock, Adversary.none());
    }

    /** {@code adversary} may replace the computed rows before they are digested and signed (see {@link Adversary}). */
    public ShardExecutor(NodeIdentity identity, SentenceEmbedder embedder, LongSupplier clock, Adversary adversary) {
        this.identity = identity;
        this.embedder = embedder;
        this.clock = clock;
        this.adversary = adversary;
    }

    public String modelId() {
        return embedder.files().spec().id();
    }

    /**
     * @throws UnprocessableAssignmentException when the assignment is not for this node or model
     */
    public ShardResult execute(Assignment a) {
        if (!identity.nodeId().equals(a.getNodeId())) {
            throw new UnprocessableAssignmentException("assignment " + a.getLeaseId() + " is addressed to node "
                    + a.getNodeId() + ", not " + identity.nodeId());
        }
        if (!modelId().equals(a.getModel())) {
            throw new UnprocessableAssignmentException("assignment " + a.getLeaseId() + " asks for model " + a.getModel()
                    + "; this node serves " + modelId());
        }
        List<String> inputs = new ArrayList<>(a.getRows().size());
        for (InputRow row : a.getRows()) {
            inputs.add(row.getInput());
        }
        long t0 = System.nanoTime();
        SentenceEmbedder.Embedded embedded = embedder.embedCounting(inputs);
        List<float[]> vectors = adversary.tamper(a.getLeaseId(), embedded.vectors());
        long computeMillis = (System.nanoTime() - t0) / 1_000_000;

        List<EmbeddingRow> rows = new ArrayList<>(vectors.size());
        for (int i = 0; i < vectors.size(); i++) {
            rows.add(new EmbeddingRow(a.getRows().get(i).getCustomId(), SentenceEmbedder.boxed(vectors.get(i))));
        }
        ShardResult result = ShardResult.newBuilder()
                .setLeaseId(a.getLeaseId())
                .setTaskId(a.getTaskId())
                .setJobId(a.getJobId())
                .setShardIndex(a.getShardIndex())
                .setNodeId(identity.nodeId())
                .setModel(a.getModel())
                .setPoolKey(a.getPoolKey())
                .setModelDigest(embedder.files().weightsSha256())
                .setRows(rows)
                .setOutputDigest(OutputDigest.of(rows))
                .setPromptTokens(embedded.tokens())
                .setComputeMillis(computeMillis)
                .setProducedAtMs(clock.getAsLong())
                .setSignature(ByteBuffer.allocate(0)) // not part of the signed payload
                .build();
        SignedPayloads.sign(identity, result);
        return result;
    }
}
