package io.inferex.ingest;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;
import java.util.stream.Stream;

/**
 * {@code Idempotency-Key} of batch creation: per customer and key, the batch it created and the
 * SHA-256 of the request (canonical JSON: keys sorted, so the same request with its fields in
 * another order is the same request). Kept on ingest's disk, one small file per key named by the
 * hash of customer and key (never the key itself), for {@link #TTL_SECONDS} (24 h, as OpenAI and
 * Stripe keep keys); older ones are ignored and removed at start. A retry holds one of 64 striped
 * locks while it looks up and creates, so two concurrent requests with one key create one batch.
 */
public final class IdempotencyKeys {
    public static final long TTL_SECONDS = 24 * 3600;
    /** Longest key accepted, in characters (printable ASCII). */
    public static final int MAX_KEY_CHARS = 255;

    /** What a key created. */
    public record Entry(String batchId, String requestSha256, long createdAt) {}

    private static final ObjectMapper CANONICAL = JsonMapper.builder()
            .enable(SerializationFeature.ORDER_MAP_ENTRIES_BY_KEYS).build();
    private static final ObjectMapper JSON = JsonMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();

    private final Path dir;
    private final FileStore store;
    private final ReentrantLock[] stripes = new ReentrantLock[64];

    public IdempotencyKeys(FileStore store, long nowSeconds) {
        this.store = store;
        this.dir = store.root().resolve("idempotency");
        for (int i = 0; i < stripes.length; i++) {
            stripes[i] = new ReentrantLock();
        }
        try {
            Files.createDirectories(dir);
            try (Stream<Path> s = Files.list(dir)) {
                for (Path p : s.toList()) {
                    if (read(p).map(e -> expired(e, nowSeconds)).orElse(true)) {
                        Files.deleteIfExists(p);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open " + dir, e);
        }
    }

    /** Null when the key is acceptable, else why not. */
    public static String problem(String key) {
        if (key.isEmpty() || key.length() > MAX_KEY_CHARS) {
            return "The Idempotency-Key header must be 1 to " + MAX_KEY_CHARS + " characters.";
        }
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c < 0x20 || c > 0x7e) {
                return "The Idempotency-Key header must be printable ASCII.";
            }
        }
        return null;
    }

    /** SHA-256 hex of the request's canonical JSON. */
    public static String fingerprint(JsonNode request) {
        try {
            byte[] canonical = CANONICAL.writeValueAsBytes(CANONICAL.convertValue(request, Object.class));
            return HexFormat.of().formatHex(BatchFileValidator.sha256().digest(canonical));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The lock of a customer's key; hold it around {@link #find} and {@link #record}. */
    public ReentrantLock lock(String customerId, String key) {
        return stripes[Math.floorMod(name(customerId, key).hashCode(), stripes.length)];
    }

    /** The live entry of a customer's key. */
    public Optional<Entry> find(String customerId, String key, long nowSeconds) {
        return read(path(customerId, key)).filter(e -> !expired(e, nowSeconds));
    }

    public void record(String customerId, String key, Entry entry) throws IOException {
        store.write(path(customerId, key), JSON.writeValueAsBytes(entry));
    }

    /**
     * An entry read from the log ({@code ingest-batches}) under the hash of customer and key: kept
     * unless expired or this instance already has one for that key (its own create, or an earlier record).
     */
    public void recordHashed(String keyHash, Entry entry, long nowSeconds) throws IOException {
        if (!keyHash.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("not a key hash: " + keyHash);
        }
        Path p = dir.resolve(keyHash + ".json");
        if (!expired(entry, nowSeconds) && read(p).isEmpty()) {
            store.write(p, JSON.writeValueAsBytes(entry));
        }
    }

    /** The hash a customer's key is kept and published under (never the key itself). */
    public static String keyHash(String customerId, String key) {
        return name(customerId, key);
    }

    public void remove(String customerId, String key) throws IOException {
        Files.deleteIfExists(path(customerId, key));
    }

    private Path path(String customerId, String key) {
        return dir.resolve(name(customerId, key) + ".json");
    }

    private static String name(String customerId, String key) {
        byte[] d = BatchFileValidator.sha256().digest((customerId + "\n" + key).getBytes(StandardCharsets.UTF_8));
        return HexFormat.of().formatHex(d);
    }

    private static boolean expired(Entry e, long nowSeconds) {
        return nowSeconds - e.createdAt() >= TTL_SECONDS;
    }

    private static Optional<Entry> read(Path p) {
        try {
            return Files.isRegularFile(p) ? Optional.of(JSON.readValue(p.toFile(), Entry.class)) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty(); // unreadable: treated as absent, replaced on next use
        }
    }
}
