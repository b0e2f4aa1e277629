package io.inferex.ingest;

import io.inferex.events.JobState;
import io.inferex.events.ShardResult;
import io.inferex.market.ModelRegistry;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.DigestOutputStream;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Optional;
import org.jboss.logging.Logger;

/** The data dir (files, batches, spool) and the writing of a finished job's output and error files. */
@ApplicationScoped
public class IngestStore {
    private static final Logger LOG = Logger.getLogger(IngestStore.class);

    @Inject
    IngestConfig config;

    @Inject
    ModelFeed models;

    /** Quarkus's {@code kafka.*} config: bootstrap servers and ingest's credential. */
    @Inject
    @io.smallrye.common.annotation.Identifier("default-kafka-broker")
    java.util.Map<String, Object> kafka;

    private FileStore store;
    private IdempotencyKeys idempotency;
    private IngestLog log;
    private CustomerTransactions customers;

    @PostConstruct
    void init() {
        store = new FileStore(Path.of(config.dataDir()));
        idempotency = new IdempotencyKeys(store, System.currentTimeMillis() / 1000);
        log = new IngestLog(store, idempotency, kafka); // its feeds are started by the tracker
        LOG.infof("ingest data dir %s", store.root());
    }

    /** How often a customer's write runs again after another instance fenced it, before 503. */
    static final int CUSTOMER_WRITE_ATTEMPTS = 8;

    @jakarta.annotation.PreDestroy
    synchronized void close() {
        if (customers != null) {
            customers.close();
        }
    }

    /** The writes that depend on a customer's state, serialized across instances (made when first needed). */
    public synchronized CustomerTransactions customers() {
        if (customers == null) {
            // A write's catch-up may take as long as its Kafka calls may (not failing a create under load), a lookup's only its bound.
            java.time.Duration catchUp = java.time.Duration.ofMillis(Math.max(config.readYourWritesWaitMs(), config.kafkaTimeoutMs()));
            customers = new CustomerTransactions(kafka, config.customerProducers(), config.kafkaTimeoutMs(),
                    CUSTOMER_WRITE_ATTEMPTS, () -> log.awaitFilesAndBatches(catchUp));
        }
        return customers;
    }

    public FileStore store() {
        return store;
    }

    public IdempotencyKeys idempotency() {
        return idempotency;
    }

    /** Files and batches in the log, shared by every ingest instance. */
    public IngestLog log() {
        return log;
    }

    /**
     * A file by id as any instance has it: a hit answers at once; a miss waits (at most
     * {@code inferex.ingest.read-your-writes-wait-ms}) until this instance has read every upload and
     * delete committed before the call, then answers.
     */
    public Optional<StoredFile> file(String id) {
        return log.file(id, readYourWritesWait());
    }

    /** {@link #file} for a batch. */
    public Optional<StoredBatch> batch(String id) {
        return log.batch(id, readYourWritesWait());
    }

    /** A customer's files, including every upload committed through any instance before the call (waited for, bounded). */
    public java.util.List<StoredFile> files(String customerId) {
        log.awaitFiles(readYourWritesWait());
        return store.files(customerId);
    }

    /** A customer's batches, including every one committed through any instance before the call (waited for, bounded). */
    public java.util.List<StoredBatch> batches(String customerId) {
        log.awaitBatches(readYourWritesWait());
        return store.batches(customerId);
    }

    private java.time.Duration readYourWritesWait() {
        return java.time.Duration.ofMillis(config.readYourWritesWaitMs());
    }

    /** The validator for uploads, with the configured limits and the model registry as read so far. */
    public BatchFileValidator validator() {
        return new BatchFileValidator(new BatchFileValidator.Limits(config.maxLines(), config.maxLineBytes(),
                config.maxFileBytes(), 100), models.registry()::byId);
    }

    /**
     * A reader for a file validated at upload; its limits never refuse it even if the config shrank
     * since, and its model stays in the registry (a registration is never withdrawn).
     */
    static BatchFileValidator storedFileReader(int rows, int maxLineBytes, ModelRegistry registry) {
        return new BatchFileValidator(new BatchFileValidator.Limits(Math.max(rows, 1),
                Math.max(maxLineBytes, 1 << 20), Long.MAX_VALUE, 100), registry::byId);
    }

    /** One way of writing a job's output and error files (provisional or verified). */
    @FunctionalInterface
    private interface Render {
        OutputFileWriter.Outcome write(OutputFileWriter.Job job, InputStream in, BatchFileValidator reader,
                ShardPlanner planner, OutputStream out, OutputStream err) throws IOException;
    }

    /** Temp output and error files of a job with their SHA-256s. */
    private record Rendered(OutputFileWriter.Outcome outcome, Path out, String outSha, Path err, String errSha) {}

