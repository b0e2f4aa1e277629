package io.inferex.settlement;

import static io.inferex.testing.LedgerEvents.deposit;
import static io.inferex.testing.LedgerEvents.job;
import static io.inferex.testing.LedgerEvents.outcome;
import static io.inferex.testing.LedgerEvents.verdict;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.DeadLetters;
import io.inferex.events.JobCancelRequested;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.events.OutcomeKind;
import io.inferex.events.Payment;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.ledger.LedgerConfig;
import io.inferex.local.audit.ExportArchive;
import io.inferex.local.audit.LedgerAudit;
import io.inferex.local.audit.LogEntry;
import io.inferex.market.Accounts;
import io.inferex.market.Money;
import io.inferex.market.TaskIds;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.test.TestRecord;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A customer's cancel, settled: the job goes cancelling (FINALIZING with the cancel's time), a shard
 * leased before the cancel still finishes and is paid on its FINAL outcome, and once the cancel grace
 * (and the finality grace its accepted shard needs) has passed the job is CANCELLED and the unused
 * escrow goes back. The same log, replayed by the audit, is clean. Wall clock and record times are the
 * driver's, so both graces pass without waiting.
 */
class CancelSettlementTest {
    static final LedgerConfig CONFIG = new LedgerConfig(SettlementTopologyTestBase.FEE_BPS);
    Instant t0 = Instant.now().truncatedTo(ChronoUnit.SECONDS);
    long clock = t0.toEpochMilli();
    TopologyFixture fixture;
    TestInputTopic<String, Payment> payments;
    TestInputTopic<String, JobSubmitted> jobs;
    TestInputTopic<String, io.inferex.events.Verdict> verdicts;
    TestInputTopic<String, VerificationOutcome> outcomes;
    TestInputTopic<String, JobCancelRequested> cancels;
    TestOutputTopic<String, Transfer> ledger;
    TestOutputTopic<String, JobStatus> status;
    /** Everything the run read and wrote, by topic, as an export would hold it. */
    final Map<Topic<?, ?>, List<LogEntry>> log = new LinkedHashMap<>();

    @BeforeEach
    void start() {
        fixture = TopologyFixture.start(SettlementTopology.APPLICATION_ID, props -> SettlementTopology.buildTopology(CONFIG, props), t0);
        payments = fixture.input(Topics.PAYMENTS);
        jobs = fixture.input(Topics.JOBS);
        verdicts = fixture.input(Topics.VERDICTS);
        outcomes = fixture.input(Topics.VERIFICATION_OUTCOMES);
        cancels = fixture.input(Topics.JOB_CANCELS);
        ledger = fixture.output(Topics.LEDGER);
        status = fixture.output(Topics.JOB_STATUS);
    }

    @AfterEach
    void stop() {
        fixture.close();
    }

    /** Pipes {@code value} at the current time (one ms after the last event) and keeps it for the audit. */
    private <V> void in(TestInputTopic<String, V> input, Topic<String, V> topic, String key, V value) {
        clock++;
        input.pipeInput(key, value, clock);
        keep(topic, key, value, clock);
    }

    private void keep(Topic<?, ?> topic, String key, Object value, long ts) {
        List<LogEntry> entries = log.computeIfAbsent(topic, t -> new ArrayList<>());
        entries.add(new LogEntry(topic.name(), 0, entries.size(), ts, key.getBytes(StandardCharsets.UTF_8), List.of(), null, value));
    }

    private void advance(Duration d) {
        fixture.driver().advanceWallClockTime(d);
        clock += d.toMillis();
    }

    private List<Transfer> transfers() {
        return drain(ledger, Topics.LEDGER);
    }

    private List<JobStatus> statuses() {
        return drain(status, Topics.JOB_STATUS);
    }

    /** Reads what the topology wrote to {@code topic} since the last read, keeping it for the audit. */
    private <V> List<V> drain(TestOutputTopic<String, V> output, Topic<String, V> topic) {
        List<V> out = new ArrayList<>();
        for (TestRecord<String, V> r : output.readRecordsToList()) {
            keep(topic, r.key(), r.value(), r.timestamp());
            out.add(r.value());
        }
        return out;
    }

    private static JobCancelRequested cancel(String job, String customer, long at) {
        return JobCancelRequested.newBuilder().setJobId(job).setCustomerId(customer).setRequestedAtMs(at).build();
    }

