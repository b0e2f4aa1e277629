package io.inferex.ingest;

import static io.inferex.ingest.Jsonl.join;
import static io.inferex.ingest.Jsonl.line;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.ingest.BatchFileValidator.EncodingFormat;
import io.inferex.ingest.BatchFileValidator.LineError;
import io.inferex.ingest.BatchFileValidator.Limits;
import io.inferex.ingest.BatchFileValidator.RequestLine;
import io.inferex.ingest.BatchFileValidator.Result;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.OutputDigest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class BatchFileValidatorTest {
    private final BatchFileValidator validator = new BatchFileValidator(Limits.DEFAULT);

    private Result check(String file) throws IOException {
        return validator.validate(Jsonl.stream(file));
    }

    private static List<Integer> lines(Result r) {
        return r.errors().stream().map(LineError::line).toList();
    }

    private static void assertOnlyError(Result r, int line, String fragment) {
        assertFalse(r.ok(), "expected an error");
        assertEquals(List.of(line), lines(r), "error lines: " + r.errors());
        assertTrue(r.errors().get(0).message().contains(fragment),
                "message '" + r.errors().get(0).message() + "' should contain '" + fragment + "'");
    }

    @Test
    void validFileYieldsModelCountDigestAndEveryLineInOrder() throws IOException {
        String file = Jsonl.file("doc", 5);
        List<RequestLine> seen = new ArrayList<>();
        Result r = validator.validate(Jsonl.stream(file), seen::add);
        assertTrue(r.ok(), r.errors().toString());
        assertEquals("all-MiniLM-L6-v2", r.model());
        assertEquals(5, r.requestCount());
        assertEquals(file.getBytes(StandardCharsets.UTF_8).length, r.bytes());
        assertEquals(OutputDigest.sha256Hex(file.getBytes(StandardCharsets.UTF_8)), r.sha256());
        assertEquals(Jsonl.customIds("doc", 5), seen.stream().map(RequestLine::customId).toList());
        assertEquals(List.of(1, 2, 3, 4, 5), seen.stream().map(RequestLine::lineNumber).toList());
        assertEquals("sentence number 3 of doc", seen.get(2).inputs().get(0));
    }

    @Test
    void fileWithoutTrailingNewlineOrWithCrLfIsValid() throws IOException {
        assertTrue(check(line("a", "x") + "\n" + line("b", "y")).ok());
        assertTrue(check(line("a", "x") + "\r\n" + line("b", "y") + "\r\n").ok());
    }

    @Test
    void trailingBlankLinesAreFineButABlankLineInTheMiddleIsReportedWithItsNumber() throws IOException {
        assertTrue(check(join(line("a", "x"), line("b", "y")) + "\n\n").ok());
        Result r = check(join(line("a", "x"), "", line("b", "y"), "   ", line("c", "z")));
        assertEquals(List.of(2, 4), lines(r));
        assertTrue(r.errors().get(0).message().startsWith("blank line"));
    }

    @Test
    void emptyFileIsRefused() throws IOException {
        assertOnlyError(check(""), 1, "no request lines");
        assertOnlyError(check("\n\n"), 1, "no request lines");
    }

    @Test
    void invalidJsonNamesTheLine() throws IOException {
        assertOnlyError(check(join(line("a", "x"), "{not json", line("c", "z"))), 2, "invalid JSON");
        assertOnlyError(check(join(line("a", "x"), line("b", "y") + " {}")), 2, "invalid JSON");
    }

    @Test
    void aLineMustBeAnObject() throws IOException {
        assertOnlyError(check(join(line("a", "x"), "[1,2]")), 2, "must be a JSON object, got an array");
        assertOnlyError(check(join("\"text\"")), 1, "must be a JSON object, got a string");
    }

    @Test
    void customIdMustBeANonEmptyString() throws IOException {
        assertOnlyError(check(join(line("a", "x"),
                "{\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{\"model\":\"all-MiniLM-L6-v2\",\"input\":\"y\"}}")),
                2, "custom_id is missing");
        assertOnlyError(check(join(line("", "x"))), 1, "custom_id must not be empty");
        assertOnlyError(check(join(
                "{\"custom_id\":7,\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{\"model\":\"all-MiniLM-L6-v2\",\"input\":\"y\"}}")),
                1, "custom_id must be a string");
    }

    @Test
    void duplicateCustomIdNamesBothLines() throws IOException {
        Result r = check(join(line("a", "x"), line("b", "y"), line("a", "z")));
        assertOnlyError(r, 3, "custom_id 'a' is already used on line 1");
    }

    @Test
    void methodMustBePost() throws IOException {
        assertOnlyError(check(join(line("a", "x").replace("\"POST\"", "\"GET\""))), 1, "method must be \"POST\"");
    }

    @Test
    void urlMustBeTheEmbeddingsEndpoint() throws IOException {
        assertOnlyError(check(join(line("a", "x"), line("b", "y").replace("/v1/embeddings", "/v1/chat/completions"))),
                2, "url must be \"/v1/embeddings\"");
    }

    @Test
    void modelMustBeInTheCatalogue() throws IOException {
        assertOnlyError(check(join(line("a", "x").replace("all-MiniLM-L6-v2", "text-embedding-3-small"))),
                1, "'text-embedding-3-small' is not a model Inferex serves");
    }

    @Test
    void everyLineMustUseTheSameModel() throws IOException {
        ModelCatalogue.ModelSpec other = new ModelCatalogue.ModelSpec("other-model", 384, "00", "00");
        BatchFileValidator twoModels = new BatchFileValidator(Limits.DEFAULT,
                id -> id.equals("other-model") ? Optional.of(other) : ModelCatalogue.byId(id));
        Result r = twoModels.validate(Jsonl.stream(join(line("a", "x"), line("b", "y"),
                line("c", "z").replace("all-MiniLM-L6-v2", "other-model"))));
        assertOnlyError(r, 3, "body.model 'other-model' differs from 'all-MiniLM-L6-v2' on line 1");
        assertNull(r.model());
    }

    @Test
    void inputIsANonEmptyStringOrAnArrayOfThemEachElementARow() throws IOException {
        List<RequestLine> seen = new ArrayList<>();
        Result ok = validator.validate(Jsonl.stream(join(line("a", "x"), Jsonl.arrayLine("b", "one", "two", "three"))), seen::add);
        assertTrue(ok.ok(), ok.errors().toString());
        assertEquals(2, ok.requestCount());
        assertEquals(4, ok.rowCount(), "a row per input");
        assertEquals(List.of("one", "two", "three"), seen.get(1).inputs());
        assertEquals(3, seen.get(1).rows());

        assertOnlyError(check(join(line("a", "x"), Jsonl.arrayLine("b"))), 2, "body.input is an empty array");
        assertOnlyError(check(join(Jsonl.arrayLine("a", "x", ""))), 1, "body.input[1] must not be empty");
        assertOnlyError(check(join(line("a", "x").replace("\"input\":\"x\"", "\"input\":[\"x\",7]"))), 1,
                "body.input[1] must be a string, got a number (token arrays are not supported");
        String[] many = new String[BatchFileValidator.MAX_INPUTS_PER_LINE + 1];
        java.util.Arrays.fill(many, "w");
        assertOnlyError(check(join(Jsonl.arrayLine("a", many))), 1, "body.input has 129 elements; the limit is 128");
        assertTrue(check(join(Jsonl.arrayLine("a", java.util.Arrays.copyOf(many, 128)))).ok(), "128 elements fit");

        assertOnlyError(check(join(line("a", ""))), 1, "body.input must not be empty");
        assertOnlyError(check(join(line("a", "x").replace("\"input\":\"x\"", "\"input\":42"))), 1,
                "body.input must be a string or an array of strings");
        assertOnlyError(check(join(line("a", "x").replace(",\"input\":\"x\"", ""))), 1, "body.input is missing");
    }

    @Test
    void bodyMustBeAnObject() throws IOException {
        assertOnlyError(check(join("{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":\"x\"}")),
                1, "body must be a JSON object");
    }

    @Test
    void unknownFieldsAreNamed() throws IOException {
        assertOnlyError(check(join(line("a", "x").replace("\"method\"", "\"extra\":1,\"method\""))), 1, "unknown field 'extra'");
        assertOnlyError(check(join(line("a", "x").replace("\"input\"", "\"temperature\":1,\"input\""))), 1,
                "unknown field 'body.temperature'");
    }

    @Test
    void encodingFormatAndDimensionsAreChecked() throws IOException {
        List<RequestLine> seen = new ArrayList<>();
        Result ok = validator.validate(Jsonl.stream(join(
                line("a", "x").replace("\"input\"", "\"encoding_format\":\"base64\",\"dimensions\":384,\"user\":\"u\",\"input\""))),
                seen::add);
        assertTrue(ok.ok(), ok.errors().toString());
        assertEquals(EncodingFormat.BASE64, seen.get(0).encodingFormat());
        assertOnlyError(check(join(line("a", "x").replace("\"input\"", "\"encoding_format\":\"int8\",\"input\""))), 1,
                "encoding_format");
        assertOnlyError(check(join(line("a", "x"), line("b", "x").replace("\"input\"", "\"dimensions\":256,\"input\""))), 2,
                "body.dimensions is 256 but all-MiniLM-L6-v2 only produces 384 dimensions");
    }

    @Test
    void duplicateJsonKeysAreRefused() throws IOException {
        assertOnlyError(check(join(line("a", "x").replace("\"method\"", "\"custom_id\":\"b\",\"method\""))), 1, "invalid JSON");
    }

    @Test
    void tooLongLineIsReportedAndTheRestStillChecked() throws IOException {
        BatchFileValidator small = new BatchFileValidator(new Limits(100, 200, 1 << 20, 100));
        String longLine = line("b", "y".repeat(300));
        Result r = small.validate(Jsonl.stream(join(line("a", "x"), longLine, line("c", ""))));
        assertEquals(List.of(2, 3), lines(r));
        assertTrue(r.errors().get(0).message().contains("the limit is 200 bytes per line"), r.errors().toString());
        assertTrue(r.errors().get(1).message().contains("body.input must not be empty"));
    }

    @Test
    void moreThanTheLineLimitIsRefusedAtTheFirstLineOver() throws IOException {
        BatchFileValidator small = new BatchFileValidator(new Limits(3, 1024, 1 << 20, 100));
        assertTrue(small.validate(Jsonl.stream(Jsonl.file("d", 3))).ok());
        assertOnlyError(small.validate(Jsonl.stream(Jsonl.file("d", 5))), 4, "more than 3 request lines");
    }

    @Test
    void fiftyThousandLinesAndTwoHundredMegabytesAreTheDefaultLimitsAsAtOpenAi() {
        assertEquals(50_000, Limits.DEFAULT.maxLines());
        assertEquals(200L * 1024 * 1024, Limits.DEFAULT.maxFileBytes());
    }

    @Test
    void multipleErrorsAreAllListedInLineOrderAndCappedAtTheLimit() throws IOException {
        Result r = check(join(line("a", "x"), "nope", line("b", ""), line("a", "y"), line("c", "z").replace("POST", "PUT")));
        assertEquals(List.of(2, 3, 4, 5), lines(r));
        assertEquals(2, r.firstErrorLine());
        assertEquals(4, r.errorCount());
        assertTrue(r.summary().contains("4 errors") && r.summary().contains("line 2"), r.summary());

        StringBuilder many = new StringBuilder();
        for (int i = 0; i < 150; i++) {
            many.append("bad\n");
        }
        Result capped = check(many.toString());
        assertEquals(100, capped.errors().size());
        assertEquals(150, capped.errorCount());
        assertEquals(100, capped.errors().get(99).line());
    }

    @Test
    void oneLineCanCarrySeveralErrors() throws IOException {
        Result r = check(join("{\"custom_id\":\"\",\"method\":\"GET\",\"url\":\"/v1/x\",\"body\":{\"model\":\"m\",\"input\":[]}}"));
        assertEquals(5, r.errorCount());
        assertEquals(List.of(1, 1, 1, 1, 1), lines(r));
    }

    @Test
    void unicodeInputAndByteOrderMarkAreAccepted() throws IOException {
        List<RequestLine> seen = new ArrayList<>();
        Result r = validator.validate(Jsonl.stream("\uFEFF" + join(line("ü-1", "Grüße, 世界 🌍"))), seen::add);
        assertTrue(r.ok(), r.errors().toString());
        assertEquals("Grüße, 世界 🌍", seen.get(0).inputs().get(0));
    }

    @Test
    void invalidUtf8IsReportedOnItsLine() throws IOException {
        byte[] good = join(line("a", "x")).getBytes(StandardCharsets.UTF_8);
        byte[] bad = line("b", "Z").getBytes(StandardCharsets.UTF_8);
        int z = new String(bad, StandardCharsets.UTF_8).indexOf('Z');
        bad[z] = (byte) 0xC3; // a lead byte with no continuation
        byte[] file = new byte[good.length + bad.length];
        System.arraycopy(good, 0, file, 0, good.length);
        System.arraycopy(bad, 0, file, good.length, bad.length);
        Result r = validator.validate(new java.io.ByteArrayInputStream(file));
        assertEquals(List.of(2), lines(r));
    }
}
