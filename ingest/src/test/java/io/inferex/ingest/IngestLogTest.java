package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.DeadLetters;
import io.inferex.events.IngestBatch;
import io.inferex.events.IngestFile;
import io.inferex.events.ModelChunk;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.models.ModelChunks;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import java.util.stream.Stream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Two (then three) ingest instances' stores and feeds on one real broker, without Quarkus: what one
 * instance stores, the others learn from the log (files with their bytes, batches with their
 * Idempotency-Key, deletes), an instance with an empty data dir rebuilds everything, and what does
 * not check (a malformed record, a chunk whose bytes are not the recorded file) is refused.
 */
class IngestLogTest {
    /** Each test its own customer: the broker is shared with other test classes (and other runs of this one). */
    private final String CUSTOMER = "customer:logtest-" + FileStore.randomHex(6);
    private static final Map<String, Object> KAFKA = new HashMap<>(EmbeddedKafkaBroker.shared().clientConfig());
    private static Producer<byte[], byte[]> producer;
    private static final List<Instance> instances = new ArrayList<>();

    @TempDir
    static Path dirs;

    /**
     * One ingest instance: its data dir, idempotency keys and log feeds; the batches it learned and
     * would follow (one whose outcome the log then shows is dropped, as the tracker stops following it).
     */
    record Instance(FileStore store, IdempotencyKeys keys, IngestLog log, List<StoredBatch> learned) {
        static Instance start(Path dir) {
            FileStore store = new FileStore(dir);
            IdempotencyKeys keys = new IdempotencyKeys(store, System.currentTimeMillis() / 1000);
            IngestLog log = new IngestLog(store, keys, KAFKA);
            List<StoredBatch> learned = new CopyOnWriteArrayList<>();
            log.start(new IngestLog.Listener() {
                @Override
                public void batchLearned(StoredBatch b) {
                    learned.add(b);
                }

                @Override
                public void batchSettled(StoredBatch b) {
                    learned.removeIf(x -> x.id().equals(b.id()));
                }
            });
            Instance i = new Instance(store, keys, log, learned);
            instances.add(i);
            await(log::ready, "feeds read to their end");
            return i;
        }
    }

