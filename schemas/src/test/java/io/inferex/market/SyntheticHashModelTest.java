package io.inferex.market;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;

class SyntheticHashModelTest {
    @Test
    void embeddingIsAUnitVectorOfTheCataloguedDimension() {
        for (String text : new String[] {"", "a", "hello world", "ü€😀", "x".repeat(10_000)}) {
            float[] v = SyntheticHashModel.embed(text);
            assertEquals(ModelCatalogue.SYNTHETIC_HASH_V1.dimension(), v.length);
            double sq = 0;
            for (float f : v) {
                assertTrue(Float.isFinite(f));
                sq += (double) f * f;
            }
            assertEquals(1.0, Math.sqrt(sq), 1e-6, text);
        }
    }

    @Test
    void sameTextSameVectorOtherTextOtherVector() {
        assertArrayEquals(SyntheticHashModel.embed("row 1"), SyntheticHashModel.embed("row 1"));
        assertFalse(Arrays.equals(SyntheticHashModel.embed("row 1"), SyntheticHashModel.embed("row 2")));
    }

    @Test
    void catalogueListsItWithItsDefinitionDigest() {
        var spec = ModelCatalogue.byId(SyntheticHashModel.ID).orElseThrow();
        assertEquals(SyntheticHashModel.DEFINITION_SHA256, spec.weightsSha256());
        assertEquals(64, spec.weightsSha256().length());
        assertTrue(ModelCatalogue.byId(ModelCatalogue.ALL_MINILM_L6_V2.id()).isPresent());
    }
}
