package io.inferex.settlement;

import static io.inferex.testing.LedgerEvents.deposit;
import static io.inferex.testing.LedgerEvents.job;
import static io.inferex.testing.LedgerEvents.outcome;
import static io.inferex.testing.LedgerEvents.verdict;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.DeadLetters;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.events.OutcomeKind;
import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.VerdictOutcome;
import io.inferex.ledger.LedgerConfig;
import io.inferex.ledger.LedgerRules;
import io.inferex.market.Accounts;
import io.inferex.market.Money;
import io.inferex.market.TaskIds;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topics;
import java.time.Duration;
import java.time.Instant;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.Test;

class SettlementTopologyTest extends SettlementTopologyTestBase {

    /*
     * deposit 1.000000 to customer:acme
     * job j1: 10 rows x max 200 → escrow 0.002000
     * shard 0 (6 rows @ 100) accepted, then FINAL → node n1 gets 570, treasury 30
     * shard 1 (4 rows @ 150) accepted, then FINAL → node n2 gets 570, treasury 30, job complete → 800 back to acme
     */
    @Test
    void escrowAtAcceptancePayoutMinusFeePerFinalShardAndReleaseOfTheRestAtCompletion() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));
        jobs.pipeInput("j1", job("j1", "acme", 10, 2, 200));
        verdicts.pipeInput("j1", verdict("v1", "j1", TaskIds.of("j1", 0, 2), "n1", VerdictOutcome.ACCEPTED, 6, 100));
        verdicts.pipeInput("j1", verdict("v2", "j1", TaskIds.of("j1", 1, 2), "n2", VerdictOutcome.ACCEPTED, 4, 150));
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 0, 2), "n1", 6, 100));
        outcomes.pipeInput("j1", outcome("o2", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 1, 2), "n2", 4, 150));

        List<Transfer> lines = ledger.readValuesToList();
        assertEquals(List.of(
                line(Accounts.EXTERNAL, "customer:acme", 1_000_000, TransferKind.DEPOSIT),
                line("customer:acme", "escrow:j1", 2_000, TransferKind.ESCROW),
                line("escrow:j1", "node:n1", 570, TransferKind.PAYOUT),
                line("escrow:j1", Accounts.TREASURY, 30, TransferKind.FEE),
                line("escrow:j1", "node:n2", 570, TransferKind.PAYOUT),
                line("escrow:j1", Accounts.TREASURY, 30, TransferKind.FEE),
                line("escrow:j1", "customer:acme", 800, TransferKind.REFUND)),
                lines.stream().map(t -> line(t.getDebitAccount(), t.getCreditAccount(), t.getAmountMicros(), t.getKind())).toList());

        KeyValueStore<String, Long> balances = driver.getKeyValueStore(SettlementTopology.BALANCES_STORE);
        assertEquals(1_000_000 - 1_200, balances.get("customer:acme"));
        assertEquals(0L, balances.get("escrow:j1"));
        assertEquals(570L, balances.get("node:n1"));
        assertEquals(60L, balances.get(Accounts.TREASURY));
        // customer spent = payouts + fee
        assertEquals(1_200L, balances.get("node:n1") + balances.get("node:n2") + balances.get(Accounts.TREASURY));
        assertMoneyConserved(balances, 1_000_000);

        List<JobStatus> statuses = status.readValuesToList();
        JobStatus last = statuses.get(statuses.size() - 1);
        assertEquals(JobState.COMPLETED, last.getState());
        assertEquals(10, last.getCompletedRows());
        assertEquals(2, last.getShardsDone());
        assertEquals(1_200, last.getSpentMicros());
    }

    @Test
    void aShardIsPaidOnceAndRejectedOrDuplicatedVerdictsAndOutcomesMoveNoMoney() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));
        jobs.pipeInput("j1", job("j1", "acme", 10, 2, 200));
        verdicts.pipeInput("j1", verdict("v0", "j1", TaskIds.of("j1", 0, 2), "bad", VerdictOutcome.REJECTED, 6, 100));
        verdicts.pipeInput("j1", verdict("v1", "j1", TaskIds.of("j1", 0, 2), "n1", VerdictOutcome.ACCEPTED, 6, 100));
        verdicts.pipeInput("j1", verdict("v1", "j1", TaskIds.of("j1", 0, 2), "n1", VerdictOutcome.ACCEPTED, 6, 100));
        verdicts.pipeInput("j1", verdict("v9", "j1", TaskIds.of("j1", 0, 2), "n3", VerdictOutcome.ACCEPTED, 6, 100));
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 0, 2), "n1", 6, 100));
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 0, 2), "n1", 6, 100));
        outcomes.pipeInput("j1", outcome("o9", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 0, 2), "n3", 6, 100));
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));

        KeyValueStore<String, Long> balances = driver.getKeyValueStore(SettlementTopology.BALANCES_STORE);
        assertEquals(null, balances.get("node:bad"));
        assertEquals(570L, balances.get("node:n1"));
        assertEquals(null, balances.get("node:n3"));
        assertEquals(2_000L - 600L, balances.get("escrow:j1"));
        assertMoneyConserved(balances, 1_000_000);
        JobStatus job = driver.<String, JobStatus>getKeyValueStore(SettlementTopology.JOBS_STORE).get("j1");
        assertEquals(JobState.IN_PROGRESS, job.getState());
        assertEquals(1, job.getShardsDone());
    }

    @Test
    void jobWithoutFundsFailsWithTheReasonAndEscrowsNothing() {
        payments.pipeInput("customer:poor", deposit("p1", "customer:poor", 500));
        jobs.pipeInput("j2", job("j2", "poor", 10, 1, 200));

        List<JobStatus> statuses = status.readValuesToList();
        assertEquals(1, statuses.size());
        assertEquals(JobState.FAILED, statuses.get(0).getState());
        assertTrue(statuses.get(0).getError().startsWith("insufficient funds"), statuses.get(0).getError());
        KeyValueStore<String, Long> balances = driver.getKeyValueStore(SettlementTopology.BALANCES_STORE);
        assertEquals(500L, balances.get("customer:poor"));
        assertEquals(null, balances.get("escrow:j2"));
    }

    /**
     * Ingest holds a batch's escrow before it publishes, but two ingest instances each hold only their
     * own creates: both may publish jobs the balance covers one at a time. Settlement's single sequence
     * stays the authority: the first escrows, the second fails "insufficient funds" and moves nothing.
     */
    @Test
    void twoJobsEachCoveredAloneButNotTogetherEscrowTheFirstAndFailTheSecondWithoutOverdraft() {
        payments.pipeInput("customer:twin", deposit("p-twin", "customer:twin", 3_000));
        jobs.pipeInput("ja", job("ja", "twin", 10, 1, 200));
        jobs.pipeInput("jb", job("jb", "twin", 10, 1, 200));

        List<JobStatus> statuses = status.readValuesToList();
        assertEquals(List.of(JobState.IN_PROGRESS, JobState.FAILED), statuses.stream().map(JobStatus::getState).toList());
        assertEquals("jb", statuses.get(1).getJobId());
        assertTrue(statuses.get(1).getError().startsWith("insufficient funds"), statuses.get(1).getError());
        assertEquals(1_000L, balances.get("customer:twin"));
        assertEquals(2_000L, balances.get("escrow:ja"));
        assertEquals(null, balances.get("escrow:jb"));
    }

    @Test
    void stakeLocksFromTheNodeBalanceAndOverdraftsAreDeadLetteredWithTheReason() {
        payments.pipeInput("node:n1", deposit("p1", "node:n1", Money.units(10)));
        payments.pipeInput("node:n1", Payment.newBuilder().setPaymentId("s1").setAccountId("node:n1")
                .setKind(PaymentKind.STAKE).setAmountMicros(Money.units(8)).setAtMs(System.currentTimeMillis()).build());
        payments.pipeInput("node:n1", Payment.newBuilder().setPaymentId("s2").setAccountId("node:n1")
                .setKind(PaymentKind.STAKE).setAmountMicros(Money.units(8)).setAtMs(System.currentTimeMillis()).build());
        verdicts.pipeInput("zz", verdict("v1", "zz", TaskIds.of("zz", 0, 2), "n1", VerdictOutcome.ACCEPTED, 1, 1));

        KeyValueStore<String, Long> balances = driver.getKeyValueStore(SettlementTopology.BALANCES_STORE);
        assertEquals(Money.units(2), balances.get("node:n1"));
        assertEquals(Money.units(8), balances.get("stake:n1"));
        var letters = dead.readRecordsToList();
        assertEquals(2, letters.size());
        assertTrue(DeadLetters.header(letters.get(0).headers(), DeadLetters.ERROR_MESSAGE).startsWith("stake of 8.000000 exceeds balance 2.000000"));
        assertTrue(DeadLetters.header(letters.get(1).headers(), DeadLetters.ERROR_MESSAGE).contains("unknown job zz"));
    }

    @Test
    void garbageOnAnInputTopicIsDeadLetteredAndSettlementGoesOn() {
        fixture.rawInput(Topics.PAYMENTS).pipeInput("customer:x", new byte[] {1, 2, 3, 4});
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", 42));
        assertEquals(1, dead.readRecordsToList().size());
        assertEquals(42L, driver.<String, Long>getKeyValueStore(SettlementTopology.BALANCES_STORE).get("customer:acme"));
    }

    /*
     * job j3: 10 rows x max 200 in 2 shards, window 24h; shard 0 (5 rows @ 100) accepted and FINAL;
     * 24h later: EXPIRED, the 1,500 left in escrow goes back to the customer; a late verdict pays nothing.
     */
    @Test
    void jobStillOpenWhenItsWindowPassesExpiresAndTheUnspentEscrowGoesBack() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));
        JobSubmitted j = job("j3", "acme", 10, 2, 200);
        j.setSubmittedAtMs(System.currentTimeMillis());
        jobs.pipeInput("j3", j);
        verdicts.pipeInput("j3", verdict("v1", "j3", TaskIds.of("j3", 0, 2), "n1", VerdictOutcome.ACCEPTED, 5, 100));
        outcomes.pipeInput("j3", outcome("o1", OutcomeKind.FINAL, "j3", TaskIds.of("j3", 0, 2), "n1", 5, 100));
        status.readValuesToList();
        ledger.readValuesToList();

        driver.advanceWallClockTime(Duration.ofHours(23));
        assertTrue(status.isEmpty(), "expired early");
        driver.advanceWallClockTime(Duration.ofHours(1).plusSeconds(10));

        JobStatus expired = status.readValue();
        assertEquals(JobState.EXPIRED, expired.getState());
        assertEquals(5, expired.getFailedRows());
        assertTrue(expired.getError().startsWith("completion window passed with 1 of 2 shards done"), expired.getError());
        Transfer refund = ledger.readValue();
        assertEquals(TransferKind.REFUND, refund.getKind());
        assertEquals(2_000 - 500, refund.getAmountMicros());
        verdicts.pipeInput("j3", verdict("v2", "j3", TaskIds.of("j3", 1, 2), "n2", VerdictOutcome.ACCEPTED, 5, 100));
        outcomes.pipeInput("j3", outcome("o2", OutcomeKind.FINAL, "j3", TaskIds.of("j3", 1, 2), "n2", 5, 100));
        KeyValueStore<String, Long> balances = driver.getKeyValueStore(SettlementTopology.BALANCES_STORE);
        assertEquals(0L, balances.get("escrow:j3"));
        assertEquals(null, balances.get("node:n2"));
        assertEquals(Money.units(1) - 500, balances.get("customer:acme"));
        assertMoneyConserved(balances, Money.units(1));
    }

    @Test
    void depositsThatWouldOverflowABalanceAreDeadLetteredAndTheLedgerGoesOn() {
        payments.pipeInput("customer:whale", deposit("p1", "customer:whale", Long.MAX_VALUE - 1_000));
        payments.pipeInput("customer:whale", deposit("p2", "customer:whale", 2_000));
        payments.pipeInput("customer:acme", deposit("p3", "customer:acme", 42));
        var letters = dead.readRecordsToList();
        assertEquals(1, letters.size());
        assertTrue(DeadLetters.header(letters.get(0).headers(), DeadLetters.ERROR_MESSAGE).startsWith("amount overflows"));
        KeyValueStore<String, Long> balances = driver.getKeyValueStore(SettlementTopology.BALANCES_STORE);
        assertEquals(Long.MAX_VALUE - 1_000, balances.get("customer:whale"));
        assertEquals(42L, balances.get("customer:acme"));
        assertMoneyConserved(balances, Long.MAX_VALUE - 1_000 + 42);
    }

    @Test
    void aJobWhoseDeadlineOverflowsIsRefusedBeforeAnyEscrowMovesAndLeavesNoJobBehind() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));
        JobSubmitted late = job("j1", "acme", 10, 2, 200);
        late.setSubmittedAtMs(Long.MAX_VALUE - 1_000); // + 24 h overflows, which the old code found after escrowing
        jobs.pipeInput("j1", late);

        assertEquals(1, ledger.readValuesToList().size(), "only the deposit");
        assertTrue(status.isEmpty(), "no job status");
        assertTrue(DeadLetters.header(dead.readRecordsToList().get(0).headers(), DeadLetters.ERROR_MESSAGE).contains("overflows"));
        KeyValueStore<String, Long> balances = driver.getKeyValueStore(SettlementTopology.BALANCES_STORE);
        assertEquals(Money.units(1), balances.get("customer:acme"));
        assertEquals(null, balances.get("escrow:j1"));
        assertEquals(null, driver.<String, JobStatus>getKeyValueStore(SettlementTopology.JOBS_STORE).get("j1"));
    }

    @Test
    void aJobWhoseEscrowIsNotRowsTimesMaxPriceOrWhoseShapeIsImpossibleIsRefusedWhole() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));
        JobSubmitted cheap = job("j1", "acme", 10, 2, 200);
        cheap.setEscrowMicros(1); // would then pay nodes beyond what was escrowed per row
        jobs.pipeInput("j1", cheap);
        jobs.pipeInput("j2", job("j2", "acme", 2, 3, 200)); // more shards than rows
        jobs.pipeInput("j/3", job("j/3", "acme", 2, 1, 200)); // a job id that could prefix another's keys

        assertEquals(3, dead.readRecordsToList().size());
        assertEquals(1, ledger.readValuesToList().size(), "only the deposit");
        assertTrue(status.isEmpty());
        jobs.pipeInput("batch_0f3c9a", job("batch_0f3c9a", "acme", 2, 1, 200)); // the shape ingest gives ids
        assertEquals(JobState.IN_PROGRESS, status.readValue().getState());
    }

    @Test
    void paymentsNamingExternalTreasuryEscrowOrStakeAccountsAreRefusedAndCreateNoMoney() {
        List<String> accounts = List.of(Accounts.EXTERNAL, Accounts.TREASURY, "escrow:j1", "stake:n1", "customer:", "node:", "acme");
        int i = 0;
        for (String account : accounts) {
            payments.pipeInput(account, deposit("d" + i, account, Money.units(5)));
            payments.pipeInput(account, Payment.newBuilder().setPaymentId("w" + i).setAccountId(account)
                    .setKind(PaymentKind.WITHDRAWAL).setAmountMicros(1).setAtMs(System.currentTimeMillis()).build());
            payments.pipeInput(account, Payment.newBuilder().setPaymentId("s" + i++).setAccountId(account)
                    .setKind(PaymentKind.STAKE).setAmountMicros(1).setAtMs(System.currentTimeMillis()).build());
        }

        var letters = dead.readRecordsToList();
        assertEquals(accounts.size() * 3, letters.size());
        // a withdrawal from stake:n1 is an unstake, refused here because n1 has nothing staked
        letters.forEach(l -> assertTrue(DeadLetters.header(l.headers(), DeadLetters.ERROR_MESSAGE)
                .matches(".*only customer:<id> and node:<id> accounts.*|unstake of 0.000001 from stake:n1 exceeds its eligible stake 0.000000.*"),
                DeadLetters.header(l.headers(), DeadLetters.ERROR_MESSAGE)));
        assertTrue(ledger.isEmpty(), "no transfer at all");
        KeyValueStore<String, Long> balances = driver.getKeyValueStore(SettlementTopology.BALANCES_STORE);
        try (var it = balances.all()) {
            assertTrue(!it.hasNext(), "no balance written");
        }
    }

    @Test
    void aVerdictForATaskIdIngestDidNotPublishForTheJobIsDeadLetteredAndNeitherPaysNorCompletes() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));
        jobs.pipeInput("j1", job("j1", "acme", 10, 2, 200));
        jobs.pipeInput("j2", job("j2", "acme", 10, 2, 200));
        List<String> fakes = List.of("j1/00002", "j1/0", "j1/000001", "j1/x", TaskIds.of("j2", 0, 2), "j1", "j1/-0001");
        int i = 0;
        for (String task : fakes) {
            verdicts.pipeInput("j1", verdict("f" + i++, "j1", task, "n1", VerdictOutcome.ACCEPTED, 5, 100));
        }

        var letters = dead.readRecordsToList();
        assertEquals(fakes.size(), letters.size());
        letters.forEach(l -> assertTrue(DeadLetters.header(l.headers(), DeadLetters.ERROR_MESSAGE).contains("is not one of the 2 shards")));
        KeyValueStore<String, Long> balances = driver.getKeyValueStore(SettlementTopology.BALANCES_STORE);
        assertEquals(null, balances.get("node:n1"));
        JobStatus j1 = driver.<String, JobStatus>getKeyValueStore(SettlementTopology.JOBS_STORE).get("j1");
        assertEquals(JobState.IN_PROGRESS, j1.getState());
        assertEquals(0, j1.getShardsDone());

        // the real shards still count, pay and complete the job
        verdicts.pipeInput("j1", verdict("v1", "j1", TaskIds.of("j1", 0, 2), "n1", VerdictOutcome.ACCEPTED, 5, 100));
        verdicts.pipeInput("j1", verdict("v2", "j1", TaskIds.of("j1", 1, 2), "n1", VerdictOutcome.ACCEPTED, 5, 100));
        assertEquals(JobState.FINALIZING, driver.<String, JobStatus>getKeyValueStore(SettlementTopology.JOBS_STORE).get("j1").getState());
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 0, 2), "n1", 5, 100));
        outcomes.pipeInput("j1", outcome("o2", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 1, 2), "n1", 5, 100));
        assertEquals(JobState.COMPLETED, driver.<String, JobStatus>getKeyValueStore(SettlementTopology.JOBS_STORE).get("j1").getState());
    }

    @Test
    void aVerdictCountingMoreRowsThanTheJobHasLeftIsRefusedWithoutAnAcceptedMark() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));
        jobs.pipeInput("j1", job("j1", "acme", 10, 2, 200));
        verdicts.pipeInput("j1", verdict("v1", "j1", TaskIds.of("j1", 0, 2), "n1", VerdictOutcome.ACCEPTED, 11, 100));
        assertEquals(1, dead.readRecordsToList().size());
        assertEquals(null, driver.<String, Long>getKeyValueStore(SettlementTopology.APPLIED_STORE)
                .get(LedgerProcessor.jobMarks("j1") + LedgerRules.Marks.accepted(TaskIds.of("j1", 0, 2))));
        // the same shard still counts on a correct verdict, and is paid on its FINAL outcome
        verdicts.pipeInput("j1", verdict("v2", "j1", TaskIds.of("j1", 0, 2), "n1", VerdictOutcome.ACCEPTED, 5, 100));
        outcomes.pipeInput("j1", outcome("o2", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 0, 2), "n1", 5, 100));
        assertEquals(475L, driver.<String, Long>getKeyValueStore(SettlementTopology.BALANCES_STORE).get("node:n1"));
    }

    @Test
    void appliedIdsAreBoundedAJobsMarkersGoWhenItClosesAndPaymentIdsAfterTheReplayWindow() {
        fixture.close();
        fixture = TopologyFixture.start(SettlementTopology.APPLICATION_ID, props -> SettlementTopology.buildTopology(
                new LedgerConfig(FEE_BPS, Duration.ofDays(1)), props));
        driver = fixture.driver();
        payments = fixture.input(Topics.PAYMENTS);
        jobs = fixture.input(Topics.JOBS);
        verdicts = fixture.input(Topics.VERDICTS);
        outcomes = fixture.input(Topics.VERIFICATION_OUTCOMES);
        dead = fixture.deadLetters();
        KeyValueStore<String, Long> applied = driver.getKeyValueStore(SettlementTopology.APPLIED_STORE);

        Payment p1 = deposit("p1", "customer:acme", Money.units(1));
        payments.pipeInput("customer:acme", p1);
        jobs.pipeInput("j1", job("j1", "acme", 10, 2, 200));
        verdicts.pipeInput("j1", verdict("v1", "j1", TaskIds.of("j1", 0, 2), "n1", VerdictOutcome.ACCEPTED, 5, 100));
        assertEquals(3, TopologyFixture.entries(applied, LedgerProcessor.jobMarks("j1")),
                "max price, verdict id and accepted shard while open");
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 0, 2), "n1", 5, 100));
        assertEquals(5, TopologyFixture.entries(applied, LedgerProcessor.jobMarks("j1")), "+ resolved shard and resolved count");
        verdicts.pipeInput("j1", verdict("v2", "j1", TaskIds.of("j1", 1, 2), "n1", VerdictOutcome.ACCEPTED, 5, 100));
        outcomes.pipeInput("j1", outcome("o2", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 1, 2), "n1", 5, 100));
        assertEquals(0, TopologyFixture.entries(applied, LedgerProcessor.jobMarks("j1")), "completed: marks gone");
        // a replay of the closing outcome after cleanup pays nothing: the job is COMPLETED
        outcomes.pipeInput("j1", outcome("o2", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 1, 2), "n1", 5, 100));
        assertEquals(950L, driver.<String, Long>getKeyValueStore(SettlementTopology.BALANCES_STORE).get("node:n1"));

        long before = TopologyFixture.entries(applied, "");
        driver.advanceWallClockTime(Duration.ofDays(1).plusMinutes(1));
        assertEquals(before - 2, TopologyFixture.entries(applied, ""), "payment id and its index entry expired");
        // the old payment replayed after its id was forgotten is refused by its age, not applied again
        payments.pipeInput("customer:acme", p1, Instant.now().plus(Duration.ofDays(1).plusMinutes(2)));
        assertTrue(DeadLetters.header(dead.readRecordsToList().get(0).headers(), DeadLetters.ERROR_MESSAGE).contains("replay window"));
        assertEquals(Money.units(1) - 1_000, driver.<String, Long>getKeyValueStore(SettlementTopology.BALANCES_STORE).get("customer:acme"));
    }

    static void assertMoneyConserved(KeyValueStore<String, Long> balances, long deposited) {
        Map<String, Long> all = new HashMap<>();
        try (var it = balances.all()) {
            it.forEachRemaining(kv -> all.put(kv.key, kv.value));
        }
        assertEquals(0L, all.values().stream().mapToLong(Long::longValue).sum(), "sum of all accounts incl. external");
        assertEquals(deposited, all.entrySet().stream().filter(e -> !e.getKey().equals(Accounts.EXTERNAL))
                .mapToLong(Map.Entry::getValue).sum(), "money inside = deposits");
    }

    record Line(String from, String to, long amount, TransferKind kind) {}

    static Line line(String from, String to, long amount, TransferKind kind) {
        return new Line(from, to, amount, kind);
    }
}
