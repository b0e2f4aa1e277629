package io.inferex.verification;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The sampling lottery: {@code draw = HMAC-SHA256(secret, leaseId)}, its first 8 bytes read as an
 * unsigned big-endian number whose top 53 bits make a fraction in [0, 1); a result is sampled iff
 * {@code draw < p}. The secret is one epoch's 32 random bytes (hex); its commitment, SHA-256 of those
 * bytes, is published before the secret is used and the secret after the epoch ends, so anyone can
 * check the secret against the commitment and recompute every decision. Pure.
 */
public final class SamplingDraw {
    /** Secret length in bytes. */
    public static final int SECRET_BYTES = 32;
    private static final HexFormat HEX = HexFormat.of();

    private SamplingDraw() {}

    /** A fresh epoch secret (hex) from {@code random} (a {@link SecureRandom} in production). */
    public static String newSecret(SecureRandom random) {
        byte[] b = new byte[SECRET_BYTES];
        random.nextBytes(b);
        return HEX.formatHex(b);
    }

    /** Hex SHA-256 of the secret's bytes: what is published before the epoch. */
    public static String commitment(String secretHex) {
        try {
            return HEX.formatHex(MessageDigest.getInstance("SHA-256").digest(HEX.parseHex(secretHex)));
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("SHA-256 is missing from this JVM", e);
        }
    }

    /** True when {@code secretHex} is the secret {@code commitmentHex} committed to. */
    public static boolean opens(String commitmentHex, String secretHex) {
        return MessageDigest.isEqual(HEX.parseHex(commitment(secretHex)), HEX.parseHex(commitmentHex));
    }

    /** The draw for a lease id, a fraction in [0, 1). */
    public static double fraction(String secretHex, String leaseId) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(HEX.parseHex(secretHex), "HmacSHA256"));
            byte[] h = mac.doFinal(leaseId.getBytes(StandardCharsets.UTF_8));
            long first8 = ByteBuffer.wrap(h, 0, 8).getLong();
            return (first8 >>> 11) * 0x1.0p-53;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException("HmacSHA256 is missing from this JVM", e);
        }
    }

    /** The sampling decision: {@code fraction(secret, leaseId) < p}. */
    public static boolean sampled(String secretHex, String leaseId, double p) {
        return fraction(secretHex, leaseId) < p;
    }
}
