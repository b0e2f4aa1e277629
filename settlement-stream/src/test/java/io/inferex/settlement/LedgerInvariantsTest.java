package io.inferex.settlement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.JobSubmitted;
import io.inferex.events.NodeStake;
import io.inferex.events.OutcomeKind;
import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.ledger.LedgerConfig;
import io.inferex.market.Accounts;
import io.inferex.market.TaskIds;
import io.inferex.market.VerificationIds;
import io.inferex.testing.LedgerEvents;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topics;
import java.time.Duration;
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
 * Randomised (seeded, so a failure repeats) sequences of deposits, withdrawals, stakes, unstakes,
 * jobs, verdicts (on shard and on verification leases), verification outcomes (FINAL, FRAUD,
 * UPHELD, unknown) and the passing of time, many of them invalid or duplicated. After every
 * event: money is conserved, no account but {@code external} and {@code treasury} is negative, no
 * shard is paid twice nor paid but on a FINAL outcome, no verification lease is paid twice, the
 * published stake of every node is what its stake account holds, and a slashed node never stakes
 * again.
 */
class LedgerInvariantsTest {
    static final List<String> CUSTOMERS = List.of("c1", "c2", "c3");
    static final List<String> NODES = List.of("n1", "n2", "n3", "n4", "n5", "n6");
    static final List<String> CHEATS = List.of("n5", "n6");

    @TestFactory
    List<DynamicTest> moneyIsConservedNoBalanceGoesNegativeAndNoShardIsPaidTwice() {
        Set<TransferKind> kindsSeen = new HashSet<>();
        List<DynamicTest> tests = new java.util.ArrayList<>(java.util.stream.LongStream.range(1, 7).mapToObj(seed ->
                DynamicTest.dynamicTest("seed " + seed, () -> kindsSeen.addAll(runSequence(seed, 250)))).toList());
        // Together the sequences must have exercised every money path, or the invariants prove nothing.
        tests.add(DynamicTest.dynamicTest("the sequences moved money every way", () -> assertEquals(Set.of(TransferKind.values()).stream()
                .filter(k -> !k.name().startsWith("BOND_")).collect(java.util.stream.Collectors.toSet()), kindsSeen)));
        return tests;
    }

