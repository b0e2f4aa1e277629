package io.inferex.ingest;

import java.util.List;

/**
 * A file ingest keeps: an uploaded batch input ({@code purpose} "batch") or a job's output or error
 * file ({@code purpose} "batch_output"). {@code createdAt} is epoch seconds, as OpenAI reports it.
 * {@code plan}: for a batch input, what the upload's validation found and how it cuts into shards
 * (null for outputs, and for inputs stored by an older build).
 */
public record StoredFile(String id, String customerId, String purpose, String filename, long bytes, long createdAt,
        String sha256, int lines, String batchId, ShardPlan plan) {
    public static final String PURPOSE_BATCH = "batch";
    public static final String PURPOSE_OUTPUT = "batch_output";

    /**
     * The validated input's model and row count and its cut into shards under the planner settings
     * {@code rowsPerShard} and {@code maxShardBytes}: {@code shardCount}, and each shard's request
     * lines when some line has several rows (null otherwise). A create with the same settings uses it
     * instead of reading the file a second time to count shards; the publishing pass still validates
     * every line and checks the file's SHA-256 against {@link #sha256}.
     */
    public record ShardPlan(int rowsPerShard, int maxShardBytes, String model, int rowCount, int shardCount,
            List<Integer> shardLines) {}

    /** A file without a shard plan. */
    public StoredFile(String id, String customerId, String purpose, String filename, long bytes, long createdAt,
            String sha256, int lines, String batchId) {
        this(id, customerId, purpose, filename, bytes, createdAt, sha256, lines, batchId, null);
    }
}
