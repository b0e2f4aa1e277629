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
        int uncorrectedLines) {

    /** A batch without verification state (before its output is written). */
    public StoredBatch(String id, String customerId, String inputFileId, String endpoint, String completionWindow,
            long createdAt, Map<String, String> metadata, String model, int rowCount, int shardCount, int rowsPerShard,
            int maxShardBytes, long maxPricePerRowMicros, long escrowMicros, String inputDigest, String finalStatus,
            Long finalizedAt, String outputFileId, String errorFileId, int completedRows, int failedRows, String error) {
        this(id, customerId, inputFileId, endpoint, completionWindow, createdAt, metadata, model, rowCount, shardCount,
                rowsPerShard, maxShardBytes, maxPricePerRowMicros, escrowMicros, inputDigest, finalStatus, finalizedAt,
                outputFileId, errorFileId, completedRows, failedRows, error, null, 0, 0);
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
                uncorrectedLines);
    }

    /** This batch with its output's verification state. */
    public StoredBatch withVerification(String state, int corrected, int uncorrected) {
        return new StoredBatch(id, customerId, inputFileId, endpoint, completionWindow, createdAt, metadata, model,
                rowCount, shardCount, rowsPerShard, maxShardBytes, maxPricePerRowMicros, escrowMicros, inputDigest,
                finalStatus, finalizedAt, outputFileId, errorFileId, completedRows, failedRows, error, state, corrected,
                uncorrected);
    }

    /** Completed, with an output written once every shard was accepted, and verification not over yet. */
    public boolean awaitsVerification() {
        return "completed".equals(finalStatus) && OutputFileWriter.PROVISIONAL.equals(verification);
    }
}
