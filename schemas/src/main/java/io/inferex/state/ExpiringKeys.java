package io.inferex.state;

import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * A set of keys, each with an expiry time, in one key-value store, plus a time index in the
 * same store so that expiring is a range scan of the index up to now, never a scan of every key.
 * Store layout under a namespace {@code ns} (several sets may share one store):
 * {@code ns/k:<key>} → expiry (epoch ms), {@code ns/t:<expiry, 19 digits>:<key>} → expiry.
 * Keys sort by their UTF-8 bytes, so the index sorts by time.
 */
public final class ExpiringKeys {
    private static final StringSerializer STRINGS = new StringSerializer();
    private final KeyValueStore<String, Long> store;
    private final String keyPrefix;
    private final String indexPrefix;

    public ExpiringKeys(KeyValueStore<String, Long> store, String namespace) {
        this.store = store;
        this.keyPrefix = namespace + "/k:";
        this.indexPrefix = namespace + "/t:";
    }

    public boolean contains(String key) {
        return store.get(keyPrefix + key) != null;
    }

    /** Adds the key (or moves its expiry). */
    public void put(String key, long expiresAtMs) {
        remove(key);
        store.put(keyPrefix + key, expiresAtMs);
        store.put(indexKey(expiresAtMs, key), expiresAtMs);
    }

    public void remove(String key) {
        Long old = store.delete(keyPrefix + key);
        if (old != null) {
            store.delete(indexKey(old, key));
        }
    }

    /** Removes every key whose expiry is at or before {@code now}, oldest first, and hands each to {@code expired}. */
    public int expire(long now, BiConsumer<String, Long> expired) {
        List<String> due = new ArrayList<>();
        List<Long> at = new ArrayList<>();
        try (var it = store.prefixScan(indexPrefix, STRINGS)) {
            while (it.hasNext()) {
                var kv = it.next();
                if (kv.value > now) {
                    break; // the index is in time order: nothing later is due
                }
                due.add(kv.key.substring(indexPrefix.length() + 20));
                at.add(kv.value);
            }
        }
        for (int i = 0; i < due.size(); i++) {
            remove(due.get(i));
            expired.accept(due.get(i), at.get(i));
        }
        return due.size();
    }

    /** Keys starting with {@code prefix} (for cleanup of one job's keys when it is terminal). */
    public List<String> withPrefix(String prefix) {
        List<String> keys = new ArrayList<>();
        try (var it = store.prefixScan(keyPrefix + prefix, STRINGS)) {
            it.forEachRemaining(kv -> keys.add(kv.key.substring(keyPrefix.length())));
        }
        return keys;
    }

    private String indexKey(long expiresAtMs, String key) {
        return indexPrefix + String.format("%019d", Math.max(0, expiresAtMs)) + ":" + key;
    }
}