    private static JobSubmitted submitted(String id, int rows, int shards, long at) {
        return JobSubmitted.newBuilder(job(id, "acme", rows, shards, 200)).setSubmittedAtMs(at).build();
    }

    private static VerificationOutcome fin(String id, String job, String task, String node, int rows, long price) {
        return VerificationOutcome.newBuilder(outcome(id, OutcomeKind.FINAL, job, task, node, rows, price)).setSamplingEpoch(-1).build();
    }

    /*
     * jc: 10 rows x max 200 (escrow 2,000) in 3 shards. Shard 0 (4 rows @ 100) accepted and FINAL before the cancel
     * (380 to n1, 20 fee). Then the cancel; shard 1 (4 rows @ 150), leased before it, is accepted after it and FINAL in the
     * finality grace (570 to n2, 30 fee); shard 2 (2 rows) is never worked. CANCELLED: 2,000 - 400 - 600 = 1,000 back.
     * jn: 5 rows in 1 shard, cancelled with nothing accepted: CANCELLED at the cancel grace, all 1,000 back.
     */
    @Test
    void aCancelStopsTheJobLetsLeasedShardsFinishAndBePaidThenRefundsTheRestAndTheLogAuditsClean() throws Exception {
        String s0 = TaskIds.of("jc", 0, 3);
        String s1 = TaskIds.of("jc", 1, 3);
        in(payments, Topics.PAYMENTS, "customer:acme", Payment.newBuilder(deposit("p1", "customer:acme", Money.units(1))).setAtMs(clock).build());
        in(jobs, Topics.JOBS, "jc", submitted("jc", 10, 3, clock));
        in(jobs, Topics.JOBS, "jn", submitted("jn", 5, 1, clock));
        in(verdicts, Topics.VERDICTS, "jc", verdict("v0", "jc", s0, "n1", VerdictOutcome.ACCEPTED, 4, 100));
        in(outcomes, Topics.VERIFICATION_OUTCOMES, "jc", fin("o0", "jc", s0, "n1", 4, 100));
        transfers();
        statuses();

        // Only the owner may cancel: another customer's cancel is dead-lettered and changes nothing.
        in(cancels, Topics.JOB_CANCELS, "jc", cancel("jc", "mallory", clock));
        assertTrue(statuses().isEmpty(), "a stranger's cancel changes no status");
        var dead = fixture.deadLetters().readRecordsToList();
        assertEquals(1, dead.size());
        assertTrue(DeadLetters.header(dead.get(0).headers(), DeadLetters.ERROR_MESSAGE).contains("may not cancel job jc"),
                DeadLetters.header(dead.get(0).headers(), DeadLetters.ERROR_MESSAGE));

        long cancelledAt = clock + 1;
        in(cancels, Topics.JOB_CANCELS, "jc", cancel("jc", "acme", clock));
        in(cancels, Topics.JOB_CANCELS, "jn", cancel("jn", "acme", clock));
        in(cancels, Topics.JOB_CANCELS, "jc", cancel("jc", "acme", clock)); // again: nothing more
        List<JobStatus> cancelling = statuses();
        assertEquals(2, cancelling.size(), "one status per job cancelled, none for the repeat: " + cancelling);
        JobStatus jc = cancelling.get(0);
        assertEquals(JobState.FINALIZING, jc.getState(), "no new shard work: the matcher leases only IN_PROGRESS jobs' shards");
        assertEquals(cancelledAt, jc.getCancelRequestedAtMs());
        assertEquals(List.of(), transfers(), "a cancel moves no money by itself");

        // Shard 1 was leased before the cancel: its answer still counts.
        in(verdicts, Topics.VERDICTS, "jc", verdict("v1", "jc", s1, "n2", VerdictOutcome.ACCEPTED, 4, 150));
        assertEquals(2, statuses().get(0).getShardsDone());

        advance(CONFIG.cancelGrace().plusSeconds(10));
        Map<String, JobStatus> byJob = new LinkedHashMap<>();
        statuses().forEach(s -> byJob.put(s.getJobId(), s));
        assertEquals(JobState.CANCELLED, byJob.get("jn").getState(), "nothing accepted: closed at the cancel grace");
        assertEquals(5, byJob.get("jn").getFailedRows());
        assertTrue(byJob.get("jn").getError().startsWith("cancelled by the customer"), byJob.get("jn").getError());
        assertEquals(JobState.FINALIZING, byJob.get("jc").getState(), "shard 1 is accepted, not final: the finality grace first");
        List<Transfer> refundJn = transfers();
        assertEquals(List.of(line("escrow:jn", "customer:acme", 1_000, TransferKind.REFUND, "jn/cancelled")), lines(refundJn));

        in(outcomes, Topics.VERIFICATION_OUTCOMES, "jc", fin("o1", "jc", s1, "n2", 4, 150));
        assertEquals(List.of(line("escrow:jc", "node:n2", 570, TransferKind.PAYOUT, "o1"),
                line("escrow:jc", Accounts.TREASURY, 30, TransferKind.FEE, "o1")), lines(transfers()));
        statuses();

        advance(CONFIG.finalityGrace());
        JobStatus closed = statuses().get(0);
        assertEquals(JobState.CANCELLED, closed.getState());
        assertEquals(8, closed.getCompletedRows());
        assertEquals(2, closed.getFailedRows());
        assertNotNull(closed.getCancelRequestedAtMs());
        assertEquals(List.of(line("escrow:jc", "customer:acme", 1_000, TransferKind.REFUND, "jc/cancelled")), lines(transfers()));

        // A cancel of a closed job, and a late verdict for the shard never worked, move nothing.
        in(cancels, Topics.JOB_CANCELS, "jc", cancel("jc", "acme", clock));
        in(verdicts, Topics.VERDICTS, "jc", verdict("v2", "jc", TaskIds.of("jc", 2, 3), "n1", VerdictOutcome.ACCEPTED, 2, 100));
        assertTrue(transfers().isEmpty() && statuses().isEmpty());

        KeyValueStore<String, Long> balances = fixture.store(SettlementTopology.BALANCES_STORE);
        assertEquals(0L, balances.get("escrow:jc"));
        assertEquals(0L, balances.get("escrow:jn"));
        assertEquals(Money.units(1) - 400 - 600, balances.get("customer:acme"));
        SettlementTopologyTest.assertMoneyConserved(balances, Money.units(1));

        Map<Topic<?, ?>, List<List<LogEntry>>> export = new LinkedHashMap<>();
        log.forEach((topic, entries) -> export.put(topic, List.of(entries)));
        LedgerAudit.Report report = LedgerAudit.run(ExportArchive.of(export), CONFIG, "cancel");
        assertEquals(List.of(), report.discrepancies(), "the audit replays the cancels and their refunds");
        assertEquals(3L, report.totals().get("punctuations"), "jn's close, jc's grace and jc's close, at the recorded times");
    }