    private Rendered render(StoredBatch b, JobState state, String error, Render render) throws IOException {
        StoredFile input = store.file(b.inputFileId())
                .orElseThrow(() -> new IllegalStateException("input file " + b.inputFileId() + " of " + b.id() + " is gone"));
        ModelRegistry registry = models.registry();
        int dimension = registry.byId(b.model()).orElseThrow(
                () -> new IllegalStateException("model " + b.model() + " of " + b.id() + " is not in the registry read so far")).dimension();
        Path outTmp = store.newTempFile(".out");
        Path errTmp = store.newTempFile(".err");
        MessageDigest outSha = BatchFileValidator.sha256();
        MessageDigest errSha = BatchFileValidator.sha256();
        OutputFileWriter.Outcome outcome;
        try (InputStream in = Files.newInputStream(store.content(input));
             OutputStream out = new DigestOutputStream(new BufferedOutputStream(Files.newOutputStream(outTmp), 1 << 16), outSha);
             OutputStream err = new DigestOutputStream(new BufferedOutputStream(Files.newOutputStream(errTmp), 1 << 16), errSha)) {
            outcome = render.write(new OutputFileWriter.Job(b.id(), b.model(), dimension, b.lines(), state, error),
                    in, storedFileReader(b.lines(), config.maxLineBytes(), registry),
                    new ShardPlanner(b.rowsPerShard(), b.maxShardBytes()), out, err);
        }
        return new Rendered(outcome, outTmp, HexFormat.of().formatHex(outSha.digest()), errTmp,
                HexFormat.of().formatHex(errSha.digest()));
    }

    /**
     * Writes the output and error files of a ready job and marks its batch final. Idempotent. The
     * success lines say "provisional"; a completed job's accepted results stay spooled until
     * {@link #writeVerified} rewrites the output once verification is over. {@code atSeconds}: the
     * time of the job status that made it ready, so every instance gives the output files and the
     * batch the same times. An output deleted through any instance is not written again.
     */
    public void writeOutput(JobBook.Ready ready, DiskSpool spool, long atSeconds) throws IOException {
        StoredBatch b = store.batch(ready.jobId()).orElseThrow(() -> new IllegalStateException("no batch " + ready.jobId()));
        if (b.finalized()) {
            return;
        }
        long started = System.nanoTime();
        Rendered r = render(b, ready.state(), ready.error(), (job, in, reader, planner, out, err) ->
                OutputFileWriter.write(job, in, reader, planner, index -> spool.get(b.id(), index), out, err));
        OutputFileWriter.Outcome outcome = r.outcome();
        Path outTmp = r.out();
        Path errTmp = r.err();
        long now = atSeconds;
        String outId = outcome.completed() > 0 ? "file-out-" + b.suffix() : null;
        String errId = outcome.failed() > 0 ? "file-err-" + b.suffix() : null;
        String status = switch (ready.state()) {
            case COMPLETED, FINALIZING -> "completed"; // FINALIZING: every shard accepted, its payment awaits finality
            case EXPIRED -> "expired";
            case CANCELLED -> "cancelled";
            default -> "failed";
        };
        boolean complete = ready.state() == JobState.COMPLETED || ready.state() == JobState.FINALIZING;
        String error = complete ? null : ready.error() == null ? "job " + status : ready.error();
        StoredBatch done = b.finalize(status, now, outId, errId, outcome.completed(), outcome.failed(), error)
                .withVerification(OutputFileWriter.PROVISIONAL, 0, 0).withPromptTokens(outcome.promptTokens());
        boolean placed = log.unlessSettled(b.id(), () -> {
            placeOrDrop(outId, outTmp, () -> new StoredFile(outId, b.customerId(), StoredFile.PURPOSE_OUTPUT,
                    b.id() + "_output.jsonl", Files.size(outTmp), now, r.outSha(), outcome.completed(), b.id()));
            placeOrDrop(errId, errTmp, () -> new StoredFile(errId, b.customerId(), StoredFile.PURPOSE_OUTPUT,
                    b.id() + "_error.jsonl", Files.size(errTmp), now, r.errSha(), outcome.failed(), b.id()));
            store.saveBatch(done);
        });
        if (!placed) {
            Files.deleteIfExists(outTmp);
            Files.deleteIfExists(errTmp);
            LOG.infof("batch %s: its outcome was read from the log meanwhile; this rendering is dropped", b.id());
            return;
        }
        if (!done.awaitsVerification()) {
            spool.clear(b.id());
        }
        LOG.infof("batch %s %s: %d rows in %s, %d in %s (%d ms)", b.id(), status, outcome.completed(), outId,
                outcome.failed(), errId, (System.nanoTime() - started) / 1_000_000);
    }

    /**
     * Publishes a batch at its end (its output and error files and its outcome) to the log, so that no
     * other instance, nor a rebuilt one, derives it again ({@link IngestLog#publishOutcome}). A failure
     * is logged: the batch is published at the next start, by whichever instance gets there first.
     */
    public void publishOutcome(String batchId) {
        try {
            if (log.publishOutcome(customers(), batchId)) {
                LOG.infof("batch %s: its outcome is in the log", batchId);
            }
        } catch (JobPublisher.PublishFailedException | RuntimeException e) {
            LOG.warnf("batch %s: its outcome was not published (%s); it is published at the next start", batchId, e.toString());
        }
    }

