package io.inferex.ingest;

import io.inferex.events.JobState;
import io.inferex.market.ModelCatalogue;
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
import org.jboss.logging.Logger;

/** The data dir (files, batches, spool) and the writing of a finished job's output and error files. */
@ApplicationScoped
public class IngestStore {
    private static final Logger LOG = Logger.getLogger(IngestStore.class);

    @Inject
    IngestConfig config;

    private FileStore store;

    @PostConstruct
    void init() {
        store = new FileStore(Path.of(config.dataDir()));
        LOG.infof("ingest data dir %s", store.root());
    }

    public FileStore store() {
        return store;
    }

    /** The validator for uploads, with the configured limits. */
    public BatchFileValidator validator() {
        return new BatchFileValidator(new BatchFileValidator.Limits(config.maxLines(), config.maxLineBytes(),
                config.maxFileBytes(), 100));
    }

    /** A reader for a file validated at upload; its limits never refuse it even if the config shrank since. */
    static BatchFileValidator storedFileReader(int rows, int maxLineBytes) {
        return new BatchFileValidator(new BatchFileValidator.Limits(Math.max(rows, 1),
                Math.max(maxLineBytes, 1 << 20), Long.MAX_VALUE, 100));
    }

    /** Writes the output and error files of a ready job and marks its batch final. Idempotent. */
    public void writeOutput(JobBook.Ready ready, DiskSpool spool) throws IOException {
        StoredBatch b = store.batch(ready.jobId()).orElseThrow(() -> new IllegalStateException("no batch " + ready.jobId()));
        if (b.finalized()) {
            return;
        }
        StoredFile input = store.file(b.inputFileId())
                .orElseThrow(() -> new IllegalStateException("input file " + b.inputFileId() + " of " + b.id() + " is gone"));
        int dimension = ModelCatalogue.byId(b.model()).orElseThrow().dimension();
        Path outTmp = store.newTempFile(".out");
        Path errTmp = store.newTempFile(".err");
        MessageDigest outSha = BatchFileValidator.sha256();
        MessageDigest errSha = BatchFileValidator.sha256();
        OutputFileWriter.Outcome outcome;
        long started = System.nanoTime();
        try (InputStream in = Files.newInputStream(store.content(input));
             OutputStream out = new DigestOutputStream(new BufferedOutputStream(Files.newOutputStream(outTmp), 1 << 16), outSha);
             OutputStream err = new DigestOutputStream(new BufferedOutputStream(Files.newOutputStream(errTmp), 1 << 16), errSha)) {
            outcome = OutputFileWriter.write(
                    new OutputFileWriter.Job(b.id(), b.model(), dimension, b.rowCount(), ready.state(), ready.error()),
                    in, storedFileReader(b.rowCount(), config.maxLineBytes()),
                    new ShardPlanner(b.rowsPerShard(), b.maxShardBytes()),
                    index -> spool.get(b.id(), index), out, err);
        }
        long now = System.currentTimeMillis() / 1000;
        String outId = null;
        String errId = null;
        if (outcome.completed() > 0) {
            outId = "file-out-" + b.suffix();
            store.addFile(new StoredFile(outId, b.customerId(), StoredFile.PURPOSE_OUTPUT, b.id() + "_output.jsonl",
                    Files.size(outTmp), now, HexFormat.of().formatHex(outSha.digest()), outcome.completed(), b.id()), outTmp);
        } else {
            Files.deleteIfExists(outTmp);
        }
        if (outcome.failed() > 0) {
            errId = "file-err-" + b.suffix();
            store.addFile(new StoredFile(errId, b.customerId(), StoredFile.PURPOSE_OUTPUT, b.id() + "_error.jsonl",
                    Files.size(errTmp), now, HexFormat.of().formatHex(errSha.digest()), outcome.failed(), b.id()), errTmp);
        } else {
            Files.deleteIfExists(errTmp);
        }
        String status = switch (ready.state()) {
            case COMPLETED, FINALIZING -> "completed"; // FINALIZING: every shard accepted, its payment awaits finality
            case EXPIRED -> "expired";
            case CANCELLED -> "cancelled";
            default -> "failed";
        };
        boolean complete = ready.state() == JobState.COMPLETED || ready.state() == JobState.FINALIZING;
        String error = complete ? null : ready.error() == null ? "job " + status : ready.error();
        store.saveBatch(b.finalize(status, now, outId, errId, outcome.completed(), outcome.failed(), error));
        spool.clear(b.id());
        LOG.infof("batch %s %s: %d rows in %s, %d in %s (%d ms)", b.id(), status, outcome.completed(), outId,
                outcome.failed(), errId, (System.nanoTime() - started) / 1_000_000);
    }
}
