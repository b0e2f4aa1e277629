package io.inferex.ingest;

import com.fasterxml.jackson.core.JsonEncoding;
import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonGenerator;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.JobState;
import io.inferex.events.ShardResult;
import io.inferex.ingest.BatchFileValidator.EncodingFormat;
import io.inferex.ingest.BatchFileValidator.RequestLine;
import io.inferex.market.OutputDigest;
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
 * re-read and re-cut with the job's own shard plan; a shard's lines take its accepted result's rows
 * in order, one row per input (an array input's rows are consecutive and become the line's
 * {@code data}, {@code index} = position in the array), and each row's custom_id must agree. A
 * line's {@code usage} sums its rows' token counts as the node reported them (signed with its
 * result); a shard whose counts are missing or implausible reports 0. Streams: memory holds one
 * shard.
 */
public final class OutputFileWriter {
    /** Accepted result of a shard, if any. */
    @FunctionalInterface
    public interface AcceptedResults {
        Optional<ShardResult> forShard(int shardIndex) throws IOException;
    }

    /**
     * What a shard's lines deliver: the accepted result, how far verification got, and for a
     * FRAUD the referee result that corrects it (empty if it never came).
     */
    public record Delivery(ShardResult accepted, VerificationBook.LineState state, Optional<ShardResult> correction) {
        public static Delivery provisional(ShardResult accepted) {
            return new Delivery(accepted, null, Optional.empty());
        }
    }

    /** Delivery of a shard, if it has an accepted result. */
    @FunctionalInterface
    public interface Deliveries {
        Optional<Delivery> forShard(int shardIndex) throws IOException;
    }

    /** Values of a success line's {@code inferex.verification}. */
    public static final String PROVISIONAL = "provisional";
    public static final String FINAL = "final";
    public static final String CORRECTED = "corrected";
    /** FRAUD was decided but the correcting referee result never came (or is unusable): the original rows stay. */
    public static final String FRAUD_UNCORRECTED = "fraud_uncorrected";
    /** A dispute of the line's result is open (a sampled re-execution disagreed, or a customer challenged it). */
    public static final String DISPUTED = "disputed";

    /** What was written: success and error lines, and of the success lines those corrected and those left uncorrected. */
    public record Outcome(int completed, int failed, int corrected, int uncorrected, long promptTokens) {
        public Outcome(int completed, int failed) {
            this(completed, failed, 0, 0, 0);
        }
    }

    /** The job being written; {@code lines} counts its request lines (not rows). */
    public record Job(String jobId, String model, int dimension, int lines, JobState state, String error) {}

    private static final JsonFactory JSON = JsonFactory.builder().build();

    private OutputFileWriter() {}

    /** The output as first written, every success line provisional. */
    public static Outcome write(Job job, InputStream input, BatchFileValidator reader, ShardPlanner planner,
            AcceptedResults results, OutputStream output, OutputStream errors) throws IOException {
        return writeVerified(job, input, reader, planner, index -> results.forShard(index).map(Delivery::provisional),
                output, errors);
    }

