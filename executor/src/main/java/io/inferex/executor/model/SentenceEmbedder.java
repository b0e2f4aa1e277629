package io.inferex.executor.model;

import ai.djl.Device;
import ai.djl.MalformedModelException;
import ai.djl.Model;
import ai.djl.engine.Engine;
import ai.djl.huggingface.tokenizers.Encoding;
import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import ai.djl.inference.Predictor;
import ai.djl.ndarray.NDArray;
import ai.djl.ndarray.NDList;
import ai.djl.ndarray.NDManager;
import ai.djl.ndarray.types.Shape;
import ai.djl.translate.NoBatchifyTranslator;
import ai.djl.translate.TranslateException;
import ai.djl.translate.TranslatorContext;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;
import org.jboss.logging.Logger;

/**
 * A sentence-transformers embedding model (BERT-style ONNX graph with inputs {@code input_ids},
 * {@code attention_mask}, {@code token_type_ids} and output {@code last_hidden_state}) run with
 * DJL on ONNX Runtime, fully offline: Hugging Face tokenizer, forward pass in micro-batches,
 * mean pooling over the attention mask and L2 normalisation in Java.
 *
 * <p>Determinism is part of the contract, because verifiers re-execute results and compare
 * digests: the fp32 graph gives the same bits for a sentence whatever else is in its batch and
 * however much padding the batch needs, and pooling here sums only unmasked tokens in a fixed
 * order (in double). That is what makes {@link #embed} free to sort rows by length to cut padding.
 *
 * <p>Thread-safe: each call gets its own DJL predictor over the one ONNX Runtime session.
 */