    /** Runs one sequence; answers the kinds of transfer it produced. */
    private Set<TransferKind> runSequence(long seed, int steps) {
        Random random = new Random(seed);
        var config = new LedgerConfig(random.nextInt(2_000), Duration.ofDays(30), random.nextInt(10_001),
                Duration.ofMinutes(30), Duration.ofMinutes(10), Duration.ofHours(1));
        try (TopologyFixture driver = TopologyFixture.start(SettlementTopology.APPLICATION_ID,
                props -> SettlementTopology.buildTopology(config, props))) {
            TestInputTopic<String, Payment> payments = driver.input(Topics.PAYMENTS);
            TestInputTopic<String, JobSubmitted> jobs = driver.input(Topics.JOBS);
            TestInputTopic<String, Verdict> verdicts = driver.input(Topics.VERDICTS);
            TestInputTopic<String, VerificationOutcome> outcomes = driver.input(Topics.VERIFICATION_OUTCOMES);
            var ledger = driver.output(Topics.LEDGER);
            var nodeStakes = driver.output(Topics.NODE_STAKE);
            KeyValueStore<String, Long> balances = driver.store(SettlementTopology.BALANCES_STORE);
            Map<String, int[]> jobShape = new HashMap<>(); // jobId -> {rows, shards, max price}
            Set<String> paidTasks = new HashSet<>();
            Set<String> paidLeases = new HashSet<>();
            Map<String, String> outcomeTask = new HashMap<>(); // outcomeId@jobId -> task, as last sent
            Map<String, String> verdictLease = new HashMap<>(); // verdictId@jobId -> verification lease, as last sent
            Set<String> finalOutcomes = new HashSet<>(); // outcomeId@jobId last sent as FINAL
            Map<String, NodeStake> published = new HashMap<>();
            Set<String> slashed = new HashSet<>();
            Set<TransferKind> kindsSeen = new HashSet<>();
            long clock = System.currentTimeMillis(); // the driver's wall clock, which started at about now

            for (int step = 0; step < steps; step++) {
                int op = random.nextInt(16);
                if (op < 5) {
                    boolean node = random.nextBoolean();
                    String nodeId = pick(random, NODES);
                    String account = node ? Accounts.node(nodeId) : Accounts.customer(pick(random, CUSTOMERS));
                    PaymentKind kind = PaymentKind.values()[random.nextInt(3)];
                    long amount = random.nextInt(5) == 0 ? -random.nextInt(100) : random.nextInt(50_000);
                    if (kind == PaymentKind.STAKE) {
                        amount /= 10; // a stake is a part of a node's balance: mostly affordable, so the path is exercised
                    }
                    if (node && kind == PaymentKind.WITHDRAWAL && random.nextBoolean()) {
                        account = Accounts.stake(nodeId); // an unstake
                        amount /= 20;
                    }
                    String id = random.nextInt(8) == 0 ? "dup" + random.nextInt(3) : "p" + step;
                    payments.pipeInput(account, Payment.newBuilder().setPaymentId(id).setAccountId(account).setKind(kind)
                            .setAmountMicros(amount).setAtMs(System.currentTimeMillis()).build());
                } else if (op < 7) {
                    String jobId = random.nextInt(6) == 0 && !jobShape.isEmpty() ? pick(random, List.copyOf(jobShape.keySet())) : "j" + step;
                    int rows = 1 + random.nextInt(40);
                    int shards = 1 + random.nextInt(Math.min(rows, 5));
                    long maxPrice = 1 + random.nextInt(300);
                    jobShape.putIfAbsent(jobId, new int[] {rows, shards, (int) maxPrice});
                    JobSubmitted j = LedgerEvents.job(jobId, pick(random, CUSTOMERS), rows, shards, maxPrice);
                    // submitted up to a day ago on the driver's clock, so some windows pass during the sequence
                    j.setSubmittedAtMs(clock - Duration.ofHours(random.nextInt(25)).toMillis());
                    jobs.pipeInput(jobId, j);
                } else if (op == 15) {
                    Duration advance = Duration.ofMinutes(random.nextInt(45));
                    clock += advance.toMillis();
                    driver.driver().advanceWallClockTime(advance);
                } else if (!jobShape.isEmpty()) {
                    String jobId = random.nextInt(10) == 0 ? "unknown" : pick(random, List.copyOf(jobShape.keySet()));
                    int[] shape = jobShape.getOrDefault(jobId, new int[] {5, 2, 100});
                    String task = TaskIds.of(jobId, random.nextInt(shape[1]), shape[1]);
                    int rows = 1 + random.nextInt(Math.max(1, shape[0] / shape[1]));
                    // mostly the matcher's honest price (≤ the job's max), sometimes an overcharge
                    long price = random.nextInt(8) == 0 ? shape[2] + 1 + random.nextInt(300) : 1 + random.nextInt(shape[2]);
                    String node = pick(random, NODES);
                    if (op < 11) {
                        VerdictOutcome outcome = random.nextInt(4) == 0 ? VerdictOutcome.REJECTED : VerdictOutcome.ACCEPTED;
                        String verdictId = "v" + random.nextInt(steps); // drawn where it always was: same sequences per seed
                        Verdict v = LedgerEvents.verdict(verdictId, jobId, task, node, outcome, rows, price);
                        if (random.nextInt(3) == 0) { // a verification lease of the shard
                            String verification = random.nextBoolean() ? VerificationIds.sample(task)
                                    : VerificationIds.referee(task, 1 + random.nextInt(3));
                            v.setTaskId(verification);
                            v.setLeaseId(verification + "#" + (1 + random.nextInt(2)));
                            v.setDecidedAtMs(System.currentTimeMillis());
                            verdictLease.put(verdictId + "@" + jobId, v.getLeaseId());
                        }
                        verdicts.pipeInput(jobId, v);
                    } else {
                        OutcomeKind kind = switch (random.nextInt(12)) {
                            case 0 -> OutcomeKind.FRAUD;
                            case 1 -> OutcomeKind.UPHELD;
                            case 2 -> OutcomeKind.UNKNOWN;
                            default -> OutcomeKind.FINAL;
                        };
                        String outcomeId = "o" + random.nextInt(steps);
                        VerificationOutcome o = LedgerEvents.outcome(outcomeId, kind, jobId, task, node, rows, price);
                        if (kind == OutcomeKind.FRAUD) {
                            o.setNodeId(pick(random, CHEATS)); // honest nodes keep their stake, so unstakes get released
                            o.setRewardAccount(random.nextBoolean() ? Accounts.node(pick(random, NODES)) : "escrow:" + jobId);
                        }
                        outcomeTask.put(outcomeId + "@" + jobId, task);
                        if (kind == OutcomeKind.FINAL) {
                            finalOutcomes.add(outcomeId + "@" + jobId);
                        } else {
                            finalOutcomes.remove(outcomeId + "@" + jobId);
                        }
                        outcomes.pipeInput(jobId, o);
                    }
                }

                Map<String, Long> all = new HashMap<>();
                try (var it = balances.all()) {
                    it.forEachRemaining(kv -> all.put(kv.key, kv.value));
                }
                String at = "seed " + seed + " step " + step + ": ";
                assertEquals(0L, all.values().stream().mapToLong(Long::longValue).sum(), at + all);
                for (var e : all.entrySet()) {
                    assertTrue(e.getKey().equals(Accounts.EXTERNAL) || e.getKey().equals(Accounts.TREASURY) || e.getValue() >= 0,
                            at + e.getKey() + " = " + e.getValue());
                }
                for (Transfer t : ledger.readValuesToList()) {
                    assertTrue(t.getAmountMicros() > 0, "transfer of " + t.getAmountMicros());
                    kindsSeen.add(t.getKind());
                    if (t.getKind() == TransferKind.PAYOUT && t.getDebitAccount().startsWith("escrow:")) {
                        // the ledger line names its job and outcome; the outcome names the task
                        String cause = t.getCause() + "@" + t.getJobId();
                        assertTrue(finalOutcomes.contains(cause), at + "escrow paid out on " + cause + ", which is no FINAL outcome");
                        String task = outcomeTask.get(cause);
                        assertTrue(paidTasks.add(task), at + "shard " + task + " paid twice");
                    } else if (t.getKind() == TransferKind.PAYOUT) {
                        assertEquals(Accounts.TREASURY, t.getDebitAccount(), at + t);
                        String lease = verdictLease.get(t.getCause() + "@" + t.getJobId());
                        assertTrue(lease != null && paidLeases.add(lease), at + "verification lease " + lease + " paid twice");
                    }
                    if (t.getKind() == TransferKind.STAKE_LOCK) {
                        assertFalse(slashed.contains(t.getCreditAccount()), at + "a slashed node staked again: " + t);
                    }
                }
                for (NodeStake s : nodeStakes.readValuesToList()) {
                    published.put(s.getNodeId(), s);
                    if (s.getSlashed()) {
                        slashed.add(Accounts.stake(s.getNodeId()));
                    }
                }
                for (NodeStake s : published.values()) {
                    String stake = Accounts.stake(s.getNodeId());
                    assertEquals(all.getOrDefault(stake, 0L), s.getLockedMicros(), at + "published stake of " + s.getNodeId());
                    assertTrue(s.getUnlockingMicros() >= 0 && s.getUnlockingMicros() <= s.getLockedMicros(), at + s);
                }
            }
            // Each sequence must have exercised the main money paths, or its invariants prove little.
            assertTrue(kindsSeen.containsAll(Set.of(TransferKind.DEPOSIT, TransferKind.ESCROW, TransferKind.PAYOUT,
                    TransferKind.FEE, TransferKind.REFUND)), "seed " + seed + " only saw " + kindsSeen);
            assertTrue(!paidLeases.isEmpty() && !paidTasks.isEmpty(), "seed " + seed + " paid no verification lease or no shard");
            return kindsSeen;
        }
    }

    private static <T> T pick(Random random, List<T> list) {
        return list.get(random.nextInt(list.size()));
    }
}
