package io.inferex.ingest;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.inferex.market.ModelCatalogue;
import java.io.IOException;
import java.io.InputStream;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Function;
import java.util.Set;

/**
 * Validates an OpenAI Batch input file (JSONL) for the embeddings endpoint, every line at once,
 * streaming: memory holds one line and the set of custom_ids, never the file.
 *
 * <p>Rules: each line is a JSON object with exactly {@code custom_id} (non-empty string, unique in
 * the file), {@code method} "POST", {@code url} "/v1/embeddings" and {@code body}; {@code body.model}
 * is a model of the model registry, the same on every line; {@code body.input} is a non-empty
 * string or an array of 1 to {@link #MAX_INPUTS_PER_LINE} non-empty strings (one embedding per
 * element, each element a row for pricing and sharding; token arrays are refused); optional
 * {@code encoding_format} ("float"/"base64"), {@code dimensions} (must equal the model's: no model
 * Inferex serves can shorten its vectors) and {@code user}. A trailing
 * newline (or several blank lines at the very end) is fine; a blank line followed by more requests
 * is an error. Every line must be strict UTF-8 without NUL bytes (a byte order mark only at the
 * very start of the file), and {@code custom_id} and the inputs must not hold a lone surrogate.
 * Limits: request lines, bytes per line, bytes per file. Line numbers are 1-based physical lines.
 */
public final class BatchFileValidator {
    public static final String ENDPOINT = "/v1/embeddings";
    public static final String METHOD = "POST";
    /** Longest custom_id accepted, in characters. */
    public static final int MAX_CUSTOM_ID_CHARS = 512;
    /**
     * Most elements of an array {@code input}. A line's rows always travel in one shard (so its
     * output line is assembled from one result), and this bound keeps that shard's result under the
     * broker's record limit: 128 rows of a 384-dimension model with the longest custom_id is ~460 KB.
     */
    public static final int MAX_INPUTS_PER_LINE = 128;

    private static final Set<String> LINE_FIELDS = Set.of("custom_id", "method", "url", "body");
    private static final Set<String> BODY_FIELDS = Set.of("model", "input", "encoding_format", "dimensions", "user");

    /** Size limits; {@code maxErrors} caps the errors listed (all are counted). */
    public record Limits(int maxLines, int maxLineBytes, long maxFileBytes, int maxErrors) {
        public static final Limits DEFAULT = new Limits(50_000, 65_536, 200L * 1024 * 1024, 100);

        public Limits {
            if (maxLines < 1 || maxLineBytes < 64 || maxFileBytes < 1 || maxErrors < 1) {
                throw new IllegalArgumentException("bad limits " + maxLines + "/" + maxLineBytes + "/" + maxFileBytes + "/" + maxErrors);
            }
        }
    }

    /** What is wrong with one line (1-based). */
    public record LineError(int line, String message) {}

    /** How the customer wants the vector back (OpenAI {@code encoding_format}). */
    public enum EncodingFormat { FLOAT, BASE64 }

    /** A valid request line: its inputs (one for a string {@code input}, else the array's elements, in order). */
    public record RequestLine(int lineNumber, String customId, List<String> inputs, EncodingFormat encodingFormat) {
        public RequestLine {
            inputs = List.copyOf(inputs);
            if (inputs.isEmpty()) {
                throw new IllegalArgumentException("line " + lineNumber + " has no input");
            }
        }

        /** A line with a single string input. */
        public RequestLine(int lineNumber, String customId, String input, EncodingFormat encodingFormat) {
            this(lineNumber, customId, List.of(input), encodingFormat);
        }

        /** Rows this line is: one per input. */
        public int rows() {
            return inputs.size();
        }
    }

    /** Receives valid request lines in file order (also while later lines may still turn out bad). */
    @FunctionalInterface
    public interface LineSink {
        void accept(RequestLine line) throws IOException;
    }

