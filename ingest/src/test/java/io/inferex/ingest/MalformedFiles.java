package io.inferex.ingest;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferex.ingest.BatchFileValidator.Limits;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

/**
 * A seeded generator of OpenAI batch input files with known defects, for the property test of
 * {@link BatchFileValidator} and the HTTP sample in {@code IngestApiTest}. Each case is a few valid
 * lines (varied inputs: escapes, astral characters, arrays) with one to three defects injected on
 * chosen lines, or a defect of the whole file; it says on which lines the validator must report an
 * error and what the message must name. Case {@code i} of seed {@code s} is always the same bytes.
 */
final class MalformedFiles {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    /** Stands for a string's content in a rendered line, to splice bytes JSON cannot express. */
    private static final String SLOT = "@@SLOT@@";

    /** Defects of one line. */
    enum LineKind {
        BROKEN_JSON, WRONG_TYPE, MISSING_FIELD, UNKNOWN_FIELD, BAD_VALUE, DUPLICATE_ID, BLANK_LINE, NON_UTF8, NUL_BYTE,
        BOM_INSIDE, LONE_SURROGATE, HUGE_LINE, WRONG_MODEL
    }

    /** Defects of the whole file. */
    enum FileKind { EMPTY_FILE, TOO_MANY_LINES, FILE_TOO_LARGE, UTF16_FILE }

    /** An error the validator must report: on {@code line} (0: any line), its message containing one of {@code fragments}. */
    record Expected(int line, List<String> fragments) {}

    /**
     * One generated file. {@code exact}: the lines with errors must be exactly those of {@code expected};
     * otherwise (a defect of the whole file) every error must name one of the expected fragments and
     * the first expected line (when not 0) must be the first error's.
     */
    record Case(long seed, int index, String kinds, byte[] bytes, List<Expected> expected, boolean exact) {
        String describe() {
            return "case " + index + " of seed " + seed + " (" + kinds + ", " + bytes.length + " bytes; reproduce with"
                    + " -Dinferex.fuzz.seed=" + seed + ")";
        }

        List<Integer> lines() {
            return expected.stream().map(Expected::line).distinct().sorted().toList();
        }
    }

    private final long seed;
    private final Limits limits;
    private final Set<FileKind> fileKinds;

    /** {@code fileKinds}: the whole-file defects to draw (the HTTP sample leaves out those that need huge files). */
    MalformedFiles(long seed, Limits limits, Set<FileKind> fileKinds) {
        this.seed = seed;
        this.limits = limits;
        this.fileKinds = fileKinds.isEmpty() ? EnumSet.noneOf(FileKind.class) : EnumSet.copyOf(fileKinds);
    }

