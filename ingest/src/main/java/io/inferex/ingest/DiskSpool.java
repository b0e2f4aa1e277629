package io.inferex.ingest;

import io.inferex.events.ShardResult;
import io.inferex.topics.Topics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Accepted shard results on disk ({@code spool/<jobId>/<shardIndex>.result}), as the raw record
 * bytes read from the results topic, until the job's output file is written. Keeps the heap free
 * of a large job's vectors.
 */
public final class DiskSpool implements JobBook.Spool {
    private final FileStore store;

    public DiskSpool(FileStore store) {
        this.store = store;
    }

    @Override
    public void put(String jobId, int shardIndex, String leaseId, byte[] rawResult) {
        try {
            store.write(path(jobId, shardIndex), rawResult);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot spool the accepted result of " + jobId + " shard " + shardIndex, e);
        }
    }

    @Override
    public void remove(String jobId, int shardIndex) {
        try {
            Files.deleteIfExists(path(jobId, shardIndex));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The accepted result of a shard, decoded. */
    public Optional<ShardResult> get(String jobId, int shardIndex) throws IOException {
        Path p = path(jobId, shardIndex);
        if (!Files.isRegularFile(p)) {
            return Optional.empty();
        }
        byte[] raw = Files.readAllBytes(p);
        return Optional.of(Topics.RESULTS.valueSerde().deserializer().deserialize(Topics.RESULTS.name(), raw));
    }

    public void clear(String jobId) throws IOException {
        FileStore.deleteRecursively(store.spoolDir(jobId));
    }

    private Path path(String jobId, int shardIndex) {
        return store.spoolDir(jobId).resolve(shardIndex + ".result");
    }
}
