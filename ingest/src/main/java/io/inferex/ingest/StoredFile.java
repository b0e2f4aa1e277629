package io.inferex.ingest;

/**
 * A file ingest keeps: an uploaded batch input ({@code purpose} "batch") or a job's output or error
 * file ({@code purpose} "batch_output"). {@code createdAt} is epoch seconds, as OpenAI reports it.
 */
public record StoredFile(String id, String customerId, String purpose, String filename, long bytes, long createdAt,
        String sha256, int lines, String batchId) {
    public static final String PURPOSE_BATCH = "batch";
    public static final String PURPOSE_OUTPUT = "batch_output";
}