    /** A file's metadata, made once its bytes are rendered. */
    @FunctionalInterface
    private interface Meta {
        StoredFile make() throws IOException;
    }

    /**
     * Puts a rendered output or error file in place under {@code id}, unless there is none (no such
     * lines) or it was deleted through some instance: then only its temp file goes.
     */
    private void placeOrDrop(String id, Path rendered, Meta meta) throws IOException {
        if (id == null || log.deleted(id)) {
            Files.deleteIfExists(rendered);
        } else {
            store.addFile(meta.make(), rendered);
        }
    }

    /**
     * Rewrites a provisional output in place (same file id) with the lines of {@code disputed} shards
     * saying disputed; the rest stay provisional. Nothing once the output is final.
     */
    public void writeDisputes(String jobId, java.util.SortedSet<Integer> disputed, DiskSpool spool) throws IOException {
        StoredBatch b = store.batch(jobId).orElseThrow(() -> new IllegalStateException("no batch " + jobId));
        if (!b.awaitsVerification()) {
            return;
        }
        Rendered r = render(b, JobState.COMPLETED, null, (job, in, reader, planner, out, err) ->
                OutputFileWriter.writeVerified(job, in, reader, planner, index -> spool.get(b.id(), index)
                        .map(a -> new OutputFileWriter.Delivery(a, disputed.contains(index) ? VerificationBook.LineState.DISPUTED : null,
                                Optional.empty())), out, err));
        replaceOutput(b, r, null);
        LOG.infof("batch %s: %d shard(s) under dispute %s", b.id(), disputed.size(), disputed);
    }

    /**
     * Puts a re-rendered output in place of the batch's output file (same id; the error file is
     * unchanged) and, for the {@code verified} rewrite, the batch's verification; unless the batch's
     * outcome is in the log already: then nothing is put in place and the answer is null.
     */
    private OutputFileWriter.Outcome replaceOutput(StoredBatch b, Rendered r, VerificationBook.Final verified) throws IOException {
        OutputFileWriter.Outcome outcome = r.outcome();
        if (outcome.completed() != b.completedRows() || outcome.failed() != b.failedRows()) {
            throw new IllegalStateException("rewritten output of " + b.id() + " has " + outcome + " lines, the first had "
                    + b.completedRows() + " + " + b.failedRows());
        }
        Files.deleteIfExists(r.err()); // unchanged: lines without an accepted result stay as they were
        boolean placed = log.unlessSettled(b.id(), () -> {
            Optional<StoredFile> old = store.file(b.outputFileId());
            if (old.isPresent()) {
                StoredFile f = old.get();
                store.addFile(new StoredFile(f.id(), f.customerId(), f.purpose(), f.filename(), Files.size(r.out()),
                        f.createdAt(), r.outSha(), outcome.completed(), b.id()), r.out());
            } else {
                Files.deleteIfExists(r.out());
            }
            if (verified != null) {
                store.saveBatch(b.withVerification(OutputFileWriter.FINAL, outcome.corrected(), outcome.uncorrected())
                        .withPromptTokens(outcome.promptTokens()));
            }
        });
        if (!placed) {
            Files.deleteIfExists(r.out());
            LOG.infof("batch %s: its outcome was read from the log meanwhile; this rewrite is dropped", b.id());
            return null;
        }
        return outcome;
    }

    /**
     * Rewrites the output file of a completed job whose every shard is resolved: same file id, a
     * temp file moved into place atomically (a reader of the old file keeps reading the old one),
     * lines final or corrected. Idempotent: a batch no longer awaiting verification is left alone.
     */
    public void writeVerified(VerificationBook.Final done, DiskSpool spool) throws IOException {
        StoredBatch b = store.batch(done.jobId()).orElseThrow(() -> new IllegalStateException("no batch " + done.jobId()));
        if (!b.awaitsVerification()) {
            return;
        }
        long started = System.nanoTime();
        Rendered r = render(b, JobState.COMPLETED, null, (job, in, reader, planner, out, err) ->
                OutputFileWriter.writeVerified(job, in, reader, planner, index -> {
                    VerificationBook.ShardVerification v = done.shards().get(index);
                    Optional<ShardResult> correction = v.correctionKey() == null ? Optional.empty()
                            : spool.referee(b.id(), v.correctionKey());
                    return spool.get(b.id(), index).map(a -> new OutputFileWriter.Delivery(a, v.state(), correction));
                }, out, err));
        OutputFileWriter.Outcome outcome = replaceOutput(b, r, done);
        spool.clear(b.id());
        if (outcome == null) {
            return;
        }
        LOG.infof("batch %s verified: %d lines, %d corrected, %d left uncorrected (%d ms)", b.id(), outcome.completed(),
                outcome.corrected(), outcome.uncorrected(), (System.nanoTime() - started) / 1_000_000);
    }
}
