package io.inferex.settlement;

import static io.inferex.testing.LedgerEvents.deposit;
import static io.inferex.testing.LedgerEvents.job;
import static io.inferex.testing.LedgerEvents.outcome;
import static io.inferex.testing.LedgerEvents.verdict;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.inferex.events.JobSubmitted;
import io.inferex.events.OutcomeKind;
import io.inferex.events.Payment;
import io.inferex.events.Transfer;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.ledger.LedgerConfig;
import io.inferex.local.audit.ExportArchive;
import io.inferex.local.audit.LedgerAudit;
import io.inferex.local.audit.LogEntry;
import io.inferex.local.audit.ReplayLedger;
import io.inferex.market.TaskIds;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.streams.TestInputTopic;
import org.junit.jupiter.api.Test;

/**
 * Replay speed of the audit against the live settlement's throughput, in one run: a generated
 * market of {@code -Dinferex.benchmark.events} events (default 1,020,000: per job one JobSubmitted,
 * one form-ACCEPTED verdict and one FINAL outcome; a deposit per 100 jobs), whose ledger is made by
 * the rules. The audit of all of it is timed (replay through LedgerRules plus every comparison and
 * check, from memory, not from files; it must come out clean), with its CPU and GC time. Then its
 * first {@code -Dinferex.benchmark.settled} events (default 100,000; 0 skips it) are settled by the
 * settlement itself, a Kafka Streams app on the embedded broker ({@link LiveSettlement}), timed
 * until its ledger holds every transfer (each equal to the rules' one), and the ratio is printed.
 * Not part of the suite: run with {@code ./mvnw -o -pl settlement-stream -am verify
 * -Dtest=ReplaySpeedBenchmark -Dinferex.benchmark=true -Dsurefire.failIfNoSpecifiedTests=false};
 * the figures go to docs/performance.md.
 */
class ReplaySpeedBenchmark {
    @Test
    void replaysAMillionEventsAndPrintsEventsPerSecondAgainstTheLiveSettlement() throws Exception {
        assumeTrue(Boolean.getBoolean("inferex.benchmark"), "a benchmark: -Dinferex.benchmark=true");
        int events = Integer.getInteger("inferex.benchmark.events", 1_020_000);
        int settled = Integer.getInteger("inferex.benchmark.settled", 100_000);
        LedgerConfig config = new LedgerConfig(500);
        Instant t0 = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        long t = t0.toEpochMilli();
        Map<Topic<?, ?>, List<List<LogEntry>>> log = new LinkedHashMap<>();
        List<LogEntry> sequence = new ArrayList<>();
        long[] offsets = new long[16];
        for (int j = 0; sequence.size() < events; j++) {
            // A job's events 1 ms apart, in causal order: the live settlement merges its input topics by record time.
            long ts = t + 4L * j;
            String customer = "c" + (j / 100);
            if (j % 100 == 0) {
                add(log, sequence, offsets, Topics.PAYMENTS, 0, "customer:" + customer,
                        Payment.newBuilder(deposit("d" + j, "customer:" + customer, 1_000_000_000L)).setAtMs(ts).build(), ts);
            }
            String jobId = "j" + j;
            String task = TaskIds.of(jobId, 0, 1);
            add(log, sequence, offsets, Topics.JOBS, 1, jobId, JobSubmitted.newBuilder(job(jobId, customer, 10, 1, 200)).setSubmittedAtMs(ts + 1).build(), ts + 1);
            add(log, sequence, offsets, Topics.VERDICTS, 2, jobId, verdict("v" + j, jobId, task, "n" + (j % 50), VerdictOutcome.ACCEPTED, 10, 150), ts + 2);
            add(log, sequence, offsets, Topics.VERIFICATION_OUTCOMES, 3, jobId, VerificationOutcome.newBuilder(
                    outcome("o" + j, OutcomeKind.FINAL, jobId, task, "n" + (j % 50), 10, 150)).setSamplingEpoch(-1).build(), ts + 3);
        }
        // The recorded ledger of the whole log, from the same rules (not timed).
        ReplayLedger rules = new ReplayLedger(config);
        List<LogEntry> transfers = new ArrayList<>();
        int settledCount = Math.min(settled, sequence.size());
        int transfersOfSettled = 0;
        for (int i = 0; i < sequence.size(); i++) {
            LogEntry e = sequence.get(i);
            for (Transfer tr : rules.event(e.event(), e.timestamp()).transfers()) {
                transfers.add(new LogEntry(Topics.LEDGER.name(), 0, offsets[15]++, e.timestamp(),
                        tr.getTransferId().getBytes(StandardCharsets.UTF_8), List.of(), null, tr));
            }
            if (i == settledCount - 1) {
                transfersOfSettled = transfers.size(); // what the settled events alone give
            }
        }
        log.put(Topics.LEDGER, List.of(transfers));
        System.gc(); // the generated log is old news: collect the generation's garbage before the clock starts
        Cpu before = Cpu.now();
        long replayStart = System.nanoTime();
        LedgerAudit.Report report;
        try {
            report = LedgerAudit.run(ExportArchive.of(log), config, "benchmark");
        } catch (LedgerAudit.Unavailable e) {
            throw new AssertionError(e);
        }
        long replayNs = System.nanoTime() - replayStart;
        Cpu used = Cpu.now().minus(before);
        double replayRate = sequence.size() / (replayNs / 1e9);
        System.out.printf("BENCHMARK audit: %,d events, %,d transfers in %.1f s = %,.0f events/s; discrepancies %d%n", sequence.size(),
                transfers.size(), replayNs / 1e9, replayRate, report.discrepancies().size());
        System.out.printf("BENCHMARK audit CPU: audit thread %.1f s (%,.0f events per thread-CPU-second), whole JVM %.1f s, GC %.1f s;"
                + " load average %s%n", used.threadNs() / 1e9, sequence.size() / (used.threadNs() / 1e9), used.processNs() / 1e9,
                used.gcMs() / 1e3, Cpu.loadAverage());
        assertEquals(List.of(), report.discrepancies().stream().limit(5).toList());
        if (settled > 0) {
            List<LogEntry> first = sequence.subList(0, settledCount);
            Map<String, Transfer> expected = new LinkedHashMap<>();
            for (LogEntry x : transfers.subList(0, transfersOfSettled)) {
                expected.put(((Transfer) x.event()).getTransferId(), (Transfer) x.event());
            }
            double liveRate = LiveSettlement.run(config, first, expected);
            System.out.printf("BENCHMARK live settlement (Kafka Streams, exactly_once_v2, commit 100 ms, embedded broker): %,d events"
                    + " (deposits first, untimed; then jobs, then verdicts and outcomes) = %,.0f events/s; audit/live ratio %.1fx; load average %s%n", first.size(), liveRate, replayRate / liveRate,
                    Cpu.loadAverage());
        }
    }

