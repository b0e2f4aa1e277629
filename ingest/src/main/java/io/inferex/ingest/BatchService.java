package io.inferex.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.inferex.events.IngestFile;
import io.inferex.events.JobCancelRequested;
import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.topics.Topics;
import io.inferex.market.Pools;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.jboss.logging.Logger;

/** Uploading batch files and turning them into published jobs. REST resources delegate here. */
@ApplicationScoped
public class BatchService {
    private static final Logger LOG = Logger.getLogger(BatchService.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    IngestConfig config;

    @Inject
    IngestStore stores;

    @Inject
    TransactionalProducer producer;

    @Inject
    MarketTracker tracker;

    /** Validates an uploaded batch file and stores it; 400 with every bad line otherwise. */
    public StoredFile upload(String customerId, Path uploaded, String filename, String purpose) {
        if (purpose == null || purpose.isBlank()) {
            throw ApiException.invalid("purpose", "missing_required_parameter", "Missing required parameter: 'purpose'.");
        }
        if (!StoredFile.PURPOSE_BATCH.equals(purpose)) {
            throw ApiException.invalid("purpose", "invalid_value",
                    "Invalid value for 'purpose': '" + purpose + "'. Inferex accepts only 'batch'.");
        }
        if (uploaded == null) {
            throw ApiException.invalid("file", "missing_required_parameter", "Missing required parameter: 'file'.");
        }
        try {
            long size = Files.size(uploaded);
            if (size > config.maxFileBytes()) {
                throw ApiException.invalid("file", "file_too_large",
                        "The file is " + size + " bytes; the limit is " + config.maxFileBytes() + " bytes.");
            }
            BatchFileValidator.Result r;
            // The same pass cuts the lines into shards (counting only), so a create need not read the file twice.
            ShardPlanner planner = new ShardPlanner(config.rowsPerShard(), config.maxShardBytes());
            java.util.List<Integer> shardLines = new java.util.ArrayList<>();
            ShardPlanner.Cutter counter = planner.cutter((i, lines) -> shardLines.add(lines.size()));
            int shardCount;
            try (InputStream in = Files.newInputStream(uploaded)) {
                r = stores.validator().validate(in, counter::add);
                shardCount = counter.finish();
            }
            if (!r.ok()) {
                throw new ApiException(400, OpenAiObjects.invalidBatchFile(r));
            }
            String name = safeFilename(filename);
            StoredFile.ShardPlan plan = new StoredFile.ShardPlan(planner.rowsPerShard(), planner.maxShardBytes(), r.model(),
                    r.rowCount(), shardCount, r.rowCount() == r.requestCount() ? null : java.util.List.copyOf(shardLines));
            StoredFile meta = new StoredFile("file-" + FileStore.randomHex(12), customerId, StoredFile.PURPOSE_BATCH,
                    name, r.bytes(), System.currentTimeMillis() / 1000, r.sha256(), r.requestCount(), null, plan);
            // Copy (not move): the upload belongs to the HTTP layer, which deletes it after the request.
            Path copy = stores.store().newTempFile(".upload");
            Files.copy(uploaded, copy);
            try {
                // In the log first (chunks and metadata in one transaction): every instance then has it.
                IngestFile[] inLog = new IngestFile[1];
                producer.inTransactionSlot(p -> {
                    JobPublisher.publishAll(p, "upload " + meta.id(), () -> inLog[0] = IngestLog.sendUpload(p, meta, copy));
                    return null;
                });
                stores.log().uploaded(inLog[0]); // its chunks, should it be deleted before the feed reads it back
            } catch (JobPublisher.PublishFailedException | RuntimeException e) {
                Files.deleteIfExists(copy);
                if (e instanceof ApiException api) {
                    throw api;
                }
                LOG.errorf(e, "upload %s was not stored in the log", meta.id());
                throw ApiException.unavailable("The file could not be stored (" + rootMessage(e) + "); upload it again shortly.");
            }
            StoredFile stored = stores.store().addFile(meta, copy);
            LOG.infof("customer %s uploaded %s: %d requests for %s, %d bytes", customerId, stored.id(),
                    r.requestCount(), r.model(), r.bytes());
            return stored;
        } catch (IOException e) {
            throw new UncheckedIOException("could not store the upload", e);
        }
    }

    /** A batch create's answer: the batch, and whether an earlier request with the same key created it. */
    public record Created(StoredBatch batch, boolean replayed) {}

    /**
     * Create with an {@code Idempotency-Key} (null: none): a request with a key this customer used
     * in the last 24 h for the same request (canonical JSON) gets that batch back, with nothing
     * published again; for another request, 422 {@code idempotency_key_reused}. The key is recorded
     * with the batch before the job is published, so a retry after a timeout or an "outcome
     * unknown" 503 finds the batch instead of escrowing the file twice; it is dropped again when
     * nothing was published.
     */
    public Created create(String customerId, String requestBody, String idempotencyKey) {
        if (idempotencyKey == null) {
            return createFor(customerId, requestBody, null);
        }
        String keyHash = IdempotencyKeys.keyHash(customerId, idempotencyKey);
        String problem = IdempotencyKeys.problem(idempotencyKey);
        if (problem != null) {
            throw ApiException.invalid("Idempotency-Key", "invalid_idempotency_key", problem);
        }
        String fingerprint = IdempotencyKeys.fingerprint(parseRequest(requestBody));
        IdempotencyKeys keys = stores.idempotency();
        ReentrantLock lock = keys.lock(customerId, idempotencyKey);
        lock.lock();
        try {
            return createFor(customerId, requestBody, new Idempotency(customerId, idempotencyKey, keyHash, fingerprint, keys));
        } finally {
            lock.unlock();
        }
    }

    /**
     * A create's Idempotency-Key: looked up inside the customer's write (after catching up with the
     * log, so a batch another instance created with it is found), recorded with the batch before
     * publishing, dropped again when nothing was published.
     */
    private record Idempotency(String customerId, String key, String keyHash, String fingerprint, IdempotencyKeys keys) {
        /** The batch an earlier request with this key created, or 422 for another request; empty if none. */
        Optional<StoredBatch> earlier(FileStore store) {
            long now = System.currentTimeMillis() / 1000;
            Optional<IdempotencyKeys.Entry> earlier = keys.find(customerId, key, now);
            if (earlier.isEmpty()) {
                return Optional.empty();
            }
            if (!earlier.get().requestSha256().equals(fingerprint)) {
                throw new ApiException(422, OpenAiObjects.error("This Idempotency-Key was already used for another "
                        + "request (batch " + earlier.get().batchId() + "); use a new key for a new batch.",
                        "invalid_request_error", "idempotency_key_reused", "Idempotency-Key"));
            }
            return store.batch(earlier.get().batchId()).filter(b -> b.customerId().equals(customerId));
        }

        void record(String batchId) {
            try {
                keys.record(customerId, key, new IdempotencyKeys.Entry(batchId, fingerprint, System.currentTimeMillis() / 1000));
            } catch (IOException e) {
                throw new UncheckedIOException("could not record the Idempotency-Key", e);
            }
        }

        void drop(String batchId) {
            try {
                keys.withdraw(customerId, key, batchId);
            } catch (IOException e) {
                LOG.warnf(e, "could not drop an Idempotency-Key of %s", customerId);
            }
        }
    }

    /** Validates a create-batch request, publishes the job and all its shards in one transaction. */
    public StoredBatch create(String customerId, String requestBody) {
        return createFor(customerId, requestBody, null).batch();
    }

    private static JsonNode parseRequest(String requestBody) {
        JsonNode req;
        try {
            req = requestBody == null || requestBody.isBlank() ? null : JSON.readTree(requestBody);
        } catch (IOException e) {
            throw ApiException.invalid(null, "invalid_json", "The request body is not valid JSON: "
                    + e.getMessage().lines().findFirst().orElse(""));
        }
        if (req == null || !req.isObject()) {
            throw ApiException.invalid(null, "invalid_json", "The request body must be a JSON object.");
        }
        return req;
    }

    /**
     * Everything that reads only the request and the file first; then, inside the customer's write
     * ({@link CustomerTransactions}: serialized with every other instance's writes for the customer,
     * after catching up with the log), the Idempotency-Key ({@code idem}, null without one), the file
     * still there, the funds, the batch's record and the publish.
     */
    private Created createFor(String customerId, String requestBody, Idempotency idem) {
        JsonNode req = parseRequest(requestBody);
        String inputFileId = requiredString(req, "input_file_id");
        String endpoint = requiredString(req, "endpoint");
        String window = requiredString(req, "completion_window");
        if (!BatchFileValidator.ENDPOINT.equals(endpoint)) {
            throw ApiException.invalid("endpoint", "invalid_value", "Invalid value for 'endpoint': '" + endpoint
                    + "'. Inferex batches support only '" + BatchFileValidator.ENDPOINT + "'.");
        }
        if (!"24h".equals(window)) {
            throw ApiException.invalid("completion_window", "invalid_value",
                    "Invalid value for 'completion_window': '" + window + "'. Supported: '24h'.");
        }
        Map<String, String> metadata = metadata(req.get("metadata"));
        long maxPrice = BatchExtensions.maxPricePerRow(metadata, config.maxPricePerRowMicros());
        BatchExtensions.checkRegion(metadata, config.cell());
        StoredFile file = stores.file(inputFileId)
                .filter(f -> f.customerId().equals(customerId))
                .orElseThrow(() -> ApiException.notFound("File", inputFileId));
        if (!StoredFile.PURPOSE_BATCH.equals(file.purpose())) {
            throw ApiException.invalid("input_file_id", "invalid_value",
                    "File " + inputFileId + " has purpose '" + file.purpose() + "'; a batch needs a file uploaded with purpose 'batch'.");
        }
        Path content;
        try {
            content = stores.store().content(file); // fetched from the log if this instance lacks it
        } catch (UncheckedIOException e) {
            LOG.errorf(e, "content of %s unavailable", inputFileId);
            throw ApiException.unavailable("The content of " + inputFileId + " cannot be read right now; retry shortly.");
        }
        BatchFileValidator validator = stores.validator();
        ShardPlanner planner = new ShardPlanner(config.rowsPerShard(), config.maxShardBytes());

        // Pass 1: the shard count (and each shard's lines), from the upload's plan when it was made with
        // this planner's settings, else by re-validating the stored file. Pass 2 validates it again anyway.
        BatchFileValidator.Result checked;
        int shardCount;
        java.util.List<Integer> shardLines = new java.util.ArrayList<>();
        StoredFile.ShardPlan plan = file.plan();
        if (plan != null && plan.rowsPerShard() == planner.rowsPerShard() && plan.maxShardBytes() == planner.maxShardBytes()) {
            checked = new BatchFileValidator.Result(plan.model(), file.lines(), plan.rowCount(), file.bytes(), file.sha256(),
                    java.util.List.of(), 0);
            shardCount = plan.shardCount();
            if (plan.shardLines() != null) {
                shardLines.addAll(plan.shardLines());
            }
        } else {
            try (InputStream in = Files.newInputStream(content)) {
                ShardPlanner.Cutter counter = planner.cutter((i, lines) -> shardLines.add(lines.size()));
                checked = validator.validate(in, counter::add);
                shardCount = counter.finish();
            } catch (java.nio.file.NoSuchFileException e) {
                throw ApiException.notFound("File", inputFileId); // deleted meanwhile
            } catch (IOException e) {
                throw new UncheckedIOException("could not read " + inputFileId, e);
            }
            if (!checked.ok()) {
                throw new ApiException(400, OpenAiObjects.invalidBatchFile(checked));
            }
        }

        long nowMs = System.currentTimeMillis();
        String jobId = "batch_" + FileStore.randomHex(16);
        String model = checked.model();
        long escrow;
        try {
            escrow = Math.multiplyExact(checked.rowCount(), maxPrice); // a row per input: an array line is several
        } catch (ArithmeticException e) {
            throw ApiException.invalid("input_file_id", "invalid_value", "The batch is too large to escrow.");
        }
        JobSubmitted job = JobSubmitted.newBuilder()
                .setJobId(jobId)
                .setCustomerId(customerId)
                .setInputFileId(inputFileId)
                .setEndpoint(endpoint)
                .setModel(model)
                .setRowCount(checked.rowCount())
                .setShardCount(shardCount)
                .setMaxPricePerRowMicros(maxPrice)
                .setEscrowMicros(escrow)
                .setInputDigest(checked.sha256())
                .setCompletionWindow(window)
                .setSubmittedAtMs(nowMs)
                .setMetadata(metadata == null ? Map.of() : metadata)
                .build();
        StoredBatch batch = new StoredBatch(jobId, customerId, inputFileId, endpoint, window, nowMs / 1000, metadata,
                model, checked.rowCount(), shardCount, planner.rowsPerShard(), planner.maxShardBytes(), maxPrice,
                escrow, checked.sha256(), null, null, null, null, 0, 0, null).withRequests(checked.requestCount(), shardLines);

        String keyHash = idem == null ? null : idem.keyHash();
        String requestSha256 = idem == null ? null : idem.fingerprint();
        try {
            return stores.customers().write(customerId, p -> {
                if (idem != null) {
                    Optional<StoredBatch> earlier = idem.earlier(stores.store());
                    if (earlier.isPresent()) {
                        return new Created(earlier.get(), true);
                    }
                }
                // After catching up: a delete committed through any instance before this write is known here.
                if (stores.store().file(inputFileId).filter(f -> f.customerId().equals(customerId)).isEmpty()) {
                    throw ApiException.notFound("File", inputFileId);
                }
                // Escrow at create: held against what the customer may spend (and their budget) before anything is written.
                refuseUnlessHeld(customerId, jobId, checked.rowCount(), maxPrice, escrow, nowMs);
                publish(p, customerId, batch, job, content, planner, validator, checked, keyHash, requestSha256,
                        idem == null ? id -> { } : idem::record, idem == null ? id -> { } : idem::drop);
                return new Created(batch, false);
            });
        } catch (JobPublisher.PublishFailedException e) {
            throw ApiException.unavailable("The batch could not be submitted to the market (nothing was published): "
                    + rootMessage(e) + ". Retry shortly.");
        }
    }

    /**
     * Records the batch (its escrow is held), then publishes job, shards and the batch's log record in
     * one transaction. {@code recorded} runs with the batch id once its record is saved (before
     * publishing); {@code dropped} with it when the record is deleted again because nothing was published.
     * A failure after which the write may run again (fenced: another instance wrote for the customer)
     * undoes everything and is rethrown as it is, for {@link CustomerTransactions} to retry.
     */
    private void publish(org.apache.kafka.clients.producer.Producer<byte[], byte[]> p, String customerId, StoredBatch batch,
            JobSubmitted job, Path content, ShardPlanner planner, BatchFileValidator validator,
            BatchFileValidator.Result checked, String keyHash, String requestSha256, Consumer<String> recorded,
            Consumer<String> dropped) throws JobPublisher.PublishFailedException {
        String jobId = batch.id();
        String inputFileId = batch.inputFileId();
        int shardCount = batch.shardCount();
        String model = batch.model();
        long maxPrice = batch.maxPricePerRowMicros();
        long nowMs = job.getSubmittedAtMs();
        String poolKey = Pools.poolKey(model, config.cell());
        // The record and the tracking come first, so no result of the job can arrive unrecognised.
        try {
            stores.store().saveBatch(batch);
        } catch (IOException e) {
            tracker.forget(jobId);
            throw new UncheckedIOException("could not record batch " + jobId, e);
        }
        try {
            recorded.accept(jobId);
        } catch (RuntimeException e) {
            tracker.forget(jobId);
            deleteQuietly(jobId, e);
            throw e;
        }
        tracker.track(batch);
        try {
            if (stores.store().file(inputFileId).isEmpty()) {
                // Deleted between the check above and the batch's record (which now protects it).
                throw ApiException.notFound("File", inputFileId);
            }
            int sent = JobPublisher.publish(p, job,
                    java.util.List.of(IngestLog.batchRecord(batch, keyHash, requestSha256)), out -> {
                // Pass 2, inside the transaction: stream the shards, one at a time.
                ShardPlanner.Cutter cutter = planner.cutter((index, lines) -> out.accept(ShardPlanner.task(jobId, index,
                        shardCount, model, poolKey, maxPrice, lines, nowMs)));
                BatchFileValidator.Result again;
                try (InputStream in = Files.newInputStream(content)) {
                    again = validator.validate(in, cutter::add);
                }
                cutter.finish();
                if (!again.ok()) {
                    throw new ApiException(400, OpenAiObjects.invalidBatchFile(again)); // rules changed since the upload
                }
                if (!again.sha256().equals(checked.sha256())) {
                    throw new IllegalStateException("input file " + inputFileId + " changed while it was being published");
                }
            });
            LOG.infof("customer %s submitted %s: %d lines, %d rows in %d shards of %s, escrow %d micros", customerId, jobId,
                    checked.requestCount(), checked.rowCount(), sent, model, job.getEscrowMicros());
        } catch (JobPublisher.PublishFailedException | RuntimeException e) {
            if (e instanceof JobPublisher.PublishFailedException pf && pf.outcomeUnknown()) {
                // The job may be in the log: keep the batch record and keep following it, so
                // GET /v1/batches/{id} tells the truth once the cluster answers; a blind retry
                // could escrow the same file twice.
                LOG.errorf(e, "batch %s: commit outcome unknown", jobId);
                throw ApiException.unavailable("The batch " + jobId + " was sent but the cluster did not confirm it in time; "
                        + "it may still be accepted. Check GET /v1/batches/" + jobId + " before submitting it again.");
            }
            tracker.forget(jobId);
            deleteQuietly(jobId, e);
            dropped.accept(jobId);
            if (e instanceof JobPublisher.PublishFailedException pf && CustomerTransactions.mayRunAgain(pf)) {
                throw pf; // fenced: the customer's write runs again from its checks
            }
            if (e instanceof ApiException api) {
                throw api;
            }
            LOG.errorf(e, "batch %s was not published", jobId);
            throw ApiException.unavailable("The batch could not be submitted to the market (nothing was published): "
                    + rootMessage(e) + ". Retry shortly.");
        }
    }

    /**
     * Holds the batch's escrow or refuses the create: 402 {@code insufficient_funds} when the
     * customer's spendable balance (the ledger's available less the escrows held for their other
     * batches being accepted) is below it, 403 {@code budget_exceeded} when it would take the
     * customer past their budget, 503 while this instance is still reading the ledger.
     */
    private void refuseUnlessHeld(String customerId, String jobId, int rows, long maxPrice, long escrow, long nowMs) {
        CustomerBalances.Reservation r = tracker.reserve(customerId, jobId, escrow, nowMs).orElseThrow(() -> ApiException.unavailable(
                "Balances are not available yet: this ingest instance is still reading the ledger. Retry shortly."));
        if (r instanceof CustomerBalances.Insufficient i) {
            throw new ApiException(402, OpenAiObjects.error(String.format(java.util.Locale.ROOT,
                    "Insufficient funds: this batch needs an escrow of %d micro-units (%d rows x %d per row); your available "
                            + "balance is %d micro-units (%d on the ledger, %d of it held for your batches being accepted).",
                    i.neededMicros(), rows, maxPrice, i.availableMicros() - i.heldMicros(), i.availableMicros(), i.heldMicros()),
                    "invalid_request_error", "insufficient_funds", null));
        }
        if (r instanceof CustomerBalances.OverBudget o) {
            throw new ApiException(403, OpenAiObjects.error(String.format(java.util.Locale.ROOT,
                    "Budget exceeded: this batch needs an escrow of %d micro-units; your budget is %d micro-units per %s and "
                            + "%d are already committed this %s (escrowed or spent, including batches being accepted).",
                    o.neededMicros(), o.budget().limitMicros(), o.budget().period().apiName(), o.committedMicros(),
                    o.budget().period().apiName()), "invalid_request_error", "budget_exceeded", null));
        }
    }

    /**
     * Deletes a file on every instance: refused (409) while a batch still needs it, else a deletion
     * record (and tombstones for an upload's chunks) is published, then the file goes here. Runs as
     * the customer's write ({@link CustomerTransactions}): after catching up with the log, so a batch
     * another instance created on the file before is known, and fenced by any create for the customer
     * racing it (which then sees the delete, or the delete sees its batch).
     */
    public void deleteFile(StoredFile f) throws FileStore.FileInUseException {
        try {
            stores.customers().write(f.customerId(), p -> {
                JobPublisher.PublishFailedException[] failed = {null};
                try {
                    stores.store().deleteFile(f, () -> {
                        try {
                            JobPublisher.publishAll(p, "delete of " + f.id(), () -> stores.log().sendDelete(p, f, System.currentTimeMillis()));
                        } catch (JobPublisher.PublishFailedException e) {
                            failed[0] = e;
                            throw new IOException(e);
                        }
                    });
                } catch (FileStore.FileInUseException e) {
                    throw new InUse(e);
                } catch (IOException e) {
                    if (failed[0] != null) {
                        if (CustomerTransactions.mayRunAgain(failed[0])) {
                            throw failed[0]; // fenced: runs again from the in-use check
                        }
                        LOG.errorf(failed[0], "delete of %s was not published", f.id());
                        throw ApiException.unavailable("The delete of " + f.id() + " could not be recorded ("
                                + rootMessage(failed[0]) + "); retry shortly.");
                    }
                    throw new UncheckedIOException("could not delete " + f.id(), e);
                }
                return null;
            });
            stores.log().deletedHere(f);
        } catch (InUse e) {
            throw e.inUse;
        } catch (JobPublisher.PublishFailedException e) {
            throw ApiException.unavailable("The delete of " + f.id() + " could not be recorded (" + rootMessage(e) + "); retry shortly.");
        } catch (IOException e) {
            throw new UncheckedIOException("could not delete " + f.id(), e);
        }
    }

    /** Carries a refused delete out of the customer's write. */
    private static final class InUse extends RuntimeException {
        final FileStore.FileInUseException inUse;

        InUse(FileStore.FileInUseException inUse) {
            super(inUse.getMessage(), inUse, false, false);
            this.inUse = inUse;
        }
    }

    /** How long a cancel waits for settlement to have taken the job (its first status) before it is published. */
    static final long CANCEL_WAIT_FOR_JOB_MS = 5_000;

    /**
     * Cancels the customer's batch (OpenAI's {@code POST /v1/batches/{id}/cancel}): publishes a
     * {@link JobCancelRequested} for settlement, which stops the job's unassigned shards, lets the
     * leased ones finish and then closes it CANCELLED, returning the unused escrow; ingest then
     * delivers the completed lines and errors the rest with {@code batch_cancelled}. Another
     * customer's batch is 404. Idempotent: a batch already cancelling or cancelled is answered as it
     * is, nothing published again. A batch that finished otherwise (completed, failed, expired, or
     * every shard accepted already) is 409 {@code batch_not_cancellable}.
     */
    public StoredBatch cancel(String customerId, String batchId) {
        StoredBatch b = owned(customerId, batchId);
        if (b.finalized()) {
            if ("cancelled".equals(b.finalStatus())) {
                return b;
            }
            throw notCancellable(b.id(), b.finalStatus());
        }
        if (b.cancelRequestedAt() != null) {
            return b;
        }
        long waitUntil = System.currentTimeMillis() + CANCEL_WAIT_FOR_JOB_MS;
        Optional<JobStatus> latest = tracker.latestStatus(batchId);
        while (latest.isEmpty() && System.currentTimeMillis() < waitUntil) {
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            latest = tracker.latestStatus(batchId);
        }
        if (latest.isEmpty()) {
            // Settlement has not taken the job yet: a cancel now could reach it first and be refused.
            throw ApiException.unavailable("The batch " + batchId + " is still being validated by the market; retry the cancel shortly.");
        }
        JobStatus st = latest.get();
        if (st.getCancelRequestedAtMs() == null && !OpenAiObjects.cancelling(b.withCancelRequested(0), st)) {
            throw notCancellable(b.id(), st.getState().name().toLowerCase(java.util.Locale.ROOT));
        }
        if (st.getCancelRequestedAtMs() == null) {
            long now = System.currentTimeMillis();
            JobCancelRequested cancel = JobCancelRequested.newBuilder().setJobId(batchId).setCustomerId(customerId)
                    .setRequestedAtMs(now).build();
            try {
                producer.inTransactionSlot(p -> {
                    JobPublisher.publishOne(p, Topics.JOB_CANCELS, batchId, cancel, "cancel of " + batchId);
                    return null;
                });
            } catch (JobPublisher.PublishFailedException e) {
                LOG.errorf(e, "cancel of %s was not published", batchId);
                throw ApiException.unavailable(e.outcomeUnknown()
                        ? "The cancel of " + batchId + " was sent but the cluster did not confirm it in time; check GET /v1/batches/"
                                + batchId + " and retry if it is not cancelling."
                        : "The cancel could not be submitted to the market (nothing was published); retry shortly.");
            }
            LOG.infof("customer %s cancelled %s", customerId, batchId);
        }
        long askedAt = (st.getCancelRequestedAtMs() != null ? st.getCancelRequestedAtMs() : System.currentTimeMillis()) / 1000;
        try {
            // Under the store's lock: an output written meanwhile stays written.
            return stores.store().updateBatch(batchId, now -> now.finalized() || now.cancelRequestedAt() != null ? now
                    : now.withCancelRequested(askedAt)).orElse(b);
        } catch (IOException e) {
            throw new UncheckedIOException("could not record the cancel of " + batchId, e);
        }
    }

    private StoredBatch owned(String customerId, String batchId) {
        return stores.batch(batchId).filter(x -> x.customerId().equals(customerId))
                .orElseThrow(() -> ApiException.notFound("Batch", batchId));
    }

    private static ApiException notCancellable(String batchId, String status) {
        return ApiException.conflict("batch_not_cancellable", "Cannot cancel batch " + batchId + " with status '" + status
                + "': only a batch that is validating or in progress can be cancelled.");
    }

    private void deleteQuietly(String jobId, Exception cause) {
        try {
            stores.store().deleteBatch(jobId);
        } catch (IOException cleanup) {
            cause.addSuppressed(cleanup);
        }
    }

    private static String requiredString(JsonNode req, String field) {
        JsonNode v = req.get(field);
        if (v == null || v.isNull()) {
            throw ApiException.invalid(field, "missing_required_parameter", "Missing required parameter: '" + field + "'.");
        }
        if (!v.isTextual()) {
            throw ApiException.invalid(field, "invalid_type", "Invalid type for '" + field + "': expected a string.");
        }
        return v.textValue();
    }

    /** OpenAI's metadata rules: up to 16 string pairs, keys up to 64 and values up to 512 characters. */
    static Map<String, String> metadata(JsonNode m) {
        if (m == null || m.isNull()) {
            return null;
        }
        if (!m.isObject()) {
            throw ApiException.invalid("metadata", "invalid_type", "Invalid type for 'metadata': expected an object.");
        }
        if (m.size() > 16) {
            throw ApiException.invalid("metadata", "invalid_value", "'metadata' has " + m.size() + " keys; at most 16 are allowed.");
        }
        Map<String, String> out = new LinkedHashMap<>();
        for (Iterator<Map.Entry<String, JsonNode>> it = m.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> e = it.next();
            if (e.getKey().length() > 64) {
                throw ApiException.invalid("metadata", "invalid_value", "metadata key '" + clip(e.getKey(), 70)
                        + "' is longer than 64 characters.");
            }
            if (!e.getValue().isTextual()) {
                throw ApiException.invalid("metadata", "invalid_type", "metadata['" + e.getKey() + "'] must be a string.");
            }
            if (e.getValue().textValue().length() > 512) {
                throw ApiException.invalid("metadata", "invalid_value", "metadata['" + e.getKey()
                        + "'] is longer than 512 characters.");
            }
            out.put(e.getKey(), e.getValue().textValue());
        }
        return out;
    }

    private static String rootMessage(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName() + (t.getMessage() == null ? "" : ": " + t.getMessage());
    }

    /** The client's file name without any path, control characters or quotes, at most 255 characters. */
    static String safeFilename(String filename) {
        if (filename == null) {
            return "batch.jsonl";
        }
        String base = filename.substring(Math.max(filename.lastIndexOf('/'), filename.lastIndexOf('\\')) + 1);
        String clean = base.replaceAll("[\\p{Cntrl}\"]", "").trim();
        return clean.isEmpty() ? "batch.jsonl" : clip(clean, 255);
    }

    private static String clip(String s, int max) {
        return s.length() <= max ? s : s.substring(0, max);
    }
}
