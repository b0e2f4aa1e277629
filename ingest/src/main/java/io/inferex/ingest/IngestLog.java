package io.inferex.ingest;

import io.inferex.events.IngestBatch;
import io.inferex.events.IngestFile;
import io.inferex.events.IngestShardPlan;
import io.inferex.events.ModelChunk;
import io.inferex.models.ModelChunks;
import io.inferex.topics.Topics;
import io.inferex.wire.UndecodableRecordException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Future;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.utils.Utils;
import org.jboss.logging.Logger;

/**
 * Ingest's files and batches in the log, so that any instance serves any customer and a data dir
 * is a cache that can be lost. An upload's bytes go to {@code ingest-file-chunks} (512 KiB
 * {@link ModelChunk}s keyed {@code <fileId>/<index>}, all on one partition) and its metadata, with
 * that partition and each chunk's offset, to {@code ingest-files}, in one transaction
 * ({@link #sendUpload}); a delete is a deletion record there plus tombstones for the chunks
 * ({@link #sendDelete}); a batch's create-time facts and its Idempotency-Key hash go to
 * {@code ingest-batches} in its job's transaction ({@link #batchRecord}). Two feeds read both
 * topics from their beginning into the {@link FileStore} and the {@link IdempotencyKeys} and keep
 * following them; a batch learned from the log is handed to the {@link Listener} (the tracker).
 * Content an instance lacks is fetched by its recorded offsets when first needed ({@link #fetch}),
 * assembled under {@code tmp/} and moved into place only if its SHA-256 is the recorded one.
 */
public final class IngestLog {
    private static final Logger LOG = Logger.getLogger(IngestLog.class);
    /** Ids become file names on the data dir: nothing but these characters. */
    private static final Pattern ID = Pattern.compile("[A-Za-z0-9_-]{1,128}");
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    /** How long a fetch waits for the next chunk before it gives up. */
    static final Duration FETCH_TIMEOUT = Duration.ofSeconds(15);

    /** Told of every batch read from the log that this instance did not know. */
    @FunctionalInterface
    public interface Listener {
        void batchLearned(StoredBatch batch);
    }

    private final FileStore store;
    private final IdempotencyKeys keys;
    private final Map<String, Object> kafka;
    /** Live uploads' chunk locations, by file id (rebuilt from ingest-files at every start). */
    private final Map<String, IngestFile> chunks = new ConcurrentHashMap<>();
    /** Ids of deleted files (kept by compaction as deletion records): never indexed or rendered again. */
    private final Set<String> deleted = ConcurrentHashMap.newKeySet();
    private final Map<String, Object> fetchLocks = new ConcurrentHashMap<>();
    private final Feed<IngestFile> fileFeed = new Feed<>(Topics.INGEST_FILES, this::applyFile, () -> LOG.infof(
            "ingest-files read: %d live uploads, %d deleted files", chunks.size(), deleted.size()));
    private final Feed<IngestBatch> batchFeed = new Feed<>(Topics.INGEST_BATCHES, this::applyBatch, () -> LOG.infof(
            "ingest-batches read: %d batches known", batchCount()));
    private volatile Listener listener = b -> { };
    /** Asks the broker for the topics' end offsets ({@link #endOffsets}); created when first needed. */
    private Admin admin;
    private boolean stopped;

    public IngestLog(FileStore store, IdempotencyKeys keys, Map<String, Object> kafka) {
        this.store = store;
        this.keys = keys;
        this.kafka = kafka;
        store.fetchWith(this::fetch);
    }

    /** Starts both feeds; {@code learned} hears of batches created through other instances. */
    public void start(Listener learned) {
        this.listener = learned;
        fileFeed.start();
        batchFeed.start();
    }

    public void stop() throws InterruptedException {
        fileFeed.stop();
        batchFeed.stop();
        Admin a;
        synchronized (this) {
            stopped = true;
            a = admin;
            admin = null;
        }
        if (a != null) {
            a.close(Duration.ofSeconds(2));
        }
    }

    // ---------------------------------------------------------------- read-your-writes

    /**
     * Waits (at most {@code timeout}) until this instance has read everything committed on
     * {@code ingest-files} before the call: whatever any instance uploaded or deleted before, this one
     * then knows. False when it could not be done in time.
     */
    public boolean awaitFiles(Duration timeout) {
        return awaitEnd(fileFeed, timeout);
    }

    /** {@link #awaitFiles} for {@code ingest-batches}: batches and their Idempotency-Keys. */
    public boolean awaitBatches(Duration timeout) {
        return awaitEnd(batchFeed, timeout);
    }

