package io.inferex.ingest;

import io.inferex.events.ShardResult;
import io.inferex.market.OutputDigest;
import io.inferex.topics.Topics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * Accepted shard results on disk ({@code spool/<jobId>/<shardIndex>.result}), as the raw record
 * bytes read from the results topic, until the job's output file is final (written once every
 * shard is accepted, rewritten when verification is over); results waiting for their verdict
 * ({@code spool/<jobId>/held/<sha256 of lease|digest>.result}, moved to the shard's file when
 * accepted); and the referee results that may correct them
 * ({@code spool/<jobId>/referee/<sha256 of lease|digest>.result}). Keeps the heap free of a large
 * job's vectors.
 */
public final class DiskSpool implements JobBook.Spool, VerificationBook.RefereeSpool {
    private final FileStore store;

    public DiskSpool(FileStore store) {
        this.store = store;
    }

    @Override
    public void put(String jobId, int shardIndex, String leaseId, byte[] rawResult) {
        write(path(jobId, shardIndex), rawResult, "the accepted result of " + jobId + " shard " + shardIndex);
    }

    @Override
    public void remove(String jobId, int shardIndex) {
        delete(path(jobId, shardIndex));
    }

    @Override
    public void hold(String jobId, String key, byte[] rawResult) {
        write(heldPath(jobId, key), rawResult, "a result of " + jobId + " waiting for its verdict");
    }

    @Override
    public void promote(String jobId, String key, int shardIndex, String leaseId) {
        try {
            FileStore.move(heldPath(jobId, key), path(jobId, shardIndex));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot make the held result of " + jobId + " shard " + shardIndex + " its accepted one", e);
        }
    }

    @Override
    public void release(String jobId, String key) {
        delete(heldPath(jobId, key));
    }

    /** The accepted result of a shard, decoded. */
    public Optional<ShardResult> get(String jobId, int shardIndex) throws IOException {
        return read(path(jobId, shardIndex));
    }

    private static Optional<ShardResult> read(Path p) throws IOException {
        if (!Files.isRegularFile(p)) {
            return Optional.empty();
        }
        byte[] raw = Files.readAllBytes(p);
        return Optional.of(Topics.RESULTS.valueSerde().deserializer().deserialize(Topics.RESULTS.name(), raw));
    }

    @Override
    public void put(String jobId, String refereeKey, byte[] rawResult) {
        write(refereePath(jobId, refereeKey), rawResult, "a referee result of " + jobId);
    }

    @Override
    public void remove(String jobId, String refereeKey) {
        delete(refereePath(jobId, refereeKey));
    }

    private void write(Path p, byte[] raw, String what) {
        try {
            store.write(p, raw);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot spool " + what, e);
        }
    }

    private static void delete(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A held referee result, decoded. */
    public Optional<ShardResult> referee(String jobId, String refereeKey) throws IOException {
        return read(refereePath(jobId, refereeKey));
    }

    public void clear(String jobId) throws IOException {
        FileStore.deleteRecursively(store.spoolDir(jobId));
    }

    private Path refereePath(String jobId, String refereeKey) {
        return keyed(jobId, "referee", refereeKey);
    }

    private Path heldPath(String jobId, String key) {
        return keyed(jobId, "held", key);
    }

    /** A file named by the SHA-256 of its key (lease ids and digests are not file names). */
    private Path keyed(String jobId, String dir, String key) {
        String name = OutputDigest.sha256Hex(key.getBytes(StandardCharsets.UTF_8));
        return store.spoolDir(jobId).resolve(dir).resolve(name + ".result");
    }

    private Path path(String jobId, int shardIndex) {
        return store.spoolDir(jobId).resolve(shardIndex + ".result");
    }
}
