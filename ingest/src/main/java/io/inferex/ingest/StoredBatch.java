package io.inferex.ingest;

import java.util.Map;

/**
 * A batch ingest accepted (its JobSubmitted and ShardTasks were committed), with the plan needed
 * to reassemble its output, and, once written, the output. Times are epoch seconds.
 *
 * @param finalStatus null while running; then "completed", "failed", "expired" or "cancelled"
 * @param verification null (no output yet, or written by a build without per-line verification),
 *     "provisional" (output written once every shard was accepted) or "final" (rewritten once every
 *     shard was resolved)
 * @param correctedLines output lines whose rows a referee's correction replaced
 * @param uncorrectedLines output lines of a shard found fraudulent whose correction never came
 * @param requestCount request lines of the input file; {@code rowCount} counts rows (one per
 *     input, an array line has several), which is what is priced and sharded. 0 in a record
 *     written before arrays were accepted (then every line was one row)
 * @param shardLines request lines of each shard, only when some line has several rows (null
 *     otherwise: a shard's lines are then its rows); gives request counts while the batch runs
 * @param promptTokens tokens of the delivered lines, as the nodes reported them (0 until written)
 * @param cancelRequestedAt when the customer's cancel was published (epoch seconds), null if never
 */
public record StoredBatch(
        String id,
        String customerId,
        String inputFileId,
        String endpoint,
        String completionWindow,
        long createdAt,
        Map<String, String> metadata,
        String model,
        int rowCount,
        int shardCount,
        int rowsPerShard,
        int maxShardBytes,
        long maxPricePerRowMicros,
        long escrowMicros,
        String inputDigest,
        String finalStatus,
        Long finalizedAt,
        String outputFileId,
        String errorFileId,
        int completedRows,
        int failedRows,
        String error,
        String verification,
        int correctedLines,
        int uncorrectedLines,
        int requestCount,
        java.util.List<Integer> shardLines,
        long promptTokens,
        Long cancelRequestedAt) {

    /** A batch without verification state (before its output is written). */
    public StoredBatch(String id, String customerId, String inputFileId, String endpoint, String completionWindow,
            long createdAt, Map<String, String> metadata, String model, int rowCount, int shardCount, int rowsPerShard,
            int maxShardBytes, long maxPricePerRowMicros, long escrowMicros, String inputDigest, String finalStatus,
            Long finalizedAt, String outputFileId, String errorFileId, int completedRows, int failedRows, String error) {
        this(id, customerId, inputFileId, endpoint, completionWindow, createdAt, metadata, model, rowCount, shardCount,
                rowsPerShard, maxShardBytes, maxPricePerRowMicros, escrowMicros, inputDigest, finalStatus, finalizedAt,
                outputFileId, errorFileId, completedRows, failedRows, error, null, 0, 0, rowCount, null, 0, null);
    }

    /** Request lines of the input (older records: the row count, every line was one row). */
    public int lines() {
        return requestCount > 0 ? requestCount : rowCount;
    }

    /** This batch with its request line count and, when lines and rows differ, each shard's lines. */
    public StoredBatch withRequests(int requests, java.util.List<Integer> linesPerShard) {
        return new StoredBatch(id, customerId, inputFileId, endpoint, completionWindow, createdAt, metadata, model,
                rowCount, shardCount, rowsPerShard, maxShardBytes, maxPricePerRowMicros, escrowMicros, inputDigest,
                finalStatus, finalizedAt, outputFileId, errorFileId, completedRows, failedRows, error, verification,
                correctedLines, uncorrectedLines, requests, requests == rowCount ? null : java.util.List.copyOf(linesPerShard),
                promptTokens, cancelRequestedAt);
    }

    /** This batch with the token total of its delivered lines. */
    public StoredBatch withPromptTokens(long tokens) {
        return new StoredBatch(id, customerId, inputFileId, endpoint, completionWindow, createdAt, metadata, model,
                rowCount, shardCount, rowsPerShard, maxShardBytes, maxPricePerRowMicros, escrowMicros, inputDigest,
                finalStatus, finalizedAt, outputFileId, errorFileId, completedRows, failedRows, error, verification,
                correctedLines, uncorrectedLines, requestCount, shardLines, tokens, cancelRequestedAt);
    }

    /** This batch with its cancel recorded as published at {@code atSeconds}. */
    public StoredBatch withCancelRequested(long atSeconds) {
        return new StoredBatch(id, customerId, inputFileId, endpoint, completionWindow, createdAt, metadata, model,
                rowCount, shardCount, rowsPerShard, maxShardBytes, maxPricePerRowMicros, escrowMicros, inputDigest,
                finalStatus, finalizedAt, outputFileId, errorFileId, completedRows, failedRows, error, verification,
                correctedLines, uncorrectedLines, requestCount, shardLines, promptTokens, atSeconds);
    }

    public boolean finalized() {
        return finalStatus != null;
    }

    /** The job id suffix, shared by the batch's output and error file ids. */
    public String suffix() {
        return id.startsWith("batch_") ? id.substring("batch_".length()) : id;
    }

    public StoredBatch finalize(String status, long atSeconds, String outputFileId, String errorFileId,
            int completed, int failed, String error) {
        return new StoredBatch(id, customerId, inputFileId, endpoint, completionWindow, createdAt, metadata, model,
                rowCount, shardCount, rowsPerShard, maxShardBytes, maxPricePerRowMicros, escrowMicros, inputDigest,
                status, atSeconds, outputFileId, errorFileId, completed, failed, error, verification, correctedLines,
                uncorrectedLines, requestCount, shardLines, promptTokens, cancelRequestedAt);
    }

    /** This batch with its output's verification state. */
    public StoredBatch withVerification(String state, int corrected, int uncorrected) {
        return new StoredBatch(id, customerId, inputFileId, endpoint, completionWindow, createdAt, metadata, model,
                rowCount, shardCount, rowsPerShard, maxShardBytes, maxPricePerRowMicros, escrowMicros, inputDigest,
                finalStatus, finalizedAt, outputFileId, errorFileId, completedRows, failedRows, error, state, corrected,
                uncorrected, requestCount, shardLines, promptTokens, cancelRequestedAt);
    }

    /** Completed, with an output written once every shard was accepted, and verification not over yet. */
    public boolean awaitsVerification() {
        return "completed".equals(finalStatus) && OutputFileWriter.PROVISIONAL.equals(verification);
    }
}
