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
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
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
    /**
     * Entries read from the log that a local entry of another batch hid (a create of this instance in
     * flight for the same key, which another instance's committed create then fences): put back if that
     * create is withdrawn ({@link #withdraw}), so the key names the batch that is in the log.
     */
    private final Map<String, Entry> shadowed = new ConcurrentHashMap<>();

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

    /** Records this instance's create for the key (before publishing); an entry of another batch it replaces is kept aside. */
    public synchronized void record(String customerId, String key, Entry entry) throws IOException {
        Path p = path(customerId, key);
        read(p).filter(e -> !e.batchId().equals(entry.batchId()))
                .ifPresent(e -> shadowed.putIfAbsent(name(customerId, key), e));
        store.write(p, JSON.writeValueAsBytes(entry));
    }

    /**
     * Withdraws this instance's entry for the key when its batch {@code batchId} was not published: the
     * key is free again, or names again what the log said meanwhile (another instance's batch for the
     * key, read while this create was in flight). An entry of another batch is left alone.
     */
    public synchronized void withdraw(String customerId, String key, String batchId) throws IOException {
        Path p = path(customerId, key);
        if (read(p).filter(e -> !e.batchId().equals(batchId)).isPresent()) {
            return;
        }
        Files.deleteIfExists(p);
        Entry logged = shadowed.remove(name(customerId, key));
        if (logged != null) {
            store.write(p, JSON.writeValueAsBytes(logged));
        }
    }

    /**
     * An entry read from the log ({@code ingest-batches}) under the hash of customer and key: kept
     * unless expired or this instance already has one for that key (its own create, or an earlier record).
     */
    public synchronized void recordHashed(String keyHash, Entry entry, long nowSeconds) throws IOException {
        if (!keyHash.matches("[0-9a-f]{64}")) {
            throw new IllegalArgumentException("not a key hash: " + keyHash);
        }
        Path p = dir.resolve(keyHash + ".json");
        if (expired(entry, nowSeconds)) {
            return;
        }
        Optional<Entry> local = read(p);
        if (local.isEmpty()) {
            store.write(p, JSON.writeValueAsBytes(entry));
        } else if (!local.get().batchId().equals(entry.batchId())) {
            shadowed.putIfAbsent(keyHash, entry);
        }
    }

    /** The hash a customer's key is kept and published under (never the key itself). */
    public static String keyHash(String customerId, String key) {
        return name(customerId, key);
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
