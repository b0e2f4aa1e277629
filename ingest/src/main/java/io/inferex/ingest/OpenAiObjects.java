package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import java.util.List;

/** The OpenAI wire shapes: file object, batch object, list, error; and Inferex's balance object. Pure functions. */
public final class OpenAiObjects {
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    /** Seconds in the only completion window OpenAI offers. */
    public static final long WINDOW_24H_SECONDS = 24 * 3600;

    private OpenAiObjects() {}

    public static ObjectNode file(StoredFile f) {
        ObjectNode o = F.objectNode();
        o.put("id", f.id());
        o.put("object", "file");
        o.put("bytes", f.bytes());
        o.put("created_at", f.createdAt());
        o.putNull("expires_at");
        o.put("filename", f.filename());
        o.put("purpose", f.purpose());
        o.put("status", "processed");
        o.putNull("status_details");
        return o;
    }

    /**
     * OpenAI batch status of a job that ingest has not finalized yet. The terminal states read
     * "finalizing" ("cancelling") until ingest has written the output and error files: a client
     * that sees completed/failed/expired/cancelled can fetch them at once. FINALIZING (every shard
     * accepted, settlement waits for verification before paying) is delivered like COMPLETED: the
     * batch reads "completed" once ingest wrote its output.
     */
    public static String status(JobState state) {
        return switch (state) {
            case VALIDATING -> "validating";
            case IN_PROGRESS -> "in_progress";
            case FINALIZING, COMPLETED, FAILED, EXPIRED -> "finalizing";
            case CANCELLED -> "cancelling";
        };
    }

    /**
     * Whether a batch not finalized yet reads "cancelling": the customer's cancel was published (or
     * settlement says so) and the job has not finished anyway: not COMPLETED, not every shard
     * accepted (then its output is delivered as completed), not FAILED or EXPIRED.
     */
    static boolean cancelling(StoredBatch b, JobStatus latest) {
        if (b.cancelRequestedAt() == null && (latest == null || latest.getCancelRequestedAtMs() == null)) {
            return false;
        }
        if (latest == null) {
            return true;
        }
        return switch (latest.getState()) {
            case VALIDATING, IN_PROGRESS, CANCELLED -> true;
            case FINALIZING -> latest.getShardsDone() < latest.getShardCount();
            case COMPLETED, FAILED, EXPIRED -> false;
        };
    }

    /** The batch object, from ingest's record and the latest JobStatus (null if none seen yet). */
    public static ObjectNode batch(StoredBatch b, JobStatus latest) {
        return batch(b, latest, null);
    }

    /**
     * The batch object. {@code request_counts} counts request lines, as OpenAI does. Settlement's
     * JobStatus counts rows; while they are the same (no array input) its counts are used, else
     * the completed lines are those of the shards with an accepted result ({@code acceptedShards},
     * null when ingest no longer follows the job: then all of them if it completed) and failed
     * lines are known once the output is written.
     */
    public static ObjectNode batch(StoredBatch b, JobStatus latest, java.util.BitSet acceptedShards) {
        String status;
        int completed;
        int failed;
        if (b.finalized()) {
            status = b.finalStatus();
            completed = b.completedRows();
            failed = b.failedRows();
        } else if (latest != null && b.shardLines() == null) {
            status = status(latest.getState());
            completed = latest.getCompletedRows();
            failed = latest.getFailedRows();
        } else if (latest != null) {
            status = status(latest.getState());
            failed = 0;
            if (acceptedShards != null) {
                completed = acceptedShards.stream().filter(i -> i < b.shardLines().size()).map(b.shardLines()::get).sum();
            } else {
                boolean allDone = latest.getState() == JobState.COMPLETED || latest.getState() == JobState.FINALIZING;
                completed = allDone ? b.lines() : 0;
            }
        } else {
            status = "validating";
            completed = 0;
            failed = 0;
        }
        if (!b.finalized() && cancelling(b, latest)) {
            status = "cancelling";
        }
        ObjectNode o = F.objectNode();
        o.put("id", b.id());
        o.put("object", "batch");
        o.put("endpoint", b.endpoint());
        o.put("model", b.model());
        putErrors(o, b, latest);
        o.put("input_file_id", b.inputFileId());
        o.put("completion_window", b.completionWindow());
        o.put("status", status);
        o.put("output_file_id", b.outputFileId());
        o.put("error_file_id", b.errorFileId());
        o.put("created_at", b.createdAt());
        boolean started = b.finalized() || (latest != null && latest.getState() != JobState.VALIDATING);
        if (started) {
            o.put("in_progress_at", b.createdAt());
        } else {
            o.putNull("in_progress_at");
        }
        o.put("expires_at", b.createdAt() + WINDOW_24H_SECONDS);
        if ("finalizing".equals(status) && latest != null) {
            o.put("finalizing_at", latest.getUpdatedAtMs() / 1000);
        } else if ("completed".equals(status)) {
            o.put("finalizing_at", b.finalizedAt());
        } else {
            o.putNull("finalizing_at");
        }
        timestamp(o, "completed_at", "completed", status, b);
        timestamp(o, "failed_at", "failed", status, b);
        timestamp(o, "expired_at", "expired", status, b);
        Long cancelAsked = latest != null && latest.getCancelRequestedAtMs() != null ? Long.valueOf(latest.getCancelRequestedAtMs() / 1000)
                : b.cancelRequestedAt();
        if (cancelAsked != null && ("cancelling".equals(status) || "cancelled".equals(status))) {
            o.put("cancelling_at", cancelAsked);
        } else if ("cancelling".equals(status) && latest != null) {
            o.put("cancelling_at", latest.getUpdatedAtMs() / 1000);
        } else {
            o.putNull("cancelling_at");
        }
        timestamp(o, "cancelled_at", "cancelled", status, b);
        ObjectNode counts = o.putObject("request_counts");
        counts.put("total", b.lines());
        counts.put("completed", completed);
        counts.put("failed", failed);
        if (b.metadata() == null) {
            o.putNull("metadata");
        } else {
            ObjectNode m = o.putObject("metadata");
            b.metadata().forEach(m::put);
        }
        putUsage(o, b);
        putVerification(o, b);
        return o;
    }

