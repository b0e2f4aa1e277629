package io.inferex.ingest;

import io.inferex.events.InputRow;
import io.inferex.events.ShardTask;
import io.inferex.ingest.BatchFileValidator.RequestLine;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * Cuts a batch's request lines, in input order, into contiguous shards of at most
 * {@code rowsPerShard} rows and at most {@code maxShardBytes} of row payload, so a ShardTask
 * record always fits the broker's message size limit. A line is never split: an array input's
 * rows (one per element) stay in one shard, so its output line is assembled from one result; a
 * line with more rows than {@code rowsPerShard} is a shard of its own (the validator bounds it,
 * {@link BatchFileValidator#MAX_INPUTS_PER_LINE}). Deterministic: the same lines and limits give
 * the same shards, which is how the output file is later reassembled.
 */
public final class ShardPlanner {
    /** Avro framing per row (lengths, line number), a generous upper bound. */
    static final int ROW_OVERHEAD_BYTES = 24;

    private final int rowsPerShard;
    private final int maxShardBytes;

    public ShardPlanner(int rowsPerShard, int maxShardBytes) {
        if (rowsPerShard < 1) {
            throw new IllegalArgumentException("rows per shard must be >= 1, got " + rowsPerShard);
        }
        if (maxShardBytes < 1024) {
            throw new IllegalArgumentException("shard byte budget must be >= 1024, got " + maxShardBytes);
        }
        this.rowsPerShard = rowsPerShard;
        this.maxShardBytes = maxShardBytes;
    }

    public int rowsPerShard() {
        return rowsPerShard;
    }

    public int maxShardBytes() {
        return maxShardBytes;
    }

    /** Payload bytes a row adds to a shard (UTF-8 custom_id + input + framing). */
    public static int rowBytes(String customId, String input) {
        return customId.getBytes(StandardCharsets.UTF_8).length + input.getBytes(StandardCharsets.UTF_8).length
                + ROW_OVERHEAD_BYTES;
    }

    /** Payload bytes a line adds to a shard: one row per input, each carrying the custom_id. */
    public static int lineBytes(RequestLine line) {
        int idBytes = line.customId().getBytes(StandardCharsets.UTF_8).length + ROW_OVERHEAD_BYTES;
        int bytes = 0;
        for (String input : line.inputs()) {
            bytes += idBytes + input.getBytes(StandardCharsets.UTF_8).length;
        }
        return bytes;
    }

    /** {@code jobId + "/" + index}, the index zero-padded to at least 5 digits (wide enough for every shard of the job). */
    public static String taskId(String jobId, int shardIndex, int shardCount) {
        return io.inferex.market.TaskIds.of(jobId, shardIndex, shardCount);
    }

    /** Receives each shard's lines as soon as the shard is full. */
    @FunctionalInterface
    public interface ShardSink {
        void shard(int index, List<RequestLine> lines) throws java.io.IOException;
    }

    /** Streaming cutter: feed lines in order, then {@link Cutter#finish()}. */
    public Cutter cutter(ShardSink sink) {
        return new Cutter(sink);
    }

    public final class Cutter {
        private final ShardSink sink;
        private List<RequestLine> current = new ArrayList<>();
        private int currentRows;
        private long currentBytes;
        private int emitted;

        private Cutter(ShardSink sink) {
            this.sink = sink;
        }

        public void add(RequestLine line) throws java.io.IOException {
            int bytes = lineBytes(line);
            if (!current.isEmpty() && (currentRows + line.rows() > rowsPerShard || currentBytes + bytes > maxShardBytes)) {
                emit();
            }
            current.add(line);
            currentRows += line.rows();
            currentBytes += bytes;
        }

        /** Emits the last, partial shard; returns the number of shards. */
        public int finish() throws java.io.IOException {
            if (!current.isEmpty()) {
                emit();
            }
            return emitted;
        }

        private void emit() throws java.io.IOException {
            List<RequestLine> shard = current;
            current = new ArrayList<>(Math.min(rowsPerShard, 64));
            currentBytes = 0;
            currentRows = 0;
            sink.shard(emitted++, shard);
        }
    }

    /** The shards of {@code lines} (for tests and small jobs). */
    public List<List<RequestLine>> split(List<RequestLine> lines) {
        List<List<RequestLine>> out = new ArrayList<>();
        try {
            Cutter c = cutter((i, shard) -> out.add(shard));
            for (RequestLine l : lines) {
                c.add(l);
            }
            c.finish();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        return out;
    }

    /** The ShardTask for shard {@code index} of a job. */
    public static ShardTask task(String jobId, int index, int shardCount, String model, String poolKey,
            long maxPricePerRowMicros, List<RequestLine> lines, long createdAtMs) {
        List<InputRow> rows = new ArrayList<>(lines.size());
        for (RequestLine l : lines) {
            for (String input : l.inputs()) {
                rows.add(InputRow.newBuilder().setCustomId(l.customId()).setLineNumber(l.lineNumber()).setInput(input).build());
            }
        }
        return ShardTask.newBuilder()
                .setTaskId(taskId(jobId, index, shardCount))
                .setJobId(jobId)
                .setShardIndex(index)
                .setShardCount(shardCount)
                .setModel(model)
                .setPoolKey(poolKey)
                .setMaxPricePerRowMicros(maxPricePerRowMicros)
                .setRows(rows)
                .setCreatedAtMs(createdAtMs)
                .build();
    }
}
