package io.inferex.verification;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.EmbeddingRow;
import io.inferex.market.ModelCatalogue.Tolerance;
import java.util.List;
import org.junit.jupiter.api.Test;

class RowComparisonTest {
    private static EmbeddingRow row(String id, float... v) {
        List<Float> l = new java.util.ArrayList<>();
        for (float f : v) {
            l.add(f);
        }
        return new EmbeddingRow(id, l);
    }

    @Test
    void identicalRowsAgreeUnderTheExactTolerance() {
        var a = List.of(row("a", 0.6f, 0.8f), row("b", 1f, 0f));
        var r = RowComparison.compare(a, List.copyOf(a), Tolerance.EXACT);
        assertTrue(r.agree(), r.reason());
        assertEquals(1.0, r.worstCosine(), 1e-12);
        assertEquals(0.0, r.worstMaxAbs(), 0.0);
    }

    @Test
    void smallNoiseAgreesWithinAToleranceAndOneFarRowFailsTheWholeShard() {
        var tol = new Tolerance(0.999, 0.01);
        var a = List.of(row("a", 0.6f, 0.8f), row("b", 1f, 0f));
        var noisy = List.of(row("a", 0.601f, 0.799f), row("b", 1f, 0.001f));
        assertTrue(RowComparison.compare(a, noisy, tol).agree());
        var oneFar = List.of(row("a", 0.601f, 0.799f), row("b", 0f, 1f));
        var r = RowComparison.compare(a, oneFar, tol);
        assertFalse(r.agree());
        assertEquals(1, r.worstRow());
    }

    @Test
    void differentShapesOrCustomIdsNeverAgree() {
        var tol = new Tolerance(0.0, 2.0);
        var a = List.of(row("a", 0.6f, 0.8f));
        assertFalse(RowComparison.compare(a, List.of(row("z", 0.6f, 0.8f)), tol).agree());
        assertFalse(RowComparison.compare(a, List.of(row("a", 0.6f, 0.8f, 0f)), tol).agree());
        assertFalse(RowComparison.compare(a, List.of(), tol).agree());
        assertFalse(RowComparison.compare(a, List.of(row("a", Float.NaN, 0.8f)), tol).agree());
    }
}
