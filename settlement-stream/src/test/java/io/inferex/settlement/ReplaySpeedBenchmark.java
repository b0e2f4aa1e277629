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
 * Replay speed of the audit against the settlement's own speed, in one run: a generated market of
 * {@code -Dinferex.benchmark.events} events (default 1,020,000: per job one JobSubmitted, one
 * form-ACCEPTED verdict and one FINAL outcome; a deposit per 100 jobs). Its first
 * {@code -Dinferex.benchmark.settled} events (default 3,000) are settled by the settlement topology
 * under TopologyTestDriver, timed (the settlement's processing and stores without broker I/O, so an
 * upper bound of its live rate; the driver is too slow to push a million through in a test run),
 * and its ledger lines must equal the rules' for them; the whole log's ledger is then made by the
 * rules, and the audit of all of it is timed (replay through LedgerRules plus every comparison and
 * check, from memory, not from files). The audit must come out clean. Not part of the suite: run with
 * {@code ./mvnw -o -pl settlement-stream -am verify -Dtest=ReplaySpeedBenchmark -Dinferex.benchmark=true
 * -Dsurefire.failIfNoSpecifiedTests=false}; the figures go to docs/performance.md.
 */
class ReplaySpeedBenchmark {
    @Test
    void replaysAMillionEventsAndPrintsEventsPerSecondAgainstTheSettlement() {
        assumeTrue(Boolean.getBoolean("inferex.benchmark"), "a benchmark: -Dinferex.benchmark=true");
        int events = Integer.getInteger("inferex.benchmark.events", 1_020_000);
        int settled = Integer.getInteger("inferex.benchmark.settled", 3_000);
        LedgerConfig config = new LedgerConfig(500);
        Instant t0 = Instant.now().truncatedTo(ChronoUnit.SECONDS);
        long t = t0.toEpochMilli();
        Map<Topic<?, ?>, List<List<LogEntry>>> log = new LinkedHashMap<>();
        List<LogEntry> sequence = new ArrayList<>();
        long[] offsets = new long[16];
        for (int j = 0; sequence.size() < events; j++) {
            long ts = t + j;
            String customer = "c" + (j / 100);
            if (j % 100 == 0) {
                add(log, sequence, offsets, Topics.PAYMENTS, 0, "customer:" + customer,
                        Payment.newBuilder(deposit("d" + j, "customer:" + customer, 1_000_000_000L)).setAtMs(ts).build(), ts);
            }
            String jobId = "j" + j;
            String task = TaskIds.of(jobId, 0, 1);
            add(log, sequence, offsets, Topics.JOBS, 1, jobId, JobSubmitted.newBuilder(job(jobId, customer, 10, 1, 200)).setSubmittedAtMs(ts).build(), ts);
            add(log, sequence, offsets, Topics.VERDICTS, 2, jobId, verdict("v" + j, jobId, task, "n" + (j % 50), VerdictOutcome.ACCEPTED, 10, 150), ts);
            add(log, sequence, offsets, Topics.VERIFICATION_OUTCOMES, 3, jobId, VerificationOutcome.newBuilder(
                    outcome("o" + j, OutcomeKind.FINAL, jobId, task, "n" + (j % 50), 10, 150)).setSamplingEpoch(-1).build(), ts);
        }
        // The settlement itself on the first events, timed: the topology under TopologyTestDriver (its processing and
        // state stores, without broker I/O), whose ledger lines must be the ones the rules give for the same events.
        List<Transfer> live = new ArrayList<>();
        long settleNs;
        try (TopologyFixture fixture = TopologyFixture.start(SettlementTopology.APPLICATION_ID,
                props -> SettlementTopology.buildTopology(config, props), t0)) {
            Map<String, TestInputTopic<String, SpecificRecord>> inputs = new LinkedHashMap<>();
            for (Topic<?, ?> topic : List.of(Topics.PAYMENTS, Topics.JOBS, Topics.VERDICTS, Topics.VERIFICATION_OUTCOMES)) {
                @SuppressWarnings("unchecked")
                Topic<String, SpecificRecord> typed = (Topic<String, SpecificRecord>) topic;
                inputs.put(topic.name(), fixture.input(typed));
            }
            var ledger = fixture.output(Topics.LEDGER);
            long start = System.nanoTime();
            for (LogEntry e : sequence.subList(0, Math.min(settled, sequence.size()))) {
                inputs.get(e.topic()).pipeInput(e.keyText(), e.event(), e.timestamp());
            }
            settleNs = System.nanoTime() - start;
            ledger.readRecordsToList().forEach(r -> live.add(r.value()));
        }
        // The recorded ledger of the whole log, from the same rules (not timed).
        ReplayLedger rules = new ReplayLedger(config);
        List<LogEntry> transfers = new ArrayList<>();
        for (LogEntry e : sequence) {
            for (Transfer tr : rules.event(e.event(), e.timestamp()).transfers()) {
                transfers.add(new LogEntry(Topics.LEDGER.name(), 0, offsets[15]++, e.timestamp(),
                        tr.getTransferId().getBytes(StandardCharsets.UTF_8), List.of(), null, tr));
            }
        }
        assertEquals(live, transfers.subList(0, live.size()).stream().map(x -> (Transfer) x.event()).toList(),
                "the settlement and the rules give the same ledger lines");
        log.put(Topics.LEDGER, List.of(transfers));
        double settleRate = Math.min(settled, sequence.size()) / (settleNs / 1e9);
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
        System.out.printf("BENCHMARK audit: %,d events, %,d transfers in %.1f s = %,.0f events/s; settlement (TopologyTestDriver, first %,d"
                + " events) %,.0f events/s; ratio %.1fx; discrepancies %d%n", sequence.size(), transfers.size(), replayNs / 1e9, replayRate,
                Math.min(settled, sequence.size()), settleRate, replayRate / settleRate, report.discrepancies().size());
        System.out.printf("BENCHMARK audit CPU: audit thread %.1f s (%,.0f events per thread-CPU-second), whole JVM %.1f s, GC %.1f s;"
                + " load average %s%n", used.threadNs() / 1e9, sequence.size() / (used.threadNs() / 1e9), used.processNs() / 1e9,
                used.gcMs() / 1e3, Cpu.loadAverage());
        assertEquals(List.of(), report.discrepancies().stream().limit(5).toList());
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