    @BeforeAll
    static void topicsAndProducer() {
        TopicProvisioner.ensureTopics(EmbeddedKafkaBroker.shared().clientConfig(), (short) 1, Topics.ALL);
        Properties p = new Properties();
        p.putAll(KAFKA);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "inferex-ingest-logtest-" + FileStore.randomHex(4));
        producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
        producer.initTransactions();
    }

    @AfterAll
    static void stop() throws InterruptedException {
        writers.forEach(CustomerTransactions::close);
        for (Instance i : instances) {
            i.log().stop();
        }
        producer.close();
    }

    /** Uploads through {@code via} as BatchService does: chunks + metadata in one transaction, then the local copy. */
    private StoredFile upload(Instance via, String content) throws Exception {
        return uploadFor(via, CUSTOMER, content);
    }

    private static void delete(Instance via, StoredFile f) throws Exception {
        via.store().deleteFile(f, () -> {
            try {
                JobPublisher.publishAll(producer, "delete", () -> via.log().sendDelete(producer, f, System.currentTimeMillis()));
            } catch (JobPublisher.PublishFailedException e) {
                throw new IOException(e);
            }
        });
        via.log().deletedHere(f);
    }

    @Test
    void whatOneInstanceStoresEveryOtherServesAndAnEmptyDataDirRebuildsItFromTheLog() throws Exception {
        Instance a = Instance.start(dirs.resolve("a"));
        Instance b = Instance.start(dirs.resolve("b"));

        // A file of three chunks (> 2 x 512 KiB) uploaded through A: listed, retrieved and byte-identical on B.
        String big = Jsonl.file("big", 14_000);
        assertTrue(big.length() > 2 * ModelChunks.CHUNK_BYTES, "three chunks: " + big.length());
        StoredFile input = upload(a, big);
        await(() -> b.store().file(input.id()).isPresent(), "B lists A's upload");
        assertEquals(input, b.store().file(input.id()).get(), "same metadata, shard plan included");
        assertTrue(b.store().files(CUSTOMER).contains(input));
        assertFalse(b.store().hasContent(input.id()), "bytes fetched when first needed, not before");
        assertArrayEquals(Files.readAllBytes(a.store().content(input)), Files.readAllBytes(b.store().content(input)));
        assertTrue(tmpIsEmpty(b), "the fetch left nothing in tmp/");

        // A batch created through A (its record in a transaction, as JobPublisher sends it with the job): the same on B.
        String keyHash = IdempotencyKeys.keyHash(CUSTOMER, "retry-1");
        String requestSha = "ab".repeat(32);
        StoredBatch batch = new StoredBatch("batch_" + FileStore.randomHex(16), CUSTOMER, input.id(), "/v1/embeddings", "24h",
                System.currentTimeMillis() / 1000, Map.of("project", "x"), Jsonl.MODEL, 14_000, 875, 16, 512 * 1024, 200,
                14_000L * 200, input.sha256(), null, null, null, null, 0, 0, null).withRequests(14_000, List.of());
        a.store().saveBatch(batch);
        a.keys().record(CUSTOMER, "retry-1", new IdempotencyKeys.Entry(batch.id(), requestSha, batch.createdAt()));
        JobPublisher.publishAll(producer, "batch", () -> producer.send(IngestLog.batchRecord(batch, keyHash, requestSha)));
        await(() -> b.store().batch(batch.id()).isPresent(), "B knows A's batch");
        assertEquals(batch, b.store().batch(batch.id()).get());
        assertEquals(List.of(batch), mine(b.learned()), "B's tracker is told");
        assertTrue(mine(a.learned()).isEmpty(), "A made it: nothing to learn");
        assertEquals(new IdempotencyKeys.Entry(batch.id(), requestSha, batch.createdAt()),
                b.keys().find(CUSTOMER, "retry-1", System.currentTimeMillis() / 1000).orElseThrow(),
                "a retry with the key on B finds A's batch");

        // A delete through B (a second upload, and an output id never rendered on A): gone on A, and stays gone.
        StoredFile small = upload(a, Jsonl.file("small", 3));
        await(() -> b.store().file(small.id()).isPresent(), "B lists the second upload");
        delete(b, small);
        StoredFile output = new StoredFile("file-out-" + batch.suffix(), CUSTOMER, StoredFile.PURPOSE_OUTPUT, "out.jsonl", 1,
                1, "cd".repeat(32), 1, batch.id());
        JobPublisher.publishAll(producer, "delete output", () -> b.log().sendDelete(producer, output, 1));
        await(() -> a.store().file(small.id()).isEmpty() && a.log().deleted(output.id()), "A drops what B deleted");
        assertFalse(a.store().hasContent(small.id()), "its bytes too");
        assertThrows(FileStore.FileInUseException.class, () -> a.store().deleteFile(input), "a running batch's input stays");

        // A third instance with an empty data dir: files, batch and Idempotency-Key from the log alone.
        Instance c = Instance.start(dirs.resolve("c"));
        assertEquals(List.of(input), c.store().files(CUSTOMER), "the live upload, not the deleted one");
        assertEquals(batch, c.store().batch(batch.id()).orElseThrow());
        assertEquals(List.of(batch), mine(c.learned()));
        assertTrue(c.keys().find(CUSTOMER, "retry-1", System.currentTimeMillis() / 1000).isPresent());
        assertTrue(c.log().deleted(output.id()), "a deleted output is never rendered again");
        assertArrayEquals(big.getBytes(StandardCharsets.UTF_8), Files.readAllBytes(c.store().content(input)));
    }

    @Test
    void anUploadAndABatchCommittedThroughOneInstanceAreFoundByAnImmediateLookupThroughAnotherWithoutPolling() throws Exception {
        Instance a = Instance.start(dirs.resolve("ryw-a"));
        Instance b = Instance.start(dirs.resolve("ryw-b"));
        Duration wait = Duration.ofSeconds(5);
        for (int round = 0; round < 5; round++) {
            StoredFile input = upload(a, Jsonl.file("ryw" + round, 3)); // committed when this returns
            assertEquals(Optional.of(input), b.log().file(input.id(), wait), "round " + round + ": B finds A's upload at once");
            StoredBatch batch = new StoredBatch("batch_" + FileStore.randomHex(16), CUSTOMER, input.id(), "/v1/embeddings", "24h",
                    System.currentTimeMillis() / 1000, null, Jsonl.MODEL, 3, 1, 16, 512 * 1024, 200, 600, input.sha256(), null,
                    null, null, null, 0, 0, null).withRequests(3, List.of());
            a.store().saveBatch(batch);
            JobPublisher.publishAll(producer, "batch", () -> producer.send(IngestLog.batchRecord(batch, null, null)));
            assertEquals(Optional.of(batch), b.log().batch(batch.id(), wait), "round " + round + ": B finds A's batch at once");
            StoredFile spare = upload(a, Jsonl.file("spare" + round, 2));
            delete(b, b.log().file(spare.id(), wait).orElseThrow());
            assertTrue(a.log().awaitFiles(wait), "A reads the files topic to its end");
            assertTrue(a.store().file(spare.id()).isEmpty(), "round " + round + ": B's delete is known on A once A is at the end");
        }
        assertTrue(b.log().batch("batch_" + FileStore.randomHex(16), Duration.ofMillis(500)).isEmpty(), "an unknown id is still a miss");
    }

    /**
     * An instance as BatchService uses it for a customer's writes: its log feeds, its view of the
     * customer's money (the same deposit on every instance, the escrows of batches learned from the
     * log held as the tracker holds them) and its per-customer transactional producers.
     */
    record Writer(Instance i, CustomerBalances balances, CustomerTransactions customers) {
        static Writer start(Path dir, long depositMicros, String customer) {
            CustomerBalances balances = new CustomerBalances();
            balances.apply(io.inferex.events.Transfer.newBuilder().setTransferId("t-" + FileStore.randomHex(4))
                    .setDebitAccount(io.inferex.market.Accounts.EXTERNAL).setCreditAccount(io.inferex.market.Accounts.customer(customer))
                    .setAmountMicros(depositMicros).setKind(io.inferex.events.TransferKind.DEPOSIT).setCause("deposit").setAtMs(0).build());
            FileStore store = new FileStore(dir);
            IdempotencyKeys keys = new IdempotencyKeys(store, System.currentTimeMillis() / 1000);
            IngestLog log = new IngestLog(store, keys, KAFKA);
            List<StoredBatch> learned = new CopyOnWriteArrayList<>();
            log.start(b -> {
                learned.add(b);
                balances.holdUnlessEscrowed(b.customerId(), b.id(), b.escrowMicros(), Long.MAX_VALUE);
            });
            Instance i = new Instance(store, keys, log, learned);
            instances.add(i);
            await(log::ready, "feeds read to their end");
            Duration wait = Duration.ofSeconds(5);
            CustomerTransactions customers = new CustomerTransactions(KAFKA, 4, 30_000, IngestStore.CUSTOMER_WRITE_ATTEMPTS,
                    () -> log.awaitFiles(wait) && log.awaitBatches(wait));
            writers.add(customers);
            return new Writer(i, balances, customers);
        }

        /**
         * A create as BatchService's: inside the customer's write, the Idempotency-Key, the file, the
         * funds, then the batch record with its job in one transaction. Answers the batch id, "replay:"
         * + the id, "404" or "insufficient_funds".
         */
        String create(String customer, StoredFile input, String idempotencyKey) throws Exception {
            String keyHash = idempotencyKey == null ? null : IdempotencyKeys.keyHash(customer, idempotencyKey);
            String requestSha = "ab".repeat(32);
            String jobId = "batch_" + FileStore.randomHex(16);
            return customers.write(customer, p -> {
                long now = System.currentTimeMillis();
                if (idempotencyKey != null) {
                    Optional<IdempotencyKeys.Entry> earlier = i.keys().find(customer, idempotencyKey, now / 1000);
                    if (earlier.isPresent()) {
                        return "replay:" + earlier.get().batchId();
                    }
                }
                if (i.store().file(input.id()).isEmpty()) {
                    return "404";
                }
                if (!(balances.reserve(customer, jobId, ESCROW, now, 600_000) instanceof CustomerBalances.Reserved)) {
                    return "insufficient_funds";
                }
                StoredBatch b = new StoredBatch(jobId, customer, input.id(), "/v1/embeddings", "24h", now / 1000, null, Jsonl.MODEL,
                        ROWS, 1, 16, 512 * 1024, ESCROW / ROWS, ESCROW, input.sha256(), null, null, null, null, 0, 0, null)
                        .withRequests(ROWS, List.of());
                try {
                    io(() -> i.store().saveBatch(b));
                    if (idempotencyKey != null) {
                        io(() -> i.keys().record(customer, idempotencyKey, new IdempotencyKeys.Entry(jobId, requestSha, now / 1000)));
                    }
                    io.inferex.events.JobSubmitted job = io.inferex.events.JobSubmitted.newBuilder().setJobId(jobId)
                            .setCustomerId(customer).setInputFileId(input.id()).setEndpoint("/v1/embeddings").setModel(Jsonl.MODEL)
                            .setRowCount(ROWS).setShardCount(1).setMaxPricePerRowMicros(ESCROW / ROWS).setEscrowMicros(ESCROW)
                            .setInputDigest(input.sha256()).setCompletionWindow("24h").setSubmittedAtMs(now).setMetadata(Map.of()).build();
                    JobPublisher.publish(p, job, List.of(IngestLog.batchRecord(b, keyHash, keyHash == null ? null : requestSha)),
                            out -> out.accept(ShardPlanner.task(jobId, 0, 1, Jsonl.MODEL, "pool", ESCROW / ROWS,
                                    List.of(), now)));
                    return jobId;
                } catch (JobPublisher.PublishFailedException | RuntimeException e) {
                    balances.release(jobId);
                    io(() -> i.store().deleteBatch(jobId));
                    if (idempotencyKey != null) {
                        io(() -> i.keys().withdraw(customer, idempotencyKey, jobId));
                    }
                    throw e;
                }
            });
        }

        /** A delete as BatchService's: inside the customer's write, the in-use check, then the deletion record. "deleted" or "file_in_use". */
        String delete(StoredFile f) throws Exception {
            return customers.write(f.customerId(), p -> {
                JobPublisher.PublishFailedException[] failed = {null};
                try {
                    i.store().deleteFile(f, () -> {
                        try {
                            JobPublisher.publishAll(p, "delete", () -> i.log().sendDelete(p, f, System.currentTimeMillis()));
                        } catch (JobPublisher.PublishFailedException e) {
                            failed[0] = e;
                            throw new IOException(e);
                        }
                    });
                } catch (FileStore.FileInUseException e) {
                    return "file_in_use";
                } catch (IOException e) {
                    if (failed[0] != null) {
                        throw failed[0];
                    }
                    throw new UncheckedIOException(e);
                }
                io(() -> i.log().deletedHere(f));
                return "deleted";
            });
        }
    }

    private static final List<CustomerTransactions> writers = new ArrayList<>();

    interface IoRun {
        void run() throws IOException;
    }

    private static void io(IoRun r) {
        try {
            r.run();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
    private static final int ROWS = 3;
    private static final long ESCROW = 600;

    /** Runs every call at once (threads released by one latch) and answers their results in order. */
    private static List<String> race(List<java.util.concurrent.Callable<String>> calls) throws Exception {
        java.util.concurrent.CountDownLatch go = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(calls.size());
        try {
            List<java.util.concurrent.Future<String>> futures = new ArrayList<>();
            for (java.util.concurrent.Callable<String> c : calls) {
                futures.add(pool.submit(() -> {
                    go.await();
                    return c.call();
                }));
            }
            go.countDown();
            List<String> out = new ArrayList<>();
            for (java.util.concurrent.Future<String> f : futures) {
                out.add(f.get(60, java.util.concurrent.TimeUnit.SECONDS));
            }
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    /** The committed ingest-batches records and jobs records of a customer (read_committed). */
    private static long committed(String topic, String customer) {
        return TopicReader.readAll(topic).stream().filter(r -> r.value() != null)
                .filter(r -> new String(r.value(), StandardCharsets.ISO_8859_1).contains(customer)).count();
    }

    @Test
    void twoInstancesRacingCreatesDeletesAndIdempotencyKeysForOneCustomerActAsOne() throws Exception {
        int covered = 2;
        String customer = "customer:race-" + FileStore.randomHex(6);
        Writer a = Writer.start(dirs.resolve("race-a"), covered * ESCROW, customer);
        Writer b = Writer.start(dirs.resolve("race-b"), covered * ESCROW, customer);
        StoredFile input = uploadFor(a.i(), customer, Jsonl.file("race", ROWS));

        // Six creates at once, three through each instance, for funds that cover two: exactly two batches, two jobs.
        List<java.util.concurrent.Callable<String>> creates = new ArrayList<>();
        for (int n = 0; n < 6; n++) {
            Writer via = n % 2 == 0 ? a : b;
            creates.add(() -> via.create(customer, input, null));
        }
        List<String> answers = race(creates);
        assertEquals(covered, answers.stream().filter(x -> x.startsWith("batch_")).count(), answers.toString());
        assertEquals(6 - covered, answers.stream().filter(x -> x.equals("insufficient_funds")).count(), answers.toString());
        assertEquals(covered, committed(Topics.INGEST_BATCHES.name(), customer), "batches in the log");
        assertEquals(covered, committed(Topics.JOBS.name(), customer), "jobs published: as many as batches, no more");

        // The same Idempotency-Key on both instances at once, a few times: one batch each time, both answer it.
        String rich = "customer:idem-" + FileStore.randomHex(6);
        Writer ra = Writer.start(dirs.resolve("idem-a"), 100 * ESCROW, rich);
        Writer rb = Writer.start(dirs.resolve("idem-b"), 100 * ESCROW, rich);
        StoredFile richInput = uploadFor(ra.i(), rich, Jsonl.file("idem", ROWS));
        for (int round = 0; round < 3; round++) {
            String key = "retry-" + round;
            List<String> two = race(List.of(() -> ra.create(rich, richInput, key), () -> rb.create(rich, richInput, key)));
            List<String> ids = two.stream().map(x -> x.replace("replay:", "")).distinct().toList();
            assertEquals(1, ids.size(), "round " + round + ": one batch for one key: " + two);
            assertEquals(1, two.stream().filter(x -> x.startsWith("replay:")).count(), "round " + round + ": the other replays it: " + two);
        }
        assertEquals(3, committed(Topics.INGEST_BATCHES.name(), rich), "three keys, three batches in the log");

        // A delete through B racing a create through A on the same file: never a published batch whose input is gone.
        for (int round = 0; round < 3; round++) {
            StoredFile f = uploadFor(ra.i(), rich, Jsonl.file("del" + round, ROWS));
            StoredFile onB = rb.i().log().file(f.id(), Duration.ofSeconds(5)).orElseThrow();
            List<String> two = race(List.of(() -> ra.create(rich, f, null), () -> rb.delete(onB)));
            boolean created = two.get(0).startsWith("batch_");
            if (created) {
                assertEquals("file_in_use", two.get(1), "round " + round + ": the batch was first, so the delete is refused: " + two);
            } else {
                assertEquals(List.of("404", "deleted"), two, "round " + round + ": the delete was first, so the create finds no file");
            }
            assertTrue(ra.i().log().awaitFiles(Duration.ofSeconds(5)));
            assertEquals(created, ra.i().store().file(f.id()).isPresent(), "round " + round + ": the file lives iff a batch uses it");
        }

        // Writes for many customers: the instance keeps at most its capacity (4 here) of producers.
        for (int n = 0; n < 6; n++) {
            ra.customers().write("customer:lru-" + n + "-" + FileStore.randomHex(4), p -> null);
        }
        assertEquals(4, ra.customers().open(), "the least recently used producers are closed");
    }

    @Test
    void aBatchFinalizedThroughOneInstanceIsPublishedOnceAndAFreshInstanceServesItFinishedWithTheSameOutputWithoutFollowingIt()
            throws Exception {
        Instance a = Instance.start(dirs.resolve("end-a"));
        Instance a2 = Instance.start(dirs.resolve("end-a2"));
        Instance b = Instance.start(dirs.resolve("end-b"));
        StoredFile input = upload(a, Jsonl.file("end", 3));
        // A batch created three hours ago (its record in the log), followed by B as a batch it learned.
        long createdAt = System.currentTimeMillis() / 1000 - 3 * 3600;
        StoredBatch running = new StoredBatch("batch_" + FileStore.randomHex(16), CUSTOMER, input.id(), "/v1/embeddings", "24h",
                createdAt, null, Jsonl.MODEL, 3, 1, 16, 512 * 1024, 200, 600, input.sha256(), null, null, null, null, 0, 0, null)
                .withRequests(3, List.of());
        a.store().saveBatch(running);
        JobPublisher.publishAll(producer, "batch", () -> producer.send(IngestLog.batchRecord(running, null, null)));
        await(() -> mine(b.learned()).size() == 1, "B follows the batch");

        // A and A2 both finalize it (completed, verification final), rendering the same bytes as every instance does.
        byte[] output = (Jsonl.file("out", 3) + "\n").getBytes(StandardCharsets.UTF_8);
        StoredBatch done = running.finalize("completed", createdAt + 60, "file-out-" + running.suffix(), null, 3, 0, null)
                .withVerification(OutputFileWriter.FINAL, 0, 0).withPromptTokens(42);
        for (Instance i : List.of(a, a2)) {
            Path rendered = i.store().newTempFile(".out");
            Files.write(rendered, output);
            i.store().addFile(new StoredFile(done.outputFileId(), CUSTOMER, StoredFile.PURPOSE_OUTPUT, done.id() + "_output.jsonl",
                    output.length, done.finalizedAt(), HexSha.of(output), 3, done.id()), rendered);
            i.store().saveBatch(done);
        }
        CustomerTransactions viaA = customersOf(a);
        CustomerTransactions viaA2 = customersOf(a2);
        List<String> published = race(List.of(() -> String.valueOf(a.log().publishOutcome(viaA, done.id())),
                () -> String.valueOf(a2.log().publishOutcome(viaA2, done.id()))));
        assertEquals(1, published.stream().filter("true"::equals).count(), "one of the two publishes it: " + published);
        assertFalse(a.log().publishOutcome(viaA, done.id()), "and never again");
        assertEquals(2, TopicReader.readAll(Topics.INGEST_BATCHES.name()).stream()
                .filter(r -> r.key() != null && new String(r.key(), StandardCharsets.UTF_8).equals(done.id())).count(),
                "its create and one outcome");
        // B, which followed it without getting that far: finished, no longer followed, the output from the log.
        await(() -> b.log().settled(done.id()) && a.log().settled(done.id()) && a2.log().settled(done.id()), "all read the outcome");
        assertEquals(done, b.store().batch(done.id()).orElseThrow());
        assertTrue(mine(b.learned()).isEmpty(), "B no longer follows it");
        assertArrayEquals(output, Files.readAllBytes(b.store().content(b.log().file(done.outputFileId(), Duration.ofSeconds(5))
                .orElseThrow())));

        // C, an empty data dir: the batch finished at once (ready = the feeds read to their end), not followed,
        // its output bytes fetched from the log, and the job topics not read back to its creation.
        Instance c = Instance.start(dirs.resolve("end-c"));
        StoredBatch onC = c.store().batch(done.id()).orElseThrow();
        assertEquals("completed", onC.finalStatus(), "never in_progress");
        assertEquals(List.of(done.finalizedAt(), done.outputFileId(), 3, 42L, OutputFileWriter.FINAL),
                List.of(onC.finalizedAt(), onC.outputFileId(), onC.completedRows(), onC.promptTokens(), onC.verification()));
        assertTrue(mine(c.learned()).isEmpty(), "C does not follow it");
        long now = System.currentTimeMillis();
        assertEquals(now, ReplayStart.jobTopicsFromMs(c.store().batches(CUSTOMER), now, 0),
                "the job topics are not read back to the batch's creation for it");
        StoredFile out = c.log().file(done.outputFileId(), Duration.ofSeconds(5)).orElseThrow();
        assertEquals(StoredFile.PURPOSE_OUTPUT, out.purpose());
        assertFalse(c.store().hasContent(out.id()), "fetched when first needed");
        assertArrayEquals(output, Files.readAllBytes(c.store().content(out)), "byte-identical, from the log");
        assertTrue(tmpIsEmpty(c));

        // A finalization that does not add up (a completed batch's outcome with lines missing) is dead-lettered.
        String forgedId = "batch_" + FileStore.randomHex(16);
        StoredBatch forged = new StoredBatch(forgedId, CUSTOMER, input.id(), "/v1/embeddings", "24h", createdAt, null, Jsonl.MODEL, 3,
                1, 16, 512 * 1024, 200, 600, input.sha256(), null, null, null, null, 0, 0, null).withRequests(3, List.of())
                .finalize("completed", createdAt, "file-out-" + FileStore.randomHex(4), null, 2, 0, null)
                .withVerification(OutputFileWriter.FINAL, 0, 0);
        JobPublisher.publishAll(producer, "forged outcome", () -> producer.send(JobPublisher.record(Topics.INGEST_BATCHES, forgedId,
                IngestLog.outcomeRecord(null, forged))));
        await(() -> deadLetterFor(forgedId) != null, "the forged outcome is dead-lettered");
        String reason = new String(deadLetterFor(forgedId).headers().lastHeader(DeadLetters.ERROR_MESSAGE).value(), StandardCharsets.UTF_8);
        assertTrue(reason.contains("add up"), reason);
        assertTrue(c.store().batch(forgedId).isEmpty(), "not taken");
    }

    private static CustomerTransactions customersOf(Instance i) {
        Duration wait = Duration.ofSeconds(5);
        CustomerTransactions t = new CustomerTransactions(KAFKA, 4, 30_000, IngestStore.CUSTOMER_WRITE_ATTEMPTS,
                () -> i.log().awaitFiles(wait) && i.log().awaitBatches(wait));
        writers.add(t);
        return t;
    }

    /** Uploads through {@code via} for {@code customer} (uploads take the instance's producer, not the customer's). */
    private StoredFile uploadFor(Instance via, String customer, String content) throws Exception {
        Path copy = via.store().newTempFile(".upload");
        Files.writeString(copy, content);
        int lines = (int) content.lines().count();
        StoredFile meta = new StoredFile("file-" + FileStore.randomHex(12), customer, StoredFile.PURPOSE_BATCH, "in.jsonl",
                Files.size(copy), 1_700_000_000L, ModelChunks.sha256(copy), lines, null,
                new StoredFile.ShardPlan(16, 512 * 1024, Jsonl.MODEL, lines, 1, null));
        JobPublisher.publishAll(producer, "upload", () -> IngestLog.sendUpload(producer, meta, copy));
        return via.store().addFile(meta, copy);
    }

    @Test
    void aMalformedRecordIsDeadLetteredWithItsReasonAndAChunkThatIsNotTheRecordedFileIsRefusedLeavingNothing() throws Exception {
        Instance b = Instance.start(dirs.resolve("hostile"));
        String badId = "batch_" + FileStore.randomHex(16);
        IngestBatch bad = IngestBatch.newBuilder().setBatchId(badId).setCustomerId(CUSTOMER).setInputFileId("file-x")
                .setEndpoint("/v1/embeddings").setCompletionWindow("24h").setCreatedAtSeconds(1).setModel(Jsonl.MODEL)
                .setRowCount(10).setShardCount(1).setRowsPerShard(16).setMaxShardBytes(1024).setMaxPricePerRowMicros(200)
                .setEscrowMicros(1).setInputDigest("ef".repeat(32)).setRequestCount(10).build(); // escrow is not rows x price
        // A forged upload: the record names a digest, the chunk under its key carries other bytes of the same length.
        String fileId = "file-" + FileStore.randomHex(12);
        byte[] real = Jsonl.file("real", 2).getBytes(StandardCharsets.UTF_8);
        byte[] forged = real.clone();
        forged[forged.length - 3] ^= 1;
        String sha = HexSha.of(real);
        int partition = IngestLog.chunkPartition(fileId, 3);
        long[] offset = new long[1];
        JobPublisher.publishAll(producer, "hostile", () -> {
            producer.send(JobPublisher.record(Topics.INGEST_BATCHES, badId, bad));
            ModelChunk chunk = ModelChunk.newBuilder().setFileSha256(sha).setIndex(0).setCount(1).setFileBytes(forged.length)
                    .setData(ByteBuffer.wrap(forged)).build();
            offset[0] = producer.send(new ProducerRecord<>(Topics.INGEST_FILE_CHUNKS.name(), partition,
                    IngestLog.chunkKey(fileId, 0).getBytes(StandardCharsets.UTF_8),
                    Topics.INGEST_FILE_CHUNKS.valueSerde().serializer().serialize("", chunk))).get().offset();
            producer.send(JobPublisher.record(Topics.INGEST_FILES, fileId, IngestFile.newBuilder().setFileId(fileId)
                    .setCustomerId(CUSTOMER).setPurpose("batch").setFilename("f.jsonl").setBytes(real.length)
                    .setCreatedAtSeconds(1).setSha256(sha).setLines(2).setChunkPartition(partition)
                    .setChunkOffsets(List.of(offset[0])).build()));
        });
        await(() -> b.store().file(fileId).isPresent(), "the forged upload's metadata is read (it is well-formed)");
        StoredFile f = b.store().file(fileId).get();
        UncheckedIOException refused = assertThrows(UncheckedIOException.class, () -> b.store().content(f));
        assertTrue(refused.getCause().getMessage().contains("refused"), refused.getCause().getMessage());
        assertFalse(b.store().hasContent(fileId), "nothing under the file's id");
        assertTrue(tmpIsEmpty(b), "nor half a file in tmp/");

        assertTrue(b.store().batch(badId).isEmpty(), "the malformed batch is not taken");
        await(() -> deadLetterFor(badId) != null, "the malformed batch is dead-lettered");
        String reason = new String(deadLetterFor(badId).headers().lastHeader(DeadLetters.ERROR_MESSAGE).value(), StandardCharsets.UTF_8);
        assertTrue(reason.contains("escrow"), reason);
        assertTrue(b.log().ready(), "the feed goes on");
    }

    private List<StoredBatch> mine(List<StoredBatch> learned) {
        return learned.stream().filter(x -> x.customerId().equals(CUSTOMER)).toList();
    }

    private static ConsumerRecord<byte[], byte[]> deadLetterFor(String key) {
        return TopicReader.readAll(Topics.DEAD_LETTER.name()).stream()
                .filter(r -> r.key() != null && new String(r.key(), StandardCharsets.UTF_8).equals(key)).findFirst().orElse(null);
    }

    private static boolean tmpIsEmpty(Instance i) throws IOException {
        try (Stream<Path> s = Files.list(i.store().root().resolve("tmp"))) {
            return s.findAny().isEmpty();
        }
    }

    private static void await(BooleanSupplier condition, String what) {
        long deadline = System.currentTimeMillis() + 20_000;
        while (!condition.getAsBoolean()) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError("timed out waiting until " + what);
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                throw new AssertionError(e);
            }
        }
    }

    /** Hex SHA-256 of bytes. */
    private static final class HexSha {
        static String of(byte[] b) {
            return java.util.HexFormat.of().formatHex(BatchFileValidator.sha256().digest(b));
        }
    }
}