    /** A valid file (the control: the generator's clean lines really are valid). */
    byte[] valid(int index) {
        Random r = new Random(seed * 1_000_003L + index);
        List<Line> lines = cleanLines(r, index, 1 + r.nextInt(12));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (r.nextInt(4) == 0) {
            out.writeBytes(new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF}); // a BOM at the very start is fine
        }
        String eol = r.nextBoolean() ? "\n" : "\r\n";
        for (Line l : lines) {
            out.writeBytes(l.bytes());
            out.writeBytes(eol.getBytes(StandardCharsets.UTF_8));
        }
        if (r.nextBoolean()) {
            out.writeBytes("\n \n".getBytes(StandardCharsets.UTF_8)); // blank lines at the very end are fine
        }
        return out.toByteArray();
    }

    Case malformed(int index) {
        Random r = new Random(seed * 1_000_003L + index);
        if (!fileKinds.isEmpty() && r.nextInt(6) == 0) {
            FileKind[] kinds = fileKinds.toArray(FileKind[]::new);
            return fileCase(r, index, kinds[r.nextInt(kinds.length)]);
        }
        List<Line> lines = cleanLines(r, index, 2 + r.nextInt(10));
        int defects = 1 + r.nextInt(Math.min(3, lines.size()));
        List<Integer> targets = new ArrayList<>();
        while (targets.size() < defects) {
            int t = r.nextInt(lines.size());
            if (!targets.contains(t)) {
                targets.add(t);
            }
        }
        targets.sort(null);
        List<String> names = new ArrayList<>();
        List<Integer> blanksBefore = new ArrayList<>();
        for (int t : targets) {
            LineKind kind = LineKind.values()[r.nextInt(LineKind.values().length)];
            boolean cleanBefore = false;
            for (int j = 0; j < t; j++) {
                cleanBefore |= lines.get(j).expected == null && !lines.get(j).blank;
            }
            if ((kind == LineKind.DUPLICATE_ID || kind == LineKind.WRONG_MODEL) && !cleanBefore) {
                kind = LineKind.BROKEN_JSON; // they need a valid line above them
            }
            if (kind == LineKind.BOM_INSIDE && t == 0) {
                kind = LineKind.NUL_BYTE; // a BOM at the very start of the file is allowed
            }
            names.add(kind.name());
            if (kind == LineKind.BLANK_LINE) {
                blanksBefore.add(0, t); // inserted last, from the bottom up, so the other targets keep their places
            } else {
                inject(r, lines, t, kind);
            }
        }
        for (int t : blanksBefore) {
            inject(r, lines, t, LineKind.BLANK_LINE);
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<Expected> expected = new ArrayList<>();
        int lineNo = 0;
        for (Line l : lines) {
            lineNo++;
            out.writeBytes(l.bytes());
            out.writeBytes(new byte[] {'\n'});
            if (l.expected != null) {
                expected.add(new Expected(lineNo, l.expected));
            }
        }
        return new Case(seed, index, String.join("+", names), out.toByteArray(), expected, true);
    }

    /** A line of the file being built: its bytes, and the fragments its error must name (null: must be valid). */
    private static final class Line {
        ObjectNode node;
        byte[] raw;
        List<String> expected;
        boolean blank;

        Line(ObjectNode node) {
            this.node = node;
        }

        byte[] bytes() {
            if (raw != null) {
                return raw;
            }
            try {
                return JSON.writeValueAsBytes(node);
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }

        String customId() {
            return node.path("custom_id").asText();
        }
    }

    private static final String[] WORDS = {"alpha", "Grüße", "naïve café", "数据", "emoji \uD83D\uDE00 pair", "tab\there",
            "quote \" and \\ slash", "line\nbreak", "ümlaut", "ok"};

    private List<Line> cleanLines(Random r, int index, int n) {
        List<Line> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            ObjectNode line = F.objectNode();
            line.put("custom_id", "c" + index + "-" + i + (r.nextInt(5) == 0 ? "-ß\uD83D\uDE80" : ""));
            line.put("method", "POST");
            line.put("url", "/v1/embeddings");
            ObjectNode body = line.putObject("body");
            body.put("model", Jsonl.MODEL);
            if (r.nextInt(4) == 0) {
                ArrayNode arr = body.putArray("input");
                for (int k = 0, m = 1 + r.nextInt(4); k < m; k++) {
                    arr.add(WORDS[r.nextInt(WORDS.length)] + " " + k);
                }
            } else {
                body.put("input", WORDS[r.nextInt(WORDS.length)] + " " + i);
            }
            switch (r.nextInt(5)) {
                case 0 -> body.put("encoding_format", r.nextBoolean() ? "float" : "base64");
                case 1 -> body.put("dimensions", 384);
                case 2 -> body.put("user", "u" + i);
                default -> { }
            }
            out.add(new Line(line));
        }
        return out;
    }

    private void inject(Random r, List<Line> lines, int t, LineKind kind) {
        Line l = lines.get(t);
        ObjectNode body = (ObjectNode) l.node.get("body");
        switch (kind) {
            case BROKEN_JSON -> {
                String text = new String(l.bytes(), StandardCharsets.UTF_8);
                text = switch (r.nextInt(4)) {
                    case 0 -> text.substring(0, 1 + r.nextInt(text.length() - 1)); // the object never closes
                    case 1 -> text + new String[] {" }", "x", ",", "]", "{}"}[r.nextInt(5)];
                    case 2 -> text.replaceFirst("\"custom_id\"", "custom_id\"");
                    default -> text.substring(0, text.length() - 1) + ",}";
                };
                l.raw = text.getBytes(StandardCharsets.UTF_8);
                l.expected = List.of("invalid JSON");
            }
            case WRONG_TYPE -> {
                String[] fields = {"custom_id", "method", "url", "body", "body.model", "body.input", "body.encoding_format",
                        "body.dimensions", "body.user"};
                String field = fields[r.nextInt(fields.length)];
                ObjectNode parent = field.startsWith("body.") ? body : l.node;
                String name = field.startsWith("body.") ? field.substring(5) : field;
                switch (r.nextInt(5)) {
                    case 0 -> parent.put(name, 42);
                    case 1 -> parent.put(name, true);
                    case 2 -> parent.putArray(name).add(1).add(2);
                    case 3 -> parent.putObject(name).put("a", "b");
                    default -> parent.put(name, 3.5);
                }
                if (field.equals("body.input") && r.nextBoolean()) {
                    body.putArray("input").add("fine").add(r.nextBoolean() ? F.numberNode(7) : F.arrayNode().add("nested"));
                }
                l.expected = List.of(field);
            }
            case MISSING_FIELD -> {
                String[] fields = {"custom_id", "method", "url", "body", "body.model", "body.input"};
                String field = fields[r.nextInt(fields.length)];
                if (field.startsWith("body.")) {
                    body.remove(field.substring(5));
                } else {
                    l.node.remove(field);
                }
                l.expected = List.of(field + " is missing");
            }
            case UNKNOWN_FIELD -> {
                (r.nextBoolean() ? l.node : body).put("temperature", 0.5);
                l.expected = List.of("unknown field");
            }
            case BAD_VALUE -> {
                switch (r.nextInt(8)) {
                    case 0 -> { l.node.put("method", "GET"); l.expected = List.of("method must be"); }
                    case 1 -> { l.node.put("url", "/v1/chat/completions"); l.expected = List.of("url must be"); }
                    case 2 -> { l.node.put("custom_id", ""); l.expected = List.of("custom_id must not be empty"); }
                    case 3 -> { body.put("input", ""); l.expected = List.of("must not be empty"); }
                    case 4 -> { body.putArray("input"); l.expected = List.of("empty array"); }
                    case 5 -> { body.put("model", "gpt-4o"); l.expected = List.of("is not a model Inferex serves"); }
                    case 6 -> { l.node.put("custom_id", "x".repeat(BatchFileValidator.MAX_CUSTOM_ID_CHARS + 1 + r.nextInt(50)));
                        l.expected = List.of("custom_id is"); }
                    default -> { body.put("dimensions", 256); l.expected = List.of("only produces"); }
                }
            }
            case DUPLICATE_ID -> {
                int from;
                do {
                    from = r.nextInt(t);
                } while (lines.get(from).expected != null || lines.get(from).blank);
                l.node.put("custom_id", lines.get(from).customId());
                l.expected = List.of("is already used on line");
            }
            case BLANK_LINE -> {
                Line blank = new Line(null);
                blank.raw = new String[] {"", " ", "\t", "  \t ", "\r"}[r.nextInt(5)].getBytes(StandardCharsets.UTF_8);
                blank.expected = List.of("blank line");
                blank.blank = true;
                lines.add(t, blank); // before a request line, so it is not at the end of the file
            }
            case NON_UTF8 -> {
                byte[][] bad = {{(byte) 0xFF}, {(byte) 0xC0, (byte) 0x80}, {(byte) 0x80}, {(byte) 0xE2, (byte) 0x82},
                        {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, {(byte) 0xF5, (byte) 0x80, (byte) 0x80, (byte) 0x80},
                        {(byte) 0xF4, (byte) 0x90, (byte) 0x80, (byte) 0x80}, {(byte) 0xFE}, {(byte) 0xC3}};
                splice(l, body, r, bad[r.nextInt(bad.length)]);
                l.expected = List.of("UTF-8");
            }
            case NUL_BYTE -> {
                splice(l, body, r, new byte[] {0});
                l.expected = List.of("NUL byte");
            }
            case BOM_INSIDE -> {
                byte[] b = l.bytes();
                byte[] withBom = new byte[b.length + 3];
                withBom[0] = (byte) 0xEF;
                withBom[1] = (byte) 0xBB;
                withBom[2] = (byte) 0xBF;
                System.arraycopy(b, 0, withBom, 3, b.length);
                l.raw = withBom;
                l.expected = List.of("byte order mark");
            }
            case LONE_SURROGATE -> {
                String[] lone = {"\\ud800", "\\udfff", "x\\ud83d", "\\ude00x", "\\udc00\\ud800", "a\\uDBFF"};
                boolean inId = r.nextBoolean();
                if (inId) {
                    l.node.put("custom_id", SLOT);
                } else {
                    body.put("input", SLOT);
                }
                l.raw = new String(l.bytes(), StandardCharsets.UTF_8).replace(SLOT, "s" + lone[r.nextInt(lone.length)])
                        .getBytes(StandardCharsets.UTF_8);
                l.expected = List.of(inId ? "custom_id has a lone surrogate" : "body.input has a lone surrogate");
            }
            case HUGE_LINE -> {
                body.put("input", "w".repeat(limits.maxLineBytes() + r.nextInt(2 * limits.maxLineBytes())));
                l.expected = List.of("bytes per line");
            }
            case WRONG_MODEL -> {
                body.put("model", "synthetic-hash-v1");
                body.remove("dimensions");
                l.expected = List.of("differs from");
            }
        }
    }

    /** Puts {@code bad} bytes into the line's input (or custom_id) string, where JSON cannot say them. */
    private static void splice(Line l, ObjectNode body, Random r, byte[] bad) {
        if (r.nextBoolean()) {
            l.node.put("custom_id", SLOT);
        } else {
            body.put("input", SLOT);
        }
        byte[] b = l.bytes();
        String text = new String(b, StandardCharsets.UTF_8);
        int at = text.indexOf(SLOT);
        byte[] head = text.substring(0, at).getBytes(StandardCharsets.UTF_8);
        byte[] tail = text.substring(at + SLOT.length()).getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(head);
        out.writeBytes("in".getBytes(StandardCharsets.UTF_8));
        out.writeBytes(bad);
        out.writeBytes("put".getBytes(StandardCharsets.UTF_8));
        out.writeBytes(tail);
        l.raw = out.toByteArray();
    }

    private Case fileCase(Random r, int index, FileKind kind) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<Expected> expected;
        switch (kind) {
            case EMPTY_FILE -> {
                out.writeBytes(new String[] {"", "\n", "\n\n\n", " \t\n  \n", "\r\n"}[r.nextInt(5)].getBytes(StandardCharsets.UTF_8));
                if (r.nextInt(3) == 0) {
                    out.reset();
                    out.writeBytes(new byte[] {(byte) 0xEF, (byte) 0xBB, (byte) 0xBF, '\n'});
                }
                expected = List.of(new Expected(1, List.of("no request lines")));
            }
            case TOO_MANY_LINES -> {
                int n = limits.maxLines() + 1 + r.nextInt(5);
                for (Line l : cleanLines(r, index, n)) {
                    out.writeBytes(l.bytes());
                    out.write('\n');
                }
                expected = List.of(new Expected(limits.maxLines() + 1, List.of("more than " + limits.maxLines() + " request lines")));
            }
            case FILE_TOO_LARGE -> {
                int i = 0;
                while (out.size() <= limits.maxFileBytes()) {
                    ObjectNode line = cleanLines(r, index, 1).get(0).node;
                    line.put("custom_id", "big-" + i++);
                    ((ObjectNode) line.get("body")).put("input", "v".repeat(limits.maxLineBytes() / 2));
                    out.writeBytes(new Line(line).bytes());
                    out.write('\n');
                }
                expected = List.of(new Expected(0, List.of("larger than " + limits.maxFileBytes() + " bytes")));
            }
            default -> {
                StringBuilder text = new StringBuilder();
                for (Line l : cleanLines(r, index, 1 + r.nextInt(5))) {
                    text.append(new String(l.bytes(), StandardCharsets.UTF_8)).append('\n');
                }
                String bom = r.nextBoolean() ? "\uFEFF" : "";
                out.writeBytes((bom + text).getBytes(r.nextBoolean() ? StandardCharsets.UTF_16LE : StandardCharsets.UTF_16BE));
                expected = List.of(new Expected(1, List.of("UTF-8", "NUL byte")));
            }
        }
        return new Case(seed, index, kind.name(), out.toByteArray(), expected, false);
    }

    @Override
    public String toString() {
        return "MalformedFiles(seed " + seed + ", " + limits + ", " + Arrays.toString(fileKinds.toArray()) + ")";
    }
}