    @Test
    void aCancelOfAnUnknownJobIsDeadLetteredAndOfAJobWhoseShardsAreAllAcceptedChangesNothing() {
        in(payments, Topics.PAYMENTS, "customer:acme", Payment.newBuilder(deposit("p1", "customer:acme", Money.units(1))).setAtMs(clock).build());
        in(cancels, Topics.JOB_CANCELS, "nope", cancel("nope", "acme", clock));
        assertEquals(1, fixture.deadLetters().readRecordsToList().size());
        in(jobs, Topics.JOBS, "jd", submitted("jd", 4, 1, clock));
        in(verdicts, Topics.VERDICTS, "jd", verdict("v0", "jd", TaskIds.of("jd", 0, 1), "n1", VerdictOutcome.ACCEPTED, 4, 100));
        JobStatus done = statuses().get(1);
        assertEquals(JobState.FINALIZING, done.getState());
        in(cancels, Topics.JOB_CANCELS, "jd", cancel("jd", "acme", clock));
        assertTrue(statuses().isEmpty(), "every shard is accepted already: nothing left to stop, the job completes");
        in(outcomes, Topics.VERIFICATION_OUTCOMES, "jd", fin("o0", "jd", TaskIds.of("jd", 0, 1), "n1", 4, 100));
        JobStatus completed = statuses().get(0);
        assertEquals(JobState.COMPLETED, completed.getState());
        assertNull(completed.getCancelRequestedAtMs());
    }

    record Line(String from, String to, long amount, TransferKind kind, String cause) {}

    static Line line(String from, String to, long amount, TransferKind kind, String cause) {
        return new Line(from, to, amount, kind, cause);
    }

    static List<Line> lines(List<Transfer> transfers) {
        return transfers.stream().map(t -> line(t.getDebitAccount(), t.getCreditAccount(), t.getAmountMicros(), t.getKind(), t.getCause()))
                .toList();
    }
}
