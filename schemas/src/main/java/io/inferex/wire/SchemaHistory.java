package io.inferex.wire;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.Schema;

/**
 * Every schema version this build has ever written to a topic, kept as self-contained
 * {@code .avsc} files under {@code schema-history/<full name>/v<N>.avsc} on the classpath and
 * listed in {@code schema-history/index}. A reader resolves any of them, so an old log replays.
 *
 * <p>Rule: a change to a schema under {@code src/main/avro} adds the new version as the next
 * {@code v<N>.avsc} (the {@code SchemaCompatibilityTest} fails until it does, and checks the
 * new version can read every kept one).
 */
public final class SchemaHistory {
    public static final String ROOT = "schema-history/";

    /** One kept version of one event type. */
    public record Version(String fullName, int version, Schema schema) {}

    private static final Map<String, List<Version>> BY_NAME = load();

    private SchemaHistory() {}

    /** Kept versions of the type with this full name, oldest first; empty if none are kept. */
    public static List<Version> versionsOf(String fullName) {
        return BY_NAME.getOrDefault(fullName, List.of());
    }

    public static Map<String, List<Version>> all() {
        return BY_NAME;
    }

    private static Map<String, List<Version>> load() {
        Map<String, List<Version>> byName = new LinkedHashMap<>();
        for (String entry : readResource(ROOT + "index").split("\n")) {
            String path = entry.strip();
            if (path.isEmpty() || path.startsWith("#")) {
                continue;
            }
            // path = <full name>/v<N>.avsc
            int slash = path.indexOf('/');
            String fullName = path.substring(0, slash);
            int version = Integer.parseInt(path.substring(slash + 2, path.length() - ".avsc".length()));
            Schema schema = new Schema.Parser().parse(readResource(ROOT + path));
            if (!schema.getFullName().equals(fullName)) {
                throw new IllegalStateException(ROOT + path + " holds " + schema.getFullName() + ", not " + fullName);
            }
            byName.computeIfAbsent(fullName, k -> new ArrayList<>()).add(new Version(fullName, version, schema));
        }
        byName.values().forEach(list -> list.sort((a, b) -> Integer.compare(a.version(), b.version())));
        byName.replaceAll((k, v) -> List.copyOf(v));
        return Collections.unmodifiableMap(byName);
    }

    private static String readResource(String path) {
        try (InputStream in = SchemaHistory.class.getClassLoader().getResourceAsStream(path)) {
            if (in == null) {
                throw new IllegalStateException("missing classpath resource " + path);
            }
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
