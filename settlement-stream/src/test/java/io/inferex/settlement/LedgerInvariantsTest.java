package io.inferex.settlement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.JobSubmitted;
import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.market.Accounts;
import io.inferex.market.TaskIds;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topics;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.TestFactory;

/**
 * Randomised (seeded, so a failure repeats) sequences of deposits, withdrawals, stakes, jobs and
 * verdicts, many of them invalid or duplicated. After every event: money is conserved, no
 * account but {@code external} is negative, and no shard is ever paid twice.
 */
class LedgerInvariantsTest {
    static final List<String> CUSTOMERS = List.of("c1", "c2", "c3");
    static final List<String> NODES = List.of("n1", "n2", "n3", "n4");

    @TestFactory
    List<DynamicTest> moneyIsConservedNoBalanceGoesNegativeAndNoShardIsPaidTwice() {
        return java.util.stream.LongStream.range(1, 9).mapToObj(seed ->
                DynamicTest.dynamicTest("seed " + seed, () -> runSequence(seed, 200))).toList();
    }

    private void runSequence(long seed, int steps) {
        Random random = new Random(seed);
        var config = new SettlementTopology.Config(random.nextInt(2_000));
        try (TopologyFixture driver = TopologyFixture.start(SettlementTopology.APPLICATION_ID,
                props -> SettlementTopology.buildTopology(config, props))) {
            TestInputTopic<String, Payment> payments = driver.input(Topics.PAYMENTS);
            TestInputTopic<String, JobSubmitted> jobs = driver.input(Topics.JOBS);
            TestInputTopic<String, Verdict> verdicts = driver.input(Topics.VERDICTS);
            var ledger = driver.output(Topics.LEDGER);
            KeyValueStore<String, Long> balances = driver.store(SettlementTopology.BALANCES_STORE);
            Map<String, int[]> jobShape = new HashMap<>(); // jobId -> {rows, shards, max price}
            Set<String> paidTasks = new HashSet<>();
            Map<String, String> verdictTask = new HashMap<>(); // verdictId@jobId -> task, as last sent
            Set<TransferKind> kindsSeen = new HashSet<>();

            for (int step = 0; step < steps; step++) {
                int op = random.nextInt(10);
                if (op < 3) {
                    boolean node = random.nextBoolean();
                    String account = node ? Accounts.node(pick(random, NODES)) : Accounts.customer(pick(random, CUSTOMERS));
                    PaymentKind kind = PaymentKind.values()[random.nextInt(3)];
                    long amount = random.nextInt(5) == 0 ? -random.nextInt(100) : random.nextInt(50_000);
                    if (kind == PaymentKind.STAKE) {
                        amount /= 10; // a stake is a part of a node's balance: mostly affordable, so the path is exercised
                    }
                    String id = random.nextInt(8) == 0 ? "dup" + random.nextInt(3) : "p" + step;
                    payments.pipeInput(account, Payment.newBuilder().setPaymentId(id).setAccountId(account).setKind(kind)
                            .setAmountMicros(amount).setAtMs(System.currentTimeMillis()).build());
                } else if (op < 5) {
                    String jobId = random.nextInt(6) == 0 && !jobShape.isEmpty() ? pick(random, List.copyOf(jobShape.keySet())) : "j" + step;
                    int rows = 1 + random.nextInt(40);
                    int shards = 1 + random.nextInt(Math.min(rows, 5));
                    long maxPrice = 1 + random.nextInt(300);
                    jobShape.putIfAbsent(jobId, new int[] {rows, shards, (int) maxPrice});
                    jobs.pipeInput(jobId, SettlementTopologyTest.job(jobId, pick(random, CUSTOMERS), rows, shards, maxPrice));
                } else if (!jobShape.isEmpty()) {
                    String jobId = random.nextInt(10) == 0 ? "unknown" : pick(random, List.copyOf(jobShape.keySet()));
                    int[] shape = jobShape.getOrDefault(jobId, new int[] {5, 2, 100});
                    String task = TaskIds.of(jobId, random.nextInt(shape[1]), shape[1]);
                    VerdictOutcome outcome = random.nextInt(4) == 0 ? VerdictOutcome.REJECTED : VerdictOutcome.ACCEPTED;
                    int rows = 1 + random.nextInt(Math.max(1, shape[0] / shape[1]));
                    String verdictId = "v" + random.nextInt(steps); // drawn where it always was: same sequences per seed
                    verdictTask.put(verdictId + "@" + jobId, task);
                    verdicts.pipeInput(jobId, SettlementTopologyTest.verdict(verdictId, jobId, task,
                            pick(random, NODES), outcome, rows,
                            // mostly the matcher's honest price (≤ the job's max), sometimes an overcharge
                            random.nextInt(8) == 0 ? shape[2] + 1 + random.nextInt(300) : 1 + random.nextInt(shape[2])));
                }

                Map<String, Long> all = new HashMap<>();
                try (var it = balances.all()) {
                    it.forEachRemaining(kv -> all.put(kv.key, kv.value));
                }
                assertEquals(0L, all.values().stream().mapToLong(Long::longValue).sum(), "seed " + seed + " step " + step + ": " + all);
                for (var e : all.entrySet()) {
                    assertTrue(e.getKey().equals(Accounts.EXTERNAL) || e.getValue() >= 0,
                            "seed " + seed + " step " + step + ": " + e.getKey() + " = " + e.getValue());
                }
                for (Transfer t : ledger.readValuesToList()) {
                    assertTrue(t.getAmountMicros() > 0, "transfer of " + t.getAmountMicros());
                    kindsSeen.add(t.getKind());
                    if (t.getKind() == TransferKind.PAYOUT) {
                        // the ledger line names its job and verdict; the verdict names the task
                        String task = verdictTask.get(t.getCause() + "@" + t.getJobId());
                        assertTrue(paidTasks.add(task), "seed " + seed + " step " + step + ": shard " + task + " paid twice");
                    }
                }
            }
            // The sequence must have exercised the money paths, or the invariants prove nothing.
            assertTrue(kindsSeen.containsAll(Set.of(TransferKind.DEPOSIT, TransferKind.ESCROW, TransferKind.PAYOUT,
                    TransferKind.FEE, TransferKind.STAKE_LOCK)), "seed " + seed + " only saw " + kindsSeen);
        }
    }

    private static <T> T pick(Random random, List<T> list) {
        return list.get(random.nextInt(list.size()));
    }
}
