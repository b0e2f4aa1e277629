package io.inferex.executor.model;

import io.inferex.market.ModelCatalogue.ModelSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * The check {@code ./inferex models register} runs on a model's files before it stores and
 * registers them: the graph loads in ONNX Runtime through DJL exactly as a node loads it
 * ({@link SentenceEmbedder}), embeds probe sentences of different lengths in one batch, and every
 * vector has the same dimension and is finite and of unit norm. Run as a process of its own on the
 * executor's class path (the launcher has no DJL): it prints {@code dimension N} and exits 0, or
 * prints why not and exits 1.
 */
public final class ModelCheck {
    /** The dimension of a spec whose dimension is not known yet (to be measured). */
    public static final int UNKNOWN_DIMENSION = 0;
    static final List<String> PROBES = List.of("hello", "A registered model must embed sentences of any length the same way.",
            "Inferex verifies every result.");

    private ModelCheck() {}

    /**
     * Loads {@code onnx} and {@code tokenizer} on ONNX Runtime and returns the output dimension.
     *
     * @throws ModelIntegrityException when the graph does not load or its outputs are not unit sentence vectors of one dimension
     */
    public static int dimension(Path onnx, Path tokenizer, int maxTokens, Path djlCache) {
        ModelSpec unknown = new ModelSpec("model-check", UNKNOWN_DIMENSION, "", "");
        ModelFiles files = new ModelFiles(unknown, onnx, tokenizer, "");
        try (SentenceEmbedder e = SentenceEmbedder.load(files, djlCache, new SentenceEmbedder.Options(maxTokens, 8, 1))) {
            List<float[]> vectors = e.embedBatch(PROBES);
            int dim = vectors.get(0).length;
            for (float[] v : vectors) {
                double sq = 0;
                for (float f : v) {
                    if (!Float.isFinite(f)) {
                        throw new ModelIntegrityException("the graph produced a non-finite value");
                    }
                    sq += (double) f * f;
                }
                if (v.length != dim || Math.abs(Math.sqrt(sq) - 1.0) > 1e-3) {
                    throw new ModelIntegrityException("the graph's outputs are not sentence vectors of one dimension (" + v.length
                            + " vs " + dim + ", norm " + Math.sqrt(sq) + ")");
                }
            }
            if (dim < 1) {
                throw new ModelIntegrityException("the graph produced empty vectors");
            }
            return dim;
        }
    }

    /** {@code ModelCheck ONNX TOKENIZER MAX_TOKENS DJL_CACHE_DIR}. */
    public static void main(String[] args) {
        if (args.length != 4) {
            System.out.println("usage: ModelCheck ONNX TOKENIZER MAX_TOKENS DJL_CACHE_DIR");
            System.exit(2);
        }
        try {
            Path onnx = Path.of(args[0]);
            if (!onnx.getFileName().toString().endsWith(".onnx") || !Files.isRegularFile(onnx)) {
                throw new IllegalArgumentException(onnx + " is not an .onnx file");
            }
            int dim = dimension(onnx, Path.of(args[1]), Integer.parseInt(args[2]), Path.of(args[3]));
            System.out.println("dimension " + dim);
            System.exit(0);
        } catch (RuntimeException | Error e) {
            System.out.println("model check failed: " + e);
            System.exit(1);
        }
    }
}
