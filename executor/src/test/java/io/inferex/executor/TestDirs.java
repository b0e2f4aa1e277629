package io.inferex.executor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Fresh directories for tests, under target/. */
public final class TestDirs {
    private TestDirs() {}

    /**
     * Home whose {@code models/} every test of the module (and the Quarkus test profile's
     * {@code inferex.node.model-dir}) keeps its model files in, one sub-directory per model as the
     * node lays them out: the 90 MB weights are copied out of the jar and verified once per build,
     * not once per test class (ModelFiles' marker).
     */
    public static final Path MODEL_HOME = Path.of("target", "test-model-home");

    /** The fp32 all-MiniLM-L6-v2's directory under {@link #MODEL_HOME}. */
    public static Path fp32Models() {
        return MODEL_HOME.resolve("models").resolve(io.inferex.market.ModelCatalogue.ALL_MINILM_L6_V2.id());
    }

    /** The int8 all-MiniLM-L6-v2's directory under {@link #MODEL_HOME}. */
    public static Path int8Models() {
        return MODEL_HOME.resolve("models").resolve(io.inferex.market.ModelCatalogue.ALL_MINILM_L6_V2.id() + "-int8");
    }

    public static Path fresh(String prefix) throws IOException {
        Path base = Path.of("target", "test-homes");
        Files.createDirectories(base);
        return Files.createTempDirectory(base, prefix);
    }
}
