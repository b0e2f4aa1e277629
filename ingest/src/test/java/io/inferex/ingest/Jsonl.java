package io.inferex.ingest;

import java.io.ByteArrayInputStream;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/** Builds OpenAI batch input files for tests. */
final class Jsonl {
    static final String MODEL = "all-MiniLM-L6-v2";

    private Jsonl() {}

    /** One valid embeddings request line. */
    static String line(String customId, String input) {
        return "{\"custom_id\":\"" + customId + "\",\"method\":\"POST\",\"url\":\"/v1/embeddings\","
                + "\"body\":{\"model\":\"" + MODEL + "\",\"input\":\"" + input + "\"}}";
    }

    /** One valid request line whose input is an array of the given strings. */
    static String arrayLine(String customId, String... inputs) {
        StringBuilder a = new StringBuilder("[");
        for (int i = 0; i < inputs.length; i++) {
            a.append(i == 0 ? "" : ",").append('"').append(inputs[i]).append('"');
        }
        return line(customId, "x").replace("\"input\":\"x\"", "\"input\":" + a.append(']'));
    }

    /** {@code n} valid lines with custom_ids {@code prefix-1..n}, each ending with a newline. */
    static String file(String prefix, int n) {
        StringBuilder sb = new StringBuilder();
        for (int i = 1; i <= n; i++) {
            sb.append(line(prefix + "-" + i, "sentence number " + i + " of " + prefix)).append('\n');
        }
        return sb.toString();
    }

    static String join(String... lines) {
        return String.join("\n", lines) + "\n";
    }

    static List<String> customIds(String prefix, int n) {
        List<String> ids = new ArrayList<>();
        for (int i = 1; i <= n; i++) {
            ids.add(prefix + "-" + i);
        }
        return ids;
    }

    static InputStream stream(String s) {
        return new ByteArrayInputStream(s.getBytes(StandardCharsets.UTF_8));
    }
}
