package io.inferex.ingest;

import io.inferex.deadletter.DeadLetterPublisher;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.OutcomeKind;
import io.inferex.events.ShardResult;
import io.inferex.events.Transfer;
import io.inferex.events.Verdict;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.VerificationIds;
import io.inferex.topics.Topic;
import io.inferex.market.OutputDigest;
import io.inferex.topics.Topics;
import io.inferex.wire.UndecodableRecordException;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.jboss.logging.Logger;

/**
 * Follows the market for this instance's batches and its customers' money: one read_committed
 * consumer, assigned every partition of its topics (no consumer group: the state it builds is in
 * memory and on ingest's disk, and is rebuilt at start), each read from where it is needed
 * ({@link #seekStarts}: job topics from the earliest batch this instance follows, the ledger from
 * its checkpoint on the data dir, written by {@link #maybeCheckpoint}). Values are
 * read as raw bytes and decoded with the catalogue serde; an undecodable record is dead-lettered
 * and the consumer goes on. The latest JobStatus per running batch is kept for GET /v1/batches;
 * results and verdicts go to the {@link JobBook} (which may ask for a results partition to be read
 * again from a result it refused, {@link #rereadRefusedResults}); a ready job's output file is written on a
 * separate thread. Ledger transfers go to {@link CustomerBalances}, which answers only once the
 * consumer has read the ledger up to where it ended when the consumer was (re)assigned.
 */
@ApplicationScoped
public class MarketTracker {
    private static final Logger LOG = Logger.getLogger(MarketTracker.class);
    static final String READER = "ingest";
    private static final List<Topic<String, ?>> TOPICS = List.of(Topics.RESULTS, Topics.VERDICTS, Topics.JOB_STATUS,
            Topics.LEDGER, Topics.VERIFICATION_OUTCOMES, Topics.CHALLENGE_BONDS, Topics.CUSTOMER_BUDGETS);

    @Inject
    IngestStore stores;

    @Inject
    IngestConfig config;

    /** Quarkus's {@code kafka.*} config: bootstrap servers and ingest's credential. */
    @Inject
    @io.smallrye.common.annotation.Identifier("default-kafka-broker")
    java.util.Map<String, Object> kafka;

    private final Map<String, JobStatus> latest = new ConcurrentHashMap<>();
    private final CustomerBalances balances = new CustomerBalances();
    private final ChallengeBook challenges = new ChallengeBook();
    /** Records passed over for jobs not followed, read again if the job's batch is learned later. */
    private final MissedRecords missed = new MissedRecords();
    /** Ledger end offsets when the consumer was assigned; null once it has read up to them. */
    private volatile Map<TopicPartition, Long> ledgerCatchUp;
    private JobBook book;
    private VerificationBook verification;
    /** Jobs seen COMPLETED whose verification waits for the log read up to then (tracker thread only). */
    private final Set<String> logMarkRequests = new HashSet<>();
    private final Map<String, Map<TopicPartition, Long>> logMarks = new HashMap<>();
    private List<TopicPartition> verificationPartitions = List.of();
    private DiskSpool spool;
    private ExecutorService writer;
    /** Publishes batches' outcomes to the log (a customer's serialized write each), off the writer thread. */
    private ExecutorService publisher;
    private Thread thread;
    private volatile KafkaConsumer<byte[], byte[]> consumer;
    private volatile boolean running;
    private volatile boolean assigned;
    private volatile boolean stopping;
    private volatile long recordsSeen;
    private volatile long deadLettered;
    static final String CHECKPOINT_FILE = "ledger-checkpoint";
    private static final Set<String> JOB_TOPICS = Set.of(Topics.RESULTS.name(), Topics.VERDICTS.name(), Topics.JOB_STATUS.name());
    private static final Set<String> CHECKPOINTED_TOPICS = Set.of(Topics.LEDGER.name(), Topics.CHALLENGE_BONDS.name(),
            Topics.VERIFICATION_OUTCOMES.name());
    /** Records read from the checkpointed topics (tracker thread only). */
    private long checkpointRecords;
    /** checkpointRecords at the last checkpoint written or read (tracker thread only); -1: none. */
    private long checkpointed = -1;
    private long lastCheckpointMs;

