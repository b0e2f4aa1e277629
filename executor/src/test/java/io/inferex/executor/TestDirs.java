package io.inferex.executor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Fresh directories for tests, under target/. */
public final class TestDirs {
    private TestDirs() {}

    public static Path fresh(String prefix) throws IOException {
        Path base = Path.of("target", "test-homes");
        Files.createDirectories(base);
        return Files.createTempDirectory(base, prefix);
    }
}
