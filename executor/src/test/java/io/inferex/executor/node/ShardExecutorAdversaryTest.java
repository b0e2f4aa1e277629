package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Assignment;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.InputRow;
import io.inferex.events.ShardResult;
import io.inferex.executor.model.ModelFiles;
import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.inferex.market.OutputDigest;
import io.inferex.market.Pools;
import io.inferex.market.SignedPayloads;
import io.inferex.market.VerificationIds;
import io.inferex.verification.RowComparison;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The cheats that change what a node declares, through the real model and {@link ShardExecutor}:
 * the result stays well-formed and correctly signed (the verifier's form check passes: the node's
 * signature, the catalogue's model digest, one unit-norm row of the right dimension per input row
 * in order, the output digest), and only a re-execution compared under the catalogue tolerance
 * tells it from an honest answer. Also: a re-execution lease runs like a shard's.
 */
class ShardExecutorAdversaryTest {
    static final Path HOME = Path.of("target", "test-adversary-home");
    static final String JOB = "job-adversary";
    static SentenceEmbedder fp32;
    static SentenceEmbedder int8;
    static final NodeIdentity NODE = NodeIdentity.generate();

    @BeforeAll
    static void load() {
        ClassLoader cl = ShardExecutorAdversaryTest.class.getClassLoader();
        fp32 = SentenceEmbedder.load(ModelFiles.prepare(ModelCatalogue.ALL_MINILM_L6_V2, ModelFiles.ALL_MINILM_L6_V2,
                io.inferex.executor.TestDirs.fp32Models(), cl), HOME.resolve("djl-cache"), SentenceEmbedder.Options.defaults());
        int8 = SentenceEmbedder.load(ModelFiles.prepareInt8(io.inferex.executor.TestDirs.int8Models(), cl).claimingCatalogueDigest(),
                HOME.resolve("djl-cache"), SentenceEmbedder.Options.defaults());
    }

    @AfterAll
    static void close() {
        if (fp32 != null) {
            fp32.close();
        }
        if (int8 != null) {
            int8.close();
        }
    }

    static Assignment lease(String taskId, int attempt, int rows) {
        List<InputRow> in = new ArrayList<>();
        String[] texts = {"A man is playing a guitar.", "The stock market fell sharply on Tuesday.", "Kafka is a distributed log.",
            "Wie spät ist es?", "SELECT * FROM results;", "Someone plays the guitar.", "The cat sleeps on the sofa.",
            "Verification by re-execution needs a tolerance."};
        for (int i = 0; i < rows; i++) {
            in.add(new InputRow("row-" + i, i + 1, texts[i % texts.length] + (i >= texts.length ? " (" + i + ")" : "")));
        }
        String model = ModelCatalogue.ALL_MINILM_L6_V2.id();
        return Assignment.newBuilder().setLeaseId(taskId + "#" + attempt).setTaskId(taskId).setJobId(JOB).setShardIndex(3)
                .setNodeId(NODE.nodeId()).setAttempt(attempt).setModel(model).setPoolKey(Pools.poolKey(model, Pools.DEFAULT_CELL))
                .setPricePerRowMicros(100).setRows(in).setAssignedAtMs(1_000).setLeaseDeadlineMs(Long.MAX_VALUE).setRevoked(false)
                .build();
    }

    /** What the verifier's stage 1 checks without re-running (ResultCheck's form rules, restated: executor cannot see the verifier). */
    static void assertWellFormedAndSigned(ShardResult r, Assignment a) {
        assertTrue(SignedPayloads.verifies(ByteBuffer.wrap(NODE.publicKey()), r), "signed by the node");
        assertEquals(a.getTaskId(), r.getTaskId());
        assertEquals(a.getLeaseId(), r.getLeaseId());
        assertEquals(a.getShardIndex(), r.getShardIndex());
        assertEquals(ModelCatalogue.ALL_MINILM_L6_V2.weightsSha256(), r.getModelDigest(), "declares the catalogue's fp32 digest");
        assertEquals(a.getRows().size(), r.getRows().size());
        for (int i = 0; i < r.getRows().size(); i++) {
            EmbeddingRow row = r.getRows().get(i);
            assertEquals(a.getRows().get(i).getCustomId(), row.getCustomId());
            assertEquals(ModelCatalogue.ALL_MINILM_L6_V2.dimension(), row.getEmbedding().size());
            double sq = 0;
            for (float f : row.getEmbedding()) {
                assertTrue(Float.isFinite(f));
                sq += (double) f * f;
            }
            assertEquals(1.0, Math.sqrt(sq), 1e-3, "unit norm (the verifier's norm tolerance)");
        }
        assertEquals(OutputDigest.of(r.getRows()), r.getOutputDigest());
        assertEquals(r.getRows().size(), r.getPromptTokens().size(), "one token count per row");
        r.getPromptTokens().forEach(t -> assertTrue(t >= 2 && t <= 256, "tokens " + t));
    }

    static ShardResult run(SentenceEmbedder embedder, Adversary adversary, Assignment a) {
        return new ShardExecutor(NODE, embedder, () -> 5_000L, adversary).execute(a);
    }

    static RowComparison.Result compareWithHonest(ShardResult r, Assignment a) {
        ShardResult honest = run(fp32, Adversary.none(), a);
        return RowComparison.compare(honest.getRows(), r.getRows(), ModelCatalogue.ALL_MINILM_L6_V2.tolerance());
    }