    void onStart(@Observes StartupEvent ev) throws IOException {
        spool = new DiskSpool(stores.store());
        verification = new VerificationBook(spool);
        book = new JobBook(verification.watching(spool));
        long now = System.currentTimeMillis();
        for (StoredBatch b : stores.store().allBatches()) {
            long holdUntil = b.createdAt() * 1000 + config.escrowHoldMs();
            if (!b.finalized() && holdUntil > now) {
                // Published shortly before this start: held until the ledger, read again from its beginning, shows it.
                balances.hold(b.customerId(), b.id(), b.escrowMicros(), holdUntil);
            }
            if (!b.finalized() || b.awaitsVerification()) {
                spool.clear(b.id()); // rebuilt from the log
                book.track(b.id(), b.shardCount());
                verification.track(b.id(), b.shardCount());
            }
        }
        writer = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "ingest-output-writer");
            t.setDaemon(true);
            return t;
        });
        // Files and batches of every instance: the tracker starts reading once they are read to their end
        // (run), so where it starts (ReplayStart) counts the batches learned from the log too.
        stores.log().start(new IngestLog.Listener() {
            @Override
            public void batchLearned(StoredBatch b) {
                learned(b);
            }

            @Override
            public void batchSettled(StoredBatch b) {
                settled(b);
            }
        });
        publisher = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "ingest-outcome-publisher");
            t.setDaemon(true);
            return t;
        });
        publisher.submit(this::publishEnded);
        running = true;
        thread = new Thread(this::run, "ingest-market-tracker");
        thread.setDaemon(true);
        thread.start();
    }

    void onStop(@Observes ShutdownEvent ev) throws InterruptedException {
        stopping = true;
        running = false;
        KafkaConsumer<byte[], byte[]> c = consumer;
        if (c != null) {
            c.wakeup();
        }
        if (thread != null) {
            thread.join(10_000);
        }
        if (publisher != null) {
            publisher.shutdown();
            publisher.awaitTermination(30, TimeUnit.SECONDS);
        }
        stores.log().stop();
        if (writer != null) {
            writer.shutdown();
            writer.awaitTermination(30, TimeUnit.SECONDS);
        }
    }

    /** Running and assigned to every partition of its topics. */
    public boolean ready() {
        return running && assigned && consumer != null && thread != null && thread.isAlive();
    }

    /**
     * A customer's money as the ledger says, or empty while the ledger is still being read from
     * its beginning (at start, or after the consumer was replaced).
     */
    public Optional<CustomerBalances.View> balance(String customerId) {
        return assigned && ledgerCatchUp == null ? Optional.of(balances.of(customerId)) : Optional.empty();
    }

    /**
     * Holds a new batch's escrow if the customer can pay it and it fits their budget (see
     * {@link CustomerBalances#reserve}); empty while the ledger is still being read, when nothing can
     * be decided.
     */
    public Optional<CustomerBalances.Reservation> reserve(String customerId, String jobId, long micros, long nowMs) {
        if (!(assigned && ledgerCatchUp == null)) {
            return Optional.empty();
        }
        return Optional.of(balances.reserve(customerId, jobId, micros, nowMs, config.escrowHoldMs()));
    }

    /** What the customer may spend now: the ledger's available balance less the escrows this instance holds for new batches. */
    public Optional<Long> spendable(String customerId) {
        return balance(customerId).map(v -> v.availableMicros() - v.heldMicros());
    }

    /** Customers' challenges and what became of them. */
    public ChallengeBook challenges() {
        return challenges;
    }

    /** The result delivered for a shard, while it is spooled (until the job's verification is over). */
    public Optional<ShardResult> delivered(String jobId, int shardIndex) {
        try {
            return spool.get(jobId, shardIndex);
        } catch (IOException e) {
            throw new java.io.UncheckedIOException("could not read the spooled result of " + jobId + " shard " + shardIndex, e);
        }
    }

    public Optional<JobStatus> latestStatus(String jobId) {
        return Optional.ofNullable(latest.get(jobId));
    }

    /** Shards of a followed job that have an accepted result (empty when the job is not followed). */
    public Optional<java.util.BitSet> acceptedShards(String jobId) {
        JobBook b = book;
        return b == null ? Optional.empty() : b.acceptedShardSet(jobId);
    }

    /** Starts following a batch about to be published. */
    public void track(StoredBatch b) {
        book.track(b.id(), b.shardCount());
        verification.track(b.id(), b.shardCount());
    }

    /**
     * A batch created through another instance (or before this data dir was lost), read from
     * {@code ingest-batches}: followed like one created here, and, while it may still be waiting for
     * its escrow, its escrow held against the customer's spendable balance, as the creating instance
     * holds it (unless the ledger already showed that escrow).
     */
    void learned(StoredBatch b) {
        track(b);
        long holdUntil = b.createdAt() * 1000 + config.escrowHoldMs();
        if (holdUntil > System.currentTimeMillis()) {
            balances.holdUnlessEscrowed(b.customerId(), b.id(), b.escrowMicros(), holdUntil);
        }
        missed.learned(b.id());
    }

    /**
     * A batch this instance followed whose outcome another instance published: it is over here too (the
     * log's output and fields stand, see {@link IngestLog}); its spooled results go.
     */
    void settled(StoredBatch b) {
        forget(b.id());
        writer.submit(() -> {
            try {
                spool.clear(b.id());
            } catch (IOException e) {
                LOG.warnf("could not clear the spool of %s: %s", b.id(), e);
            }
        });
    }

    /**
     * At start, once the feeds have read the log to its end: publishes the outcome of every batch at its
     * end here whose outcome is not in the log (finalized before a crash, or by a build that did not
     * publish outcomes), so that rebuilt instances do not derive them again.
     */
    private void publishEnded() {
        try {
            while (!stores.log().ready() && !stopping) {
                Thread.sleep(50);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return;
        }
        for (StoredBatch b : stores.store().allBatches()) {
            if (stopping) {
                return;
            }
            if (IngestLog.atEnd(b) && !stores.log().settled(b.id())) {
                stores.publishOutcome(b.id());
            }
        }
    }

    /** After a write of a batch's output: its outcome to the log once the batch is at its end. */
    private void publishIfEnded(String jobId) {
        try {
            publisher.submit(() -> stores.publishOutcome(jobId));
        } catch (java.util.concurrent.RejectedExecutionException stopping) {
            LOG.infof("stopping: the outcome of %s is published at the next start", jobId);
        }
    }

    /** Stops following a batch whose transaction was aborted. */
    public void forget(String jobId) {
        balances.release(jobId);
        book.forget(jobId);
        verification.forget(jobId);
        latest.remove(jobId);
    }

    public Map<String, Object> stats() {
        return Map.ofEntries(Map.entry("trackedJobs", book == null ? 0 : book.trackedJobs()),
                Map.entry("verifyingJobs", verification == null ? 0 : verification.trackedJobs()),
                Map.entry("refereeResultsHeld", verification == null ? 0 : verification.refereeResultsHeld()),
                Map.entry("refereeResultsRefused", verification == null ? 0 : verification.refereeResultsRefused()),
                Map.entry("heldResults", book == null ? 0 : book.heldResults()),
                Map.entry("refusedResults", book == null ? 0 : book.refusedResults()),
                Map.entry("recordsSeen", recordsSeen), Map.entry("jobsPassedOver", missed.jobs()), Map.entry("deadLettered", deadLettered),
                Map.entry("ledger", ledgerCatchUp == null ? "read" : "catching up"),
                Map.entry("balanceCustomers", balances.customers()), Map.entry("openEscrows", balances.openEscrows()),
                Map.entry("escrowHolds", balances.holds()));
    }

    /**
     * Consumes until shutdown; if the consumer fails it is replaced and reads again from its start
     * positions (the book ignores what it already decided, so a replay is harmless).
     */
    private void run() {
        while (!stopping && !stores.log().ready()) {
            try {
                Thread.sleep(50); // files and batches first: see onStart
            } catch (InterruptedException e) {
                return;
            }
        }
        while (!stopping) {
            try {
                consume();
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                LOG.error("market tracker consumer failed; restarting it (from the start positions again)", e);
                assigned = false;
                try {
                    Thread.sleep(2000);
                } catch (InterruptedException ie) {
                    return;
                }
            }
        }
    }

    private void consume() throws InterruptedException {
        try (DeadLetterPublisher deadLetters = DeadLetterPublisher.create(kafka, READER);
             KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(consumerProps(),
                     new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            consumer = c;
            assignAll(c);
            noteLedgerCaughtUp(c); // a checkpoint at the ledger's end: balances answer before the first poll
            try {
                pollUntilStopped(c, deadLetters);
            } catch (WakeupException e) {
                if (!stopping) {
                    throw e;
                }
            }
            maybeCheckpoint(c, true); // at shutdown: the next start reads the ledger from here
        } finally {
            consumer = null;
        }
    }

    private void pollUntilStopped(KafkaConsumer<byte[], byte[]> c, DeadLetterPublisher deadLetters) throws InterruptedException {
        {
            while (!stopping) {
                ConsumerRecords<byte[], byte[]> records = c.poll(Duration.ofMillis(500));
                Set<TopicPartition> retry = new HashSet<>();
                for (ConsumerRecord<byte[], byte[]> rec : records) {
                    TopicPartition tp = new TopicPartition(rec.topic(), rec.partition());
                    if (retry.contains(tp)) {
                        continue;
                    }
                    recordsSeen++;
                    if (CHECKPOINTED_TOPICS.contains(rec.topic())) {
                        checkpointRecords++;
                    }
                    try {
                        handle(rec);
                        rereadRefusedResults(c);
                        rewindForLearnedBatches(c);
                    } catch (UndecodableRecordException e) {
                        try {
                            deadLetter(deadLetters, rec, e);
                        } catch (RuntimeException dlqFailure) {
                            LOG.errorf(dlqFailure, "could not dead-letter %s-%d@%d; retrying", rec.topic(), rec.partition(), rec.offset());
                            c.seek(tp, rec.offset());
                            retry.add(tp);
                        }
                    } catch (RuntimeException e) {
                        // Not the record's fault (disk, dead-letter producer): read it again shortly.
                        LOG.errorf(e, "could not process %s-%d@%d; retrying", rec.topic(), rec.partition(), rec.offset());
                        c.seek(tp, rec.offset());
                        retry.add(tp);
                    }
                }
                if (!retry.isEmpty()) {
                    Thread.sleep(1000);
                }
                noteLedgerCaughtUp(c);
                noteVerificationLogRead(c);
                maybeCheckpoint(c, false);
            }
        }
    }

    /**
     * An ACCEPTED verdict whose result the book refused (its shard's caps were full, e.g. of forged
     * records): the results partition is read again from the earliest refused record.
     */
    private void rereadRefusedResults(KafkaConsumer<byte[], byte[]> c) {
        for (JobBook.Position p : book.takeRereads()) {
            TopicPartition tp = new TopicPartition(Topics.RESULTS.name(), p.partition());
            if (c.assignment().contains(tp) && p.offset() < c.position(tp, Duration.ofSeconds(10))) {
                LOG.infof("reading %s again from offset %d: a verdict names a result refused there", tp, p.offset());
                c.seek(tp, p.offset());
            }
        }
    }

    /** A batch learned from the log after the tracker passed some of its job's records: those partitions are read again from there. */
    private void rewindForLearnedBatches(KafkaConsumer<byte[], byte[]> c) {
        for (MissedRecords.Position p : missed.takeRewinds()) {
            TopicPartition tp = new TopicPartition(p.topic(), p.partition());
            if (c.assignment().contains(tp) && p.offset() < c.position(tp, Duration.ofSeconds(10))) {
                LOG.infof("reading %s again from offset %d: a batch learned from the log has records there", tp, p.offset());
                c.seek(tp, p.offset());
            }
        }
    }

    private void deadLetter(DeadLetterPublisher deadLetters, ConsumerRecord<byte[], byte[]> rec, Exception e) {
        LOG.warnf("dead-lettering %s-%d@%d: %s", rec.topic(), rec.partition(), rec.offset(), e.getMessage());
        deadLetters.publish(rec, e); // throws if it could not be written: then the record is read again
        deadLettered++;
    }

    private void assignAll(KafkaConsumer<byte[], byte[]> c) throws InterruptedException {
        while (!stopping) {
            try {
                List<TopicPartition> parts = new ArrayList<>();
                for (Topic<String, ?> t : TOPICS) {
                    List<PartitionInfo> infos = c.partitionsFor(t.name(), Duration.ofSeconds(10));
                    if (infos == null || infos.isEmpty()) {
                        throw new IllegalStateException("topic " + t.name() + " does not exist yet");
                    }
                    infos.forEach(i -> parts.add(new TopicPartition(i.topic(), i.partition())));
                }
                c.assign(parts);
                seekStarts(c, parts);
                verificationPartitions = parts.stream().filter(p -> p.topic().equals(Topics.RESULTS.name())
                        || p.topic().equals(Topics.VERIFICATION_OUTCOMES.name())).toList();
                logMarks.clear();
                logMarkRequests.clear();
                // Money answers (balances, creates) once the ledger and the budgets are read to where they ended now.
                ledgerCatchUp = c.endOffsets(parts.stream().filter(p -> p.topic().equals(Topics.LEDGER.name())
                        || p.topic().equals(Topics.CUSTOMER_BUDGETS.name())).toList(), Duration.ofSeconds(10));
                assigned = true;
                LOG.infof("market tracker reading %d partitions of %s", parts.size(), TOPICS);
                return;
            } catch (WakeupException e) {
                throw e;
            } catch (RuntimeException e) {
                LOG.warnf("market tracker waiting for Kafka: %s", e.toString());
                Thread.sleep(1000);
            }
        }
    }

    /**
     * Where each partition is read from ({@link ReplayStart}): results, verdicts and job-status from
     * the earliest followed batch's creation less the margin; the ledger from the checkpoint when one
     * fits, else from its beginning (balances then rebuilt from nothing); challenge-bonds from the
     * checkpoint's challenges when they fit, verification-outcomes from the earlier of there and the
     * job topics' start, else both from their beginning; the compacted customer-budgets from its
     * beginning.
     */
    private void seekStarts(KafkaConsumer<byte[], byte[]> c, List<TopicPartition> parts) {
        long fromMs = ReplayStart.jobTopicsFromMs(stores.store().allBatches(), System.currentTimeMillis(),
                config.replayMarginMs());
        Map<TopicPartition, Long> times = new HashMap<>();
        List<TopicPartition> ledger = new ArrayList<>();
        List<TopicPartition> bonds = new ArrayList<>();
        List<TopicPartition> outcomes = new ArrayList<>();
        List<TopicPartition> fromBeginning = new ArrayList<>();
        for (TopicPartition tp : parts) {
            if (JOB_TOPICS.contains(tp.topic()) || tp.topic().equals(Topics.VERIFICATION_OUTCOMES.name())) {
                times.put(tp, fromMs);
            }
            if (tp.topic().equals(Topics.LEDGER.name())) {
                ledger.add(tp);
            } else if (tp.topic().equals(Topics.CHALLENGE_BONDS.name())) {
                bonds.add(tp);
            } else if (tp.topic().equals(Topics.VERIFICATION_OUTCOMES.name())) {
                outcomes.add(tp);
            } else if (!JOB_TOPICS.contains(tp.topic())) {
                fromBeginning.add(tp);
            }
        }
        c.seekToBeginning(fromBeginning);
        Map<TopicPartition, Long> ends = c.endOffsets(parts, Duration.ofSeconds(10));
        Map<TopicPartition, Long> atTime = new HashMap<>();
        c.offsetsForTimes(times, Duration.ofSeconds(10)).forEach((tp, found) ->
                atTime.put(tp, found == null ? ends.get(tp) : found.offset()));
        atTime.forEach((tp, at) -> {
            if (JOB_TOPICS.contains(tp.topic())) {
                c.seek(tp, at);
            }
        });
        Optional<LedgerCheckpoint> file = LedgerCheckpoint.read(checkpointPath());
        Optional<LedgerCheckpoint> cp = file.filter(x -> ReplayStart.checkpointFits(x.offsets(), byPartition(ledger, ends)));
        if (cp.isPresent()) {
            balances.restore(cp.get().balances());
            ledger.forEach(tp -> c.seek(tp, cp.get().offsets().get(tp.partition())));
        } else {
            balances.clear();
            c.seekToBeginning(ledger);
        }
        Optional<ReplayStart.ChallengeStart> cs = ReplayStart.challengesFrom(file.map(LedgerCheckpoint::challenges).orElse(null),
                byPartition(bonds, ends), byPartition(outcomes, ends), byPartition(outcomes, atTime));
        if (cs.isPresent()) {
            challenges.restore(file.get().challenges().views());
            bonds.forEach(tp -> c.seek(tp, cs.get().bonds().get(tp.partition())));
            outcomes.forEach(tp -> c.seek(tp, cs.get().outcomes().get(tp.partition())));
        } else {
            c.seekToBeginning(bonds);
            c.seekToBeginning(outcomes);
        }
        checkpointed = cp.isPresent() && cs.isPresent() ? checkpointRecords : -1;
        lastCheckpointMs = System.currentTimeMillis();
        LOG.infof("market tracker: results, verdicts and job-status from %s; ledger from %s; challenges from %s",
                java.time.Instant.ofEpochMilli(fromMs),
                cp.isPresent() ? "its checkpoint " + cp.get().offsets() + " (" + balances.transfersApplied() + " transfers)"
                        : "its beginning",
                cs.isPresent() ? "the checkpoint (" + file.get().challenges().views().size() + "), bonds " + cs.get().bonds()
                        + ", outcomes " + cs.get().outcomes() : "the beginning of challenge-bonds and verification-outcomes");
    }

    private static Map<Integer, Long> byPartition(List<TopicPartition> parts, Map<TopicPartition, Long> offsets) {
        Map<Integer, Long> out = new HashMap<>();
        parts.forEach(tp -> out.put(tp.partition(), offsets.get(tp)));
        return out;
    }

    private java.nio.file.Path checkpointPath() {
        return stores.store().root().resolve(CHECKPOINT_FILE);
    }

    /**
     * Writes the balances and the challenges with the ledger, challenge-bonds and
     * verification-outcomes positions they cover (on the tracker thread, between polls, so state and
     * positions agree) when one of those topics moved since the last checkpoint and the interval has
     * passed, or {@code force}d at shutdown; decided challenges past their retention are dropped
     * first. A failed write leaves the previous checkpoint, still consistent.
     */
    private void maybeCheckpoint(KafkaConsumer<byte[], byte[]> c, boolean force) {
        long now = System.currentTimeMillis();
        if (checkpointRecords == checkpointed || (!force && now - lastCheckpointMs < config.ledgerCheckpointIntervalMs())) {
            return;
        }
        lastCheckpointMs = now;
        try {
            Map<String, Map<Integer, Long>> offsets = new HashMap<>();
            for (TopicPartition tp : c.assignment()) {
                if (CHECKPOINTED_TOPICS.contains(tp.topic())) {
                    offsets.computeIfAbsent(tp.topic(), t -> new HashMap<>()).put(tp.partition(), c.position(tp, Duration.ofSeconds(10)));
                }
            }
            challenges.prune(now, this::overBefore);
            long covered = checkpointRecords;
            new LedgerCheckpoint(offsets.getOrDefault(Topics.LEDGER.name(), Map.of()), balances.snapshot(),
                    new LedgerCheckpoint.Challenges(offsets.getOrDefault(Topics.CHALLENGE_BONDS.name(), Map.of()),
                            offsets.getOrDefault(Topics.VERIFICATION_OUTCOMES.name(), Map.of()), challenges.views()))
                    .write(checkpointPath(), stores.store().newTempFile(".checkpoint"));
            checkpointed = covered;
        } catch (IOException | RuntimeException e) {
            LOG.warnf(e, "could not write the ledger checkpoint; the previous one stays");
        }
    }

    /** Whether a batch has been over (final, its verification done, or unknown here) since before {@code ms}. */
    private boolean overBefore(String batchId, long ms) {
        return stores.store().batch(batchId)
                .map(b -> b.finalized() && !b.awaitsVerification() && b.finalizedAt() != null && b.finalizedAt() * 1000 < ms)
                .orElse(true);
    }

    /** Once every ledger partition's position has reached its end offset at assignment, balances answer. */
    private void noteLedgerCaughtUp(KafkaConsumer<byte[], byte[]> c) {
        Map<TopicPartition, Long> ends = ledgerCatchUp;
        if (ends == null) {
            return;
        }
        for (Map.Entry<TopicPartition, Long> e : ends.entrySet()) {
            if (c.position(e.getKey(), Duration.ofSeconds(10)) < e.getValue()) {
                return;
            }
        }
        ledgerCatchUp = null;
        LOG.infof("ledger read up to its end at start: balances of %d customers", balances.customers());
    }

    /**
     * For each job seen COMPLETED: the end offsets of results and verification-outcomes right
     * after; once the consumer has read up to them, whatever the job's verification still misses
     * was never published before COMPLETED, and its output is rewritten without it.
     */
    private void noteVerificationLogRead(KafkaConsumer<byte[], byte[]> c) {
        if (!logMarkRequests.isEmpty()) {
            Map<TopicPartition, Long> ends = c.endOffsets(verificationPartitions, Duration.ofSeconds(10));
            logMarkRequests.forEach(jobId -> logMarks.put(jobId, ends));
            logMarkRequests.clear();
        }
        for (var it = logMarks.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<String, Map<TopicPartition, Long>> mark = it.next();
            boolean read = true;
            for (Map.Entry<TopicPartition, Long> e : mark.getValue().entrySet()) {
                read &= c.position(e.getKey(), Duration.ofSeconds(10)) >= e.getValue();
            }
            if (read) {
                it.remove();
                verification.onLogReadPastCompletion(mark.getKey()).ifPresent(this::scheduleVerified);
            }
        }
    }

    private void handle(ConsumerRecord<byte[], byte[]> rec) {
        String topic = rec.topic();
        if (topic.equals(Topics.RESULTS.name())) {
            ShardResult r = decode(Topics.RESULTS, rec);
            if (!book.tracks(r.getJobId()) && !verification.tracks(r.getJobId())) {
                missed.noteUnlessFollowed(r.getJobId(), topic, rec.partition(), rec.offset(),
                        () -> book.tracks(r.getJobId()) || verification.tracks(r.getJobId()));
                return; // a finished or an unknown job (or one not learned yet): no digest of its rows
            }
            if (VerificationIds.isVerification(r.getTaskId())) {
                verification.onRefereeResult(r.getJobId(), r.getTaskId(), r.getLeaseId(), OutputDigest.of(r.getRows()),
                        rec.value()).ifPresent(this::scheduleVerified);
                return;
            }
            book.onResult(r.getJobId(), r.getTaskId(), r.getLeaseId(), r.getShardIndex(), OutputDigest.of(r.getRows()), rec.value(),
                    new JobBook.Position(rec.partition(), rec.offset())).ifPresent(this::schedule);
        } else if (topic.equals(Topics.VERIFICATION_OUTCOMES.name())) {
            VerificationOutcome o = decode(Topics.VERIFICATION_OUTCOMES, rec);
            if (o.getKind() == OutcomeKind.UNKNOWN) {
                throw new UndecodableRecordException("verification outcome " + o.getOutcomeId() + " has a kind this build does not know", null);
            }
            challenges.onOutcome(o);
            verification.onDispute(o).ifPresent(disputed -> scheduleDisputes(o.getJobId(), disputed));
            verification.onOutcome(o).ifPresent(this::scheduleVerified);
        } else if (topic.equals(Topics.VERDICTS.name())) {
            Verdict v = decode(Topics.VERDICTS, rec);
            if (VerificationIds.isVerification(v.getTaskId())) {
                return; // a re-execution's verdict: the shard's delivery does not depend on it
            }
            if (!book.tracks(v.getJobId())) {
                missed.noteUnlessFollowed(v.getJobId(), topic, rec.partition(), rec.offset(), () -> book.tracks(v.getJobId()));
            }
            book.onVerdict(v).ifPresent(this::schedule);
        } else if (topic.equals(Topics.JOB_STATUS.name())) {
            if (rec.value() == null) {
                return; // a tombstone on the compacted status topic
            }
            JobStatus s = decode(Topics.JOB_STATUS, rec);
            balances.onStatus(s);
            Optional<StoredBatch> b = stores.store().batch(s.getJobId());
            if (b.isEmpty()) {
                missed.noteUnlessFollowed(s.getJobId(), topic, rec.partition(), rec.offset(),
                        () -> stores.store().batch(s.getJobId()).isPresent());
            }
            if (b.isPresent() && !b.get().finalized()) {
                latest.put(s.getJobId(), s);
            }
            book.onStatus(s).ifPresent(this::schedule);
            verification.onStatus(s).ifPresent(this::scheduleVerified);
            if (verification.awaitsLog(s.getJobId()) && !logMarks.containsKey(s.getJobId())) {
                logMarkRequests.add(s.getJobId());
            }
        } else if (topic.equals(Topics.LEDGER.name())) {
            Transfer t = decode(Topics.LEDGER, rec);
            balances.apply(t);
        } else if (topic.equals(Topics.CUSTOMER_BUDGETS.name())) {
            applyBudget(rec);
        } else if (topic.equals(Topics.CHALLENGE_BONDS.name())) {
            challenges.onBond(decode(Topics.CHALLENGE_BONDS, rec));
        }
    }

    /** A budget record: its key must be its customer and its period one this build knows, else it is dead-lettered. */
    private void applyBudget(ConsumerRecord<byte[], byte[]> rec) {
        io.inferex.events.CustomerBudget b = decode(Topics.CUSTOMER_BUDGETS, rec);
        String key = rec.key() == null ? null : new String(rec.key(), java.nio.charset.StandardCharsets.UTF_8);
        CustomerBalances.Period period = CustomerBalances.Period.parse(b.getPeriod());
        if (!b.getCustomerId().equals(key) || period == null || (b.getLimitMicros() != null && b.getLimitMicros() < 0)) {
            throw new UndecodableRecordException("budget of " + b.getCustomerId() + " under key " + key + " with period "
                    + b.getPeriod() + " and limit " + b.getLimitMicros() + " is not one ingest writes", null);
        }
        balances.applyBudget(b.getCustomerId(), b.getLimitMicros(), period, b.getUpdatedAtMs());
    }

    /** A budget this instance just published, applied at once so the next create obeys it. */
    public void budgetPublished(io.inferex.events.CustomerBudget b) {
        balances.applyBudget(b.getCustomerId(), b.getLimitMicros(), CustomerBalances.Period.parse(b.getPeriod()), b.getUpdatedAtMs());
    }

    /** The customer's budget and what is committed against it now; empty while the ledger or the budgets are being read. */
    public Optional<BudgetView> budget(String customerId, long nowMs) {
        if (!(assigned && ledgerCatchUp == null)) {
            return Optional.empty();
        }
        Optional<CustomerBalances.Budget> b = balances.budget(customerId);
        return Optional.of(new BudgetView(customerId, b, b.map(x -> balances.committed(customerId, x.period(), nowMs)).orElse(0L)));
    }

    /** A customer's budget (none: empty) and the micro-units committed in its current period. */
    public record BudgetView(String customerId, Optional<CustomerBalances.Budget> budget, long committedMicros) {}

    private static <V> V decode(Topic<String, V> topic, ConsumerRecord<byte[], byte[]> rec) {
        if (rec.value() == null) {
            throw new UndecodableRecordException("null value on event topic " + topic.name(), null);
        }
        return topic.valueSerde().deserializer().deserialize(topic.name(), rec.value());
    }

    private void schedule(JobBook.Ready ready) {
        long at = (ready.atMs() > 0 ? ready.atMs() : System.currentTimeMillis()) / 1000; // from the log: the same on every instance
        writer.submit(() -> {
            try {
                stores.writeOutput(ready, spool, at);
                latest.remove(ready.jobId());
                publishIfEnded(ready.jobId());
            } catch (Exception e) {
                LOG.errorf(e, "could not write the output of %s; it is written again after a restart", ready.jobId());
            }
        });
        // After the provisional write (one writer thread, in order): its verified rewrite may follow.
        if (ready.state() == JobState.COMPLETED || ready.state() == JobState.FINALIZING) {
            java.util.SortedSet<Integer> disputed = verification.disputed(ready.jobId());
            if (!disputed.isEmpty()) {
                scheduleDisputes(ready.jobId(), disputed); // disputes opened before the output was first written
            }
            verification.onOutputWritten(ready.jobId()).ifPresent(this::scheduleVerified);
        } else {
            verification.forget(ready.jobId());
        }
    }

    private void scheduleDisputes(String jobId, java.util.SortedSet<Integer> disputed) {
        writer.submit(() -> {
            try {
                stores.writeDisputes(jobId, disputed, spool);
            } catch (Exception e) {
                LOG.errorf(e, "could not mark the disputed lines of %s; the final rewrite is unaffected", jobId);
            }
        });
    }

    private void scheduleVerified(VerificationBook.Final done) {
        writer.submit(() -> {
            try {
                stores.writeVerified(done, spool);
                publishIfEnded(done.jobId());
            } catch (Exception e) {
                LOG.errorf(e, "could not rewrite the verified output of %s; it is rewritten after a restart", done.jobId());
            }
        });
    }

    private Properties consumerProps() {
        Properties p = new Properties();
        p.putAll(io.inferex.security.BusCredentials.connection(kafka));
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, "inferex-ingest-tracker-" + FileStore.randomHex(4));
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 500);
        p.put(ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 100);
        return p;
    }
}