    /**
     * A file by id; on a miss (unknown here, not deleted, a well-formed id) after waiting at most
     * {@code wait} until the file feed has read the log's end, so an upload committed through another
     * instance before this call is found. A hit answers at once.
     */
    public Optional<StoredFile> file(String id, Duration wait) {
        Optional<StoredFile> f = store.file(id);
        if (f.isPresent() || id == null || !ID.matcher(id).matches() || deleted.contains(id)) {
            return f;
        }
        awaitFiles(wait);
        return store.file(id);
    }

    /** {@link #file(String, Duration)} for a batch: one created through another instance before this call is found. */
    public Optional<StoredBatch> batch(String id, Duration wait) {
        Optional<StoredBatch> b = store.batch(id);
        if (b.isPresent() || id == null || !ID.matcher(id).matches()) {
            return b;
        }
        awaitBatches(wait);
        return store.batch(id);
    }

    private static boolean awaitEnd(CompactedTopicFeed<?> feed, Duration timeout) {
        try {
            return feed.awaitEnd(timeout);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * The topics' end offsets: the high watermarks, not the last stable offsets. A transaction's commit is
     * acknowledged to its producer before the coordinator has written its markers, so just after a
     * commit the last stable offset may still stop before the committed records; the high watermark
     * never does. A read_committed reader reaches it once every transaction before it is resolved (an
     * open one is waited for, within the caller's bound). Empty if the broker did not answer in time.
     */
    Map<TopicPartition, Long> endOffsets(java.util.Collection<TopicPartition> partitions, Duration timeout) {
        Admin a = admin();
        if (a == null) {
            return Map.of();
        }
        Map<TopicPartition, OffsetSpec> ask = new java.util.HashMap<>();
        partitions.forEach(tp -> ask.put(tp, OffsetSpec.latest()));
        int ms = (int) Math.max(1, Math.min(Integer.MAX_VALUE, timeout.toMillis()));
        try {
            Map<TopicPartition, Long> end = new java.util.HashMap<>();
            a.listOffsets(ask, new ListOffsetsOptions(IsolationLevel.READ_UNCOMMITTED).timeoutMs(ms)).all()
                    .get(ms, java.util.concurrent.TimeUnit.MILLISECONDS)
                    .forEach((tp, info) -> end.put(tp, info.offset()));
            return end;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return Map.of();
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            LOG.warnf("end offsets of %s not known: %s", partitions, e.getCause() == null ? e : e.getCause());
            return Map.of();
        }
    }

    private synchronized Admin admin() {
        if (admin == null && !stopped) {
            Properties p = new Properties();
            p.putAll(io.inferex.security.BusCredentials.connection(kafka));
            p.put(AdminClientConfig.CLIENT_ID_CONFIG, "inferex-ingest-log-ends-" + FileStore.randomHex(4));
            admin = Admin.create(p);
        }
        return admin;
    }

    /** Both feeds have read up to the end offsets they found at start. */
    public boolean ready() {
        return fileFeed.ready() && batchFeed.ready();
    }

    private int batchCount() {
        return store.allBatches().size();
    }

    /** Whether a file was deleted through any instance. */
    public boolean deleted(String fileId) {
        return deleted.contains(fileId);
    }

    // ---------------------------------------------------------------- writing (in the caller's transaction)

    /**
     * Sends {@code content}'s chunks and then {@code meta}'s record with their partition and offsets.
     * Must run inside a transaction: nothing is visible to read_committed readers before the commit.
     */
    public static IngestFile sendUpload(Producer<byte[], byte[]> producer, StoredFile meta, Path content) throws Exception {
        String topic = Topics.INGEST_FILE_CHUNKS.name();
        int partition = chunkPartition(meta.id(), producer.partitionsFor(topic).size());
        long size = Files.size(content);
        int count = ModelChunks.count(size);
        List<Future<RecordMetadata>> sent = new ArrayList<>(count);
        try (InputStream in = Files.newInputStream(content)) {
            for (int i = 0; i < count; i++) {
                byte[] data = in.readNBytes((int) Math.min(ModelChunks.CHUNK_BYTES, size - (long) i * ModelChunks.CHUNK_BYTES));
                ModelChunk c = ModelChunk.newBuilder().setFileSha256(meta.sha256()).setIndex(i).setCount(count)
                        .setFileBytes(size).setData(ByteBuffer.wrap(data)).build();
                String key = chunkKey(meta.id(), i);
                sent.add(producer.send(new ProducerRecord<>(topic, partition, utf8(key),
                        Topics.INGEST_FILE_CHUNKS.valueSerde().serializer().serialize(topic, c))));
            }
        }
        producer.flush();
        List<Long> offsets = new ArrayList<>(count);
        for (Future<RecordMetadata> f : sent) {
            offsets.add(f.get().offset()); // a failed send throws: the caller aborts
        }
        IngestFile record = record(meta, partition, offsets, null);
        producer.send(JobPublisher.record(Topics.INGEST_FILES, meta.id(), record));
        return record;
    }

    /** An upload this instance committed: where its chunks are is known before the feed reads it back. */
    public void uploaded(IngestFile committed) {
        if (!deleted.contains(committed.getFileId())) {
            chunks.put(committed.getFileId(), committed);
        }
    }

    /** Sends a file's deletion record and, for an upload, tombstones for its chunks. Inside a transaction. */
    public void sendDelete(Producer<byte[], byte[]> producer, StoredFile f, long nowMs) {
        IngestFile live = chunks.get(f.id());
        if (live != null) {
            for (int i = 0; i < live.getChunkOffsets().size(); i++) {
                producer.send(new ProducerRecord<>(Topics.INGEST_FILE_CHUNKS.name(), live.getChunkPartition(),
                        utf8(chunkKey(f.id(), i)), null));
            }
        }
        producer.send(JobPublisher.record(Topics.INGEST_FILES, f.id(), record(f, -1, List.of(), nowMs)));
    }

    /** A file deleted through this instance: gone here at once, whatever the feed has read. */
    public void deletedHere(StoredFile f) throws IOException {
        deleted.add(f.id());
        forget(f.id());
    }

    /** A batch's record for {@code ingest-batches}, to send in its job's transaction. */
    public static ProducerRecord<byte[], byte[]> batchRecord(StoredBatch b, String idempotencyKeyHash, String requestSha256) {
        IngestBatch r = IngestBatch.newBuilder().setBatchId(b.id()).setCustomerId(b.customerId()).setInputFileId(b.inputFileId())
                .setEndpoint(b.endpoint()).setCompletionWindow(b.completionWindow()).setCreatedAtSeconds(b.createdAt())
                .setMetadata(b.metadata() == null ? null : Map.copyOf(b.metadata())).setModel(b.model())
                .setRowCount(b.rowCount()).setShardCount(b.shardCount()).setRowsPerShard(b.rowsPerShard())
                .setMaxShardBytes(b.maxShardBytes()).setMaxPricePerRowMicros(b.maxPricePerRowMicros())
                .setEscrowMicros(b.escrowMicros()).setInputDigest(b.inputDigest()).setRequestCount(b.lines())
                .setShardLines(b.shardLines()).setIdempotencyKeyHash(idempotencyKeyHash)
                .setIdempotencyRequestSha256(requestSha256).build();
        return JobPublisher.record(Topics.INGEST_BATCHES, b.id(), r);
    }

    static String chunkKey(String fileId, int index) {
        return fileId + "/" + index;
    }

    static int chunkPartition(String fileId, int partitions) {
        return Utils.toPositive(Utils.murmur2(utf8(fileId))) % partitions;
    }

    private static IngestFile record(StoredFile f, int partition, List<Long> offsets, Long deletedAtMs) {
        StoredFile.ShardPlan p = f.plan();
        return IngestFile.newBuilder().setFileId(f.id()).setCustomerId(f.customerId()).setPurpose(f.purpose())
                .setFilename(f.filename()).setBytes(f.bytes()).setCreatedAtSeconds(f.createdAt()).setSha256(f.sha256())
                .setLines(f.lines()).setBatchId(f.batchId())
                .setPlan(p == null ? null : IngestShardPlan.newBuilder().setRowsPerShard(p.rowsPerShard())
                        .setMaxShardBytes(p.maxShardBytes()).setModel(p.model()).setRowCount(p.rowCount())
                        .setShardCount(p.shardCount()).setShardLines(p.shardLines()).build())
                .setChunkPartition(partition).setChunkOffsets(offsets).setDeletedAtMs(deletedAtMs).build();
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    // ---------------------------------------------------------------- reading

    /** Applies one ingest-files record (null: a tombstone, taken as a deletion). */
    void applyFile(String key, IngestFile v) {
        if (v == null) {
            refuseBadId(key, "file");
            deleted.add(key);
            forgetQuietly(key);
            return;
        }
        String problem = fileProblem(key, v);
        if (problem != null) {
            throw new UndecodableRecordException("ingest-files record " + key + " refused: " + problem, null);
        }
        if (v.getDeletedAtMs() != null) {
            deleted.add(key);
            forgetQuietly(key);
            return;
        }
        if (deleted.contains(key)) {
            return; // an id, once deleted, stays deleted
        }
        chunks.put(key, v);
        if (store.file(key).isEmpty()) {
            IngestShardPlan p = v.getPlan();
            StoredFile meta = new StoredFile(v.getFileId(), v.getCustomerId(), v.getPurpose(), v.getFilename(), v.getBytes(),
                    v.getCreatedAtSeconds(), v.getSha256(), v.getLines(), v.getBatchId(), p == null ? null
                            : new StoredFile.ShardPlan(p.getRowsPerShard(), p.getMaxShardBytes(), p.getModel(), p.getRowCount(),
                                    p.getShardCount(), p.getShardLines() == null ? null : List.copyOf(p.getShardLines())));
            try {
                store.learnFile(meta);
            } catch (IOException e) {
                throw new UncheckedIOException("could not record file " + key, e); // the feed reads again
            }
        }
    }

    /** Null when an ingest-files record is one ingest writes, else why not. */
    static String fileProblem(String key, IngestFile v) {
        if (!v.getFileId().equals(key) || !ID.matcher(key).matches()) {
            return "the key is not the record's file id, or not an id";
        }
        if (v.getCustomerId().isEmpty() || !SHA256.matcher(v.getSha256()).matches() || v.getBytes() < 0 || v.getLines() < 0) {
            return "customer, sha256, size or line count malformed";
        }
        if (v.getDeletedAtMs() != null) {
            return null;
        }
        if (!StoredFile.PURPOSE_BATCH.equals(v.getPurpose())) {
            return "only uploaded inputs are published live (purpose " + v.getPurpose() + ")";
        }
        if (key.startsWith("file-out-") || key.startsWith("file-err-")) {
            return "an output or error file id (each instance renders those itself; one in the log could shadow a batch's output)";
        }
        if (v.getFilename() != null && v.getFilename().chars().anyMatch(c -> c < 0x20 || c == 0x7f)) {
            return "a control character in the file name (it goes into headers)";
        }
        if (v.getChunkPartition() < 0 || v.getChunkOffsets().size() != ModelChunks.count(v.getBytes())
                || v.getChunkOffsets().stream().anyMatch(o -> o == null || o < 0)) {
            return "chunk locations do not fit a " + v.getBytes() + "-byte file";
        }
        IngestShardPlan p = v.getPlan();
        if (p != null && (p.getRowsPerShard() < 1 || p.getMaxShardBytes() < 1 || p.getRowCount() < 1 || p.getShardCount() < 1
                || (p.getShardLines() != null && p.getShardLines().size() != p.getShardCount()))) {
            return "shard plan malformed";
        }
        return null;
    }

    /** Applies one ingest-batches record: a batch this instance does not know is recorded and handed to the listener. */
    void applyBatch(String key, IngestBatch v) {
        if (v == null) {
            throw new UndecodableRecordException("tombstone for batch " + key + ": a batch is never withdrawn", null);
        }
        String problem = batchProblem(key, v);
        if (problem != null) {
            throw new UndecodableRecordException("ingest-batches record " + key + " refused: " + problem, null);
        }
        long now = System.currentTimeMillis() / 1000;
        if (v.getIdempotencyKeyHash() != null) {
            try {
                keys.recordHashed(v.getIdempotencyKeyHash(), new IdempotencyKeys.Entry(key, v.getIdempotencyRequestSha256(),
                        v.getCreatedAtSeconds()), now);
            } catch (IOException e) {
                throw new UncheckedIOException("could not record the Idempotency-Key of " + key, e);
            }
        }
        if (store.batch(key).isPresent()) {
            return; // created here, or learned before: what this instance derived since stays
        }
        StoredBatch b = new StoredBatch(key, v.getCustomerId(), v.getInputFileId(), v.getEndpoint(), v.getCompletionWindow(),
                v.getCreatedAtSeconds(), v.getMetadata() == null ? null : Map.copyOf(v.getMetadata()), v.getModel(),
                v.getRowCount(), v.getShardCount(), v.getRowsPerShard(), v.getMaxShardBytes(), v.getMaxPricePerRowMicros(),
                v.getEscrowMicros(), v.getInputDigest(), null, null, null, null, 0, 0, null)
                .withRequests(v.getRequestCount(), v.getShardLines() == null ? List.of() : v.getShardLines());
        try {
            store.saveBatch(b);
        } catch (IOException e) {
            throw new UncheckedIOException("could not record batch " + key, e);
        }
        listener.batchLearned(b);
    }

    /** Lines of a batch in the log: 20x OpenAI's 50,000 (ingest's own limit is configured lower). */
    static final int MAX_REQUESTS = 1_000_000;
    /** 2100-01-01T00:00:00Z: no batch is created later; a time past it would overflow the replay start's arithmetic. */
    static final long LATEST_CREATED_AT_SECONDS = 4_102_444_800L;

    /** Null when an ingest-batches record is one ingest writes, else why not. */
    static String batchProblem(String key, IngestBatch v) {
        if (!v.getBatchId().equals(key) || !ID.matcher(key).matches() || !ID.matcher(v.getInputFileId()).matches()) {
            return "the key is not the record's batch id, or an id is malformed";
        }
        if (v.getCustomerId().isEmpty() || !SHA256.matcher(v.getInputDigest()).matches()) {
            return "customer or input digest malformed";
        }
        if (v.getRowCount() < 1 || v.getShardCount() < 1 || v.getRowsPerShard() < 1 || v.getMaxShardBytes() < 1
                || v.getRequestCount() < 1 || v.getRequestCount() > v.getRowCount() || v.getShardCount() > v.getRowCount()
                || v.getMaxPricePerRowMicros() < 0 || v.getCreatedAtSeconds() < 0) {
            return "counts, price or time out of range";
        }
        // What the tracker allocates per batch and computes from its time: bounded, whatever a record says.
        if (v.getRequestCount() > MAX_REQUESTS || v.getShardCount() > v.getRequestCount()
                || (long) v.getRowCount() > (long) v.getRequestCount() * BatchFileValidator.MAX_INPUTS_PER_LINE) {
            return "more lines, shards or rows than any batch ingest accepts (at most " + MAX_REQUESTS
                    + " lines, a shard per line at most, " + BatchFileValidator.MAX_INPUTS_PER_LINE + " rows per line)";
        }
        if (v.getCreatedAtSeconds() > LATEST_CREATED_AT_SECONDS) {
            return "created at " + v.getCreatedAtSeconds() + " s, after 2100";
        }
        if ((v.getShardLines() == null) != (v.getRequestCount() == v.getRowCount())) {
            return "shard lines are given exactly when lines and rows differ";
        }
        long escrow;
        try {
            escrow = Math.multiplyExact((long) v.getRowCount(), v.getMaxPricePerRowMicros());
        } catch (ArithmeticException e) {
            return "escrow overflows";
        }
        if (escrow != v.getEscrowMicros()) {
            return "escrow " + v.getEscrowMicros() + " is not rows x price " + escrow;
        }
        List<Integer> lines = v.getShardLines();
        if (lines != null && (lines.size() != v.getShardCount() || lines.stream().anyMatch(n -> n == null || n < 1)
                || lines.stream().mapToLong(Integer::longValue).sum() != v.getRequestCount())) {
            return "shard lines do not add up to the request count";
        }
        if ((v.getIdempotencyKeyHash() == null) != (v.getIdempotencyRequestSha256() == null)
                || (v.getIdempotencyKeyHash() != null && (!SHA256.matcher(v.getIdempotencyKeyHash()).matches()
                        || !SHA256.matcher(v.getIdempotencyRequestSha256()).matches()))) {
            return "Idempotency-Key hashes malformed";
        }
        return null;
    }

    private static void refuseBadId(String key, String what) {
        if (!ID.matcher(key).matches()) {
            throw new UndecodableRecordException("tombstone under a key that is no " + what + " id: " + key, null);
        }
    }

    private void forget(String fileId) throws IOException {
        chunks.remove(fileId);
        store.forgetFile(fileId);
    }

    private void forgetQuietly(String fileId) {
        try {
            forget(fileId);
        } catch (IOException e) {
            throw new UncheckedIOException("could not delete file " + fileId, e); // the feed reads again
        }
    }

    /**
     * Fetches a file's content by its recorded chunk offsets into {@code tmp/} and returns it there,
     * checked: every chunk under its key, of this file's shape, and the whole the recorded SHA-256.
     * One fetch per file at a time.
     *
     * @throws IOException when the chunks are not (or no longer) where the record says, or do not
     *     make the file (nothing is left behind)
     */
    Path fetch(StoredFile f) throws IOException {
        IngestFile where = chunks.get(f.id());
        if (where == null) {
            throw new java.nio.file.NoSuchFileException("no chunks are known for " + f.id());
        }
        synchronized (fetchLocks.computeIfAbsent(f.id(), k -> new Object())) {
            try {
                return assemble(f, where);
            } finally {
                fetchLocks.remove(f.id());
            }
        }
    }

    private Path assemble(StoredFile f, IngestFile where) throws IOException {
        long started = System.nanoTime();
        Path target = store.newTempFile(".fetched");
        List<Long> offsets = where.getChunkOffsets();
        TopicPartition tp = new TopicPartition(Topics.INGEST_FILE_CHUNKS.name(), where.getChunkPartition());
        try (ModelChunks.Assembly a = new ModelChunks.Assembly(f.sha256(), f.bytes(), target);
             KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(fetchProps(), new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            c.assign(List.of(tp));
            int next = 0;
            while (next < offsets.size()) {
                c.seek(tp, offsets.get(next));
                var records = c.poll(FETCH_TIMEOUT).records(tp);
                if (records.isEmpty()) {
                    throw new IOException("chunk " + next + " of " + f.id() + " did not arrive from " + tp + "@" + offsets.get(next));
                }
                for (ConsumerRecord<byte[], byte[]> rec : records) {
                    if (next >= offsets.size() || rec.offset() < offsets.get(next)) {
                        continue;
                    }
                    if (rec.offset() > offsets.get(next) || rec.value() == null) {
                        throw new IOException("chunk " + next + " of " + f.id() + " is gone from " + tp + "@" + offsets.get(next));
                    }
                    String key = rec.key() == null ? "" : new String(rec.key(), StandardCharsets.UTF_8);
                    if (!key.equals(chunkKey(f.id(), next))) {
                        throw new IOException(tp + "@" + rec.offset() + " is " + key + ", not chunk " + next + " of " + f.id());
                    }
                    ModelChunk chunk;
                    try {
                        chunk = Topics.INGEST_FILE_CHUNKS.valueSerde().deserializer().deserialize(tp.topic(), rec.value());
                    } catch (RuntimeException e) {
                        throw new IOException("chunk " + next + " of " + f.id() + " does not decode: " + e.getMessage(), e);
                    }
                    if (!f.sha256().equals(chunk.getFileSha256()) || chunk.getIndex() != next) {
                        throw new IOException("chunk " + next + " of " + f.id() + " claims file " + chunk.getFileSha256()
                                + " index " + chunk.getIndex());
                    }
                    a.accept(chunk);
                    next++;
                }
            }
            a.finish();
            LOG.infof("fetched %s (%d bytes, %d chunks) from the log in %d ms", f.id(), f.bytes(), offsets.size(),
                    (System.nanoTime() - started) / 1_000_000);
            return target;
        } catch (ModelChunks.DigestMismatchException e) {
            Files.deleteIfExists(target);
            throw new IOException("file " + f.id() + " refused: " + e.getMessage(), e);
        } catch (IOException | RuntimeException e) {
            Files.deleteIfExists(target);
            throw e;
        }
    }

    private Properties fetchProps() {
        Properties p = new Properties();
        p.putAll(io.inferex.security.BusCredentials.connection(kafka));
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "inferex-ingest-fetch-" + FileStore.randomHex(4));
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.MAX_PARTITION_FETCH_BYTES_CONFIG, 4 * ModelChunks.CHUNK_BYTES + 4096);
        return p;
    }

    /** Follows one of ingest's topics into this instance's store. */
    private final class Feed<V> extends CompactedTopicFeed<V> {
        private final java.util.function.BiConsumer<String, V> apply;
        private final Runnable caughtUp;

        Feed(io.inferex.topics.Topic<String, V> topic, java.util.function.BiConsumer<String, V> apply, Runnable caughtUp) {
            super(topic);
            this.apply = apply;
            this.caughtUp = caughtUp;
        }

        @Override
        protected Map<String, Object> kafka() {
            return kafka;
        }

        @Override
        protected void apply(String key, V value) {
            apply.accept(key, value);
        }

        @Override
        protected void caughtUp() {
            caughtUp.run();
        }

        @Override
        protected Map<TopicPartition, Long> endOffsets(java.util.Collection<TopicPartition> partitions, Duration timeout) {
            return IngestLog.this.endOffsets(partitions, timeout);
        }
    }
}
