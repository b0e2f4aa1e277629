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
     * Whether this node's model gives bit-identical outputs for a row whatever else is in its
     * batch, so that shards may share an inference call. Only the catalogue's fp32
     * all-MiniLM-L6-v2 is, as measured (SentenceEmbedderTest#sentenceAloneAndInsideABatchOfEightIsBitIdentical,
     * ToleranceCalibrationTest); the int8 model's outputs move with batch composition, and a model
     * not measured is not assumed invariant: those run each shard alone.
     */
    public boolean batchInvariant() {
        return embedder.files().weightsSha256().equals(io.inferex.market.ModelCatalogue.ALL_MINILM_L6_V2.weightsSha256())
                && !embedder.files().weights().getFileName().toString().equals(
                        io.inferex.executor.model.ModelFiles.ALL_MINILM_L6_V2_INT8.weights());
    }

    /**
     * @throws UnprocessableAssignmentException when the assignment is not for this node or model
     */
    public void check(Assignment a) {
        if (!identity.nodeId().equals(a.getNodeId())) {
            throw new UnprocessableAssignmentException("assignment " + a.getLeaseId() + " is addressed to node "
                    + a.getNodeId() + ", not " + identity.nodeId());
        }
        if (!modelId().equals(a.getModel())) {
            throw new UnprocessableAssignmentException("assignment " + a.getLeaseId() + " asks for model " + a.getModel()
                    + "; this node serves " + modelId());
        }
    }

    /**
     * @throws UnprocessableAssignmentException when the assignment is not for this node or model
     */
    public ShardResult execute(Assignment a) {
        return executeTogether(List.of(a)).get(0);
    }

    /**
     * Runs the rows of several leases in one inference call (micro-batching) and returns one
     * signed result per lease, in the order given, each lease's rows in its own order. The caller
     * ({@link MicroBatchPlan}) only groups leases of a {@link #batchInvariant()} model, so each
     * result is bit-identical to the lease run alone; its compute time is the shared call's.
     *
     * @throws UnprocessableAssignmentException when an assignment is not for this node or model
     *     (checked for all before anything runs)
     */
    public List<ShardResult> executeTogether(List<Assignment> leases) {
        leases.forEach(this::check);
        List<String> inputs = new ArrayList<>();
        for (Assignment a : leases) {
            for (InputRow row : a.getRows()) {
                inputs.add(row.getInput());
            }
        }
        long t0 = System.nanoTime();
        SentenceEmbedder.Embedded embedded = embedder.embedCounting(inputs);
        long computeMillis = (System.nanoTime() - t0) / 1_000_000;
        List<ShardResult> results = new ArrayList<>(leases.size());
        int from = 0;
        for (Assignment a : leases) {
            int to = from + a.getRows().size();
            List<float[]> vectors = adversary.tamper(a.getLeaseId(), embedded.vectors().subList(from, to));
            results.add(signed(a, vectors, embedded.tokens().subList(from, to), computeMillis));
            from = to;
        }
        return results;
    }

    private ShardResult signed(Assignment a, List<float[]> vectors, List<Integer> tokens, long computeMillis) {
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
                .setPromptTokens(new ArrayList<>(tokens))
                .setComputeMillis(computeMillis)
                .setProducedAtMs(clock.getAsLong())
                .setEngine(embedder.engineDescription())
                .setSignature(ByteBuffer.allocate(0)) // not part of the signed payload
                .build();
        SignedPayloads.sign(identity, result);
        return result;
    }
}
