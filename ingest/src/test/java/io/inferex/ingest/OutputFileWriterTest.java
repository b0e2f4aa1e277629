package io.inferex.ingest;

import static io.inferex.ingest.Results.result;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.inferex.events.JobState;
import io.inferex.events.ShardResult;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;

class OutputFileWriterTest {
    private static final String JOB = "batch_out";
    private static final ObjectMapper JSON = new ObjectMapper();
    private final ShardPlanner planner = new ShardPlanner(2, 512 * 1024);
    private final BatchFileValidator reader = new BatchFileValidator(BatchFileValidator.Limits.DEFAULT);

    private record Written(List<JsonNode> out, List<JsonNode> err, OutputFileWriter.Outcome outcome) {}

    private Written write(String input, int rows, JobState state, Map<Integer, ShardResult> accepted) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        OutputFileWriter.Outcome o = OutputFileWriter.write(
                new OutputFileWriter.Job(JOB, "all-MiniLM-L6-v2", 384, rows, state, state == JobState.COMPLETED ? null : "boom"),
                Jsonl.stream(input), reader, planner, i -> Optional.ofNullable(accepted.get(i)), out, err);
        return new Written(parse(out), parse(err), o);
    }

    private static List<JsonNode> parse(ByteArrayOutputStream bytes) throws IOException {
        List<JsonNode> nodes = new ArrayList<>();
        String text = bytes.toString(StandardCharsets.UTF_8);
        if (!text.isEmpty()) {
            assertTrue(text.endsWith("\n"), "every line ends with a newline");
            for (String l : text.split("\n")) {
                nodes.add(JSON.readTree(l));
            }
        }
        return nodes;
    }

    /** Accepted results for 5 lines in shards of 2: [1,2] [3,4] [5]. */
    private static Map<Integer, ShardResult> allAccepted() {
        Map<Integer, ShardResult> m = new HashMap<>();
        m.put(0, result(JOB, 0, 3, 1, List.of("doc-1", "doc-2"), 0));
        m.put(1, result(JOB, 1, 3, 2, List.of("doc-3", "doc-4"), 0));
        m.put(2, result(JOB, 2, 3, 1, List.of("doc-5"), 0));
        return m;
    }

    @Test
    void outputHasOneLinePerInputLineInInputOrderWithMatchingCustomIdsAnd384Floats() throws IOException {
        Written w = write(Jsonl.file("doc", 5), 5, JobState.COMPLETED, allAccepted());
        assertEquals(new OutputFileWriter.Outcome(5, 0), w.outcome());
        assertEquals(0, w.err().size());
        assertEquals(Jsonl.customIds("doc", 5), w.out().stream().map(n -> n.get("custom_id").asText()).toList());
        for (JsonNode line : w.out()) {
            assertTrue(line.get("id").asText().startsWith("batch_req_"));
            assertTrue(line.get("error").isNull());
            JsonNode resp = line.get("response");
            assertEquals(200, resp.get("status_code").asInt());
            JsonNode body = resp.get("body");
            assertEquals("list", body.get("object").asText());
            assertEquals("all-MiniLM-L6-v2", body.get("model").asText());
            assertEquals(0, body.get("usage").get("prompt_tokens").asInt());
            JsonNode data = body.get("data").get(0);
            assertEquals("embedding", data.get("object").asText());
            assertEquals(0, data.get("index").asInt());
            JsonNode emb = data.get("embedding");
            assertEquals(384, emb.size());
            List<Float> expected = Results.vector(line.get("custom_id").asText(), 0);
            for (int i = 0; i < 384; i++) {
                assertEquals(expected.get(i), emb.get(i).floatValue(), 0f, "floats round-trip exactly");
            }
        }
        assertEquals(ShardTaskIdOf(1) + "#2", w.out().get(2).get("response").get("request_id").asText(),
                "request_id names the lease that produced the row");
        assertEquals(OutputFileWriter.requestId(JOB, 1), w.out().get(0).get("id").asText());
    }

    private static String ShardTaskIdOf(int i) {
        return ShardPlanner.taskId(JOB, i, 3);
    }

    @Test
    void rowsWithoutAnAcceptedResultGoToTheErrorFileWithTheEndStateAsReason() throws IOException {
        Map<Integer, ShardResult> partial = allAccepted();
        partial.remove(1);
        Written w = write(Jsonl.file("doc", 5), 5, JobState.EXPIRED, partial);
        assertEquals(List.of("doc-1", "doc-2", "doc-5"), w.out().stream().map(n -> n.get("custom_id").asText()).toList());
        assertEquals(List.of("doc-3", "doc-4"), w.err().stream().map(n -> n.get("custom_id").asText()).toList());
        JsonNode e = w.err().get(0);
        assertTrue(e.get("response").isNull());
        assertEquals("batch_expired", e.get("error").get("code").asText());
        assertEquals(new OutputFileWriter.Outcome(3, 2), w.outcome());
    }

    @Test
    void aResultWhoseRowsDoNotMatchTheShardIsNotUsed() throws IOException {
        Map<Integer, ShardResult> bad = allAccepted();
        bad.put(1, result(JOB, 1, 3, 1, List.of("doc-4", "doc-3"), 0)); // swapped rows
        Written w = write(Jsonl.file("doc", 5), 5, JobState.COMPLETED, bad);
        assertEquals(List.of("doc-3", "doc-4"), w.err().stream().map(n -> n.get("custom_id").asText()).toList());
        assertEquals("invalid_result", w.err().get(0).get("error").get("code").asText());
        assertTrue(w.err().get(0).get("error").get("message").asText().contains("custom_id 'doc-4'"));
    }

    @Test
    void base64EncodingFormatGivesLittleEndianFloat32() throws IOException {
        String input = Jsonl.line("doc-1", "x").replace("\"input\"", "\"encoding_format\":\"base64\",\"input\"") + "\n";
        Written w = write(input, 1, JobState.COMPLETED, Map.of(0, result(JOB, 0, 1, 1, List.of("doc-1"), 0)));
        String b64 = w.out().get(0).at("/response/body/data/0/embedding").asText();
        ByteBuffer buf = ByteBuffer.wrap(Base64.getDecoder().decode(b64)).order(ByteOrder.LITTLE_ENDIAN);
        assertEquals(384 * 4, buf.remaining());
        assertEquals(Results.vector("doc-1", 0).get(0), buf.getFloat(0));
    }

    @Test
    void anArrayLineIsOneOutputLineWithAnEmbeddingPerElementInOrderAndItsTokensSummed() throws IOException {
        String input = Jsonl.join(Jsonl.line("doc-1", "x"), Jsonl.arrayLine("doc-2", "a", "bb", "ccc"),
                Jsonl.arrayLine("doc-3", "d", "e").replace("\"input\"", "\"encoding_format\":\"base64\",\"input\""));
        // shards of at most 2 rows, lines never split: [doc-1] [doc-2 x3] [doc-3 x2]
        ShardResult s0 = result(JOB, 0, 3, 1, List.of("doc-1"), 0);
        s0.setPromptTokens(List.of(3));
        ShardResult s1 = result(JOB, 1, 3, 1, List.of("doc-2", "doc-2", "doc-2"), 0);
        s1.setRows(List.of(s1.getRows().get(0), withVector(s1.getRows().get(1), 0.25f), withVector(s1.getRows().get(2), 0.5f)));
        s1.setPromptTokens(List.of(3, 3, 4));
        ShardResult s2 = result(JOB, 2, 3, 1, List.of("doc-3", "doc-3"), 0);
        s2.setPromptTokens(List.of(3, 3));
        Written w = write(input, 3, JobState.COMPLETED, Map.of(0, s0, 1, s1, 2, s2));
        assertEquals(3, w.out().size(), "one output line per request line");
        assertEquals(3 + 10 + 6, w.outcome().promptTokens(), "the batch's tokens");
        JsonNode arr = w.out().get(1).at("/response/body");
        assertEquals(3, arr.get("data").size());
        for (int i = 0; i < 3; i++) {
            assertEquals(i, arr.get("data").get(i).get("index").asInt());
            assertEquals(s1.getRows().get(i).getEmbedding().get(0), arr.get("data").get(i).get("embedding").get(0).floatValue(), 0f,
                    "element " + i + " carries its own row");
        }
        assertEquals(10, arr.get("usage").get("prompt_tokens").asInt());
        assertEquals(10, arr.get("usage").get("total_tokens").asInt());
        JsonNode b64 = w.out().get(2).at("/response/body/data");
        assertEquals(2, b64.size());
        assertTrue(b64.get(1).get("embedding").isTextual(), "base64 for every element of an array line");
        assertEquals(384 * 4, Base64.getDecoder().decode(b64.get(1).get("embedding").asText()).length);
    }

    @Test
    void implausibleOrMissingTokenCountsAreReportedAsZeroNotTrusted() throws IOException {
        Map<Integer, ShardResult> m = allAccepted();
        m.get(0).setPromptTokens(List.of(4, 9_999)); // "sentence number 2 of doc" cannot be 9,999 word pieces
        m.get(1).setPromptTokens(List.of(5)); // one count for two rows
        m.get(2).setPromptTokens(List.of(7));
        Written w = write(Jsonl.file("doc", 5), 5, JobState.COMPLETED, m);
        assertEquals(List.of(0, 0, 0, 0, 7), w.out().stream().map(n -> n.at("/response/body/usage/prompt_tokens").asInt()).toList());
        assertEquals(7, w.outcome().promptTokens());
    }

    private static io.inferex.events.EmbeddingRow withVector(io.inferex.events.EmbeddingRow r, float first) {
        List<Float> v = new ArrayList<>(r.getEmbedding());
        v.set(0, first);
        return new io.inferex.events.EmbeddingRow(r.getCustomId(), v);
    }

    @Test
    void aRowCountThatDisagreesWithTheInputFileFailsLoudly() {
        assertThrows(IOException.class, () -> write(Jsonl.file("doc", 5), 6, JobState.COMPLETED, allAccepted()));
    }
}
