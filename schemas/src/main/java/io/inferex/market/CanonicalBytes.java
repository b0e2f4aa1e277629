package io.inferex.market;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * Builds the bytes that get signed or hashed: a domain tag, then each field length-prefixed in a
 * fixed order. Independent of the Avro schema version, so a signature stays valid when a
 * record is read with a newer schema.
 */
public final class CanonicalBytes {
    private final ByteArrayOutputStream bytes = new ByteArrayOutputStream(256);
    private final DataOutputStream out = new DataOutputStream(bytes);

    public CanonicalBytes(String domain) {
        text(domain);
    }

    public CanonicalBytes text(String s) {
        return raw(s.getBytes(StandardCharsets.UTF_8));
    }

    public CanonicalBytes raw(byte[] b) {
        try {
            out.writeInt(b.length);
            out.write(b);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    public CanonicalBytes number(long v) {
        try {
            out.writeLong(v);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    public CanonicalBytes floats(java.util.List<Float> values) {
        try {
            out.writeInt(values.size());
            for (Float f : values) {
                out.writeInt(Float.floatToIntBits(f));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return this;
    }

    public byte[] toByteArray() {
        return bytes.toByteArray();
    }
}
