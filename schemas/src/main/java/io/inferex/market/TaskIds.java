package io.inferex.market;

import java.util.OptionalInt;

/**
 * The task ids ingest publishes for a job: {@code jobId + "/" + index}, the index zero-padded to
 * at least five digits (more when the job has more shards). A task id belongs to a job only when
 * it is exactly one of these, with an index below the job's shard count; anything else is a fake.
 */
public final class TaskIds {
    private TaskIds() {}

    public static String of(String jobId, int shardIndex, int shardCount) {
        int width = Math.max(5, Integer.toString(Math.max(0, shardCount - 1)).length());
        String digits = Integer.toString(shardIndex);
        return jobId + "/" + "0".repeat(Math.max(0, width - digits.length())) + digits;
    }

    /** The shard index of {@code taskId} when it is one ingest published for this job, else empty. */
    public static OptionalInt indexOf(String jobId, String taskId, int shardCount) {
        String prefix = jobId + "/";
        if (shardCount < 1 || taskId == null || !taskId.startsWith(prefix)) {
            return OptionalInt.empty();
        }
        String digits = taskId.substring(prefix.length());
        if (digits.isEmpty() || digits.length() > 10 || !digits.chars().allMatch(c -> c >= '0' && c <= '9')) {
            return OptionalInt.empty();
        }
        long index = Long.parseLong(digits);
        if (index >= shardCount || !of(jobId, (int) index, shardCount).equals(taskId)) {
            return OptionalInt.empty(); // out of range, or not the canonical spelling (e.g. extra zeros)
        }
        return OptionalInt.of((int) index);
    }
}
