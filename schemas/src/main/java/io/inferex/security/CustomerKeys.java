package io.inferex.security;

import io.inferex.events.CustomerKey;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.SecureRandom;
import java.util.Base64;
import java.util.HexFormat;
import java.util.regex.Pattern;

/**
 * Customer API keys: {@code sk-inferex-} and 32 random base64url characters (192 bits), stored
 * only as their SHA-256 on the {@code customer-keys} topic, keyed by the hash's first 16 hex
 * digits. Issued by the operator CLI; ingest looks a bearer key up by its id and compares the full
 * hash in constant time.
 */
public final class CustomerKeys {
    public static final String KEY_PREFIX = "sk-inferex-";
    /** Characters of a key shown in lists: the prefix and four random ones. */
    public static final int DISPLAY_CHARS = KEY_PREFIX.length() + 4;
    private static final Pattern CUSTOMER_ID = Pattern.compile("[a-z0-9][a-z0-9_.-]{0,63}");
    private static final SecureRandom RANDOM = new SecureRandom();

    private CustomerKeys() {}

    /** A new random key (shown once, never stored). */
    public static String newKey() {
        byte[] b = new byte[24];
        RANDOM.nextBytes(b);
        return KEY_PREFIX + Base64.getUrlEncoder().withoutPadding().encodeToString(b);
    }

    public static String sha256(String key) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key.getBytes(StandardCharsets.UTF_8)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The record key of a key: the first 16 hex digits of its SHA-256. */
    public static String keyId(String keySha256) {
        return keySha256.substring(0, 16);
    }

    /** The record of a new key for {@code customerId}. */
    public static CustomerKey record(String customerId, String key, long nowMs) {
        String hash = sha256(key);
        return CustomerKey.newBuilder().setKeyId(keyId(hash)).setCustomerId(customerId).setKeySha256(hash)
                .setDisplayPrefix(key.substring(0, Math.min(DISPLAY_CHARS, key.length()))).setCreatedAtMs(nowMs).build();
    }

    /** Null when {@code id} is a usable customer id (1-64 of a-z, 0-9, _ . -, starting with a letter or digit), else why not. */
    public static String customerIdProblem(String id) {
        return id != null && CUSTOMER_ID.matcher(id).matches() ? null
                : "a customer name is 1-64 characters of a-z, 0-9, '_', '.', '-', starting with a letter or digit";
    }

    /** True when a record is well-formed: its id is its hash's prefix, the hash is 64 hex digits, the customer id is valid. */
    public static boolean wellFormed(CustomerKey k) {
        return k.getKeySha256().matches("[0-9a-f]{64}") && k.getKeyId().equals(keyId(k.getKeySha256()))
                && customerIdProblem(k.getCustomerId()) == null;
    }
}
