package io.inferex.local.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.EmbeddingRow;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.SyntheticHashModel;
import io.inferex.verification.RowComparison;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CheatModeTest {
    static List<EmbeddingRow> honest(int n) {
        List<EmbeddingRow> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<Float> v = new ArrayList<>();
            for (float f : SyntheticHashModel.embed("row " + i)) {
                v.add(f);
            }
            rows.add(new EmbeddingRow("r" + i, v));
        }
        return rows;
    }

    static int changedRows(List<EmbeddingRow> a, List<EmbeddingRow> b) {
        int changed = 0;
        for (int i = 0; i < a.size(); i++) {
            changed += a.get(i).getEmbedding().equals(b.get(i).getEmbedding()) ? 0 : 1;
        }
        return changed;
    }

    @Test
    void corruptFractionReplacesThatShareOfRowsWithUnitVectorsAndReExecutionDisagrees() {
        List<EmbeddingRow> rows = honest(20);
        List<EmbeddingRow> cheated = CheatMode.parse("corrupt-fraction:0.1").apply(rows, new SplittableRandom(1));
        assertEquals(2, changedRows(rows, cheated));
        for (EmbeddingRow r : cheated) {
            double sq = r.getEmbedding().stream().mapToDouble(f -> f * f).sum();
            assertEquals(1.0, Math.sqrt(sq), 1e-5, "still unit norm");
        }
        assertFalse(RowComparison.compare(rows, cheated, ModelCatalogue.SYNTHETIC_HASH_V1.tolerance()).agree());
        assertEquals(1, changedRows(honest(3), CheatMode.parse("corrupt-fraction:0.01").apply(honest(3), new SplittableRandom(2))),
                "at least one row of a shard");
    }

    @Test
    void randomVectorsReplaceEveryRowAndDropAndDelayKeepTheRowsHonest() {
        List<EmbeddingRow> rows = honest(5);
        assertEquals(5, changedRows(rows, CheatMode.parse("random-vectors").apply(rows, new SplittableRandom(3))));
        CheatMode drop = CheatMode.parse("drop");
        assertFalse(drop.answers());
        assertFalse(drop.corrupts());
        CheatMode delay = CheatMode.parse("delay:2s");
        assertEquals(Duration.ofSeconds(2), delay.delay());
        assertTrue(delay.answers());
        assertEquals(rows, delay.apply(rows, new SplittableRandom(4)));
    }

    @Test
    void badModesAreRefusedWithTheReason() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CheatMode.parse("lie")).getMessage().contains("not one of"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CheatMode.parse("corrupt-fraction")).getMessage()
                .contains("needs a fraction"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CheatMode.parse("corrupt-fraction:x")).getMessage()
                .contains("is not a number"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CheatMode.parse("drop:3")).getMessage()
                .contains("takes no argument"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> CheatMode.parse("delay:soon")).getMessage()
                .contains("not a duration"));
    }
}
