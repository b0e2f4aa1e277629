package io.inferex.executor.calibration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.executor.calibration.ToleranceCalibration.Expect;
import io.inferex.executor.calibration.ToleranceCalibration.Figures;
import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.executor.node.Adversary;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.ModelCatalogue.Tolerance;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The catalogue's all-MiniLM-L6-v2 tolerance separates honest re-executions from cheats, on a small
 * corpus (the full measurement is {@link ToleranceCalibration}'s main): every shard of an honest
 * run at another batch size, batch composition or through the node's micro-batching agrees with
 * the fp32 batch-1 reference under {@link io.inferex.verification.RowComparison}; every shard of
 * int8 claiming fp32, of random vectors and of corrupt-fraction 0.1 disagrees.
 */
class ToleranceCalibrationTest {
    static final Path HOME = Path.of("target", "test-calibration-home");
    static final Tolerance TOLERANCE = ModelCatalogue.ALL_MINILM_L6_V2.tolerance();
    /** Three shards of 16 rows, one of them longer than 256 tokens (index 9). */
    static final List<String> CORPUS = CalibrationCorpus.sentences(48, 20261201L);
    static SentenceEmbedder fp32;
    static SentenceEmbedder int8;
    static List<float[]> reference;

    @BeforeAll
    static void load() {
        fp32 = ToleranceCalibration.load(ToleranceCalibration.fp32Files(io.inferex.executor.TestDirs.MODEL_HOME), HOME, 1);
        int8 = ToleranceCalibration.load(ToleranceCalibration.int8Files(io.inferex.executor.TestDirs.MODEL_HOME), HOME, 1);
        reference = ToleranceCalibration.inBatches(fp32, CORPUS, 1);
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

    static void assertEveryShardInside(Figures f) {
        assertEquals(0, f.shardsOutside(), f.condition() + ": worst cosine " + f.quantileCos(0) + ", worst max-abs " + f.quantileMaxAbs(1));
    }

    static void assertEveryShardOutside(Figures f) {
        assertEquals(3, f.shards());
        assertEquals(f.shards(), f.shardsOutside(), f.condition() + ": the closest shard had worst cosine " + f.bestCheatShardCos()
                + " and worst max-abs " + f.bestCheatShardMaxAbs());
    }

    @Test
    void honestBatchSizeAndCompositionVariationOfFp32AgreesOnEveryShard() {
        for (int batch : new int[] {8, 48}) {
            assertEveryShardInside(ToleranceCalibration.measure("fp32 batch " + batch, Expect.HONEST, reference,
                    ToleranceCalibration.inBatches(fp32, CORPUS, batch), TOLERANCE));
        }
        assertEveryShardInside(ToleranceCalibration.measure("fp32 shuffled batches of 16", Expect.HONEST, reference,
                ToleranceCalibration.shuffledBatches(fp32, CORPUS, 16, 5), TOLERANCE));
        assertEveryShardInside(ToleranceCalibration.measure("fp32 node path", Expect.HONEST, reference, fp32.embed(CORPUS), TOLERANCE));
    }

    @Test
    void int8ClaimingFp32DisagreesOnEveryShardAtAnyBatchSize() {
        for (int batch : new int[] {1, 16}) {
            assertEveryShardOutside(ToleranceCalibration.measure("int8 batch " + batch + " claiming fp32", Expect.CHEAT, reference,
                    ToleranceCalibration.inBatches(int8, CORPUS, batch), TOLERANCE));
        }
    }

    @Test
    void randomVectorsDisagreeOnEveryShard() {
        assertEveryShardOutside(ToleranceCalibration.measure("random-vectors", Expect.CHEAT, reference,
                ToleranceCalibration.cheated(Adversary.Mode.parse("random-vectors"), reference, 1), TOLERANCE));
    }

    @Test
    void corruptFractionPointOneDisagreesOnEveryShard() {
        Figures f = ToleranceCalibration.measure("corrupt-fraction:0.1", Expect.CHEAT, reference,
                ToleranceCalibration.cheated(Adversary.Mode.parse("corrupt-fraction:0.1"), reference, 2), TOLERANCE);
        assertEveryShardOutside(f);
        assertTrue(f.quantileCos(0.5) == 1.0, "the other rows are honest: median cosine " + f.quantileCos(0.5));
    }
}