public final class SentenceEmbedder implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(SentenceEmbedder.class);

    /** DJL's ONNX Runtime engine, on the CPU: the default and the fallback (see NOTES: the default engine name is not reliable). */
    public static final String ENGINE = "OnnxRuntime";
    /** DJL's TensorRT engine, on the GPU, running the same ONNX graph (see {@link EngineSelection}). */
    public static final String TENSORRT = "TensorRT";
    /** sentence-transformers' max_seq_length for all-MiniLM-L6-v2: longer inputs are truncated to this many word pieces. */
    public static final int DEFAULT_MAX_TOKENS = 256;

    /**
     * @param maxTokens inputs are truncated to this many tokens, [CLS] and [SEP] included
     * @param microBatchSize sentences per forward pass
     * @param intraOpThreads ONNX Runtime intra-op threads; 0 leaves ONNX Runtime's default (one per core)
     */
    public record Options(int maxTokens, int microBatchSize, int intraOpThreads) {
        public Options {
            if (maxTokens < 3 || microBatchSize < 1 || intraOpThreads < 0) {
                throw new IllegalArgumentException("bad embedder options: " + maxTokens + "/" + microBatchSize + "/" + intraOpThreads);
            }
        }

        public static Options defaults() {
            return new Options(DEFAULT_MAX_TOKENS, 32, 0);
        }

        public Options withMicroBatchSize(int size) {
            return new Options(maxTokens, size, intraOpThreads);
        }
    }

    private final ModelFiles files;
    private final Options options;
    private final Model model;
    private final HuggingFaceTokenizer tokenizer;
    private final String engineVersion;
    private final String engineName;
    private final Device device;

    private SentenceEmbedder(ModelFiles files, Options options, Model model, HuggingFaceTokenizer tokenizer, String engineName,
            Device device, String engineVersion) {
        this.engineName = engineName;
        this.device = device;
        this.files = files;
        this.options = options;
        this.model = model;
        this.tokenizer = tokenizer;
        this.engineVersion = engineVersion;
    }

    /**
     * Loads the model on ONNX Runtime (CPU). {@code djlCacheDir} receives DJL's caches (the
     * tokenizer's native library); nothing is downloaded.
     */
    public static SentenceEmbedder load(ModelFiles files, Path djlCacheDir, Options options) {
        return load(files, djlCacheDir, options, ENGINE);
    }


    /**
     * Loads the model on DJL engine {@code engineName}: {@link #ENGINE} on the CPU, or
     * {@link #TENSORRT} on the first GPU. A TensorRT that cannot run here fails with an
     * {@link Error} (its native libraries do not load), not only an exception: callers that want
     * a fallback catch {@link Throwable} ({@link EngineSelection}).
     */
    public static SentenceEmbedder load(ModelFiles files, Path djlCacheDir, Options options, String engineName) {
        return load(files, djlCacheDir, options, engineName, TENSORRT.equals(engineName) ? Device.gpu() : Device.cpu());
    }

    /**
     * Loads the model on {@code engineName} and {@code device}; ONNX Runtime on {@code Device.gpu()}
     * runs its CUDA execution provider, which only the {@code onnxruntime_gpu} build has (the GPU
     * check, {@code executor/gpu-check.sh}).
     */
    public static SentenceEmbedder load(ModelFiles files, Path djlCacheDir, Options options, String engineName, Device device) {
        DjlEnvironment.configureOffline(djlCacheDir);
        long t0 = System.nanoTime();
        Engine engine = Engine.getEngine(engineName);
        Model model = Model.newInstance(files.spec().id(), device, engineName);
        HuggingFaceTokenizer tokenizer = null;
        try {
            Map<String, String> ortOptions = new HashMap<>();
            if (options.intraOpThreads() > 0 && ENGINE.equals(engineName)) {
                ortOptions.put("intraOpNumThreads", Integer.toString(options.intraOpThreads()));
            }
            String fileName = files.weights().getFileName().toString();
            model.load(files.weights().getParent(), fileName.substring(0, fileName.length() - ".onnx".length()), ortOptions);
            tokenizer = HuggingFaceTokenizer.builder()
                    .optTokenizerPath(files.tokenizer())
                    .optAddSpecialTokens(true)
                    .optTruncation(true)
                    .optMaxLength(options.maxTokens())
                    .optPadding(false) // padded per micro-batch below, to the batch's longest row
                    .build();
            SentenceEmbedder embedder = new SentenceEmbedder(files, options, model, tokenizer, engineName, device, engine.getVersion());
            int dim = embedder.embedBatch(List.of("warm-up")).get(0).length;
            if (files.spec().dimension() != ModelCheck.UNKNOWN_DIMENSION && dim != files.spec().dimension()) {
                throw new ModelIntegrityException("model " + files.spec().id() + " produced dimension " + dim
                        + ", catalogue says " + files.spec().dimension());
            }
            LOG.infof("loaded %s on %s %s (weights sha256 %s, max %d tokens, micro-batch %d) in %d ms",
                    files.spec().id(), engineName, engine.getVersion(), files.weightsSha256(), options.maxTokens(),
                    options.microBatchSize(), (System.nanoTime() - t0) / 1_000_000);
            return embedder;
        } catch (IOException e) {
            closeQuietly(tokenizer, model);
            throw new UncheckedIOException("cannot load " + files.spec().id() + ": " + e.getMessage(), e);
        } catch (MalformedModelException e) {
            closeQuietly(tokenizer, model);
            throw new ModelIntegrityException("cannot load " + files.spec().id() + " on " + engineName + ": " + e.getMessage(), e);
        } catch (RuntimeException e) {
            closeQuietly(tokenizer, model);
            throw e;
        }
    }

    public ModelFiles files() {
        return files;
    }

    public Options options() {
        return options;
    }

    public int dimension() {
        return files.spec().dimension();
    }

    /** Engine and version, e.g. {@code OnnxRuntime 1.21.1}. */
    public String engineDescription() {
        return engineName + " " + engineVersion;
    }

    /** The DJL engine running the model: {@link #ENGINE} or {@link #TENSORRT}. */
    public String engineName() {
        return engineName;
    }

    /** What the node advertises as its hardware: device and engine, e.g. {@code cpu/OnnxRuntime}, {@code gpu/TensorRT}. */
    public String hardware() {
        return device.getDeviceType() + "/" + engineName;
    }

    /**
     * Embeddings of {@code texts}, in input order, computed in micro-batches of
     * {@link Options#microBatchSize()} rows grouped by token length.
     */
    public List<float[]> embed(List<String> texts) {
        return embedCounting(texts).vectors();
    }

    /**
     * Embeddings and, per row, the tokens the model read: the tokenizer's ids after truncation to
     * {@link Options#maxTokens()}, [CLS] and [SEP] included (what the row's usage reports).
     */
    public record Embedded(List<float[]> vectors, List<Integer> tokens) {}

    /** Like {@link #embed}, with each row's token count. */
    public Embedded embedCounting(List<String> texts) {
        if (texts.isEmpty()) {
            return new Embedded(List.of(), List.of());
        }
        Encoding[] encodings = tokenizer.batchEncode(texts);
        List<Integer> tokens = new ArrayList<>(encodings.length);
        for (Encoding e : encodings) {
            tokens.add(e.getIds().length);
        }
        // Group rows of similar length so a micro-batch carries little padding; the output of a
        // row does not depend on its batch (see class doc), only the speed does.
        Integer[] order = IntStream.range(0, encodings.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingInt(i -> encodings[i].getIds().length));
        float[][] out = new float[texts.size()][];
        int batch = options.microBatchSize();
        for (int from = 0; from < order.length; from += batch) {
            int to = Math.min(order.length, from + batch);
            Encoding[] chunk = new Encoding[to - from];
            for (int i = from; i < to; i++) {
                chunk[i - from] = encodings[order[i]];
            }
            float[][] vectors = forward(chunk);
            for (int i = from; i < to; i++) {
                out[order[i]] = vectors[i - from];
            }
        }
        return new Embedded(Arrays.asList(out), List.copyOf(tokens));
    }

    /** Embeddings of {@code texts} in a single forward pass (one batch, padded to its longest row). */
    public List<float[]> embedBatch(List<String> texts) {
        if (texts.isEmpty()) {
            return List.of();
        }
        return Arrays.asList(forward(tokenizer.batchEncode(texts)));
    }

    private float[][] forward(Encoding[] batch) {
        try (Predictor<Encoding[], float[][]> predictor = model.newPredictor(new Translator())) {
            return predictor.predict(batch);
        } catch (TranslateException e) {
            throw new IllegalStateException("inference failed on a batch of " + batch.length + ": " + e.getMessage(), e);
        }
    }

    /** Pads a batch of encodings into the three int64 input tensors and pools the output. */
    private final class Translator implements NoBatchifyTranslator<Encoding[], float[][]> {
        private long[] mask;
        private int rows;
        private int seqLen;

        @Override
        public NDList processInput(TranslatorContext ctx, Encoding[] batch) {
            rows = batch.length;
            seqLen = 0;
            for (Encoding e : batch) {
                seqLen = Math.max(seqLen, e.getIds().length);
            }
            long[] ids = new long[rows * seqLen];
            long[] types = new long[rows * seqLen];
            mask = new long[rows * seqLen];
            for (int r = 0; r < rows; r++) {
                long[] rowIds = batch[r].getIds();
                long[] rowTypes = batch[r].getTypeIds();
                long[] rowMask = batch[r].getAttentionMask();
                System.arraycopy(rowIds, 0, ids, r * seqLen, rowIds.length);
                System.arraycopy(rowTypes, 0, types, r * seqLen, rowTypes.length);
                System.arraycopy(rowMask, 0, mask, r * seqLen, rowMask.length);
            }
            NDManager nd = ctx.getNDManager();
            Shape shape = new Shape(rows, seqLen);
            NDArray inputIds = nd.create(ids, shape);
            inputIds.setName("input_ids");
            NDArray attention = nd.create(mask, shape);
            attention.setName("attention_mask");
            NDArray tokenTypes = nd.create(types, shape);
            tokenTypes.setName("token_type_ids");
            return new NDList(inputIds, attention, tokenTypes);
        }

        @Override
        public float[][] processOutput(TranslatorContext ctx, NDList output) {
            NDArray hidden = output.get("last_hidden_state");
            if (hidden == null) {
                hidden = output.get(0);
            }
            long[] shape = hidden.getShape().getShape();
            if (shape.length != 3 || shape[0] != rows || shape[1] != seqLen) {
                throw new IllegalStateException("unexpected last_hidden_state shape " + hidden.getShape()
                        + " for a batch of " + rows + "x" + seqLen);
            }
            return meanPoolAndNormalise(hidden.toFloatArray(), mask, rows, seqLen, (int) shape[2]);
        }
    }

    /**
     * Mean of the token vectors whose mask is 1, then L2 normalisation. Sums run over tokens in
     * order, in double, so the result is a function of the unmasked tokens alone (padding never
     * contributes a single bit).
     */
    public static float[][] meanPoolAndNormalise(float[] hidden, long[] mask, int rows, int seqLen, int dim) {
        float[][] out = new float[rows][dim];
        double[] sum = new double[dim];
        for (int r = 0; r < rows; r++) {
            Arrays.fill(sum, 0.0);
            int tokens = 0;
            for (int t = 0; t < seqLen; t++) {
                if (mask[r * seqLen + t] == 0) {
                    continue;
                }
                tokens++;
                int base = (r * seqLen + t) * dim;
                for (int d = 0; d < dim; d++) {
                    sum[d] += hidden[base + d];
                }
            }
            double norm = 0.0;
            for (int d = 0; d < dim; d++) {
                sum[d] /= Math.max(tokens, 1);
                norm += sum[d] * sum[d];
            }
            norm = Math.max(Math.sqrt(norm), 1e-12);
            for (int d = 0; d < dim; d++) {
                out[r][d] = (float) (sum[d] / norm);
            }
        }
        return out;
    }

    @Override
    public void close() {
        closeQuietly(tokenizer, model);
    }

    private static void closeQuietly(AutoCloseable... resources) {
        for (AutoCloseable r : resources) {
            if (r == null) {
                continue;
            }
            try {
                r.close();
            } catch (Exception e) {
                LOG.debugf(e, "closing %s", r);
            }
        }
    }

    /** Convenience for callers that hold rows as a list of boxed floats (the Avro type). */
    public static List<Float> boxed(float[] vector) {
        List<Float> list = new ArrayList<>(vector.length);
        for (float v : vector) {
            list.add(v);
        }
        return list;
    }
}
