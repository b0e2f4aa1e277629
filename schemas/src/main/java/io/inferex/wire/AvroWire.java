package io.inferex.wire;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.message.BadHeaderException;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.BinaryMessageEncoder;
import org.apache.avro.message.MissingSchemaException;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;

/**
 * The wire format of every event: Avro single-object encoding (2-byte marker C3 01, 8-byte
 * CRC-64-AVRO fingerprint of the writer schema, binary body). No registry: a reader of type T
 * knows T's current schema plus every kept version of it ({@link SchemaHistory}) and resolves
 * the writer's version to its own by Avro schema resolution.
 */
public final class AvroWire<T extends SpecificRecord> {
    private static final ConcurrentHashMap<Class<?>, AvroWire<?>> CACHE = new ConcurrentHashMap<>();

    private final Class<T> type;
    private final Schema schema;
    private final BinaryMessageEncoder<T> encoder;
    private final BinaryMessageDecoder<T> decoder;

    private AvroWire(Class<T> type) {
        this.type = type;
        // Resolve generated classes through the type's own class loader: under Quarkus tests Avro and
        // the event classes live in different loaders, and Avro's default model would not find them.
        SpecificData model = new SpecificData(type.getClassLoader());
        this.schema = model.getSchema(type);
        this.encoder = new BinaryMessageEncoder<>(model, schema);
        this.decoder = new BinaryMessageDecoder<>(model, schema);
        for (SchemaHistory.Version kept : SchemaHistory.versionsOf(schema.getFullName())) {
            decoder.addSchema(kept.schema());
        }
    }

    @SuppressWarnings("unchecked")
    public static <T extends SpecificRecord> AvroWire<T> of(Class<T> type) {
        return (AvroWire<T>) CACHE.computeIfAbsent(type, t -> new AvroWire<>(type));
    }

    public Class<T> type() {
        return type;
    }

    public Schema schema() {
        return schema;
    }

    public byte[] encode(T value) {
        try {
            ByteBuffer buffer = encoder.encode(value);
            return Arrays.copyOfRange(buffer.array(), buffer.arrayOffset() + buffer.position(),
                    buffer.arrayOffset() + buffer.limit());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot encode " + type.getSimpleName(), e);
        }
    }

    /** Decodes one record, or throws {@link UndecodableRecordException} saying what is wrong. */
    public T decode(byte[] bytes) {
        if (bytes == null) {
            throw new UndecodableRecordException("null value where a " + type.getSimpleName() + " was expected", null);
        }
        try {
            return decoder.decode(bytes);
        } catch (MissingSchemaException e) {
            throw new UndecodableRecordException("writer schema fingerprint " + fingerprintOf(bytes)
                    + " is not a known version of " + schema.getFullName()
                    + " (a record of another type, or of a version this build does not keep)", e);
        } catch (BadHeaderException e) {
            throw new UndecodableRecordException("not Avro single-object encoding (bad marker) for "
                    + schema.getFullName() + ": " + e.getMessage(), e);
        } catch (IOException | AvroRuntimeException | IndexOutOfBoundsException | NegativeArraySizeException e) {
            throw new UndecodableRecordException("corrupt " + schema.getFullName() + " body: " + e, e);
        }
    }

    /** Hex CRC-64-AVRO fingerprint of the current schema, as written in every record header. */
    public String fingerprint() {
        return Long.toHexString(SchemaNormalization.parsingFingerprint64(schema));
    }

    private static String fingerprintOf(byte[] bytes) {
        var fp = writerFingerprint(bytes);
        return fp.isPresent() ? Long.toHexString(fp.getAsLong()) : "<no single-object header>";
    }

    /** The writer schema's fingerprint from a single-object header (C3 01 + 8 bytes little-endian), if there is one. */
    public static java.util.OptionalLong writerFingerprint(byte[] bytes) {
        if (bytes == null || bytes.length < 10 || bytes[0] != (byte) 0xC3 || bytes[1] != (byte) 0x01) {
            return java.util.OptionalLong.empty();
        }
        long fp = 0;
        for (int i = 9; i >= 2; i--) {
            fp = (fp << 8) | (bytes[i] & 0xffL);
        }
        return java.util.OptionalLong.of(fp);
    }
}