    /**
     * The output with each shard's verification: FINAL lines say final; a FRAUD shard's lines carry
     * its correction's rows (when present and matching the shard's lines) and say corrected, else
     * keep the original rows and say fraud_uncorrected; the rest say provisional.
     */
    public static Outcome writeVerified(Job job, InputStream input, BatchFileValidator reader, ShardPlanner planner,
            Deliveries deliveries, OutputStream output, OutputStream errors) throws IOException {
        try (JsonGenerator out = generator(output); JsonGenerator err = generator(errors)) {
            int[] counts = {0, 0, 0, 0};
            long[] tokens = {0};
            ShardPlanner.Cutter cutter = planner.cutter((index, lines) -> {
                Optional<Delivery> delivery = deliveries.forShard(index);
                Optional<ShardResult> result = delivery.map(Delivery::accepted);
                String problem = result.map(r -> shapeProblem(r, lines, job.dimension())).orElse(null);
                Stamp stamp = delivery.isPresent() && problem == null ? stamp(delivery.get(), lines, job.dimension()) : null;
                int[] lineTokens = stamp == null ? null : lineTokens(stamp.rows(), lines);
                int firstRow = 0;
                for (int k = 0; k < lines.size(); k++) {
                    RequestLine line = lines.get(k);
                    if (stamp != null) {
                        writeSuccess(out, job, line, stamp, stamp.rows().getRows().subList(firstRow, firstRow + line.rows()),
                                lineTokens[k]);
                        firstRow += line.rows();
                        tokens[0] += lineTokens[k];
                        counts[0]++;
                        counts[2] += stamp.verification().equals(CORRECTED) ? 1 : 0;
                        counts[3] += stamp.verification().equals(FRAUD_UNCORRECTED) ? 1 : 0;
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
            if (counts[0] + counts[1] != job.lines()) {
                throw new IOException("job " + job.jobId() + " has " + job.lines() + " lines but its input file has "
                        + (counts[0] + counts[1]));
            }
            return new Outcome(counts[0], counts[1], counts[2], counts[3], tokens[0]);
        }
    }

    /** Why a result cannot be matched to its shard's lines, or null. */
    static String shapeProblem(ShardResult r, List<RequestLine> lines, int dimension) {
        List<EmbeddingRow> rows = r.getRows();
        int expected = lines.stream().mapToInt(RequestLine::rows).sum();
        if (rows.size() != expected) {
            return "it has " + rows.size() + " rows for " + expected + " inputs";
        }
        int k = 0;
        for (RequestLine line : lines) {
            for (int i = 0; i < line.rows(); i++, k++) {
                if (!rows.get(k).getCustomId().equals(line.customId())) {
                    return "row " + k + " answers custom_id '" + rows.get(k).getCustomId() + "', expected '"
                            + line.customId() + "'";
                }
            }
        }
        for (k = 0; k < rows.size(); k++) {
            EmbeddingRow row = rows.get(k);
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

    /**
     * Tokens of each line: the sum of its rows' counts in {@code result.promptTokens}. All zero when
     * the node reported no counts, or one that cannot be right (not one per row, below 1, or above
     * 3 tokens per UTF-16 unit of the input plus 2 special tokens: a word piece covers at least one
     * character after normalisation, and a Hangul syllable decomposes into at most three): a node
     * signs its counts, but re-execution does not check them, so they are reported, never priced.
     */
    static int[] lineTokens(ShardResult result, List<RequestLine> lines) {
        int[] out = new int[lines.size()];
        List<Integer> counts = result.getPromptTokens();
        int rows = lines.stream().mapToInt(RequestLine::rows).sum();
        if (counts.size() != rows) {
            return out;
        }
        int k = 0;
        for (int l = 0; l < lines.size(); l++) {
            for (String input : lines.get(l).inputs()) {
                Integer t = counts.get(k++);
                if (t == null || t < 1 || t > 3L * input.length() + 2) {
                    return new int[lines.size()];
                }
                out[l] += t;
            }
        }
        return out;
    }

    /** Stable id of the request on line {@code lineNumber} of a job: {@code batch_req_} + 32 hex. */
    public static String requestId(String jobId, int lineNumber) {
        byte[] d = BatchFileValidator.sha256().digest((jobId + "\n" + lineNumber).getBytes(StandardCharsets.UTF_8));
        return "batch_req_" + HexFormat.of().formatHex(d, 0, 16);
    }

    /**
     * The rows a shard's lines deliver and what they say about them. {@code replaced} is the
     * accepted result a correction replaces (null otherwise).
     */
    private record Stamp(ShardResult rows, String digest, String verification, ShardResult replaced) {}

    private static Stamp stamp(Delivery d, List<RequestLine> lines, int dimension) {
        ShardResult accepted = d.accepted();
        if (d.state() == null || d.state() == VerificationBook.LineState.UNRESOLVED) {
            return new Stamp(accepted, OutputDigest.of(accepted.getRows()), PROVISIONAL, null);
        }
        if (d.state() == VerificationBook.LineState.FINAL) {
            return new Stamp(accepted, OutputDigest.of(accepted.getRows()), FINAL, null);
        }
        if (d.state() == VerificationBook.LineState.DISPUTED) {
            return new Stamp(accepted, OutputDigest.of(accepted.getRows()), DISPUTED, null);
        }
        Optional<ShardResult> usable = d.correction().filter(c -> shapeProblem(c, lines, dimension) == null);
        return usable.map(c -> new Stamp(c, OutputDigest.of(c.getRows()), CORRECTED, accepted))
                .orElseGet(() -> new Stamp(accepted, OutputDigest.of(accepted.getRows()), FRAUD_UNCORRECTED, null));
    }

    private static void writeSuccess(JsonGenerator g, Job job, RequestLine line, Stamp stamp, List<EmbeddingRow> rows,
            int tokens) throws IOException {
        g.writeStartObject();
        g.writeStringField("id", requestId(job.jobId(), line.lineNumber()));
        g.writeStringField("custom_id", line.customId());
        g.writeObjectFieldStart("response");
        g.writeNumberField("status_code", 200);
        g.writeStringField("request_id", stamp.rows().getLeaseId());
        g.writeObjectFieldStart("body");
        g.writeStringField("object", "list");
        g.writeArrayFieldStart("data");
        for (int i = 0; i < rows.size(); i++) {
            g.writeStartObject();
            g.writeStringField("object", "embedding");
            g.writeNumberField("index", i);
            if (line.encodingFormat() == EncodingFormat.BASE64) {
                g.writeStringField("embedding", base64(rows.get(i).getEmbedding()));
            } else {
                g.writeArrayFieldStart("embedding");
                for (Float f : rows.get(i).getEmbedding()) {
                    g.writeNumber(f.floatValue());
                }
                g.writeEndArray();
            }
            g.writeEndObject();
        }
        g.writeEndArray();
        g.writeStringField("model", job.model());
        g.writeObjectFieldStart("usage");
        g.writeNumberField("prompt_tokens", tokens);
        g.writeNumberField("total_tokens", tokens);
        g.writeEndObject();
        g.writeEndObject(); // body
        g.writeEndObject(); // response
        g.writeNullField("error");
        writeVerification(g, stamp);
        g.writeEndObject();
        g.writeRaw('\n');
    }

    /** Inferex's extra top-level object: who computed the line, the shard result's digest, and its verification. */
    private static void writeVerification(JsonGenerator g, Stamp stamp) throws IOException {
        g.writeObjectFieldStart("inferex");
        g.writeStringField("node_id", stamp.rows().getNodeId());
        g.writeStringField("lease_id", stamp.rows().getLeaseId());
        g.writeStringField("result_digest", stamp.digest());
        g.writeStringField("verification", stamp.verification());
        if (stamp.replaced() != null) {
            g.writeStringField("replaced_node_id", stamp.replaced().getNodeId());
            g.writeStringField("replaced_lease_id", stamp.replaced().getLeaseId());
            g.writeStringField("replaced_result_digest", OutputDigest.of(stamp.replaced().getRows()));
        }
        g.writeEndObject();
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
