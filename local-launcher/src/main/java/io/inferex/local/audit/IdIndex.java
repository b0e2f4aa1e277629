package io.inferex.local.audit;

import java.util.function.BiConsumer;

/**
 * The audit's index from an id to one value: open addressing with linear probing, no removal. An
 * audit of a million events holds several indexes of a million ids each; as {@code HashMap}s they
 * cost an entry object per id (which every young collection copies until it is promoted), resizes,
 * and long probe chains: ids that differ only in their digits have {@link String#hashCode()}s whose
 * low bits collide, and {@code HashMap} mixes in only the high half, so its bins turned into trees.
 * Here the hash is scrambled with MurmurHash3's finalizer, the tables are two flat arrays sized once
 * from the expected count (they still grow if it was too low), and an entry allocates nothing.
 */
final class IdIndex<V> {
    private String[] keys;
    private Object[] values;
    private int size;

    /** An index for about {@code expected} ids (at most half full until then). */
    IdIndex(int expected) {
        int capacity = Integer.highestOneBit(Math.max(8, expected) * 2 - 1) << 1;
        keys = new String[capacity];
        values = new Object[capacity];
    }

    private static int mix(int h) {
        h ^= h >>> 16;
        h *= 0x85ebca6b;
        h ^= h >>> 13;
        h *= 0xc2b2ae35;
        return h ^ (h >>> 16);
    }

    /** The slot holding {@code id}, or the empty slot where it would go. */
    private int slot(String[] table, String id) {
        int mask = table.length - 1;
        int i = mix(id.hashCode()) & mask;
        while (table[i] != null && !table[i].equals(id)) {
            i = (i + 1) & mask;
        }
        return i;
    }

    @SuppressWarnings("unchecked")
    V get(String id) {
        return (V) values[slot(keys, id)];
    }

    /** Stores {@code value} under {@code id} unless the id is there already; returns the value there before, or null. */
    @SuppressWarnings("unchecked")
    V putIfAbsent(String id, V value) {
        int i = slot(keys, id);
        if (keys[i] != null) {
            return (V) values[i];
        }
        keys[i] = id;
        values[i] = value;
        if (++size * 2 > keys.length) {
            grow();
        }
        return null;
    }

    /** Stores {@code value} under {@code id}, replacing what was there. */
    void put(String id, V value) {
        int i = slot(keys, id);
        if (keys[i] != null) {
            values[i] = value;
        } else if (putIfAbsent(id, value) != null) {
            throw new IllegalStateException("unreachable: " + id + " was absent");
        }
    }

    int size() {
        return size;
    }

    /** Every id and its value, in no particular order. */
    @SuppressWarnings("unchecked")
    void forEach(BiConsumer<String, V> action) {
        for (int i = 0; i < keys.length; i++) {
            if (keys[i] != null) {
                action.accept(keys[i], (V) values[i]);
            }
        }
    }

    private void grow() {
        String[] oldKeys = keys;
        Object[] oldValues = values;
        keys = new String[oldKeys.length * 2];
        values = new Object[oldKeys.length * 2];
        for (int i = 0; i < oldKeys.length; i++) {
            if (oldKeys[i] != null) {
                int j = slot(keys, oldKeys[i]);
                keys[j] = oldKeys[i];
                values[j] = oldValues[i];
            }
        }
    }
}
