package io.inferex.ingest;

import io.inferex.events.CustomerKey;
import io.inferex.security.CustomerKeys;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The customer keys the operator issued, as read from {@code customer-keys}: by key id (the
 * hash's first 16 hex digits), only hashes. A bearer key is hashed, looked up by its id and its
 * whole hash compared in constant time. A tombstone removes the key. Thread-safe.
 */
public final class CustomerKeyBook {
    private final Map<String, CustomerKey> byId = new ConcurrentHashMap<>();

    /** A record of the topic: {@code value} null is a revocation. False when the record is malformed (ignored). */
    public boolean apply(String keyId, CustomerKey value) {
        if (value == null) {
            byId.remove(keyId);
            return true;
        }
        if (!CustomerKeys.wellFormed(value) || !value.getKeyId().equals(keyId)) {
            return false;
        }
        byId.put(keyId, value);
        return true;
    }

    public Optional<String> customerFor(String key) {
        if (key == null || key.isEmpty()) {
            return Optional.empty();
        }
        String hash = CustomerKeys.sha256(key);
        CustomerKey k = byId.get(CustomerKeys.keyId(hash));
        if (k == null || !MessageDigest.isEqual(k.getKeySha256().getBytes(StandardCharsets.US_ASCII),
                hash.getBytes(StandardCharsets.US_ASCII))) {
            return Optional.empty();
        }
        return Optional.of(k.getCustomerId());
    }

    public int size() {
        return byId.size();
    }
}
