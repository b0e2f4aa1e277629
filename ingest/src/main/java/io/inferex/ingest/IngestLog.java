package io.inferex.ingest;

import io.inferex.events.IngestBatch;
import io.inferex.events.IngestBatchOutcome;
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

    /** Puts a rendering in place (files and the batch's record on the data dir). */
    @FunctionalInterface
    public interface Placing {
        void run() throws IOException;
    }

    /** Told of every batch read from the log that this instance did not know. */
    @FunctionalInterface
    public interface Listener {
        void batchLearned(StoredBatch batch);

        /** A batch this instance knew unfinished was finalized in the log (by another instance): stop following it. */
        default void batchSettled(StoredBatch batch) {
        }
    }

    private final FileStore store;
    private final IdempotencyKeys keys;
    private final Map<String, Object> kafka;
    /** Live uploads' chunk locations, by file id (rebuilt from ingest-files at every start). */
    private final Map<String, IngestFile> chunks = new ConcurrentHashMap<>();
    /** Ids of deleted files (kept by compaction as deletion records): never indexed or rendered again. */
    private final Set<String> deleted = ConcurrentHashMap.newKeySet();
    private final Map<String, Object> fetchLocks = new ConcurrentHashMap<>();
    /** Create records of batches whose outcome is not in the log yet (its record repeats them): live batches only. */
    private final Map<String, IngestBatch> creates = new ConcurrentHashMap<>();
    /** Ids of batches whose outcome is in the log: no instance publishes it again. */
    private final Set<String> settled = ConcurrentHashMap.newKeySet();
    /** Held while an outcome from the log, or a rendering of this instance, is put in place. */
    private final Object outcomes = new Object();
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

    /**
     * {@link #awaitFiles} and {@link #awaitBatches} together, with one end-offsets request for both
     * topics: a customer's write catches up with both before its checks.
     */
    public boolean awaitFilesAndBatches(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<TopicPartition> files = fileFeed.partitions();
        List<TopicPartition> batches = batchFeed.partitions();
        if (files.isEmpty() || batches.isEmpty()) {
            return false;
        }
        List<TopicPartition> all = new java.util.ArrayList<>(files);
        all.addAll(batches);
        Map<TopicPartition, Long> end = endOffsets(all, timeout);
        if (end.isEmpty()) {
            return false;
        }
        Map<TopicPartition, Long> fileEnd = new java.util.HashMap<>(end);
        fileEnd.keySet().retainAll(files);
        Map<TopicPartition, Long> batchEnd = new java.util.HashMap<>(end);
        batchEnd.keySet().retainAll(batches);
        try {
            return fileFeed.awaitPositions(fileEnd, deadline) && batchFeed.awaitPositions(batchEnd, deadline);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
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
        return JobPublisher.record(Topics.INGEST_BATCHES, b.id(), createRecord(b, idempotencyKeyHash, requestSha256));
    }

    private static IngestBatch createRecord(StoredBatch b, String idempotencyKeyHash, String requestSha256) {
        return IngestBatch.newBuilder().setBatchId(b.id()).setCustomerId(b.customerId()).setInputFileId(b.inputFileId())
                .setEndpoint(b.endpoint()).setCompletionWindow(b.completionWindow()).setCreatedAtSeconds(b.createdAt())
                .setMetadata(b.metadata() == null ? null : Map.copyOf(b.metadata())).setModel(b.model())
                .setRowCount(b.rowCount()).setShardCount(b.shardCount()).setRowsPerShard(b.rowsPerShard())
                .setMaxShardBytes(b.maxShardBytes()).setMaxPricePerRowMicros(b.maxPricePerRowMicros())
                .setEscrowMicros(b.escrowMicros()).setInputDigest(b.inputDigest()).setRequestCount(b.lines())
                .setShardLines(b.shardLines()).setIdempotencyKeyHash(idempotencyKeyHash)
                .setIdempotencyRequestSha256(requestSha256).build();
    }

    /** Whether a batch's outcome is in the log (read by the feed, or committed through this instance). */
    public boolean settled(String batchId) {
        return settled.contains(batchId);
    }

    /** A batch at its end: a terminal status, and for a completed one an output whose verification is over. */
    static boolean atEnd(StoredBatch b) {
        return b.finalized() && !b.awaitsVerification();
    }

    /**
     * Sends, inside the caller's transaction, a batch's end: its output and error files as uploads
     * (chunks, then their {@code ingest-files} record, purpose {@code batch_output}; a file deleted
     * meanwhile is left out), then its {@code ingest-batches} record again with the outcome. The caller
     * checks {@link #settled} first, inside the customer's serialized write, so one outcome per batch is
     * published whichever instances finalize it. Returns the files' records, for {@link #published}.
     */
    public List<IngestFile> sendOutcome(Producer<byte[], byte[]> producer, StoredBatch done) throws Exception {
        if (!atEnd(done)) {
            throw new IllegalArgumentException("batch " + done.id() + " is not at its end");
        }
        IngestBatch record = outcomeRecord(creates.get(done.id()), done);
        String problem = batchProblem(done.id(), record);
        if (problem != null) { // every reader would refuse it: nothing is sent
            throw new IllegalStateException("the outcome of " + done.id() + " would be refused: " + problem);
        }
        List<IngestFile> files = new ArrayList<>(2);
        for (String id : java.util.Arrays.asList(done.outputFileId(), done.errorFileId())) {
            Optional<StoredFile> f = id == null || deleted.contains(id) ? Optional.empty() : store.file(id);
            if (f.isPresent()) {
                files.add(sendUpload(producer, f.get(), store.content(f.get())));
            }
        }
        producer.send(JobPublisher.record(Topics.INGEST_BATCHES, done.id(), record));
        return files;
    }

    /**
     * Publishes a batch at its end ({@link #sendOutcome}) as one of its customer's serialized writes:
     * after fencing the customer's other writers and reading {@code ingest-batches} to its end, so when
     * several instances finalize a batch at once, one publishes and the others find its outcome and
     * publish nothing. True when this call published it.
     */
    public boolean publishOutcome(CustomerTransactions customers, String batchId) throws JobPublisher.PublishFailedException {
        Optional<StoredBatch> b = store.batch(batchId);
        if (b.isEmpty() || !atEnd(b.get()) || settled(batchId)) {
            return false;
        }
        return customers.write(b.get().customerId(), p -> {
            Optional<StoredBatch> now = store.batch(batchId); // as it is once the log is read to its end
            if (settled(batchId) || now.isEmpty() || !atEnd(now.get())) {
                return false;
            }
            List<List<IngestFile>> files = new ArrayList<>(1);
            JobPublisher.publishAll(p, "outcome of " + batchId, () -> files.add(sendOutcome(p, now.get())));
            published(batchId, files.get(0));
            return true;
        });
    }

    /** A batch's outcome this instance committed ({@link #sendOutcome}): settled here before the feed reads it back. */
    public void published(String batchId, List<IngestFile> files) {
        files.forEach(this::uploaded);
        settled.add(batchId);
        creates.remove(batchId);
    }

    /** The create record (or, when not read, one made from the batch, without Idempotency-Key) with the batch's outcome. */
    static IngestBatch outcomeRecord(IngestBatch create, StoredBatch done) {
        return IngestBatch.newBuilder(create != null ? create : createRecord(done, null, null))
                .setOutcome(IngestBatchOutcome.newBuilder().setStatus(done.finalStatus()).setFinalizedAtSeconds(done.finalizedAt())
                        .setOutputFileId(done.outputFileId()).setErrorFileId(done.errorFileId())
                        .setCompletedLines(done.completedRows()).setFailedLines(done.failedRows()).setError(done.error())
                        .setVerification(done.verification()).setCorrectedLines(done.correctedLines())
                        .setUncorrectedLines(done.uncorrectedLines()).setPromptTokens(done.promptTokens())
                        .setCancelRequestedAtSeconds(done.cancelRequestedAt()).build())
                .build();
    }

    /**
     * Runs {@code write} (putting a rendered output in place and saving its batch) unless the batch's
     * outcome is in the log already, which then stands: false. Under the lock the feeds take to apply an
     * outcome, so a rendering never lands over the log's.
     */
    public boolean unlessSettled(String batchId, Placing write) throws IOException {
        synchronized (outcomes) {
            if (settled.contains(batchId)) {
                return false;
            }
            write.run();
            return true;
        }
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
        try {
            if (StoredFile.PURPOSE_OUTPUT.equals(v.getPurpose())) {
                adoptOutput(v);
            } else if (store.file(key).isEmpty()) {
                store.learnFile(storedFile(v));
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not record file " + key, e); // the feed reads again
        }
    }

    private static StoredFile storedFile(IngestFile v) {
        IngestShardPlan p = v.getPlan();
        return new StoredFile(v.getFileId(), v.getCustomerId(), v.getPurpose(), v.getFilename(), v.getBytes(),
                v.getCreatedAtSeconds(), v.getSha256(), v.getLines(), v.getBatchId(), p == null ? null
                        : new StoredFile.ShardPlan(p.getRowsPerShard(), p.getMaxShardBytes(), p.getModel(), p.getRowCount(),
                                p.getShardCount(), p.getShardLines() == null ? null : List.copyOf(p.getShardLines())));
    }

    /**
     * An output or error file in the log stands for that id: unless this instance holds the same bytes
     * (its own publish, or the same rendering), its metadata is taken and a local copy dropped, the
     * bytes then fetched from the log when first needed.
     */
    private void adoptOutput(IngestFile v) throws IOException {
        synchronized (outcomes) {
            Optional<StoredFile> local = store.file(v.getFileId());
            if (local.isPresent() && local.get().sha256().equals(v.getSha256()) && local.get().bytes() == v.getBytes()) {
                return;
            }
            store.learnFile(storedFile(v));
            store.dropContent(v.getFileId());
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
        boolean outputId = key.startsWith("file-out-") || key.startsWith("file-err-");
        if (StoredFile.PURPOSE_OUTPUT.equals(v.getPurpose())) {
            // A finalized batch's output or error file: named after its batch, as every instance names it.
            if (!outputId || v.getBatchId() == null || !ID.matcher(v.getBatchId()).matches() || v.getPlan() != null
                    || !key.substring("file-out-".length()).equals(suffix(v.getBatchId()))) {
                return "an output file whose id is not file-out-/file-err- and its batch's suffix, or with a shard plan";
            }
        } else if (!StoredFile.PURPOSE_BATCH.equals(v.getPurpose())) {
            return "only uploaded inputs and batch outputs are published (purpose " + v.getPurpose() + ")";
        } else if (outputId) {
            return "an input under an output or error file id (it could shadow a batch's output)";
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
        if (v.getOutcome() != null) {
            applyOutcome(key, v);
            return;
        }
        if (!settled.contains(key)) {
            creates.put(key, v); // repeated in its outcome's record
        }
        if (store.batch(key).isPresent()) {
            return; // created here, or learned before: what this instance derived since stays
        }
        StoredBatch b = created(v);
        try {
            store.saveBatch(b);
        } catch (IOException e) {
            throw new UncheckedIOException("could not record batch " + key, e);
        }
        listener.batchLearned(b);
    }

    private static StoredBatch created(IngestBatch v) {
        return new StoredBatch(v.getBatchId(), v.getCustomerId(), v.getInputFileId(), v.getEndpoint(), v.getCompletionWindow(),
                v.getCreatedAtSeconds(), v.getMetadata() == null ? null : Map.copyOf(v.getMetadata()), v.getModel(),
                v.getRowCount(), v.getShardCount(), v.getRowsPerShard(), v.getMaxShardBytes(), v.getMaxPricePerRowMicros(),
                v.getEscrowMicros(), v.getInputDigest(), null, null, null, null, 0, 0, null)
                .withRequests(v.getRequestCount(), v.getShardLines() == null ? List.of() : v.getShardLines());
    }

    /**
     * A batch's end from the log stands on every instance: saved as it is there (a batch never known
     * here is learned finished: not followed, nothing of its job read again), its output and error
     * files taken from {@code ingest-files} unless this instance holds the same bytes, and a batch this
     * instance was still following handed to the listener to stop.
     */
    private void applyOutcome(String key, IngestBatch v) {
        IngestBatchOutcome o = v.getOutcome();
        StoredBatch logged = created(v).finalize(o.getStatus(), o.getFinalizedAtSeconds(), o.getOutputFileId(), o.getErrorFileId(),
                o.getCompletedLines(), o.getFailedLines(), o.getError())
                .withVerification(o.getVerification(), o.getCorrectedLines(), o.getUncorrectedLines())
                .withPromptTokens(o.getPromptTokens());
        if (o.getCancelRequestedAtSeconds() != null) {
            logged = logged.withCancelRequested(o.getCancelRequestedAtSeconds());
        }
        StoredBatch before;
        try {
            synchronized (outcomes) {
                settled.add(key);
                creates.remove(key);
                before = store.batch(key).orElse(null);
                if (!logged.equals(before)) {
                    store.saveBatch(logged);
                }
                for (String id : java.util.Arrays.asList(o.getOutputFileId(), o.getErrorFileId())) {
                    IngestFile f = id == null ? null : chunks.get(id);
                    if (f != null && StoredFile.PURPOSE_OUTPUT.equals(f.getPurpose())) {
                        adoptOutput(f); // put back over a rendering that landed after the file's record was read
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("could not record the outcome of batch " + key, e);
        }
        if (before != null && !atEnd(before)) {
            listener.batchSettled(logged);
        }
    }

    static String suffix(String batchId) {
        return batchId.startsWith("batch_") ? batchId.substring("batch_".length()) : batchId;
    }

    private static final Set<String> END_STATUSES = Set.of("completed", "failed", "expired", "cancelled");

    /** Null when a batch's outcome is one ingest writes (a batch at its end, its counts and files consistent), else why not. */
    static String outcomeProblem(String key, IngestBatch v) {
        IngestBatchOutcome o = v.getOutcome();
        if (!END_STATUSES.contains(o.getStatus())) {
            return "outcome status " + o.getStatus() + " is not a terminal one";
        }
        boolean completed = "completed".equals(o.getStatus());
        // null: an output written by a build without per-line verification.
        if (completed ? o.getVerification() != null && !OutputFileWriter.FINAL.equals(o.getVerification())
                : o.getVerification() != null && !OutputFileWriter.PROVISIONAL.equals(o.getVerification())) {
            return "a completed batch's outcome is published once its verification is final, any other's as written";
        }
        if (o.getFinalizedAtSeconds() < 0 || o.getFinalizedAtSeconds() > LATEST_CREATED_AT_SECONDS
                || (o.getCancelRequestedAtSeconds() != null && (o.getCancelRequestedAtSeconds() < 0
                        || o.getCancelRequestedAtSeconds() > LATEST_CREATED_AT_SECONDS))) {
            return "outcome times out of range";
        }
        if (o.getCompletedLines() < 0 || o.getFailedLines() < 0
                || (long) o.getCompletedLines() + o.getFailedLines() != v.getRequestCount()
                || o.getCorrectedLines() < 0 || o.getUncorrectedLines() < 0
                || (long) o.getCorrectedLines() + o.getUncorrectedLines() > o.getCompletedLines() || o.getPromptTokens() < 0) {
            return "outcome line counts do not add up to the batch's " + v.getRequestCount() + " lines";
        }
        String out = o.getCompletedLines() > 0 ? "file-out-" + suffix(key) : null;
        String err = o.getFailedLines() > 0 ? "file-err-" + suffix(key) : null;
        if (!java.util.Objects.equals(out, o.getOutputFileId()) || !java.util.Objects.equals(err, o.getErrorFileId())) {
            return "output and error file ids are not the batch's, or not there exactly when it has such lines";
        }
        return null;
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
        return v.getOutcome() == null ? null : outcomeProblem(key, v);
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
