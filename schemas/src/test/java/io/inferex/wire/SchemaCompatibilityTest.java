package io.inferex.wire;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;
import org.apache.avro.SchemaCompatibility.SchemaCompatibilityType;
import org.apache.avro.specific.SpecificRecord;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Avro's compatibility check of every current schema against every kept version, both ways:
 * the new build reads old logs (backward) and a not-yet-upgraded reader reads new records
 * (forward), which a rolling upgrade needs.
 */
class SchemaCompatibilityTest {

    @TestFactory
    List<DynamicTest> currentSchemaIsFullyCompatibleWithEveryKeptVersion() {
        return EventTypes.ALL.stream().map(type -> DynamicTest.dynamicTest(type.getSimpleName(), () -> {
            Schema current = AvroWire.of(type).schema();
            List<SchemaHistory.Version> kept = SchemaHistory.versionsOf(current.getFullName());
            assertFalse(kept.isEmpty(), "no kept version of " + current.getFullName());
            for (SchemaHistory.Version v : kept) {
                assertCompatible(current, v.schema(), "current reads v" + v.version());
                assertCompatible(v.schema(), current, "v" + v.version() + " reads current");
            }
        })).toList();
    }

    @TestFactory
    List<DynamicTest> currentSchemaIsRecordedAsTheNewestKeptVersion() {
        return EventTypes.ALL.stream().map(type -> DynamicTest.dynamicTest(type.getSimpleName(), () -> {
            Schema current = AvroWire.of(type).schema();
            List<SchemaHistory.Version> kept = SchemaHistory.versionsOf(current.getFullName());
            SchemaHistory.Version newest = kept.get(kept.size() - 1);
            assertEquals(current, newest.schema(), current.getFullName()
                    + " changed: add it as src/main/resources/" + SchemaHistory.ROOT + current.getFullName()
                    + "/v" + (newest.version() + 1) + ".avsc and list it in the index");
        })).toList();
    }

    @TestFactory
    List<DynamicTest> everyHistoryFileIsListedInTheIndex() throws Exception {
        Path root = Path.of("src/main/resources", SchemaHistory.ROOT);
        try (var files = Files.walk(root)) {
            return files.filter(p -> p.toString().endsWith(".avsc")).map(p -> DynamicTest.dynamicTest(
                    root.relativize(p).toString(), () -> {
                        String rel = root.relativize(p).toString();
                        String fullName = rel.substring(0, rel.indexOf('/'));
                        int version = Integer.parseInt(rel.substring(rel.indexOf("/v") + 2, rel.length() - 5));
                        boolean listed = SchemaHistory.versionsOf(fullName).stream().anyMatch(v -> v.version() == version);
                        assertEquals(true, listed, rel + " is not listed in " + SchemaHistory.ROOT + "index");
                    })).toList();
        }
    }

    private static void assertCompatible(Schema reader, Schema writer, String what) {
        var result = SchemaCompatibility.checkReaderWriterCompatibility(reader, writer);
        assertEquals(SchemaCompatibilityType.COMPATIBLE, result.getType(),
                reader.getFullName() + ": " + what + ": " + result.getResult().getIncompatibilities());
    }
}
