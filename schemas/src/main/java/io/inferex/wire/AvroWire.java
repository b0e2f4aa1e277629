package io.inferex.wire;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.ConcurrentHashMap;
import io.inferex.topics.Topics;
import org.apache.avro.AvroRuntimeException;
import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.SystemLimitException;
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
    static {
        decodingLimits();
    }

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

    /**
     * Caps what one decoded length prefix may allocate: a bytes or string field, or the items of
     * one array or map, at most {@link Topics#MAX_RECORD_BYTES}, since no record on a catalogue
     * topic is larger. Without this, Avro's limits are the JVM's array limit, and a crafted
     * 10-byte record whose length prefix says 2 GB makes the reader allocate 2 GB. Avro reads the
     * properties once, when {@link SystemLimitException} is first loaded: every reader decodes
     * through this class, whose static initialiser sets them first. A lower limit an operator set
     * with -D is kept.
     */
    static void decodingLimits() {
        String max = Integer.toString(Topics.MAX_RECORD_BYTES);
        for (String property : new String[] {SystemLimitException.MAX_BYTES_LENGTH_PROPERTY,
                SystemLimitException.MAX_STRING_LENGTH_PROPERTY, SystemLimitException.MAX_COLLECTION_LENGTH_PROPERTY}) {
            String set = System.getProperty(property);
            if (set == null || !set.matches("\\d{1,10}") || Long.parseLong(set) > Topics.MAX_RECORD_BYTES) {
                System.setProperty(property, max);
            }
        }
        try {
            SystemLimitException.checkMaxBytesLength(Topics.MAX_RECORD_BYTES + 1L);
            // Some code loaded Avro's limits before this class set them: make Avro read them again.
            var reset = SystemLimitException.class.getDeclaredMethod("resetLimits");
            reset.setAccessible(true);
            reset.invoke(null);
        } catch (SystemLimitException expected) {
            // the limits are in force
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("cannot set Avro's decoding limits", e);
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
