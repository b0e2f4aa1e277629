package io.inferex.verification;

import io.inferex.events.EmbeddingRow;
import io.inferex.market.ModelCatalogue.Tolerance;
import java.util.List;

/**
 * Compares two executions of the same shard row by row under a model's {@link Tolerance}: the rows
 * must answer the same custom ids in the same order, have the same dimension and finite values, and
 * every row must have cosine {@code >= minCosine} and largest absolute difference {@code <= maxAbs}.
 * Pure; the verifier, the calibration harness and the verification simulation all call it.
 */
public final class RowComparison {
    private RowComparison() {}

    /**
     * The outcome.
     *
     * @param agree every row within tolerance
     * @param worstCosine smallest per-row cosine seen (NaN when the shapes already differ)
     * @param worstMaxAbs largest per-row max-abs difference seen (NaN when the shapes already differ)
     * @param worstRow index of the row furthest from agreeing, or -1
     * @param reason why they disagree, or "within tolerance"
     */
    public record Result(boolean agree, double worstCosine, double worstMaxAbs, int worstRow, String reason) {}

    public static Result compare(List<EmbeddingRow> a, List<EmbeddingRow> b, Tolerance tolerance) {
        if (a.size() != b.size()) {
            return shape("row counts differ: " + a.size() + " vs " + b.size());
        }
        double worstCos = 1.0;
        double worstAbs = 0.0;
        int worstRow = -1;
        for (int r = 0; r < a.size(); r++) {
            EmbeddingRow x = a.get(r);
            EmbeddingRow y = b.get(r);
            if (!x.getCustomId().equals(y.getCustomId())) {
                return shape("row " + r + " answers custom_id " + x.getCustomId() + " vs " + y.getCustomId());
            }
            List<Float> u = x.getEmbedding();
            List<Float> v = y.getEmbedding();
            if (u.size() != v.size() || u.isEmpty()) {
                return shape("row " + r + " has dimension " + u.size() + " vs " + v.size());
            }
            double dot = 0;
            double nu = 0;
            double nv = 0;
            double maxAbs = 0;
            for (int i = 0; i < u.size(); i++) {
                double p = u.get(i);
                double q = v.get(i);
                if (!Double.isFinite(p) || !Double.isFinite(q)) {
                    return shape("row " + r + " has a non-finite value at " + i);
                }
                dot += p * q;
                nu += p * p;
                nv += q * q;
                maxAbs = Math.max(maxAbs, Math.abs(p - q));
            }
            double cos = nu == 0 || nv == 0 ? (nu == nv ? 1.0 : 0.0) : dot / Math.sqrt(nu * nv);
            boolean rowWorse = worstRow < 0 || cos < worstCos || maxAbs > worstAbs;
            if (rowWorse) {
                worstRow = r;
            }
            worstCos = Math.min(worstCos, cos);
            worstAbs = Math.max(worstAbs, maxAbs);
        }
        boolean agree = worstCos >= tolerance.minCosine() && worstAbs <= tolerance.maxAbs();
        String reason = agree ? "within tolerance"
                : String.format(java.util.Locale.ROOT, "outside tolerance: worst cosine %.6f (min %.6f), worst max-abs %.6f (max %.6f)",
                        worstCos, tolerance.minCosine(), worstAbs, tolerance.maxAbs());
        return new Result(agree, worstCos, worstAbs, worstRow, reason);
    }

    private static Result shape(String why) {
        return new Result(false, Double.NaN, Double.NaN, -1, why);
    }
}
