package io.inferex.ingest;

import io.inferex.security.Bearer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * Customer API keys, stored only as SHA-256 hashes: config entries {@code <customerId>:<sha256 hex
 * of the key>}. A bearer key authenticates when its hash equals one stored (constant-time compare
 * against every entry).
 */
public final class ApiKeys {
    private record Entry(String customerId, byte[] hash) {}

    private final List<Entry> entries;

    private ApiKeys(List<Entry> entries) {
        this.entries = entries;
    }

    /** Parses config entries; throws naming the bad entry (never echoing a key). */
    public static ApiKeys parse(List<String> configEntries) {
        List<Entry> list = new ArrayList<>();
        for (String raw : configEntries) {
            String e = raw.trim();
            if (e.isEmpty()) {
                continue;
            }
            int colon = e.lastIndexOf(':');
            if (colon <= 0 || colon == e.length() - 1) {
                throw new IllegalArgumentException("inferex.ingest.api-keys entry #" + (list.size() + 1)
                        + " is not <customerId>:<sha256 hex of key>");
            }
            String customer = e.substring(0, colon).trim();
            String hex = e.substring(colon + 1).trim().toLowerCase(Locale.ROOT);
            if (!hex.matches("[0-9a-f]{64}")) {
                throw new IllegalArgumentException("inferex.ingest.api-keys entry for customer '" + customer
                        + "' must end with the 64-hex-digit SHA-256 of the key (store hashes, not keys)");
            }
            if (!customer.matches("[A-Za-z0-9_.@-]{1,64}")) {
                throw new IllegalArgumentException("inferex.ingest.api-keys customer id '" + customer
                        + "' must be 1-64 letters, digits, or _ . @ -");
            }
            byte[] hash = HexFormat.of().parseHex(hex);
            for (Entry other : list) {
                if (MessageDigest.isEqual(other.hash(), hash)) {
                    throw new IllegalArgumentException("inferex.ingest.api-keys: customers '" + other.customerId()
                            + "' and '" + customer + "' have the same key");
                }
            }
            list.add(new Entry(customer, hash));
        }
        return new ApiKeys(List.copyOf(list));
    }

    public static String hash(String key) {
        return HexFormat.of().formatHex(sha256(key));
    }

    public int size() {
        return entries.size();
    }

    /** The customer whose key this is. */
    public Optional<String> customerFor(String key) {
        if (key == null || key.isEmpty()) {
            return Optional.empty();
        }
        byte[] hash = sha256(key);
        String found = null;
        for (Entry e : entries) {
            if (MessageDigest.isEqual(e.hash(), hash)) {
                found = e.customerId();
            }
        }
        return Optional.ofNullable(found);
    }

    /** The key of an {@code Authorization: Bearer <key>} header, or null. */
    public static String bearer(String authorizationHeader) {
        return Bearer.token(authorizationHeader);
    }

    private static byte[] sha256(String key) {
        return BatchFileValidator.sha256().digest(key.getBytes(StandardCharsets.UTF_8));
    }
}
