package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.inferex.ingest.BatchFileValidator.LineError;
import io.inferex.ingest.BatchFileValidator.Limits;
import io.inferex.ingest.BatchFileValidator.Result;
import java.io.ByteArrayInputStream;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;

/**
 * Property: every generated malformed batch file (1,200 of them, {@link MalformedFiles}: broken JSON,
 * wrong types, missing and unknown fields, bad values, duplicate ids, blank lines, empty files, too
 * many lines, too many bytes, non-UTF-8 bytes, NUL bytes, byte order marks, UTF-16 files, lone
 * surrogates, huge lines, a second model) is refused with an error on exactly the lines that carry a
 * defect, each message naming what is wrong, and the validator never throws (which the HTTP layer
 * would answer with a 5xx). Every generated valid file passes, so the check is not vacuous. The seed
 * is fixed (every run checks the same files) unless {@code -Dinferex.fuzz.seed} names another; a
 * failure names the seed and the case.
 */
class BatchFileFuzzTest {
    static final long SEED = Long.getLong("inferex.fuzz.seed", 20_261_202L);
    static final int MALFORMED = 1_200;
    static final int VALID = 100;
    /** Small limits, so files over them stay small; the HTTP sample in IngestApiTest runs the service's own. */
    static final Limits LIMITS = new Limits(40, 2_048, 32 * 1024, 100);

    private final BatchFileValidator validator = new BatchFileValidator(LIMITS);
    private final MalformedFiles files = new MalformedFiles(SEED, LIMITS, EnumSet.allOf(MalformedFiles.FileKind.class));

    @Test
    void everyMalformedFileIsRefusedOnExactlyItsBadLinesWithTheReasonAndNeverThrows() {
        Map<String, Integer> seen = new TreeMap<>();
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < MALFORMED; i++) {
            MalformedFiles.Case c = files.malformed(i);
            for (String k : c.kinds().split("\\+")) {
                seen.merge(k, 1, Integer::sum);
            }
            String problem = check(c);
            if (problem != null) {
                failures.add(c.describe() + ": " + problem);
            }
        }
        if (!failures.isEmpty()) {
            fail(failures.size() + " of " + MALFORMED + " malformed files were not refused as expected; first 10:\n"
                    + String.join("\n", failures.subList(0, Math.min(10, failures.size()))));
        }
        for (MalformedFiles.LineKind k : MalformedFiles.LineKind.values()) {
            assertTrue(seen.getOrDefault(k.name(), 0) >= 20, "too few cases of " + k + ": " + seen);
        }
        for (MalformedFiles.FileKind k : MalformedFiles.FileKind.values()) {
            assertTrue(seen.getOrDefault(k.name(), 0) >= 20, "too few cases of " + k + ": " + seen);
        }
    }

    @Test
    void everyGeneratedValidFilePasses() throws Exception {
        for (int i = 0; i < VALID; i++) {
            Result r = validator.validate(new ByteArrayInputStream(files.valid(MALFORMED + i)));
            assertTrue(r.ok(), "valid file " + (MALFORMED + i) + " of seed " + SEED + " refused: " + r.errors());
        }
    }

    /** Why the case is not refused as expected, or null. */
    private String check(MalformedFiles.Case c) {
        Result r;
        try {
            r = validator.validate(new ByteArrayInputStream(c.bytes()));
        } catch (Throwable t) {
            return "the validator threw " + t;
        }
        if (r.ok()) {
            return "accepted";
        }
        List<Integer> lines = r.errors().stream().map(LineError::line).distinct().sorted().toList();
        if (c.exact()) {
            if (!lines.equals(c.lines())) {
                return "errors on lines " + lines + ", expected " + c.lines() + ": " + r.errors();
            }
            for (MalformedFiles.Expected e : c.expected()) {
                boolean named = r.errors().stream().anyMatch(x -> x.line() == e.line() && e.fragments().stream().anyMatch(x.message()::contains));
                if (!named) {
                    return "line " + e.line() + " should say " + e.fragments() + ": " + r.errors();
                }
            }
            return null;
        }
        MalformedFiles.Expected e = c.expected().get(0);
        for (LineError x : r.errors()) {
            if (e.fragments().stream().noneMatch(x.message()::contains)) {
                return "error " + x + " does not say " + e.fragments();
            }
        }
        if (e.line() != 0 && r.firstErrorLine() != e.line()) {
            return "first error on line " + r.firstErrorLine() + ", expected " + e.line() + ": " + r.errors();
        }
        return null;
    }

    @Test
    void theGeneratorIsDeterministicForASeed() {
        MalformedFiles again = new MalformedFiles(SEED, LIMITS, EnumSet.allOf(MalformedFiles.FileKind.class));
        for (int i = 0; i < 50; i++) {
            assertEquals(java.util.Arrays.toString(files.malformed(i).bytes()), java.util.Arrays.toString(again.malformed(i).bytes()));
        }
        assertFalse(java.util.Arrays.equals(files.malformed(0).bytes(), files.malformed(1).bytes()));
    }
}
