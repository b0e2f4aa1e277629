package io.inferex.market;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;

/**
 * {@code synthetic-hash-v1}: the embedding of a text is a unit vector derived from SHA-256 only,
 * so it is free to compute, identical on every machine and checkable by anyone. Component
 * {@code i} comes from bytes {@code 2(i mod 16)..} of {@code SHA-256(UTF-8(text) || 0x00 || block)}
 * with {@code block = i / 16} (one big-endian byte), read as a signed 16-bit integer and divided
 * by 32768; the vector is then L2-normalised in double precision and rounded to float. Used by the
 * load harness's simulated executors, so what a load test measures is the pipeline, not a model.
 */
public final class SyntheticHashModel {
    public static final String ID = "synthetic-hash-v1";
    public static final int DIMENSION = 32;
    /** The definition above, whose SHA-256 stands in for a weights digest in the catalogue. */
    static final String DEFINITION = ID + ": dimension " + DIMENSION
            + ", component i = int16 big-endian at bytes 2*(i%16) of SHA-256(utf8(text) || 0x00 || byte(i/16)) / 32768, L2-normalised";
    public static final String DEFINITION_SHA256 = OutputDigest.sha256Hex(DEFINITION.getBytes(StandardCharsets.UTF_8));

    private SyntheticHashModel() {}

    /** The embedding of {@code text}: {@link #DIMENSION} floats of L2 norm 1 (±1e-6). */
    public static float[] embed(String text) {
        byte[] in = text.getBytes(StandardCharsets.UTF_8);
        double[] v = new double[DIMENSION];
        MessageDigest sha = sha256();
        double sumSq = 0;
        for (int block = 0; block * 16 < DIMENSION; block++) {
            sha.update(in);
            sha.update((byte) 0);
            sha.update((byte) block);
            byte[] h = sha.digest();
            for (int j = 0; j < 16 && block * 16 + j < DIMENSION; j++) {
                short s = (short) (((h[2 * j] & 0xff) << 8) | (h[2 * j + 1] & 0xff));
                double x = s / 32768.0;
                v[block * 16 + j] = x;
                sumSq += x * x;
            }
        }
        double norm = Math.sqrt(sumSq);
        float[] out = new float[DIMENSION];
        for (int i = 0; i < DIMENSION; i++) {
            // An all-zero hash prefix is astronomically unlikely; fall back to a unit axis all the same.
            out[i] = norm == 0 ? (i == 0 ? 1f : 0f) : (float) (v[i] / norm);
        }
        return out;
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