    @Test
    void aSampledReExecutionLeaseRunsLikeAShardAndItsResultCarriesTheVerificationId() {
        String shardTask = "job-adversary/00003";
        for (String verification : List.of(VerificationIds.sample(shardTask), VerificationIds.referee(shardTask, 2))) {
            Assignment a = lease(verification, 1, 4);
            ShardResult r = run(fp32, Adversary.none(), a);
            assertWellFormedAndSigned(r, a);
            assertEquals(verification, r.getTaskId());
            assertEquals(verification + "#1", r.getLeaseId());
            assertTrue(compareWithHonest(r, lease(shardTask, 0, 4)).agree(), "an honest re-execution agrees with the shard's rows");
        }
    }

    @Test
    void randomVectorsAreWellFormedAndSignedButDisagreeWithTheHonestRows() {
        Assignment a = lease("job-adversary/00001", 0, 8);
        Adversary adversary = new Adversary(Adversary.Mode.parse("random-vectors"), 11, () -> {});
        ShardResult r = run(fp32, adversary, a);
        assertWellFormedAndSigned(r, a);
        RowComparison.Result cmp = compareWithHonest(r, a);
        assertFalse(cmp.agree(), cmp.reason());
        assertTrue(cmp.worstCosine() < 0.5, cmp.reason());
        assertEquals(1, adversary.cheats());
    }

    @Test
    void corruptFractionIsWellFormedAndSignedButDisagreesWithTheHonestRowsOnlyInTheCorruptedOnes() {
        Assignment a = lease("job-adversary/00002", 0, 20);
        ShardResult r = run(fp32, new Adversary(Adversary.Mode.parse("corrupt-fraction:0.1"), 12, () -> {}), a);
        assertWellFormedAndSigned(r, a);
        ShardResult honest = run(fp32, Adversary.none(), a);
        int differing = 0;
        for (int i = 0; i < 20; i++) {
            differing += honest.getRows().get(i).getEmbedding().equals(r.getRows().get(i).getEmbedding()) ? 0 : 1;
        }
        assertEquals(2, differing, "10% of 20 rows");
        RowComparison.Result cmp = compareWithHonest(r, a);
        assertFalse(cmp.agree(), cmp.reason());
    }

    @Test
    void substituteModelServesInt8DeclaringTheFp32DigestAndDisagreesWithTheHonestRows() {
        assertEquals(ModelCatalogue.ALL_MINILM_L6_V2.weightsSha256(), int8.files().weightsSha256(), "the lie");
        assertTrue(int8.files().weights().getFileName().toString().endsWith("-q.onnx"), "the int8 weights run");
        Assignment a = lease("job-adversary/00004", 0, 8);
        ShardResult r = run(int8, new Adversary(Adversary.Mode.parse("substitute-model"), 13, () -> {}), a);
        assertWellFormedAndSigned(r, a);
        RowComparison.Result cmp = compareWithHonest(r, a);
        assertFalse(cmp.agree(), cmp.reason());
    }

    /**
     * Measured, not assumed: the same rows alone and in one call after 24 other rows (as micro-batching
     * across leases would run them). fp32 comes out bit-identical; int8 does not (its dynamic
     * quantization scales over the whole call), so only fp32 is {@link ShardExecutor#batchInvariant()}
     * and the node runs int8 leases alone. Corpus figures: docs/performance.md.
     */
    @Test
    void int8OutputsMoveWithBatchCompositionWhileFp32AreBitIdenticalSoOnlyFp32LeasesShareACall() {
        List<String> rows = new ArrayList<>();
        lease("job-adversary/00020", 0, 8).getRows().forEach(r -> rows.add(r.getInput()));
        List<String> others = new ArrayList<>();
        for (int i = 0; i < 24; i++) {
            others.add("Another lease's row number " + i + (i % 3 == 0 ? ", somewhat longer than most of its neighbours are." : "."));
        }
        io.inferex.executor.model.BatchComposition f = io.inferex.executor.model.BatchComposition.measure(fp32, rows, others);
        io.inferex.executor.model.BatchComposition q = io.inferex.executor.model.BatchComposition.measure(int8, rows, others);
        System.out.println("BATCH COMPOSITION fp32 " + f + "; int8 " + q);
        assertTrue(f.invariant(), "fp32: " + f);
        assertFalse(q.invariant(), "int8: " + q);
        assertTrue(q.maxAbs() > 0 && q.lowestCosine() < 1, "int8: " + q);
        assertEquals(f.invariant(), new ShardExecutor(NODE, fp32, () -> 5_000L, Adversary.none()).batchInvariant());
        assertEquals(q.invariant(), new ShardExecutor(NODE, int8, () -> 5_000L, Adversary.none()).batchInvariant());
    }

    /** Micro-batching: shards run in one inference call give, per lease, the bit-identical signed rows they give alone. */
    @Test
    void shardsRunTogetherInOneCallGiveEachLeaseTheSameRowsAsRunAloneAndOnlyFp32IsBatchInvariant() {
        ShardExecutor executor = new ShardExecutor(NODE, fp32, () -> 5_000L, Adversary.none());
        List<Assignment> leases = List.of(lease("job-adversary/00010", 0, 3), lease("job-adversary/00011", 0, 9),
                lease("job-adversary/00012", 0, 2));
        List<ShardResult> together = executor.executeTogether(leases);
        assertEquals(3, together.size());
        for (int i = 0; i < leases.size(); i++) {
            ShardResult alone = executor.execute(leases.get(i));
            assertWellFormedAndSigned(together.get(i), leases.get(i));
            assertEquals(alone.getRows(), together.get(i).getRows(), "lease " + i + ": same rows, same order, same bits");
            assertEquals(alone.getOutputDigest(), together.get(i).getOutputDigest());
            assertEquals(alone.getPromptTokens(), together.get(i).getPromptTokens());
        }
        assertTrue(executor.batchInvariant());
        assertFalse(new ShardExecutor(NODE, int8, () -> 5_000L, Adversary.none()).batchInvariant(),
                "int8 (even declaring the fp32 digest) runs each shard alone");
    }
}