    /**
     * The settlement as it runs: {@link SettlementTopology} in a {@code KafkaStreams} app on the
     * embedded broker, exactly_once_v2 with the deployed commit interval (100 ms) and client
     * settings (application.properties), the dead-letter handlers, a fresh state dir. The events
     * are produced to their topics once the app is RUNNING, with their record times; the clock runs
     * from the first send until a read_committed consumer of {@code ledger} has every transfer the
     * rules give for them, and each must be equal to the rules' one.
     */
    static final class LiveSettlement {
        static double run(LedgerConfig config, List<LogEntry> events, Map<String, Transfer> expected) throws Exception {
            Map<String, Object> client = io.inferex.local.EmbeddedKafkaBroker.shared().clientConfig();
            io.inferex.topics.TopicProvisioner.ensureTopics(client, (short) 1, Topics.ALL);
            Map<String, Object> consumerConfig = new java.util.HashMap<>(client);
            consumerConfig.put(org.apache.kafka.clients.consumer.ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            consumerConfig.put(org.apache.kafka.clients.consumer.ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
            java.util.Properties props = new java.util.Properties();
            props.putAll(client);
            props.put(org.apache.kafka.streams.StreamsConfig.APPLICATION_ID_CONFIG, "settlement-benchmark-" + java.util.UUID.randomUUID());
            props.put(org.apache.kafka.streams.StreamsConfig.PROCESSING_GUARANTEE_CONFIG, org.apache.kafka.streams.StreamsConfig.EXACTLY_ONCE_V2);
            props.put(org.apache.kafka.streams.StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
            props.put(org.apache.kafka.streams.StreamsConfig.producerPrefix("linger.ms"), 5);
            props.put(org.apache.kafka.streams.StreamsConfig.consumerPrefix("fetch.max.wait.ms"), 50);
            props.put(org.apache.kafka.streams.StreamsConfig.STATE_DIR_CONFIG,
                    java.nio.file.Files.createTempDirectory(java.nio.file.Path.of(System.getProperty("inferex.test.tmp", "target")), "settlement-bench").toString());
            props.putAll(io.inferex.deadletter.StreamsDeadLetters.handlerConfigs());
            try (var ledger = new org.apache.kafka.clients.consumer.KafkaConsumer<>(consumerConfig,
                            new org.apache.kafka.common.serialization.ByteArrayDeserializer(), new org.apache.kafka.common.serialization.ByteArrayDeserializer());
                    var producer = new org.apache.kafka.clients.producer.KafkaProducer<>(client,
                            new org.apache.kafka.common.serialization.ByteArraySerializer(), new org.apache.kafka.common.serialization.ByteArraySerializer());
                    var streams = new org.apache.kafka.streams.KafkaStreams(SettlementTopology.buildTopology(config, props), props)) {
                List<org.apache.kafka.common.TopicPartition> parts = ledger.partitionsFor(Topics.LEDGER.name()).stream()
                        .map(i -> new org.apache.kafka.common.TopicPartition(i.topic(), i.partition())).toList();
                ledger.assign(parts);
                ledger.seekToEnd(parts);
                parts.forEach(ledger::position); // fix the start before anything is written
                streams.start();
                long deadline = System.nanoTime() + 60_000_000_000L;
                while (streams.state() != org.apache.kafka.streams.KafkaStreams.State.RUNNING) {
                    if (System.nanoTime() > deadline) {
                        throw new AssertionError("the settlement app did not reach RUNNING: " + streams.state());
                    }
                    Thread.sleep(50);
                }
                // The settlement orders events of different partitions (and, within one task, of topics whose records are not
                // fetched yet) only as they arrive; in a market they are seconds apart, here microseconds. So: the deposits first,
                // untimed (keyed by customer: a job could otherwise find no money yet); then, timed, the jobs until their escrows
                // are on the ledger, then the verdicts and outcomes until every transfer is.
                Map<String, Transfer> seen = new java.util.HashMap<>();
                List<LogEntry> deposits = of(events, Topics.PAYMENTS);
                List<LogEntry> jobs = of(events, Topics.JOBS);
                List<LogEntry> rest = events.stream().filter(e -> !e.topic().equals(Topics.PAYMENTS.name()) && !e.topic().equals(Topics.JOBS.name()))
                        .toList();
                send(producer, deposits);
                await(ledger, seen, idsOf(expected, io.inferex.events.TransferKind.DEPOSIT));
                long start = System.nanoTime();
                send(producer, jobs);
                await(ledger, seen, idsOf(expected, io.inferex.events.TransferKind.ESCROW));
                send(producer, rest);
                await(ledger, seen, expected.keySet());
                long ns = System.nanoTime() - start;
                assertEquals(expected, seen, "the live settlement's ledger lines are the rules' ones");
                return (jobs.size() + rest.size()) / (ns / 1e9);
            }
        }

        private static List<LogEntry> of(List<LogEntry> events, Topic<?, ?> topic) {
            return events.stream().filter(e -> e.topic().equals(topic.name())).toList();
        }

        private static java.util.Set<String> idsOf(Map<String, Transfer> transfers, io.inferex.events.TransferKind kind) {
            return transfers.values().stream().filter(t -> t.getKind() == kind).map(Transfer::getTransferId)
                    .collect(java.util.stream.Collectors.toSet());
        }

        private static void send(org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]> producer, List<LogEntry> events) {
            for (LogEntry e : events) {
                @SuppressWarnings("unchecked")
                Topic<String, SpecificRecord> t = (Topic<String, SpecificRecord>) Topics.byName(e.topic()).orElseThrow();
                producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>(e.topic(), null, e.timestamp(), e.key(),
                        t.valueSerde().serializer().serialize(e.topic(), e.event())));
            }
            producer.flush();
        }

        /** Reads the ledger until it holds every id in {@code ids}. */
        private static void await(org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]> ledger, Map<String, Transfer> seen,
                java.util.Set<String> ids) {
            var decode = Topics.LEDGER.valueSerde().deserializer();
            long deadline = System.nanoTime() + Long.getLong("inferex.benchmark.live-timeout-s", 600) * 1_000_000_000L;
            while (!seen.keySet().containsAll(ids)) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("the live ledger has " + seen.size() + " transfers, not yet all " + ids.size() + ";"
                            + " missing e.g. " + ids.stream().filter(k -> !seen.containsKey(k)).limit(3).toList());
                }
                for (var r : ledger.poll(java.time.Duration.ofMillis(100))) {
                    Transfer tr = decode.deserialize(r.topic(), r.value());
                    seen.put(tr.getTransferId(), tr);
                }
            }
        }
    }

    /**
     * CPU spent: by this thread, by the whole JVM (GC threads included), and in GC. On a machine
     * that others load too, the wall-clock rate depends on them; these do much less.
     */
    record Cpu(long threadNs, long processNs, long gcMs) {
        static Cpu now() {
            long gc = 0;
            for (var b : java.lang.management.ManagementFactory.getGarbageCollectorMXBeans()) {
                gc += Math.max(0, b.getCollectionTime());
            }
            var os = (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
            return new Cpu(java.lang.management.ManagementFactory.getThreadMXBean().getCurrentThreadCpuTime(), os.getProcessCpuTime(), gc);
        }

        Cpu minus(Cpu o) {
            return new Cpu(threadNs - o.threadNs, processNs - o.processNs, gcMs - o.gcMs);
        }

        static String loadAverage() {
            try {
                return java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).trim();
            } catch (java.io.IOException e) {
                return "unknown";
            }
        }
    }

    private static void add(Map<Topic<?, ?>, List<List<LogEntry>>> log, List<LogEntry> sequence, long[] offsets, Topic<?, ?> topic,
            int slot, String key, SpecificRecord value, long ts) {
        List<List<LogEntry>> parts = log.computeIfAbsent(topic, x -> List.of(new ArrayList<>()));
        LogEntry e = new LogEntry(topic.name(), 0, offsets[slot]++, ts, key.getBytes(StandardCharsets.UTF_8), List.of(), null, value);
        parts.get(0).add(e);
        sequence.add(e);
    }
}
