package io.inferex.executor.model;

import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import io.inferex.events.Assignment;
import io.inferex.events.InputRow;
import io.inferex.executor.node.Adversary;
import io.inferex.executor.node.ShardExecutor;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.inferex.market.Pools;
import java.nio.LongBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;

/**
 * Opt-in figures, never part of the suite (the class name does not match surefire's *Test
 * pattern, and it runs only with {@code -Dinferex.benchmark=true}):
 * <ol>
 *   <li>sentences/s of the executor path ({@link SentenceEmbedder#embedCounting}: DJL on ONNX
 *       Runtime, tokenizer, length grouping, pooling) beside the raw ONNX Runtime Java API
 *       ({@code OrtSession.run} on the same graph, same tokenizer and pooling), same threads and
 *       batch size, interleaved in the same run, at batch 1, 32 and 128;
 *   <li>node throughput for 16-row shards: one shard per inference call ({@link ShardExecutor#execute})
 *       against micro-batching ({@link ShardExecutor#executeTogether} of 8 shards = 128 rows).
 * </ol>
 * Run: {@code ./mvnw -q -o -pl executor -am verify -Dtest=ExecutorThroughputBenchmark
 * -Dsurefire.failIfNoSpecifiedTests=false -Dinferex.benchmark=true}; lines start with BENCH.
 */
@EnabledIfSystemProperty(named = "inferex.benchmark", matches = "true")
class ExecutorThroughputBenchmark {
    static final Path HOME = Path.of("target", "benchmark-home");
    static final int THREADS = 2;
    static final int SENTENCES = 256;

    static List<String> sentences(int n) {
        String[] words = ("the a market node shard lease kafka stream model batch verify result token row embed sentence "
                + "quick brown fox jumps over lazy dog price stake audit signed digest cosine tolerance").split(" ");
        Random rnd = new Random(42);
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

    /** Best of three timed rounds (after one warm-up), in sentences/s. */
    static double rate(int rows, Runnable round) {
        round.run();
        double best = 0;
        for (int i = 0; i < 3; i++) {
            long t0 = System.nanoTime();
            round.run();
            best = Math.max(best, rows / ((System.nanoTime() - t0) / 1e9));
        }
        return best;
    }

    static <T> void inBatches(List<T> items, int batch, Consumer<List<T>> call) {
        for (int from = 0; from < items.size(); from += batch) {
            call.accept(items.subList(from, Math.min(items.size(), from + batch)));
        }
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
    void executorPathBesideRawOnnxRuntimeAndMicroBatchingOnVsOff() throws Exception {
        ModelFiles files = ModelFiles.prepare(ModelCatalogue.ALL_MINILM_L6_V2, ModelFiles.ALL_MINILM_L6_V2,
                io.inferex.executor.TestDirs.fp32Models(), getClass().getClassLoader());
        List<String> corpus = sentences(SENTENCES);
        ai.djl.engine.Engine.getEngine(SentenceEmbedder.ENGINE); // DJL creates the OrtEnvironment (with its thread settings) first
        try (RawOrt raw = new RawOrt(files)) {
            for (int batch : new int[] {1, 32, 128}) {
                try (SentenceEmbedder executor = SentenceEmbedder.load(files, HOME.resolve("djl-cache"),
                        new SentenceEmbedder.Options(SentenceEmbedder.DEFAULT_MAX_TOKENS, batch, THREADS))) {
                    double ex = rate(corpus.size(), () -> inBatches(corpus, batch, executor::embedCounting));
                    double ort = rate(corpus.size(), () -> inBatches(corpus, batch, raw::embed));
                    double ex2 = rate(corpus.size(), () -> inBatches(corpus, batch, executor::embedCounting));
                    double best = Math.max(ex, ex2);
                    System.out.printf("BENCH batch %d, %d threads: executor path %.1f sentences/s, raw ONNX Runtime %.1f sentences/s, ratio %.3f%n",
                            batch, THREADS, best, ort, best / ort);
                }
            }
        }
        NodeIdentity node = NodeIdentity.generate();
        String model = ModelCatalogue.ALL_MINILM_L6_V2.id();
        List<Assignment> shards = new ArrayList<>();
        for (int s = 0; s < SENTENCES / 16; s++) {
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
                new SentenceEmbedder.Options(SentenceEmbedder.DEFAULT_MAX_TOKENS, 128, THREADS))) {
            ShardExecutor executor = new ShardExecutor(node, embedder, System::currentTimeMillis, Adversary.none());
            double alone = rate(SENTENCES, () -> shards.forEach(executor::execute));
            double together = rate(SENTENCES, () -> inBatches(shards, 8, executor::executeTogether));
            double alone2 = rate(SENTENCES, () -> shards.forEach(executor::execute));
            double off = Math.max(alone, alone2);
            System.out.printf("BENCH 16-row shards, %d threads, signed results: one shard per call %.1f rows/s, micro-batched 8 shards (128 rows) per call %.1f rows/s, ratio %.2f%n",
                    THREADS, off, together, together / off);
        }
    }
}
