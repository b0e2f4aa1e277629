package io.inferex.executor.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.market.ModelCatalogue;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The real all-MiniLM-L6-v2 (fp32 ONNX) on DJL + ONNX Runtime, offline, without Quarkus. */
class SentenceEmbedderTest {
    static final Path HOME = Path.of("target", "test-embedder-home");
    static SentenceEmbedder embedder;
    static ModelFiles files;

    @BeforeAll
    static void load() {
        files = ModelFiles.prepare(ModelCatalogue.ALL_MINILM_L6_V2, ModelFiles.ALL_MINILM_L6_V2,
                io.inferex.executor.TestDirs.fp32Models(), SentenceEmbedderTest.class.getClassLoader());
        embedder = SentenceEmbedder.load(files, HOME.resolve("djl-cache"), SentenceEmbedder.Options.defaults());
    }

    @AfterAll
    static void close() {
        if (embedder != null) {
            embedder.close();
        }
    }

    /** The real TensorRT load on a machine without TensorRT (this one): auto falls back with the reason, tensorrt refuses. */
    @Test
    void withoutTensorRtAutoRunsOnnxRuntimeSayingWhyAndAnExplicitTensorRtRefusesToStart() {
        org.junit.jupiter.api.Assumptions.assumeFalse(GpuProbe.tensorRtLibraryPresent(), "TensorRT is installed here");
        EngineSelection.Loader loader = engine -> SentenceEmbedder.ENGINE.equals(engine)
                ? embedder // already loaded on ONNX Runtime: the fallback itself is proven by the whole suite
                : SentenceEmbedder.load(files, HOME.resolve("djl-cache"), SentenceEmbedder.Options.defaults(), engine);
        EngineSelection.Selected auto = EngineSelection.select(EngineSelection.Choice.AUTO, loader);
        assertEquals("OnnxRuntime", auto.embedder().engineName());
        assertEquals("cpu/OnnxRuntime", auto.embedder().hardware());
        assertTrue(auto.fallbackReason() != null && auto.fallbackReason().contains("Error"), auto.fallbackReason());
        IllegalStateException refused = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                () -> EngineSelection.select(EngineSelection.Choice.TENSORRT, loader));
        assertTrue(refused.getMessage().startsWith("inferex.node.engine=tensorrt, but DJL's TensorRT engine cannot run"),
                refused.getMessage());
        String reason = refused.getMessage().replaceFirst("(?s).*cannot run the model here: (.*?)\\. It needs.*", "$1");
        assertTrue(!reason.isBlank() && !reason.equals(refused.getMessage()), "names what failed: " + refused.getMessage());
        assertTrue(refused.getCause() instanceof Error, "TensorRT's absence is an Error: " + refused.getCause());
    }

    @Test
    void outputHasCatalogueDimensionAndUnitL2Norm() {
        List<float[]> out = embedder.embed(List.of("A man is playing a guitar.", "", "Ünïcödé and emoji 🎸 also embed."));
        for (float[] v : out) {
            assertEquals(384, v.length);
            assertEquals(1.0, norm(v), 1e-5);
        }
    }

    @Test
    void paraphrasesAreCloserThanUnrelatedSentences() {
        List<float[]> out = embedder.embed(List.of(
                "A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply on Tuesday."));
        double paraphrase = cosine(out.get(0), out.get(1));
        double unrelated = cosine(out.get(0), out.get(2));
        assertTrue(paraphrase > unrelated + 0.3, "paraphrase " + paraphrase + " vs unrelated " + unrelated);
        assertTrue(paraphrase > 0.6, "paraphrase cosine " + paraphrase);
    }

    @Test
    void sameInputTwiceIsBitIdentical() {
        List<String> in = List.of("The quick brown fox jumps over the lazy dog.", "Kafka is a distributed log.");
        List<float[]> a = embedder.embed(in);
        List<float[]> b = embedder.embed(in);
        for (int i = 0; i < in.size(); i++) {
            assertArrayEquals(a.get(i), b.get(i)); // assertArrayEquals(float[]) compares exact bits
        }
    }

    @Test
    void sentenceAloneAndInsideABatchOfEightIsBitIdentical() {
        String probe = "A man is playing a guitar.";
        List<String> batch = List.of(
                "Short.",
                probe,
                "A considerably longer sentence that forces the batch to carry a lot of padding for the shorter rows in it.",
                "Numbers 12345 and symbols #@! are tokens too.",
                "Someone plays the guitar.",
                "",
                "The stock market fell sharply on Tuesday after the announcement.",
                "Last one.");
        assertEquals(8, batch.size());
        float[] alone = embedder.embedBatch(List.of(probe)).get(0);
        float[] inBatch = embedder.embedBatch(batch).get(1);
        assertArrayEquals(alone, inBatch);
        // and through the micro-batching path, which reorders rows by length
        List<float[]> microBatched = embedder.embed(batch);
        for (int i = 0; i < batch.size(); i++) {
            assertArrayEquals(embedder.embedBatch(List.of(batch.get(i))).get(0), microBatched.get(i), "row " + i);
        }
    }

    @Test
    void tokenCountsAreTheWordPiecesTheModelReadWithSpecialTokensAndTruncation() {
        SentenceEmbedder.Embedded e = embedder.embedCounting(List.of("hello world", "", "word ".repeat(2000), "unbelievably"));
        // [CLS] hello world [SEP]; [CLS] [SEP]; truncated to the maximum; "unbelievably" is several word pieces.
        assertEquals(List.of(4, 2, SentenceEmbedder.DEFAULT_MAX_TOKENS), e.tokens().subList(0, 3));
        org.junit.jupiter.api.Assertions.assertTrue(e.tokens().get(3) > 3, "a rare word splits into pieces: " + e.tokens());
        assertArrayEquals(embedder.embed(List.of("hello world")).get(0), e.vectors().get(0), "counting changes no bit");
    }

    @Test
    void inputsLongerThanMaxTokensAreTruncatedNotRejected() {
        String longText = "word ".repeat(2000);
        float[] v = embedder.embed(List.of(longText)).get(0);
        assertEquals(1.0, norm(v), 1e-5);
        float[] truncatedEquivalent = embedder.embed(List.of("word ".repeat(SentenceEmbedder.DEFAULT_MAX_TOKENS))).get(0);
        assertArrayEquals(truncatedEquivalent, v);
    }

    @Test
    void concurrentCallsGiveTheSameBitsAsOneCallAtATime() throws Exception {
        List<String> a = List.of("Parallel slots share one ONNX Runtime session.", "Short.", "A third, somewhat longer sentence here.");
        List<String> b = List.of("The other slot embeds different text.", "Kafka is a distributed log.");
        List<float[]> expectedA = embedder.embed(a);
        List<float[]> expectedB = embedder.embed(b);
        var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            List<java.util.concurrent.Future<List<float[]>>> futures = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                futures.add(pool.submit(() -> embedder.embed(a)));
                futures.add(pool.submit(() -> embedder.embed(b)));
            }
            for (int i = 0; i < futures.size(); i++) {
                List<float[]> got = futures.get(i).get();
                List<float[]> expected = i % 2 == 0 ? expectedA : expectedB;
                for (int r = 0; r < expected.size(); r++) {
                    assertArrayEquals(expected.get(r), got.get(r));
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Not a property: prints rows/s at the default micro-batch, after a warm-up, for the report. */
    @Test
    void throughputAtDefaultMicroBatch() {
        List<String> rows = new ArrayList<>();
        String[] words = "the a market node runs embeddings for customers with kafka verifying results and settling payments".split(" ");
        java.util.Random rnd = new java.util.Random(7);
        for (int i = 0; i < 512; i++) {
            StringBuilder sb = new StringBuilder();
            int n = 5 + rnd.nextInt(25);
            for (int w = 0; w < n; w++) {
                sb.append(words[rnd.nextInt(words.length)]).append(' ');
            }
            rows.add(sb.toString().trim() + ".");
        }
        embedder.embed(rows.subList(0, 128)); // warm-up
        long t0 = System.nanoTime();
        List<float[]> out = embedder.embed(rows);
        double seconds = (System.nanoTime() - t0) / 1e9;
        assertEquals(rows.size(), out.size());
        System.out.printf("THROUGHPUT %s: %d rows (5-30 words) in %.2f s = %.0f rows/s (micro-batch %d, %d cores)%n",
                embedder.engineDescription(), rows.size(), seconds, rows.size() / seconds,
                embedder.options().microBatchSize(), Runtime.getRuntime().availableProcessors());
    }

    static double norm(float[] v) {
        double s = 0;
        for (float x : v) {
            s += (double) x * x;
        }
        return Math.sqrt(s);
    }

    static double cosine(float[] a, float[] b) {
        double dot = 0;
        for (int i = 0; i < a.length; i++) {
            dot += (double) a[i] * b[i];
        }
        return dot / (norm(a) * norm(b));
    }
}
