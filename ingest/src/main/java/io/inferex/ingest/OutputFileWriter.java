package io.inferex.ingest;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.JobState;
import io.inferex.events.ShardResult;
import io.inferex.ingest.BatchFileValidator.EncodingFormat;
import io.inferex.ingest.BatchFileValidator.RequestLine;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;

/**
 * Writes a finished job's OpenAI batch output file (one line per input line that has an accepted
 * result, in input order) and error file (one line per input line without one). The input file is
 * re-read and re-cut with the job's own shard plan, so line {@code k} of shard {@code i} is matched
 * with row {@code k} of shard {@code i}'s accepted result, and its custom_id must agree. Streams:
 * memory holds one shard.
 */
public final class OutputFileWriter {
    /** Accepted result of a shard, if any. */
    @FunctionalInterface
    public interface AcceptedResults {
        Optional<ShardResult> forShard(int shardIndex) throws IOException;
    }

    /** What was written. */
    public record Outcome(int completed, int failed) {}

    /** The job being written. */
    public record Job(String jobId, String model, int dimension, int rowCount, JobState state, String error) {}

    private static final JsonFactory JSON = JsonFactory.builder().build();

    private OutputFileWriter() {}

    public static Outcome write(Job job, InputStream input, BatchFileValidator reader, ShardPlanner planner,
            AcceptedResults results, OutputStream output, OutputStream errors) throws IOException {
        try (JsonGenerator out = generator(output); JsonGenerator err = generator(errors)) {
            int[] counts = {0, 0};
            ShardPlanner.Cutter cutter = planner.cutter((index, lines) -> {
                Optional<ShardResult> result = results.forShard(index);
                String problem = result.map(r -> shapeProblem(r, lines, job.dimension())).orElse(null);
                for (int k = 0; k < lines.size(); k++) {
                    RequestLine line = lines.get(k);
                    if (result.isPresent() && problem == null) {
                        ShardResult r = result.get();
                        writeSuccess(out, job, line, r.getLeaseId(), r.getRows().get(k));
                        counts[0]++;
                    } else if (result.isPresent()) {
                        writeError(err, job, line, "invalid_result",
                                "The accepted result for this request is unusable: " + problem);
                        counts[1]++;
                    } else {
                        writeError(err, job, line, missingCode(job.state()), missingMessage(job));
                        counts[1]++;
                    }
                }
            });
            BatchFileValidator.Result check = reader.validate(input, cutter::add);
            if (!check.ok()) {
                throw new IOException("input file of " + job.jobId() + " no longer validates: " + check.summary());
            }
            cutter.finish();
            if (counts[0] + counts[1] != job.rowCount()) {
                throw new IOException("job " + job.jobId() + " has " + job.rowCount() + " rows but its input file has "
                        + (counts[0] + counts[1]));
            }
            return new Outcome(counts[0], counts[1]);
        }
    }

    /** Why a result cannot be matched to its shard's lines, or null. */
    static String shapeProblem(ShardResult r, List<RequestLine> lines, int dimension) {
        List<EmbeddingRow> rows = r.getRows();
        if (rows.size() != lines.size()) {
            return "it has " + rows.size() + " rows for " + lines.size() + " requests";
        }
        for (int k = 0; k < rows.size(); k++) {
            EmbeddingRow row = rows.get(k);
            if (!row.getCustomId().equals(lines.get(k).customId())) {
                return "row " + k + " answers custom_id '" + row.getCustomId() + "', expected '" + lines.get(k).customId() + "'";
            }
            if (row.getEmbedding().size() != dimension) {
                return "row " + k + " has " + row.getEmbedding().size() + " dimensions, expected " + dimension;
            }
            for (Float f : row.getEmbedding()) {
                if (f == null || !Float.isFinite(f)) {
                    return "row " + k + " has a non-finite value";
                }
            }
        }
        return null;
    }

    /** Stable id of the request on line {@code lineNumber} of a job: {@code batch_req_} + 32 hex. */
    public static String requestId(String jobId, int lineNumber) {
        byte[] d = BatchFileValidator.sha256().digest((jobId + "\n" + lineNumber).getBytes(StandardCharsets.UTF_8));
        return "batch_req_" + HexFormat.of().formatHex(d, 0, 16);
    }

    private static void writeSuccess(JsonGenerator g, Job job, RequestLine line, String leaseId, EmbeddingRow row)
            throws IOException {
        g.writeStartObject();
        g.writeStringField("id", requestId(job.jobId(), line.lineNumber()));
        g.writeStringField("custom_id", line.customId());
        g.writeObjectFieldStart("response");
        g.writeNumberField("status_code", 200);
        g.writeStringField("request_id", leaseId);
        g.writeObjectFieldStart("body");
        g.writeStringField("object", "list");
        g.writeArrayFieldStart("data");
        g.writeStartObject();
        g.writeStringField("object", "embedding");
        g.writeNumberField("index", 0);
        if (line.encodingFormat() == EncodingFormat.BASE64) {
            g.writeStringField("embedding", base64(row.getEmbedding()));
        } else {
            g.writeArrayFieldStart("embedding");
            for (Float f : row.getEmbedding()) {
                g.writeNumber(f.floatValue());
            }
            g.writeEndArray();
        }
        g.writeEndObject();
        g.writeEndArray();
        g.writeStringField("model", job.model());
        g.writeObjectFieldStart("usage");
        g.writeNumberField("prompt_tokens", 0);
        g.writeNumberField("total_tokens", 0);
        g.writeEndObject();
        g.writeEndObject(); // body
        g.writeEndObject(); // response
        g.writeNullField("error");
        g.writeEndObject();
        g.writeRaw('\n');
    }

    private static void writeError(JsonGenerator g, Job job, RequestLine line, String code, String message) throws IOException {
        g.writeStartObject();
        g.writeStringField("id", requestId(job.jobId(), line.lineNumber()));
        g.writeStringField("custom_id", line.customId());
        g.writeNullField("response");
        g.writeObjectFieldStart("error");
        g.writeStringField("code", code);
        g.writeStringField("message", message);
        g.writeEndObject();
        g.writeEndObject();
        g.writeRaw('\n');
    }

    static String missingCode(JobState state) {
        return switch (state) {
            case EXPIRED -> "batch_expired";
            case CANCELLED -> "batch_cancelled";
            case FAILED -> "batch_failed";
            default -> "missing_result";
        };
    }

    private static String missingMessage(Job job) {
        return switch (job.state()) {
            case EXPIRED -> "This request could not be executed before the completion window expired.";
            case CANCELLED -> "This request was not executed because the batch was cancelled.";
            case FAILED -> "This request was not executed because the batch failed"
                    + (job.error() == null ? "." : ": " + job.error());
            default -> "No accepted result for this request.";
        };
    }

    /** OpenAI's base64 encoding: the float32 values, little-endian. */
    static String base64(List<Float> v) {
        ByteBuffer b = ByteBuffer.allocate(v.size() * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (Float f : v) {
            b.putFloat(f);
        }
        return Base64.getEncoder().encodeToString(b.array());
    }

    private static JsonGenerator generator(OutputStream os) throws IOException {
        JsonGenerator g = JSON.createGenerator(os, JsonEncoding.UTF8);
        g.setRootValueSeparator(null);
        g.disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);
        return g;
    }
}
