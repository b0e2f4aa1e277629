package io.inferex.executor.calibration;

import io.inferex.events.EmbeddingRow;
import io.inferex.executor.model.ModelFiles;
import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.executor.node.Adversary;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.ModelCatalogue.Tolerance;
import io.inferex.verification.RowComparison;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Measures how far honest executions of all-MiniLM-L6-v2 drift from a reference (fp32, batch 1,
 * one ONNX Runtime intra-op thread, on this CPU) and how far the cheats land, to set the model's
 * {@link Tolerance} in {@link ModelCatalogue}. Run it with
 * {@code ./mvnw -pl executor -am process-test-classes -Pcalibrate} (docs/verification.md, "Tolerance, calibrated");
 * {@code -Dcalibrate.rows=N} changes the corpus size (default 320). The table is also written to
 * {@code executor/target/tolerance-calibration.md}.
 *
 * <p>Per condition it prints, per row, the distribution of the cosine (min, p0.1, p1, p50) and of
 * the largest absolute difference (max, p99.9, p99, p50) against the reference, and per shard of
 * {@value #SHARD_ROWS} rows how many {@link RowComparison} finds outside the catalogue's tolerance.
 * {@link ToleranceCalibrationTest} runs the same code on a small corpus as a test.
 */
public final class ToleranceCalibration {
    /** Rows per simulated shard (the unit the verifier compares). */
    public static final int SHARD_ROWS = 16;

    private ToleranceCalibration() {}

    /** How a condition should come out: inside the tolerance for every shard, or outside for every shard. */
    public enum Expect { HONEST, CHEAT, REPORT_ONLY }

    /**
     * One condition's figures against its reference.
     *
     * @param cos per-row cosine, sorted ascending
     * @param maxAbs per-row largest absolute difference, sorted ascending
     * @param shardsOutside shards of {@value #SHARD_ROWS} rows that {@link RowComparison} finds outside the tolerance
     * @param bestCheatShardCos the largest worst-row cosine of any shard (how close the closest shard came)
     * @param bestCheatShardMaxAbs the smallest worst-row max-abs of any shard
     */
    public record Figures(String condition, Expect expect, double[] cos, double[] maxAbs, int shards, int shardsOutside,
            double bestCheatShardCos, double bestCheatShardMaxAbs) {

        public double quantileCos(double p) {
            return quantile(cos, p);
        }

        public double quantileMaxAbs(double p) {
            return quantile(maxAbs, p);
        }

        String line() {
            return String.format(Locale.ROOT, "| %-52s | %-6s | %5d | %.7f | %.7f | %.7f | %.7f | %.7f | %.2e | %.2e | %.2e | %.2e | %.2e | %3d/%-3d | %.5f | %.2e |",
                    condition, expect == Expect.REPORT_ONLY ? "report" : expect.name().toLowerCase(Locale.ROOT), cos.length,
                    quantileCos(0), quantileCos(0.001), quantileCos(0.01), quantileCos(0.5), quantileCos(1),
                    quantileMaxAbs(1), quantileMaxAbs(0.999), quantileMaxAbs(0.99), quantileMaxAbs(0.5), quantileMaxAbs(0),
                    shardsOutside, shards, bestCheatShardCos, bestCheatShardMaxAbs);
        }

        static String header() {
            return "| condition | expect | rows | cos min | cos p0.1 | cos p1 | cos p50 | cos max | maxAbs max | maxAbs p99.9 | maxAbs p99 "
                    + "| maxAbs p50 | maxAbs min | shards outside | closest shard cos | closest shard maxAbs |\n"
                    + "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";
        }
    }

    /** Nearest-rank quantile of an ascending array: p = 0 the minimum, p = 1 the maximum. */
    static double quantile(double[] sorted, double p) {
        int idx = (int) Math.ceil(p * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, idx))];
    }

    /** Compares {@code candidate} with {@code reference} row by row and shard by shard. */
    public static Figures measure(String condition, Expect expect, List<float[]> reference, List<float[]> candidate,
            Tolerance tolerance) {
        System.err.printf(Locale.ROOT, "calibration: measured %s%n", condition);
        int n = reference.size();
        if (candidate.size() != n) {
            throw new IllegalArgumentException(condition + ": " + candidate.size() + " rows vs " + n);
        }
        double[] cos = new double[n];
        double[] abs = new double[n];
        for (int i = 0; i < n; i++) {
            cos[i] = cosine(reference.get(i), candidate.get(i));
            abs[i] = maxAbs(reference.get(i), candidate.get(i));
        }
        int shards = 0;
        int outside = 0;
        double closestCos = -1;
        double closestAbs = Double.MAX_VALUE;
        for (int from = 0; from < n; from += SHARD_ROWS) {
            int to = Math.min(n, from + SHARD_ROWS);
            RowComparison.Result r = RowComparison.compare(rows(reference.subList(from, to), from),
                    rows(candidate.subList(from, to), from), tolerance);
            shards++;
            if (!r.agree()) {
                outside++;
            }
            closestCos = Math.max(closestCos, r.worstCosine());
            closestAbs = Math.min(closestAbs, r.worstMaxAbs());
        }
        Arrays.sort(cos);
        Arrays.sort(abs);
        return new Figures(condition, expect, cos, abs, shards, outside, closestCos, closestAbs);
    }

    /** The rows as a result would carry them (custom ids row-&lt;index&gt;). */
    public static List<EmbeddingRow> rows(List<float[]> vectors, int firstIndex) {
        List<EmbeddingRow> out = new ArrayList<>(vectors.size());
        for (int i = 0; i < vectors.size(); i++) {
            out.add(new EmbeddingRow("row-" + (firstIndex + i), SentenceEmbedder.boxed(vectors.get(i))));
        }
        return out;
    }

    /** One forward pass per consecutive batch of {@code batch} texts, in corpus order. */
    public static List<float[]> inBatches(SentenceEmbedder embedder, List<String> texts, int batch) {
        List<float[]> out = new ArrayList<>(texts.size());
        for (int from = 0; from < texts.size(); from += batch) {
            out.addAll(embedder.embedBatch(texts.subList(from, Math.min(texts.size(), from + batch))));
        }
        return out;
    }

    /** Batches of {@code batch} texts drawn in a shuffled order (other batch neighbours), returned in corpus order. */
    public static List<float[]> shuffledBatches(SentenceEmbedder embedder, List<String> texts, int batch, long seed) {
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < texts.size(); i++) {
            order.add(i);
        }
        Collections.shuffle(order, new Random(seed));
        List<String> shuffled = new ArrayList<>(texts.size());
        for (int i : order) {
            shuffled.add(texts.get(i));
        }
        List<float[]> got = inBatches(embedder, shuffled, batch);
        float[][] out = new float[texts.size()][];
        for (int k = 0; k < order.size(); k++) {
            out[order.get(k)] = got.get(k);
        }
        return Arrays.asList(out);
    }

    /** What the adversary declares, shard by shard (one lease per shard of {@value #SHARD_ROWS} rows). */
    public static List<float[]> cheated(Adversary.Mode mode, List<float[]> honest, long seed) {
        Adversary adversary = new Adversary(mode, seed, () -> {});
        List<float[]> out = new ArrayList<>(honest.size());
        for (int from = 0, shard = 0; from < honest.size(); from += SHARD_ROWS, shard++) {
            out.addAll(adversary.tamper("calibration/" + shard + "#0", honest.subList(from, Math.min(honest.size(), from + SHARD_ROWS))));
        }
        return out;
    }

    /** L2 norm, in double. */
    public static double norm(float[] v) {
        double s = 0;
        for (float x : v) {
            s += (double) x * x;
        }
        return Math.sqrt(s);
    }

    public static double cosine(float[] a, float[] b) {
        double dot = 0;
        double na = 0;
        double nb = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
            na += (double) a[i] * a[i];
            nb += (double) b[i] * b[i];
        }
        return dot / Math.sqrt(na * nb);
    }

    static double maxAbs(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs((double) a[i] - b[i]));
        }
        return m;
    }

    public static SentenceEmbedder load(ModelFiles files, Path home, int intraOpThreads) {
        return SentenceEmbedder.load(files, home.resolve("djl-cache"),
                new SentenceEmbedder.Options(SentenceEmbedder.DEFAULT_MAX_TOKENS, 32, intraOpThreads));
    }

    public static ModelFiles fp32Files(Path home) {
        return ModelFiles.prepare(ModelCatalogue.ALL_MINILM_L6_V2, ModelFiles.ALL_MINILM_L6_V2,
                home.resolve("models").resolve(ModelCatalogue.ALL_MINILM_L6_V2.id()), ToleranceCalibration.class.getClassLoader());
    }

    public static ModelFiles int8Files(Path home) {
        return ModelFiles.prepareInt8(home.resolve("models").resolve(ModelCatalogue.ALL_MINILM_L6_V2.id() + "-int8"), ToleranceCalibration.class.getClassLoader());
    }

    public static void main(String[] args) {
        int n = Integer.getInteger("calibrate.rows", 320);
        long seed = Long.getLong("calibrate.seed", 20261201L);
        Path home = Path.of(System.getProperty("calibrate.home", "target/calibration-home"));
        Tolerance tolerance = ModelCatalogue.ALL_MINILM_L6_V2.tolerance();
        List<String> corpus = CalibrationCorpus.sentences(n, seed);
        long t0 = System.nanoTime();
        ModelFiles fp32 = fp32Files(home);
        ModelFiles int8 = int8Files(home);
        List<Figures> figures = new ArrayList<>();
        try (SentenceEmbedder fp32One = load(fp32, home, 1);
                SentenceEmbedder fp32Two = load(fp32, home, 2);
                SentenceEmbedder int8One = load(int8, home, 1);
                SentenceEmbedder int8Two = load(int8, home, 2)) {
            List<float[]> ref = inBatches(fp32One, corpus, 1);
            // honest variation of the fp32 model
            for (int b : new int[] {8, 32, 128}) {
                figures.add(measure("fp32 batch " + b + ", 1 thread", Expect.HONEST, ref, inBatches(fp32One, corpus, b), tolerance));
            }
            for (int b : new int[] {1, 32}) {
                figures.add(measure("fp32 batch " + b + ", 2 threads", Expect.HONEST, ref, inBatches(fp32Two, corpus, b), tolerance));
            }
            figures.add(measure("fp32 batch 32 shuffled composition, 1 thread", Expect.HONEST, ref,
                    shuffledBatches(fp32One, corpus, 32, seed + 1), tolerance));
            figures.add(measure("fp32 batch 32 shuffled composition, 2 threads", Expect.HONEST, ref,
                    shuffledBatches(fp32Two, corpus, 32, seed + 2), tolerance));
            figures.add(measure("fp32 node path (sorted by length, micro-batch 32)", Expect.HONEST, ref, fp32One.embed(corpus), tolerance));
            // int8 served honestly (declared as int8): its own batch-size variation against int8 at batch 1
            List<float[]> int8Ref = inBatches(int8One, corpus, 1);
            java.util.Map<Integer, List<float[]>> int8Batched = new java.util.TreeMap<>();
            for (int b : new int[] {8, 32, 128}) {
                int8Batched.put(b, inBatches(int8One, corpus, b));
                figures.add(measure("int8 batch " + b + " vs int8 batch 1 (honest int8)", Expect.REPORT_ONLY, int8Ref,
                        int8Batched.get(b), tolerance));
            }
            figures.add(measure("int8 batch 32 shuffled, 2 threads vs int8 batch 1", Expect.REPORT_ONLY, int8Ref,
                    shuffledBatches(int8Two, corpus, 32, seed + 3), tolerance));
            // the cheats, against the fp32 reference
            figures.add(measure("CHEAT int8 batch 1 claiming fp32", Expect.CHEAT, ref, int8Ref, tolerance));
            for (var e : int8Batched.entrySet()) {
                figures.add(measure("CHEAT int8 batch " + e.getKey() + " claiming fp32", Expect.CHEAT, ref, e.getValue(), tolerance));
            }
            figures.add(measure("CHEAT random-vectors", Expect.CHEAT, ref, cheated(Adversary.Mode.parse("random-vectors"), ref, seed),
                    tolerance));
            Adversary.Mode corrupt = Adversary.Mode.parse("corrupt-fraction:0.1");
            figures.add(measure("CHEAT corrupt-fraction:0.1 (all rows)", Expect.CHEAT, ref, cheated(corrupt, ref, seed), tolerance));
        }
        StringBuilder report = new StringBuilder();
        report.append(String.format(Locale.ROOT, "Tolerance calibration of %s: %d sentences (seed %d), reference = fp32, batch 1, 1 intra-op thread, "
                + "%s on %s %s, %d cores; catalogue tolerance minCosine %s, maxAbs %s; shards of %d rows; %.0f s%n%n",
                ModelCatalogue.ALL_MINILM_L6_V2.id(), n, seed, SentenceEmbedder.ENGINE, System.getProperty("os.arch"),
                System.getProperty("os.name"), Runtime.getRuntime().availableProcessors(), tolerance.minCosine(),
                tolerance.maxAbs(), SHARD_ROWS, (System.nanoTime() - t0) / 1e9));
        report.append(Figures.header()).append('\n');
        for (Figures f : figures) {
            report.append(f.line()).append('\n');
        }
        boolean ok = true;
        for (Figures f : figures) {
            if (f.expect() == Expect.HONEST && f.shardsOutside() != 0) {
                report.append("FAIL: honest condition outside the tolerance: ").append(f.condition()).append('\n');
                ok = false;
            }
            if (f.expect() == Expect.CHEAT && f.shardsOutside() != f.shards()) {
                report.append("FAIL: cheat inside the tolerance on some shard: ").append(f.condition()).append('\n');
                ok = false;
            }
        }
        report.append(ok ? "\nOK: every honest shard inside, every cheating shard outside the catalogue tolerance\n"
                : "\nThe catalogue tolerance does not separate honest runs from cheats on this corpus\n");
        System.out.println();
        System.out.print(report);
        Path out = Path.of(System.getProperty("calibrate.out", "target/tolerance-calibration.md"));
        try {
            java.nio.file.Files.writeString(out, report);
            System.out.println("written to " + out.toAbsolutePath());
        } catch (java.io.IOException e) {
            System.out.println("could not write " + out + ": " + e);
        }
        if (!ok) {
            System.exit(1);
        }
    }
}