    /**
     * The verdict on a file. {@code errors} lists at most {@code Limits.maxErrors} entries, in line
     * order; {@code errorCount} counts them all. {@code sha256} and {@code bytes} cover the whole
     * stream when the file is valid.
     */
    public record Result(String model, int requestCount, int rowCount, long bytes, String sha256, List<LineError> errors,
            int errorCount) {
        public boolean ok() {
            return errorCount == 0;
        }

        /** Line of the first error, or 0. */
        public int firstErrorLine() {
            return errors.isEmpty() ? 0 : errors.get(0).line();
        }

        /** One sentence for a person: how many lines are bad and the first reason. */
        public String summary() {
            if (ok()) {
                return "valid: " + requestCount + " requests for " + model;
            }
            LineError first = errors.get(0);
            return "The batch file has " + errorCount + (errorCount == 1 ? " error" : " errors")
                    + "; first at line " + first.line() + ": " + first.message();
        }
    }

    private final Limits limits;
    private final Function<String, Optional<ModelCatalogue.ModelSpec>> models;
    private final ObjectMapper json;

    /** With the built-in models only (tests, tools). */
    public BatchFileValidator(Limits limits) {
        this(limits, ModelCatalogue::byId);
    }

    /** With a model lookup: ingest passes its {@link io.inferex.market.ModelRegistry} (built-ins and registrations). */
    public BatchFileValidator(Limits limits, Function<String, Optional<ModelCatalogue.ModelSpec>> models) {
        this.limits = limits;
        this.models = models;
        this.json = JsonMapper.builder()
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
                .build();
    }

    public Limits limits() {
        return limits;
    }

    public Result validate(InputStream in) throws IOException {
        return validate(in, line -> { });
    }

    /** Reads {@code in} to its end (or to the first limit breach) and judges every line. */
    public Result validate(InputStream in, LineSink sink) throws IOException {
        MessageDigest sha = sha256();
        Run run = new Run();
        try (LineReader reader = new LineReader(new DigestInputStream(in, sha), limits.maxLineBytes())) {
            int blankRunStart = 0;
            int blankRunLength = 0;
            while (reader.next()) {
                int lineNo = reader.lineNumber();
                if (reader.totalBytes() > limits.maxFileBytes()) {
                    run.error(lineNo, "the file is larger than " + limits.maxFileBytes() + " bytes; split it into several batches");
                    break;
                }
                if (reader.tooLong()) {
                    flushBlankRun(run, blankRunStart, blankRunLength);
                    blankRunLength = 0;
                    if (countRequest(run, lineNo)) {
                        break;
                    }
                    run.error(lineNo, "line is " + reader.length() + " bytes; the limit is " + limits.maxLineBytes() + " bytes per line");
                    continue;
                }
                if (reader.isBlank()) {
                    if (blankRunLength++ == 0) {
                        blankRunStart = lineNo;
                    }
                    continue;
                }
                flushBlankRun(run, blankRunStart, blankRunLength);
                blankRunLength = 0;
                if (countRequest(run, lineNo)) {
                    break;
                }
                RequestLine ok = checkLine(run, lineNo, reader.buffer(), reader.length());
                if (ok != null) {
                    run.rows += ok.rows();
                    if (run.errorCount == 0) {
                        sink.accept(ok);
                    }
                }
            }
            // Blank lines at the very end (a trailing newline, or a few) are not requests and not errors.
            run.bytes = reader.totalBytes();
        }
        if (run.requests == 0 && run.errorCount == 0) {
            run.error(1, "the file contains no request lines");
        }
        String digest = HexFormat.of().formatHex(sha.digest());
        return new Result(run.errorCount == 0 ? run.model : null, run.requests, run.rows, run.bytes, digest,
                List.copyOf(run.errors), run.errorCount);
    }