    /**
     * OpenAI's batch {@code usage} once the output is written: the tokens of the delivered lines as
     * their nodes reported them (embeddings have no output tokens); null before.
     */
    private static void putUsage(ObjectNode o, StoredBatch b) {
        if (!b.finalized()) {
            o.putNull("usage");
            return;
        }
        ObjectNode u = o.putObject("usage");
        u.put("input_tokens", b.promptTokens());
        u.putObject("input_tokens_details").put("cached_tokens", 0);
        u.put("output_tokens", 0);
        u.putObject("output_tokens_details").put("reasoning_tokens", 0);
        u.put("total_tokens", b.promptTokens());
    }

    /**
     * Inferex's extra object on a batch whose output is written: whether its lines are still
     * provisional or final, and how many lines a referee's correction replaced (and, if any, how
     * many of a fraudulent shard kept their rows because the correction never came). OpenAI SDKs
     * ignore unknown fields.
     */
    private static void putVerification(ObjectNode o, StoredBatch b) {
        if (!b.finalized() || b.verification() == null) {
            return;
        }
        ObjectNode v = o.putObject("inferex");
        v.put("verification", b.verification());
        v.put("corrected_lines", b.correctedLines());
        if (b.uncorrectedLines() > 0) {
            v.put("uncorrected_lines", b.uncorrectedLines());
        }
    }

    private static void timestamp(ObjectNode o, String field, String when, String status, StoredBatch b) {
        if (when.equals(status) && b.finalizedAt() != null) {
            o.put(field, b.finalizedAt());
        } else {
            o.putNull(field);
        }
    }

    private static void putErrors(ObjectNode o, StoredBatch b, JobStatus latest) {
        String error = b.finalized() ? b.error() : latest == null ? null : latest.getError();
        if (error == null) {
            o.putNull("errors");
            return;
        }
        ObjectNode errors = o.putObject("errors");
        errors.put("object", "list");
        ObjectNode e = errors.putArray("data").addObject();
        e.put("code", "batch_failed");
        e.put("message", error);
        e.putNull("param");
        e.putNull("line");
    }

    /** {@code {"id", "object", "deleted": true}}, OpenAI's answer to a delete. */
    public static ObjectNode deleted(String id, String object) {
        ObjectNode o = F.objectNode();
        o.put("id", id);
        o.put("object", object);
        o.put("deleted", true);
        return o;
    }

    public static ObjectNode list(List<ObjectNode> data, boolean hasMore) {
        ObjectNode o = F.objectNode();
        o.put("object", "list");
        ArrayNode a = o.putArray("data");
        data.forEach(a::add);
        if (data.isEmpty()) {
            o.putNull("first_id");
            o.putNull("last_id");
        } else {
            o.put("first_id", data.get(0).path("id").asText());
            o.put("last_id", data.get(data.size() - 1).path("id").asText());
        }
        o.put("has_more", hasMore);
        return o;
    }

    /** {@code {"error": {"message", "type", "param", "code"}}}. */
    /**
     * The customer's balance, an Inferex object in OpenAI's style ({@code object} names the type):
     * micro-units available to spend, in escrow for open batches, and that escrow per batch.
     */
    public static ObjectNode balance(CustomerBalances.View v) {
        ObjectNode o = F.objectNode();
        o.put("object", "inferex.balance");
        o.put("customer", v.customerId());
        o.put("currency", "micro-units");
        o.put("available", v.availableMicros());
        o.put("in_escrow", v.escrowMicros());
        o.put("spent", v.spentMicros());
        o.put("held_for_new_batches", v.heldMicros());
        ArrayNode batches = o.putArray("escrow_by_batch");
        v.escrowByJob().forEach((batch, micros) -> batches.addObject().put("batch_id", batch).put("amount", micros));
        return o;
    }

    public static ObjectNode error(String message, String type, String code, String param) {
        ObjectNode o = F.objectNode();
        ObjectNode e = o.putObject("error");
        e.put("message", message);
        e.put("type", type);
        if (param == null) {
            e.putNull("param");
        } else {
            e.put("param", param);
        }
        if (code == null) {
            e.putNull("code");
        } else {
            e.put("code", code);
        }
        return o;
    }

    /** The 400 body for an invalid batch file: first bad line and up to 100 {line, message}. */
    public static ObjectNode invalidBatchFile(BatchFileValidator.Result r) {
        ObjectNode body = error(r.summary(), "invalid_request_error", "invalid_batch_file", "file");
        ObjectNode e = (ObjectNode) body.get("error");
        e.put("line", r.firstErrorLine());
        ArrayNode list = e.putArray("errors");
        for (BatchFileValidator.LineError le : r.errors()) {
            list.addObject().put("line", le.line()).put("message", le.message());
        }
        e.put("error_count", r.errorCount());
        return body;
    }
}
