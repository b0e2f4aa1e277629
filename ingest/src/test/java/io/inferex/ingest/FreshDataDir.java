package io.inferex.ingest;

import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** A new, empty ingest data dir under target/ for each test run (the broker is new each run too). */
public class FreshDataDir implements QuarkusTestResourceLifecycleManager {
    @Override
    public Map<String, String> start() {
        try {
            Path base = Path.of("target", "test-ingest-data");
            Files.createDirectories(base);
            Path dir = Files.createTempDirectory(base, "run-");
            return Map.of("inferex.ingest.data-dir", dir.toAbsolutePath().toString());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @Override
    public void stop() {
    }
}
