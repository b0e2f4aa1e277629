package io.inferex.ingest;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.SecureRandom;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

/**
 * Ingest's disk: {@code files/<id>.jsonl} (content) + {@code files/<id>.json} (metadata),
 * {@code batches/<id>.json}, {@code spool/<jobId>/} (accepted shard results awaiting the output
 * file) and {@code tmp/}. Every write goes to a temporary file first and is moved into place, so a
 * crash never leaves half a file under a real id. Metadata is indexed in memory at start.
 */
public final class FileStore {
    private static final SecureRandom RANDOM = new SecureRandom();

    private final Path root;
    private final Path files;
    private final Path batches;
    private final Path spool;
    private final Path tmp;
    private final ObjectMapper json = JsonMapper.builder()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES).build();
    private final Map<String, StoredFile> fileIndex = new ConcurrentHashMap<>();
    private final Map<String, StoredBatch> batchIndex = new ConcurrentHashMap<>();
    private volatile Fetcher fetcher;
    /** Files whose delete is being published (outside the store's lock): gone for readers and creates meanwhile. */
    private final java.util.Set<String> pendingDeletes = ConcurrentHashMap.newKeySet();

    /** Gets the content of an indexed input this data dir lacks (from the log), checked, as a file under tmp/. */
    @FunctionalInterface
    public interface Fetcher {
        Path fetch(StoredFile f) throws IOException;
    }

    /** Something to run under the store's lock, before a delete. */
    @FunctionalInterface
    public interface BeforeDelete {
        void run() throws IOException;
    }

    public FileStore(Path root) {
        this.root = root.toAbsolutePath().normalize();
        this.files = this.root.resolve("files");
        this.batches = this.root.resolve("batches");
        this.spool = this.root.resolve("spool");
        this.tmp = this.root.resolve("tmp");
        try {
            for (Path p : List.of(files, batches, spool, tmp)) {
                Files.createDirectories(p);
            }
            try (Stream<Path> s = Files.list(tmp)) {
                for (Path leftover : s.toList()) {
                    deleteRecursively(leftover);
                }
            }
            load();
        } catch (IOException e) {
            throw new UncheckedIOException("cannot open the ingest data dir " + this.root, e);
        }
    }

    private void load() throws IOException {
        try (Stream<Path> s = Files.list(files)) {
            for (Path p : s.filter(f -> f.getFileName().toString().endsWith(".json")).toList()) {
                StoredFile f = json.readValue(p.toFile(), StoredFile.class);
                // An input's bytes may be only in the log (learned from ingest-files): fetched when first needed.
                if (Files.isRegularFile(contentPath(f.id())) || StoredFile.PURPOSE_BATCH.equals(f.purpose())) {
                    fileIndex.put(f.id(), f);
                }
            }
        }
        try (Stream<Path> s = Files.list(batches)) {
            for (Path p : s.filter(f -> f.getFileName().toString().endsWith(".json")).toList()) {
                StoredBatch b = json.readValue(p.toFile(), StoredBatch.class);
                batchIndex.put(b.id(), b);
            }
        }
    }

    public Path root() {
        return root;
    }

    /** A fresh path under tmp/ (same file system as the store, so a move into place is atomic). */
    public Path newTempFile(String suffix) {
        return tmp.resolve(randomHex(12) + suffix);
    }

    public static String randomHex(int bytes) {
        byte[] b = new byte[bytes];
        RANDOM.nextBytes(b);
        return HexFormat.of().formatHex(b);
    }

    /**
     * Moves {@code content} into the store under {@code meta.id()} and records the metadata; an
     * existing file of that id (an output rewritten after a crash) is replaced.
     */
    public StoredFile addFile(StoredFile meta, Path content) throws IOException {
        move(content, contentPath(meta.id()));
        writeJson(files.resolve(meta.id() + ".json"), meta);
        fileIndex.put(meta.id(), meta);
        return meta;
    }

    public Optional<StoredFile> file(String id) {
        return id == null || pendingDeletes.contains(id) ? Optional.empty() : Optional.ofNullable(fileIndex.get(id));
    }

    /** Where content this data dir lacks comes from (the log); none: it is missing. */
    public void fetchWith(Fetcher f) {
        this.fetcher = f;
    }

    /**
     * Content of a stored file; only for ids from the index. An input (or a published output) this data dir lacks is
     * fetched first (checked, under tmp/, then moved into place: never half a file under its id).
     *
     * @throws UncheckedIOException when it can be neither read here nor fetched
     */
    public Path content(StoredFile f) {
        Path p = contentPath(f.id());
        Fetcher source = fetcher;
        if (Files.isRegularFile(p) || source == null) {
            return p;
        }
        try {
            Path fetched = source.fetch(f);
            if (fileIndex.containsKey(f.id())) {
                move(fetched, p);
            } else {
                Files.deleteIfExists(fetched); // deleted while it was fetched
                throw new java.nio.file.NoSuchFileException(f.id());
            }
            return p;
        } catch (IOException e) {
            throw new UncheckedIOException("the content of " + f.id() + " is not on this instance and could not be fetched", e);
        }
    }

    /** Whether a file's bytes are on this data dir. */
    public boolean hasContent(String id) {
        return Files.isRegularFile(contentPath(id));
    }

    /** Records the metadata of a file whose bytes are in the log (fetched when first needed). */
    public synchronized void learnFile(StoredFile meta) throws IOException {
        writeJson(files.resolve(meta.id() + ".json"), meta);
        fileIndex.put(meta.id(), meta);
    }

    /** Drops a file's local bytes (its metadata stays): they are fetched from the log when next needed. */
    public synchronized void dropContent(String id) throws IOException {
        Files.deleteIfExists(contentPath(id));
    }

    /** Drops a file deleted through another instance (or this one): metadata, then bytes. */
    public synchronized void forgetFile(String id) throws IOException {
        fileIndex.remove(id);
        Files.deleteIfExists(files.resolve(id + ".json"));
        Files.deleteIfExists(contentPath(id));
    }

    public List<StoredFile> files(String customerId) {
        return fileIndex.values().stream().filter(f -> f.customerId().equals(customerId))
                .sorted(Comparator.comparingLong(StoredFile::createdAt).reversed().thenComparing(StoredFile::id)).toList();
    }

    /** A file a batch still needs. */
    public static final class FileInUseException extends Exception {
        private final String batchId;

        FileInUseException(String batchId) {
            super("used by " + batchId, null, false, false);
            this.batchId = batchId;
        }

        public String batchId() {
            return batchId;
        }
    }

    /**
     * Deletes a file (metadata first, so it is gone for readers at once; a download already open
     * keeps its bytes). Refused while a batch whose output is not final reads it as its input.
     */
    public void deleteFile(StoredFile f) throws IOException, FileInUseException {
        deleteFile(f, () -> { });
    }

    /**
     * {@link #deleteFile(StoredFile)}, running {@code first} (publishing the delete) once the file may go.
     * The in-use check and the mark "being deleted" are one step under the store's lock; {@code first}
     * runs outside it (a Kafka commit must not hold up every other save), while {@link #file} answers
     * empty for the file, so a create that records its batch meanwhile finds no file and publishes
     * nothing. If {@code first} fails, the mark goes and the file stays.
     */
    public void deleteFile(StoredFile f, BeforeDelete first) throws IOException, FileInUseException {
        synchronized (this) {
            while (pendingDeletes.contains(f.id())) { // the same file deleted twice at once: one after the other
                try {
                    wait();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted while " + f.id() + " was being deleted");
                }
            }
            for (StoredBatch b : batchIndex.values()) {
                if (b.inputFileId().equals(f.id()) && (!b.finalized() || b.awaitsVerification())) {
                    throw new FileInUseException(b.id());
                }
            }
            pendingDeletes.add(f.id());
        }
        boolean published = false;
        try {
            first.run();
            published = true;
        } finally {
            synchronized (this) {
                try {
                    if (published) {
                        fileIndex.remove(f.id());
                        Files.deleteIfExists(files.resolve(f.id() + ".json"));
                        Files.deleteIfExists(contentPath(f.id()));
                    }
                } finally {
                    pendingDeletes.remove(f.id());
                    notifyAll();
                }
            }
        }
    }

    /**
     * Synchronized with {@link #deleteFile}'s check: once saved, a batch's input file can no longer be
     * deleted under it (a delete already past its check has marked the file, which {@link #file} then
     * answers empty: the caller re-checks after saving).
     */
    public synchronized void saveBatch(StoredBatch b) throws IOException {
        writeJson(batches.resolve(b.id() + ".json"), b);
        batchIndex.put(b.id(), b);
    }

    /**
     * Saves {@code change} applied to the batch as it is now (empty if there is none), atomically
     * with every other save: a change computed from an older copy cannot undo a newer save.
     */
    public synchronized Optional<StoredBatch> updateBatch(String id, java.util.function.UnaryOperator<StoredBatch> change)
            throws IOException {
        StoredBatch now = batchIndex.get(id);
        if (now == null) {
            return Optional.empty();
        }
        StoredBatch changed = change.apply(now);
        if (changed != now) {
            saveBatch(changed);
        }
        return Optional.of(changed);
    }

    public void deleteBatch(String id) throws IOException {
        batchIndex.remove(id);
        Files.deleteIfExists(batches.resolve(id + ".json"));
    }

    public Optional<StoredBatch> batch(String id) {
        return id == null ? Optional.empty() : Optional.ofNullable(batchIndex.get(id));
    }

    public List<StoredBatch> batches(String customerId) {
        return batchIndex.values().stream().filter(b -> b.customerId().equals(customerId))
                .sorted(Comparator.comparingLong(StoredBatch::createdAt).reversed().thenComparing(StoredBatch::id,
                        Comparator.reverseOrder())).toList();
    }

    public List<StoredBatch> allBatches() {
        return List.copyOf(batchIndex.values());
    }

    /** Where the accepted results of a job wait for its output file. */
    public Path spoolDir(String jobId) {
        return spool.resolve(jobId);
    }

    public void write(Path target, byte[] bytes) throws IOException {
        Path t = newTempFile(".part");
        Files.write(t, bytes);
        move(t, target);
    }

    private void writeJson(Path target, Object value) throws IOException {
        write(target, json.writerWithDefaultPrettyPrinter().writeValueAsBytes(value));
    }

    private Path contentPath(String id) {
        return files.resolve(id + ".jsonl");
    }

    static void move(Path from, Path to) throws IOException {
        Files.createDirectories(to.getParent());
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    static void deleteRecursively(Path p) throws IOException {
        if (!Files.exists(p)) {
            return;
        }
        try (Stream<Path> s = Files.walk(p)) {
            for (Path x : s.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(x);
            }
        }
    }
}
