package io.inferex.executor.node;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.inferex.events.Assignment;
import io.inferex.events.InputRow;
import io.inferex.executor.model.BatchComposition;
import io.inferex.executor.model.ModelFiles;
import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.inferex.market.Pools;
import io.inferex.wire.CatalogueSerializer;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.function.Consumer;
import org.apache.kafka.clients.producer.MockProducer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Opt-in figures, never part of the suite (the class name does not match surefire's *Test
 * pattern, and it runs only with {@code -Dinferex.benchmark=true}):
 * <ol>
 *   <li>sentences/s of the executor path ({@link SentenceEmbedder#embedCounting}: DJL on ONNX
 *       Runtime, tokenizer, length grouping, pooling) beside the raw ONNX Runtime Java API
 *       ({@code OrtSession.run} on the same graph, same tokenizer and pooling), same threads and
 *       batch size, in alternating rounds (A B, B A, ...) of the same run, at batch 1, 32 and 128;
 *   <li>node throughput for 16-row shards through the {@link WorkerPool} (real {@link ShardExecutor},
 *       signed results, a MockProducer that acknowledges at once), micro-batching on against one
 *       shard per call ({@link MicroBatchPlan#off()}), same slots, alternating rounds;
 *   <li>int8 against fp32: how far a row's output moves between running alone and running in one
 *       call with other rows ({@link BatchComposition}), over the generated corpus.
 * </ol>
 * Run: {@code ./mvnw -q -o -pl executor -am verify -Dtest=ExecutorThroughputBenchmark
 * -Dsurefire.failIfNoSpecifiedTests=false -Dinferex.benchmark=true}; lines start with BENCH.
 * {@code -Dinferex.benchmark.rounds=N} (default 5) timed rounds per side after one warm-up each.
 */
@EnabledIfSystemProperty(named = "inferex.benchmark", matches = "true")
class ExecutorThroughputBenchmark {
    static final Path HOME = Path.of("target", "benchmark-home");
    static final int THREADS = 2;
    static final int SENTENCES = 128;
    static final int ROUNDS = Integer.getInteger("inferex.benchmark.rounds", 5);

    static List<String> sentences(int n, long seed) {
        String[] words = ("the a market node shard lease kafka stream model batch verify result token row embed sentence "
                + "quick brown fox jumps over lazy dog price stake audit signed digest cosine tolerance").split(" ");
        Random rnd = new Random(seed);
        List<String> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            StringBuilder sb = new StringBuilder();
            int len = 5 + rnd.nextInt(26);
            for (int w = 0; w < len; w++) {
                sb.append(w == 0 ? "" : " ").append(words[rnd.nextInt(words.length)]);
            }
            out.add(sb.append('.').toString());
        }
        return out;
    }

    /** Seconds one run of {@code round} takes. */
    static double seconds(Runnable round) {
        long t0 = System.nanoTime();
        round.run();
        return (System.nanoTime() - t0) / 1e9;
    }

    /**
     * A/B in alternating order (A B, B A, A B, ...) after one warm-up of each; rates in units/s.
     * Returns {best A, median A, best B, median B, median of the per-pair ratios A/B}.
     */
    static double[] alternate(int units, Runnable a, Runnable b) {
        a.run();
        b.run();
        double[] ra = new double[ROUNDS];
        double[] rb = new double[ROUNDS];
        double[] ratio = new double[ROUNDS];
        for (int i = 0; i < ROUNDS; i++) {
            if (i % 2 == 0) {
                ra[i] = units / seconds(a);
                rb[i] = units / seconds(b);
            } else {
                rb[i] = units / seconds(b);
                ra[i] = units / seconds(a);
            }
            ratio[i] = ra[i] / rb[i];
        }
        return new double[] {max(ra), median(ra), max(rb), median(rb), median(ratio)};
    }

    static double max(double[] v) {
        return Arrays.stream(v).max().orElse(0);
    }

    static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    static String load() {
        try {
            return java.nio.file.Files.readString(Path.of("/proc/loadavg")).trim();
        } catch (java.io.IOException e) {
            return "n/a";
        }
    }

    static <T> void inBatches(List<T> items, int batch, Consumer<List<T>> call) {
        for (int from = 0; from < items.size(); from += batch) {
            call.accept(items.subList(from, Math.min(items.size(), from + batch)));
        }
    }

    static ModelFiles fp32Files() {
        return ModelFiles.prepare(ModelCatalogue.ALL_MINILM_L6_V2, ModelFiles.ALL_MINILM_L6_V2, io.inferex.executor.TestDirs.fp32Models(),
                ExecutorThroughputBenchmark.class.getClassLoader());
    }

    /** The raw ONNX Runtime Java API: one session run per batch, padded to the batch's longest row. */
    static final class RawOrt implements AutoCloseable {
        final OrtEnvironment env = OrtEnvironment.getEnvironment();
        final OrtSession session;
        final HuggingFaceTokenizer tokenizer;

        RawOrt(ModelFiles files) throws Exception {
            OrtSession.SessionOptions so = new OrtSession.SessionOptions();
            so.setIntraOpNumThreads(THREADS);
            session = env.createSession(files.weights().toString(), so);
            tokenizer = HuggingFaceTokenizer.builder().optTokenizerPath(files.tokenizer()).optAddSpecialTokens(true)
                    .optTruncation(true).optMaxLength(SentenceEmbedder.DEFAULT_MAX_TOKENS).optPadding(false).build();
        }

        float[][] embed(List<String> texts) {
            Encoding[] enc = tokenizer.batchEncode(texts);
            int rows = enc.length;
            int seq = 0;
            for (Encoding e : enc) {
                seq = Math.max(seq, e.getIds().length);
            }
            long[] ids = new long[rows * seq];
            long[] types = new long[rows * seq];
            long[] mask = new long[rows * seq];
            for (int r = 0; r < rows; r++) {
                System.arraycopy(enc[r].getIds(), 0, ids, r * seq, enc[r].getIds().length);
                System.arraycopy(enc[r].getTypeIds(), 0, types, r * seq, enc[r].getTypeIds().length);
                System.arraycopy(enc[r].getAttentionMask(), 0, mask, r * seq, enc[r].getAttentionMask().length);
            }
            long[] shape = {rows, seq};
            try (OnnxTensor i = OnnxTensor.createTensor(env, LongBuffer.wrap(ids), shape);
                    OnnxTensor m = OnnxTensor.createTensor(env, LongBuffer.wrap(mask), shape);
                    OnnxTensor t = OnnxTensor.createTensor(env, LongBuffer.wrap(types), shape);
                    OrtSession.Result out = session.run(Map.of("input_ids", i, "attention_mask", m, "token_type_ids", t))) {
                OnnxTensor hidden = (OnnxTensor) out.get(0);
                long[] hs = hidden.getInfo().getShape();
                float[] flat = new float[hidden.getFloatBuffer().remaining()];
                hidden.getFloatBuffer().get(flat);
                return SentenceEmbedder.meanPoolAndNormalise(flat, mask, rows, seq, (int) hs[2]);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public void close() throws Exception {
            session.close();
            tokenizer.close();
        }
    }

    @Test
    void executorPathBesideRawOnnxRuntime() throws Exception {
        ModelFiles files = fp32Files();
        List<String> corpus = sentences(SENTENCES, 42);
        ai.djl.engine.Engine.getEngine(SentenceEmbedder.ENGINE); // DJL creates the OrtEnvironment (with its thread settings) first
        try (RawOrt raw = new RawOrt(files)) {
            for (int batch : new int[] {1, 32, 128}) {
                try (SentenceEmbedder executor = SentenceEmbedder.load(files, HOME.resolve("djl-cache"),
                        new SentenceEmbedder.Options(SentenceEmbedder.DEFAULT_MAX_TOKENS, batch, THREADS))) {
                    String before = load();
                    double[] r = alternate(corpus.size(), () -> inBatches(corpus, batch, executor::embedCounting),
                            () -> inBatches(corpus, batch, raw::embed));
                    System.out.printf("BENCH batch %d, %d threads, %d sentences, %d alternating rounds: executor path best %.1f / median %.1f "
                            + "sentences/s, raw ONNX Runtime best %.1f / median %.1f, ratio of bests %.3f, median paired ratio %.3f "
                            + "(loadavg before %s, after %s)%n", batch, THREADS, corpus.size(), ROUNDS, r[0], r[1], r[2], r[3], r[0] / r[2],
                            r[4], before, load());
                }
            }
        }
    }

    /** One node round: {@code shards} taken through the pool's slots as a feed would, until every result is acknowledged. */
    static void throughPool(int slots, ShardExecutor executor, MicroBatchPlan plan, List<Assignment> shards) {
        CountDownLatch done = new CountDownLatch(shards.size());
        MockProducer<String, Object> producer = new MockProducer<>(true, null, new StringSerializer(), new CatalogueSerializer());
        ResultPublisher results = new ResultPublisher(() -> producer, () -> 0L, ms -> {});
        results.open();
        WorkerPool pool = new WorkerPool(slots, "bench", executor.modelId(), executor::executeTogether, plan, results, new Rejections(),
                Adversary.none(), offset -> done.countDown());
        try {
            long offset = 0;
            for (Assignment a : shards) {
                pool.tryAcquireSlot(Duration.ofMinutes(5));
                pool.submit(a, NodePartsFixture.record(offset++, a.getNodeId(), a));
            }
            done.await();
            pool.drain(Duration.ofSeconds(10));
        } catch (InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }

    @Test
    void nodeThroughputWithMicroBatchingOnAgainstOneShardPerCall() throws Exception {
        ModelFiles files = fp32Files();
        List<String> corpus = sentences(256, 43);
        NodeIdentity node = NodeIdentity.generate();
        String model = ModelCatalogue.ALL_MINILM_L6_V2.id();
        List<Assignment> shards = new ArrayList<>();
        for (int s = 0; s < corpus.size() / 16; s++) {
            List<InputRow> rows = new ArrayList<>();
            for (int i = 0; i < 16; i++) {
                rows.add(new InputRow("r" + i, i + 1, corpus.get(s * 16 + i)));
            }
            shards.add(Assignment.newBuilder().setLeaseId("bench/" + s + "#0").setTaskId("bench/" + s).setJobId("bench")
                    .setShardIndex(s).setNodeId(node.nodeId()).setAttempt(0).setModel(model)
                    .setPoolKey(Pools.poolKey(model, Pools.DEFAULT_CELL)).setPricePerRowMicros(1).setRows(rows)
                    .setAssignedAtMs(0).setLeaseDeadlineMs(Long.MAX_VALUE).setRevoked(false).build());
        }
        try (SentenceEmbedder embedder = SentenceEmbedder.load(files, HOME.resolve("djl-cache"),
                new SentenceEmbedder.Options(SentenceEmbedder.DEFAULT_MAX_TOKENS, 32, THREADS))) {
            ShardExecutor executor = new ShardExecutor(node, embedder, System::currentTimeMillis, Adversary.none());
            NodeSettings.MicroBatching on = NodeSettings.MicroBatching.DEFAULT;
            MicroBatchPlan batching = new MicroBatchPlan(on.maxRows(), on.maxWait(), model::equals);
            for (int slots : new int[] {2, 8}) {
                String before = load();
                double[] r = alternate(corpus.size(), () -> throughPool(slots, executor, batching, shards),
                        () -> throughPool(slots, executor, MicroBatchPlan.off(), shards));
                System.out.printf("BENCH node, 16 shards of 16 rows, %d slots, %d intra-op threads, %d alternating rounds: micro-batching on "
                        + "(max %d rows, %d ms) best %.1f / median %.1f rows/s, one shard per call best %.1f / median %.1f, ratio of bests "
                        + "%.2f, median paired ratio %.2f (loadavg before %s, after %s)%n", slots, THREADS, ROUNDS, on.maxRows(),
                        on.maxWait().toMillis(), r[0], r[1], r[2], r[3], r[0] / r[2], r[4], before, load());
            }
        }
    }

    @Test
    void int8AndFp32OutputsAloneAgainstBatchedWithOtherRows() throws Exception {
        List<String> corpus = sentences(SENTENCES, 44);
        ClassLoader cl = getClass().getClassLoader();
        ModelFiles int8Files = ModelFiles.prepareInt8(io.inferex.executor.TestDirs.int8Models(), cl);
        for (ModelFiles files : List.of(fp32Files(), int8Files)) {
            try (SentenceEmbedder embedder = SentenceEmbedder.load(files, HOME.resolve("djl-cache"),
                    new SentenceEmbedder.Options(SentenceEmbedder.DEFAULT_MAX_TOKENS, 32, THREADS))) {
                double lowest = 1;
                double maxAbs = 0;
                int differing = 0;
                for (int c = 0; c < corpus.size(); c += 32) { // 32 rows alone, then in one call after the 96 rows that follow them
                    List<String> rows = corpus.subList(c, c + 32);
                    List<String> others = new ArrayList<>();
                    for (int i = 1; i <= 96; i++) {
                        others.add(corpus.get((c + 31 + i) % corpus.size()));
                    }
                    BatchComposition b = BatchComposition.measure(embedder, rows, others);
                    lowest = Math.min(lowest, b.lowestCosine());
                    maxAbs = Math.max(maxAbs, b.maxAbs());
                    differing += b.rowsDiffering();
                }
                System.out.printf("BENCH batch composition %s (%s): %d rows alone vs in a 128-row call: lowest cosine %.7f, max abs %.4g, "
                        + "%d rows not bit-identical; catalogue tolerance %s%n", files.weights().getFileName(), files.weightsSha256().substring(0, 12),
                        corpus.size(), lowest, maxAbs, differing, ModelCatalogue.ALL_MINILM_L6_V2.tolerance());
            }
        }
    }
}
