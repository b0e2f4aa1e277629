package io.inferex.wire;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.avro.Schema;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.specific.SpecificData;
import org.apache.avro.specific.SpecificRecord;

/** Random but valid values of any Avro schema, for round-trip tests. Seeded, so failures repeat. */
public final class RandomEvents {
    private final Random random;

    public RandomEvents(long seed) {
        this.random = new Random(seed);
    }

    public GenericRecord generic(Schema recordSchema) {
        return (GenericRecord) value(recordSchema, 0);
    }

    @SuppressWarnings("unchecked")
    public <T extends SpecificRecord> T specific(Class<T> type) {
        Schema schema = SpecificData.get().getSchema(type);
        return (T) SpecificData.getForClass(type).deepCopy(schema, generic(schema));
    }

    private Object value(Schema s, int depth) {
        switch (s.getType()) {
            case RECORD: {
                GenericData.Record r = new GenericData.Record(s);
                for (Schema.Field f : s.getFields()) {
                    r.put(f.name(), value(f.schema(), depth + 1));
                }
                return r;
            }
            case ARRAY: {
                int n = random.nextInt(depth > 2 ? 2 : 4);
                List<Object> list = new ArrayList<>(n);
                for (int i = 0; i < n; i++) {
                    list.add(value(s.getElementType(), depth + 1));
                }
                return list;
            }
            case MAP: {
                Map<String, Object> m = new HashMap<>();
                for (int i = random.nextInt(3); i > 0; i--) {
                    m.put(text(), value(s.getValueType(), depth + 1));
                }
                return m;
            }
            case UNION: {
                List<Schema> types = s.getTypes();
                return value(types.get(random.nextInt(types.size())), depth);
            }
            case ENUM:
                return new GenericData.EnumSymbol(s, s.getEnumSymbols().get(random.nextInt(s.getEnumSymbols().size())));
            case STRING:
                return text();
            case BYTES: {
                byte[] b = new byte[random.nextInt(65)];
                random.nextBytes(b);
                return ByteBuffer.wrap(b);
            }
            case INT:
                return random.nextInt();
            case LONG:
                return random.nextLong();
            case FLOAT:
                return random.nextFloat() * 2 - 1;
            case DOUBLE:
                return random.nextDouble();
            case BOOLEAN:
                return random.nextBoolean();
            case NULL:
                return null;
            default:
                throw new IllegalArgumentException("no generator for " + s.getType());
        }
    }

    private String text() {
        String alphabet = "abcdefghijklmnopqrstuvwxyz0123456789-_/ éü€";
        StringBuilder sb = new StringBuilder();
        for (int i = random.nextInt(12) + 1; i > 0; i--) {
            sb.append(alphabet.charAt(random.nextInt(alphabet.length())));
        }
        return sb.toString();
    }
}
