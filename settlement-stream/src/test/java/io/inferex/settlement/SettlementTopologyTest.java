package io.inferex.settlement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.DeadLetters;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.market.Accounts;
import io.inferex.market.Money;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topics;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class SettlementTopologyTest {
    static final int FEE_BPS = 500;
    TopologyFixture fixture;
    TopologyTestDriver driver;
    TestInputTopic<String, Payment> payments;
    TestInputTopic<String, JobSubmitted> jobs;
    TestInputTopic<String, Verdict> verdicts;
    TestOutputTopic<String, Transfer> ledger;
    TestOutputTopic<String, JobStatus> status;
    TestOutputTopic<String, byte[]> dead;

    @BeforeEach
    void start() {
        fixture = TopologyFixture.start(SettlementTopology.APPLICATION_ID,
                props -> SettlementTopology.buildTopology(new SettlementTopology.Config(FEE_BPS), props));
        driver = fixture.driver();
        payments = fixture.input(Topics.PAYMENTS);
        jobs = fixture.input(Topics.JOBS);
        verdicts = fixture.input(Topics.VERDICTS);
        ledger = fixture.output(Topics.LEDGER);
        status = fixture.output(Topics.JOB_STATUS);
        dead = fixture.deadLetters();
    }

    @AfterEach
    void stop() {
        fixture.close();
    }

    /*
     * deposit 1.000000 to customer:acme
     * job j1: 10 rows x max 200 → escrow 0.002000
     * shard 0 (6 rows @ 100) accepted → node n1 gets 570, treasury 30
     * shard 1 (4 rows @ 150) accepted → node n2 gets 570, treasury 30, job complete → 800 back to acme
     */
    @Test
    void escrowAtAcceptancePayoutMinusFeePerAcceptedShardAndReleaseOfTheRestAtCompletion() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));
        jobs.pipeInput("j1", job("j1", "acme", 10, 2, 200));
        verdicts.pipeInput("j1", verdict("v1", "j1", "j1/0", "n1", VerdictOutcome.ACCEPTED, 6, 100));
        verdicts.pipeInput("j1", verdict("v2", "j1", "j1/1", "n2", VerdictOutcome.ACCEPTED, 4, 150));

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
    void aShardIsPaidOnceAndRejectedOrDuplicatedVerdictsMoveNoMoney() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));
        jobs.pipeInput("j1", job("j1", "acme", 10, 2, 200));
        verdicts.pipeInput("j1", verdict("v0", "j1", "j1/0", "bad", VerdictOutcome.REJECTED, 6, 100));
        verdicts.pipeInput("j1", verdict("v1", "j1", "j1/0", "n1", VerdictOutcome.ACCEPTED, 6, 100));
        verdicts.pipeInput("j1", verdict("v1", "j1", "j1/0", "n1", VerdictOutcome.ACCEPTED, 6, 100));
        verdicts.pipeInput("j1", verdict("v9", "j1", "j1/0", "n3", VerdictOutcome.ACCEPTED, 6, 100));
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

    @Test
    void stakeLocksFromTheNodeBalanceAndOverdraftsAreDeadLetteredWithTheReason() {
        payments.pipeInput("node:n1", deposit("p1", "node:n1", Money.units(10)));
        payments.pipeInput("node:n1", Payment.newBuilder().setPaymentId("s1").setAccountId("node:n1")
                .setKind(PaymentKind.STAKE).setAmountMicros(Money.units(8)).setAtMs(2).build());
        payments.pipeInput("node:n1", Payment.newBuilder().setPaymentId("s2").setAccountId("node:n1")
                .setKind(PaymentKind.STAKE).setAmountMicros(Money.units(8)).setAtMs(3).build());
        verdicts.pipeInput("zz", verdict("v1", "zz", "zz/0", "n1", VerdictOutcome.ACCEPTED, 1, 1));

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
     * job j3: 10 rows x max 200 in 2 shards, window 24h; shard 0 (5 rows @ 100) accepted;
     * 24h later: EXPIRED, the 1,500 left in escrow goes back to the customer; a late verdict pays nothing.
     */
    @Test
    void jobStillOpenWhenItsWindowPassesExpiresAndTheUnspentEscrowGoesBack() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));
        JobSubmitted j = job("j3", "acme", 10, 2, 200);
        j.setSubmittedAtMs(System.currentTimeMillis());
        jobs.pipeInput("j3", j);
        verdicts.pipeInput("j3", verdict("v1", "j3", "j3/0", "n1", VerdictOutcome.ACCEPTED, 5, 100));
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
        verdicts.pipeInput("j3", verdict("v2", "j3", "j3/1", "n2", VerdictOutcome.ACCEPTED, 5, 100));
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

    static Payment deposit(String id, String account, long amount) {
        return Payment.newBuilder().setPaymentId(id).setAccountId(account).setKind(PaymentKind.DEPOSIT)
                .setAmountMicros(amount).setAtMs(1).build();
    }

    static JobSubmitted job(String id, String customer, int rows, int shards, long maxPrice) {
        return JobSubmitted.newBuilder().setJobId(id).setCustomerId(customer).setInputFileId("f").setEndpoint("/v1/embeddings")
                .setModel("all-MiniLM-L6-v2").setRowCount(rows).setShardCount(shards).setMaxPricePerRowMicros(maxPrice)
                .setEscrowMicros(rows * maxPrice).setInputDigest("d").setCompletionWindow("24h").setSubmittedAtMs(2).build();
    }

    static Verdict verdict(String id, String job, String task, String node, VerdictOutcome outcome, int rows, long price) {
        return Verdict.newBuilder().setVerdictId(id).setTaskId(task).setJobId(job).setLeaseId(task + "#1").setNodeId(node)
                .setPoolKey("all-MiniLM-L6-v2@local").setOutcome(outcome).setReason("test").setRowCount(rows)
                .setPricePerRowMicros(price).setDecidedAtMs(3).build();
    }
}
