package io.inferex.executor.model;

import java.util.ArrayList;
import java.util.List;

/**
 * How much a model's output for a row moves with what else is in its inference call: each row run
 * alone (a call of one) against the same row run in one call with other rows, as micro-batching
 * across leases would run it. Used by the suite (a few rows) and the opt-in benchmark (a corpus).
 *
 * @param rows rows compared
 * @param lowestCosine lowest cosine between a row alone and the same row batched (1 when bit-identical)
 * @param maxAbs largest absolute difference of one component
 * @param rowsDiffering rows whose vectors are not bit-identical
 */
public record BatchComposition(int rows, double lowestCosine, double maxAbs, int rowsDiffering) {

    /** Runs each of {@code rows} alone, then all of them after {@code others} in one call, and compares. */
    public static BatchComposition measure(SentenceEmbedder embedder, List<String> rows, List<String> others) {
        List<float[]> alone = new ArrayList<>(rows.size());
        for (String row : rows) {
            alone.add(embedder.embed(List.of(row)).get(0));
        }
        List<String> together = new ArrayList<>(others);
        together.addAll(rows);
        List<float[]> batched = embedder.embed(together).subList(others.size(), together.size());
        double lowest = 1;
        double maxAbs = 0;
        int differing = 0;
        for (int i = 0; i < rows.size(); i++) {
            float[] a = alone.get(i);
            float[] b = batched.get(i);
            double dot = 0;
            double na = 0;
            double nb = 0;
            boolean same = true;
            for (int k = 0; k < a.length; k++) {
                dot += (double) a[k] * b[k];
                na += (double) a[k] * a[k];
                nb += (double) b[k] * b[k];
                maxAbs = Math.max(maxAbs, Math.abs((double) a[k] - b[k]));
                same &= Float.floatToRawIntBits(a[k]) == Float.floatToRawIntBits(b[k]);
            }
            lowest = Math.min(lowest, dot / Math.sqrt(na * nb));
            differing += same ? 0 : 1;
        }
        return new BatchComposition(rows.size(), lowest, maxAbs, differing);
    }

    /** True when every row came out bit-identical. */
    public boolean invariant() {
        return rowsDiffering == 0;
    }

    @Override
    public String toString() {
        return String.format("%d rows: lowest cosine %.7f, max abs %.3g, %d rows not bit-identical", rows, lowestCosine, maxAbs,
                rowsDiffering);
    }
}
