package io.inferex.local.load;

import io.inferex.events.Assignment;
import io.inferex.events.ShardResult;
import io.inferex.events.ShardTask;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.OutcomeKind;
import io.inferex.market.VerificationIds;
import io.inferex.security.BusCredentials;
import io.inferex.topics.Topics;
import io.inferex.wire.AnyEventSerde;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Follows every shard through the stage topics: {@code shard-tasks} (accepted), {@code assignments}
 * (assigned), {@code results}, {@code verdicts} (form-accepted, provisional),
 * {@code verification-outcomes} (final or fraud), {@code ledger} (paid), and counts dead letters.
 * Re-executions (leases, verdicts and payouts under a {@link VerificationIds} id) are counted
 * apart, never as shards. One
 * read_committed consumer (the operator's credential, no group) stamps each record with this JVM's
 * wall clock when it is polled ({@link #clock}).
 *
 * <p>Why not the records' own timestamps: the topics use CreateTime, and Kafka Streams gives an
 * output the timestamp of the input it came from, so a verdict carries its result's time and the
 * stage would read as free. Receipt time includes the observer's own poll delay; the baseline hop
 * is measured by the same kind of consumer, so the ratio to it cancels that cost.
 */
public final class StageObserver implements AutoCloseable {
    /** What the run knows about one shard; times are epoch ms at receipt, 0 = not seen. */
    public static final class Shard {
        public final String taskId;
        public String jobId;
        public int rows;
        public long accepted;
        public long assigned;
        public int assignments;
        public long result;
        public long verdict;
        public String acceptedVerdictId;
        public String acceptedLeaseId;
        public String acceptedNodeId;
        public int acceptedVerdicts;
        public int rejectedVerdicts;
        public long paid;
        public int payouts;
        /** When its FINAL or FRAUD outcome was seen, and which. */
        public long resolved;
        public OutcomeKind outcome;
        /** How many times ingest published it on {@code shard-tasks}, and how many FINAL or FRAUD outcomes named it (one each, or it is duplicated). */
        public int published;
        public int resolutions;

        Shard(String taskId) {
            this.taskId = taskId;
        }
    }

    private static final List<String> TOPICS = List.of(Topics.SHARD_TASKS.name(), Topics.ASSIGNMENTS.name(),
            Topics.RESULTS.name(), Topics.VERDICTS.name(), Topics.VERIFICATION_OUTCOMES.name(), Topics.LEDGER.name(),
            Topics.DEAD_LETTER.name());

    /** Job, task, lease and node ids inside a dead letter's reason. */
    private static final java.util.regex.Pattern IDS = java.util.regex.Pattern.compile("batch_[0-9a-f]+(/\\d+)?(#\\d+)?|\\b[0-9a-f]{16}\\b");

    private final KafkaConsumer<String, byte[]> consumer;
    private final AnyEventSerde serde = new AnyEventSerde();
    private final java.util.function.LongSupplier clock;
    private final Map<String, Shard> shards = new HashMap<>(); // guarded by this
    private final Map<String, Long> resultByLease = new HashMap<>();
    /** Shard task id by the id of a FINAL outcome or verdict that a payout may name as its cause. */
    private final Map<String, String> taskByCause = new HashMap<>();
    private final Map<String, List<Long>> payoutsByCause = new HashMap<>();
    private final java.util.Set<String> verificationCauses = new java.util.HashSet<>();
    private final AtomicLong reexecutionLeases = new AtomicLong();
    private final AtomicLong reexecutionsAccepted = new AtomicLong();
    private final AtomicLong reexecutionPayouts = new AtomicLong();
    private final Map<OutcomeKind, Long> outcomes = new java.util.EnumMap<>(OutcomeKind.class);
    private final Map<String, Long> fraudByNode = new HashMap<>();
    private final AtomicLong deadLetters = new AtomicLong();
    private final AtomicLong undecodable = new AtomicLong();
    private final Map<String, Long> deadLetterReasons = new HashMap<>();
    private final AtomicBoolean running = new AtomicBoolean(true);
    private final Thread thread;

    public StageObserver(Map<String, Object> operator) {
        this(operator, System::currentTimeMillis);
    }

    /** An observer fed by hand ({@link #accept}): no consumer, no thread. The checker's tests build event logs with it. */
    StageObserver() {
        this.clock = System::currentTimeMillis;
        this.consumer = null;
        this.thread = null;
    }

    StageObserver(Map<String, Object> operator, java.util.function.LongSupplier clock) {
        this.clock = clock;
        consumer = new KafkaConsumer<>(BusCredentials.properties(operator, Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG,
                "read_committed", ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false, ConsumerConfig.FETCH_MAX_WAIT_MS_CONFIG, 5,
                ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 2000)), new StringDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> parts = new ArrayList<>();
        for (String t : TOPICS) {
            consumer.partitionsFor(t).forEach(p -> parts.add(new TopicPartition(t, p.partition())));
        }
        consumer.assign(parts);
        consumer.seekToEnd(parts);
        parts.forEach(consumer::position); // from now on only
        thread = new Thread(this::loop, "stage-observer");
        thread.setDaemon(true);
        thread.start();
    }

    private void loop() {
        while (running.get()) {
            try {
                var records = consumer.poll(Duration.ofMillis(50));
                long now = clock.getAsLong();
                synchronized (this) {
                    for (ConsumerRecord<String, byte[]> r : records) {
                        on(r, now);
                    }
                }
            } catch (org.apache.kafka.common.errors.WakeupException e) {
                return;
            }
        }
    }

    private void on(ConsumerRecord<String, byte[]> r, long now) {
        for (Probe p : probes) {
            if (now > p.afterMs() && p.topics().contains(r.topic()) && p.at().complete(now)) {
                probes.remove(p);
            }
        }
        if (r.topic().equals(Topics.DEAD_LETTER.name())) {
            deadLetters.incrementAndGet();
            var reason = r.headers().lastHeader("inferex.dlq.error.message");
            String why = reason == null ? "?" : new String(reason.value(), java.nio.charset.StandardCharsets.UTF_8);
            why = IDS.matcher(why).replaceAll("<id>"); // group by reason, not by lease or node
            deadLetterReasons.merge(why.length() > 120 ? why.substring(0, 120) : why, 1L, Long::sum);
            return;
        }
        SpecificRecord v;
        try {
            v = serde.deserialize(r.topic(), r.value());
        } catch (RuntimeException e) {
            undecodable.incrementAndGet();
            return;
        }
        record(v, now);
    }

    /** One decoded stage event, received at {@code now}: what the consumer loop does per record, and what a test feeds. */
    synchronized void accept(SpecificRecord v, long now) {
        record(v, now);
    }

    /** A wait for the first record of one of {@code topics} received after {@code afterMs}. */
    private record Probe(java.util.Set<String> topics, long afterMs, java.util.concurrent.CompletableFuture<Long> at) {}

    private final List<Probe> probes = new java.util.concurrent.CopyOnWriteArrayList<>();

    /**
     * Completes with the receipt time (epoch ms) of the first record on any of {@code topics} that
     * arrives after {@code afterMs}: how a chaos run sees a stage make progress again after a kill.
     */
    public java.util.concurrent.CompletableFuture<Long> firstAfter(java.util.Set<String> topics, long afterMs) {
        Probe p = new Probe(java.util.Set.copyOf(topics), afterMs, new java.util.concurrent.CompletableFuture<>());
        probes.add(p);
        return p.at();
    }

    private void record(SpecificRecord v, long now) {
        if (v instanceof ShardTask t) {
            Shard s = shard(t.getTaskId());
            s.published++;
            if (s.accepted == 0) {
                s.accepted = now;
                s.jobId = t.getJobId();
                s.rows = t.getRows().size();
            }
        } else if (v instanceof Assignment a && !a.getRevoked() && VerificationIds.isVerification(a.getTaskId())) {
            reexecutionLeases.incrementAndGet();
        } else if (v instanceof Assignment a && !a.getRevoked()) {
            Shard s = shard(a.getTaskId());
            s.assignments++;
            if (s.assigned == 0) {
                s.assigned = now;
            }
        } else if (v instanceof ShardResult res) {
            resultByLease.putIfAbsent(res.getLeaseId(), now);
            Shard s = shards.get(res.getTaskId());
            if (s != null && res.getLeaseId().equals(s.acceptedLeaseId) && s.result == 0) {
                s.result = now; // its verdict was polled first (another partition's fetch came back sooner)
            }
        } else if (v instanceof Verdict d && VerificationIds.isVerification(d.getTaskId())) {
            if (d.getOutcome() == VerdictOutcome.ACCEPTED) {
                reexecutionsAccepted.incrementAndGet();
            }
            verificationCauses.add(d.getVerdictId());
            List<Long> early = payoutsByCause.remove(d.getVerdictId());
            if (early != null) {
                reexecutionPayouts.addAndGet(early.size());
            }
        } else if (v instanceof VerificationOutcome o) {
            outcomes.merge(o.getKind(), 1L, Long::sum);
            if (o.getKind() == OutcomeKind.FRAUD) {
                fraudByNode.putIfAbsent(o.getNodeId(), now);
            }
            if (o.getKind() == OutcomeKind.FINAL || o.getKind() == OutcomeKind.FRAUD) {
                Shard s = shard(o.getTaskId());
                s.resolutions++;
                if (s.resolved == 0) {
                    s.resolved = now;
                    s.outcome = o.getKind();
                }
                cause(o.getOutcomeId(), s);
            }
        } else if (v instanceof Verdict d) {
            Shard s = shard(d.getTaskId());
            if (d.getOutcome() == VerdictOutcome.ACCEPTED) {
                s.acceptedVerdicts++;
                if (s.verdict == 0) {
                    s.verdict = now;
                    s.acceptedVerdictId = d.getVerdictId();
                    s.acceptedLeaseId = d.getLeaseId();
                    s.acceptedNodeId = d.getNodeId();
                    s.result = resultByLease.getOrDefault(d.getLeaseId(), 0L);
                }
            } else {
                s.rejectedVerdicts++;
            }
            cause(d.getVerdictId(), s);
        } else if (v instanceof Transfer tr && tr.getKind() == TransferKind.PAYOUT) {
            String task = taskByCause.get(tr.getCause());
            if (task != null) {
                payout(shard(task), now);
            } else if (verificationCauses.contains(tr.getCause())) {
                reexecutionPayouts.incrementAndGet();
            } else {
                payoutsByCause.computeIfAbsent(tr.getCause(), k -> new ArrayList<>()).add(now);
            }
        }
    }

    /** {@code causeId} (a verdict or outcome id) names shard {@code s}; payouts seen before it are applied now. */
    private void cause(String causeId, Shard s) {
        taskByCause.put(causeId, s.taskId);
        List<Long> early = payoutsByCause.remove(causeId);
        if (early != null) {
            early.forEach(t -> payout(s, t));
        }
    }

    private static void payout(Shard s, long at) {
        s.payouts++;
        if (s.paid == 0) {
            s.paid = at;
        }
    }

    private Shard shard(String taskId) {
        return shards.computeIfAbsent(taskId, Shard::new);
    }

    /** A copy of every shard seen so far. */
    public synchronized List<Shard> shards() {
        return new ArrayList<>(shards.values());
    }

    /** Index of each stage in {@link #progress()}. */
    public static final int ACCEPTED = 0, ASSIGNED = 1, RESULT = 2, VERDICT = 3, RESOLVED = 4, PAID = 5;

    /** Counts per stage: accepted, assigned, result, verdict, resolved (FINAL or FRAUD), paid. */
    public synchronized long[] progress() {
        long[] c = new long[6];
        for (Shard s : shards.values()) {
            c[ACCEPTED] += s.accepted > 0 ? 1 : 0;
            c[ASSIGNED] += s.assigned > 0 ? 1 : 0;
            c[RESULT] += s.verdict > 0 && s.result > 0 ? 1 : 0;
            c[VERDICT] += s.verdict > 0 ? 1 : 0;
            c[RESOLVED] += s.resolved > 0 ? 1 : 0;
            c[PAID] += s.paid > 0 ? 1 : 0;
        }
        return c;
    }

    /** Node id → when its first FRAUD outcome was seen. */
    public synchronized Map<String, Long> fraudByNode() {
        return new HashMap<>(fraudByNode);
    }

    /** Shards that will never be paid: resolved as FRAUD (the drain does not wait for their payout). */
    public synchronized long fraudulent() {
        return shards.values().stream().filter(s -> s.outcome == OutcomeKind.FRAUD).count();
    }

    /**
     * Verification work seen: re-execution leases, re-executions form-accepted, their payouts, and
     * the verification outcomes by kind.
     */
    public record Verification(long leases, long accepted, long payouts, Map<OutcomeKind, Long> outcomes) {}

    public synchronized Verification verification() {
        Map<OutcomeKind, Long> copy = new java.util.EnumMap<>(OutcomeKind.class);
        copy.putAll(outcomes);
        return new Verification(reexecutionLeases.get(), reexecutionsAccepted.get(), reexecutionPayouts.get(), copy);
    }

    public long deadLetters() {
        return deadLetters.get();
    }

    public synchronized Map<String, Long> deadLetterReasons() {
        return new HashMap<>(deadLetterReasons);
    }

    public long undecodable() {
        return undecodable.get();
    }

    /** Payouts whose cause was never seen (a payout that names no verdict or outcome of this run). */
    public synchronized int orphanPayouts() {
        return payoutsByCause.values().stream().mapToInt(List::size).sum();
    }

    @Override
    public void close() {
        running.set(false);
        if (consumer == null) {
            return;
        }
        consumer.wakeup();
        try {
            thread.join(5_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        consumer.close(Duration.ofSeconds(5));
    }
}