    /** Counts a request line; true when it is one too many (an error is recorded and reading stops). */
    private boolean countRequest(Run run, int lineNo) {
        if (++run.requests > limits.maxLines()) {
            run.requests = limits.maxLines();
            run.error(lineNo, "the file has more than " + limits.maxLines() + " request lines; split it into several batches");
            return true;
        }
        return false;
    }

    private static void flushBlankRun(Run run, int start, int length) {
        for (int i = 0; i < length; i++) {
            run.error(start + i, "blank line; every line must be a request (only the end of the file may have empty lines)");
        }
    }

    private RequestLine checkLine(Run run, int lineNo, byte[] buf, int len) {
        // Strict UTF-8 first: Jackson guesses UTF-16/32 from zero bytes and a BOM, and decodes some
        // ill-formed sequences (encoded surrogates) without complaint.
        String encoding = utf8Problem(buf, len);
        if (encoding != null) {
            run.error(lineNo, encoding);
            return null;
        }
        JsonNode node;
        try {
            node = json.readTree(buf, 0, len);
        } catch (JsonProcessingException e) {
            String where = e.getLocation() == null ? "" : " (column " + e.getLocation().getColumnNr() + ")";
            run.error(lineNo, "invalid JSON: " + firstLine(e.getOriginalMessage()) + where);
            return null;
        } catch (IOException e) {
            run.error(lineNo, "invalid JSON: " + e.getMessage());
            return null;
        }
        if (node == null || !node.isObject()) {
            run.error(lineNo, "a request line must be a JSON object, got " + kind(node));
            return null;
        }
        int before = run.errorCount;
        for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!LINE_FIELDS.contains(f)) {
                run.error(lineNo, "unknown field '" + f + "'; a request line has custom_id, method, url and body");
            }
        }
        String customId = requireString(run, lineNo, node, "custom_id", "custom_id");
        if (customId != null) {
            if (customId.isEmpty()) {
                run.error(lineNo, "custom_id must not be empty");
                customId = null;
            } else if (loneSurrogate(customId) >= 0) {
                run.error(lineNo, "custom_id has a lone surrogate (" + surrogateAt(customId) + "); it must be valid Unicode");
                customId = null;
            } else if (customId.length() > MAX_CUSTOM_ID_CHARS) {
                run.error(lineNo, "custom_id is " + customId.length() + " characters; the limit is " + MAX_CUSTOM_ID_CHARS);
                customId = null;
            } else {
                Integer first = run.customIds.putIfAbsent(customId, lineNo);
                if (first != null) {
                    run.error(lineNo, "custom_id '" + clip(customId) + "' is already used on line " + first
                            + "; custom_id must be unique in the file");
                }
            }
        }
        String method = requireString(run, lineNo, node, "method", "method");
        if (method != null && !METHOD.equals(method)) {
            run.error(lineNo, "method must be \"POST\", got \"" + clip(method) + "\"");
        }
        String url = requireString(run, lineNo, node, "url", "url");
        if (url != null && !ENDPOINT.equals(url)) {
            run.error(lineNo, "url must be \"" + ENDPOINT + "\" (the only endpoint Inferex batches serve), got \"" + clip(url) + "\"");
        }
        JsonNode body = node.get("body");
        if (body == null || body.isNull()) {
            run.error(lineNo, "body is missing");
            return null;
        }
        if (!body.isObject()) {
            run.error(lineNo, "body must be a JSON object, got " + kind(body));
            return null;
        }
        for (Iterator<String> it = body.fieldNames(); it.hasNext(); ) {
            String f = it.next();
            if (!BODY_FIELDS.contains(f)) {
                run.error(lineNo, "unknown field 'body." + f + "'; supported: model, input, encoding_format, dimensions, user");
            }
        }
        String model = requireString(run, lineNo, body, "model", "body.model");
        ModelCatalogue.ModelSpec spec = null;
        if (model != null) {
            spec = models.apply(model).orElse(null);
            if (spec == null) {
                run.error(lineNo, "body.model '" + clip(model) + "' is not a model Inferex serves");
            } else if (run.model == null) {
                run.model = model;
                run.modelLine = lineNo;
            } else if (!run.model.equals(model)) {
                run.error(lineNo, "body.model '" + model + "' differs from '" + run.model + "' on line " + run.modelLine
                        + "; every line of a batch must use the same model");
            }
        }
        List<String> input = inputs(run, lineNo, body.get("input"));
        EncodingFormat format = EncodingFormat.FLOAT;
        JsonNode fmt = body.get("encoding_format");
        if (fmt != null && !fmt.isNull()) {
            if ("float".equals(fmt.textValue())) {
                format = EncodingFormat.FLOAT;
            } else if ("base64".equals(fmt.textValue())) {
                format = EncodingFormat.BASE64;
            } else {
                run.error(lineNo, "body.encoding_format must be \"float\" or \"base64\", got " + fmt);
            }
        }
        JsonNode dims = body.get("dimensions");
        if (dims != null && !dims.isNull()) {
            if (!dims.canConvertToExactIntegral() || !dims.isNumber()) {
                run.error(lineNo, "body.dimensions must be an integer, got " + kind(dims));
            } else if (spec != null && dims.asLong() != spec.dimension()) {
                run.error(lineNo, "body.dimensions is " + dims.asText() + " but " + spec.id() + " only produces "
                        + spec.dimension() + " dimensions (omit it)");
            }
        }
        JsonNode user = body.get("user");
        if (user != null && !user.isNull() && !user.isTextual()) {
            run.error(lineNo, "body.user must be a string, got " + kind(user));
        }
        if (run.errorCount != before || customId == null || input == null || spec == null) {
            return null;
        }
        return new RequestLine(lineNo, customId, input, format);
    }

    /** {@code body.input}: a string, or an array of strings; null after recording why not. */
    private static List<String> inputs(Run run, int lineNo, JsonNode inputNode) {
        if (inputNode == null || inputNode.isNull()) {
            run.error(lineNo, "body.input is missing");
            return null;
        }
        if (inputNode.isTextual()) {
            if (inputNode.textValue().isEmpty()) {
                run.error(lineNo, "body.input must not be empty");
                return null;
            }
            if (loneSurrogate(inputNode.textValue()) >= 0) {
                run.error(lineNo, "body.input has a lone surrogate (" + surrogateAt(inputNode.textValue()) + "); it must be valid Unicode");
                return null;
            }
            return List.of(inputNode.textValue());
        }
        if (!inputNode.isArray()) {
            run.error(lineNo, "body.input must be a string or an array of strings, got " + kind(inputNode));
            return null;
        }
        if (inputNode.isEmpty()) {
            run.error(lineNo, "body.input is an empty array; give at least one string");
            return null;
        }
        if (inputNode.size() > MAX_INPUTS_PER_LINE) {
            run.error(lineNo, "body.input has " + inputNode.size() + " elements; the limit is " + MAX_INPUTS_PER_LINE
                    + " per line (split them over several lines)");
            return null;
        }
        List<String> out = new ArrayList<>(inputNode.size());
        for (int i = 0; i < inputNode.size(); i++) {
            JsonNode e = inputNode.get(i);
            if (!e.isTextual()) {
                run.error(lineNo, "body.input[" + i + "] must be a string, got " + kind(e)
                        + (e.isNumber() || e.isArray() ? " (token arrays are not supported; send the text)" : ""));
                return null;
            }
            if (e.textValue().isEmpty()) {
                run.error(lineNo, "body.input[" + i + "] must not be empty");
                return null;
            }
            if (loneSurrogate(e.textValue()) >= 0) {
                run.error(lineNo, "body.input[" + i + "] has a lone surrogate (" + surrogateAt(e.textValue())
                        + "); it must be valid Unicode");
                return null;
            }
            out.add(e.textValue());
        }
        return out;
    }

    /** The field as a string, or null after recording why it is not one. */
    private static String requireString(Run run, int lineNo, JsonNode parent, String field, String label) {
        JsonNode v = parent.get(field);
        if (v == null || v.isNull()) {
            run.error(lineNo, label + " is missing");
            return null;
        }
        if (!v.isTextual()) {
            run.error(lineNo, label + " must be a string, got " + kind(v));
            return null;
        }
        return v.textValue();
    }

    /**
     * Why the line is not strict UTF-8 text (RFC 3629: no overlong forms, no encoded surrogates,
     * nothing above U+10FFFF), or null. A NUL byte and a byte order mark at the start of a line
     * (the file's own first BOM is skipped by {@link LineReader}) are refused too: neither belongs
     * in a JSON line, and both make a JSON parser guess another encoding.
     */
    static String utf8Problem(byte[] b, int len) {
        if (len >= 3 && (b[0] & 0xff) == 0xEF && (b[1] & 0xff) == 0xBB && (b[2] & 0xff) == 0xBF) {
            return "byte order mark at the start of the line; only the file's first line may begin with one";
        }
        int i = 0;
        while (i < len) {
            int c = b[i] & 0xff;
            if (c >= 0x01 && c < 0x80) {
                i++;
                continue;
            }
            if (c == 0) {
                return "NUL byte at byte " + (i + 1) + " of the line; the file must be UTF-8 JSON text";
            }
            int need;
            int lo = 0x80;
            int hi = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) {
                need = 1;
            } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                lo = c == 0xE0 ? 0xA0 : 0x80;
                hi = c == 0xED ? 0x9F : 0xBF;
            } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                lo = c == 0xF0 ? 0x90 : 0x80;
                hi = c == 0xF4 ? 0x8F : 0xBF;
            } else {
                return notUtf8(c, i);
            }
            if (i + need >= len) {
                return "truncated UTF-8 sequence at byte " + (i + 1) + " of the line; the file must be UTF-8 text";
            }
            int second = b[i + 1] & 0xff;
            if (second < lo || second > hi) {
                return notUtf8(c, i);
            }
            for (int k = 2; k <= need; k++) {
                int cont = b[i + k] & 0xff;
                if (cont < 0x80 || cont > 0xBF) {
                    return notUtf8(c, i);
                }
            }
            i += need + 1;
        }
        return null;
    }

    private static String notUtf8(int c, int at) {
        return String.format(java.util.Locale.ROOT, "byte 0x%02X at byte %d of the line is not valid UTF-8; the file must be UTF-8 text",
                c, at + 1);
    }

    /** Index of the first unpaired surrogate in {@code s}, or -1. */
    static int loneSurrogate(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return i;
            }
        }
        return -1;
    }

    private static String surrogateAt(String s) {
        int i = loneSurrogate(s);
        return String.format(java.util.Locale.ROOT, "\\u%04X at character %d", (int) s.charAt(i), i + 1);
    }

    private static String kind(JsonNode n) {
        if (n == null || n.isNull() || n.isMissingNode()) {
            return "null";
        }
        return switch (n.getNodeType()) {
            case ARRAY -> "an array";
            case OBJECT -> "an object";
            case STRING -> "a string";
            case NUMBER -> "a number";
            case BOOLEAN -> "a boolean";
            default -> n.getNodeType().name().toLowerCase();
        };
    }

    private static String clip(String s) {
        return s.length() <= 80 ? s : s.substring(0, 77) + "...";
    }

    private static String firstLine(String s) {
        if (s == null) {
            return "unreadable";
        }
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private final class Run {
        final List<LineError> errors = new ArrayList<>();
        final Map<String, Integer> customIds = new HashMap<>();
        int errorCount;
        int requests;
        int rows;
        long bytes;
        String model;
        int modelLine;

        void error(int line, String message) {
            errorCount++;
            if (errors.size() < limits.maxErrors()) {
                errors.add(new LineError(line, message));
            }
        }
    }
}
