package io.inferex.ingest;

import java.util.Map;

/**
 * A batch ingest accepted (its JobSubmitted and ShardTasks were committed), with the plan needed
 * to reassemble its output, and, once written, the output. Times are epoch seconds.
 *
 * @param finalStatus null while running; then "completed", "failed", "expired" or "cancelled"
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
        String error) {

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
                status, atSeconds, outputFileId, errorFileId, completed, failed, error);
    }
}
