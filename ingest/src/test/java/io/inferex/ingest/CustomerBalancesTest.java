package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.market.Accounts;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class CustomerBalancesTest {
    private static int seq;

    static Transfer t(String from, String to, long micros, TransferKind kind, String job) {
        return Transfer.newBuilder().setTransferId("t" + (seq++)).setDebitAccount(from).setCreditAccount(to)
                .setAmountMicros(micros).setKind(kind).setJobId(job).setCause("c").setAtMs(0).build();
    }

    /** A job's life on the ledger: deposit, escrow, two shards paid with fees, the rest refunded. */
    static List<Transfer> jobLife(String customer, String job) {
        String c = Accounts.customer(customer);
        String e = Accounts.escrow(job);
        return List.of(
                t(Accounts.EXTERNAL, c, 10_000, TransferKind.DEPOSIT, null),
                t(c, e, 4_000, TransferKind.ESCROW, job),
                t(e, Accounts.node("n1"), 950, TransferKind.PAYOUT, job),
                t(e, Accounts.TREASURY, 50, TransferKind.FEE, job),
                t(e, Accounts.node("n2"), 1_900, TransferKind.PAYOUT, job),
                t(e, Accounts.TREASURY, 100, TransferKind.FEE, job),
                t(e, c, 1_000, TransferKind.REFUND, job));
    }

    @Test
    void aCustomerSeesOnlyTheirOwnMoneyAndEscrow() {
        CustomerBalances b = new CustomerBalances();
        List<Transfer> alice = jobLife("alice", "batch_a");
        alice.subList(0, 3).forEach(b::apply); // deposit, escrow, first payout
        b.apply(t(Accounts.EXTERNAL, Accounts.customer("bob"), 500, TransferKind.DEPOSIT, null));

        CustomerBalances.View a = b.of("alice");
        assertEquals(6_000, a.availableMicros());
        assertEquals(3_050, a.escrowMicros());
        assertEquals(Map.of("batch_a", 3_050L), a.escrowByJob());
        CustomerBalances.View bob = b.of("bob");
        assertEquals(500, bob.availableMicros());
        assertEquals(0, bob.escrowMicros());
        assertTrue(bob.escrowByJob().isEmpty(), "alice's escrow is not bob's");
        assertEquals(0, b.of("nobody").availableMicros());
    }

    @Test
    void aDrainedEscrowLeavesMemoryAndTheRefundReturnsToTheCustomer() {
        CustomerBalances b = new CustomerBalances();
        jobLife("alice", "batch_a").forEach(b::apply);
        assertEquals(7_000, b.of("alice").availableMicros(), "10,000 deposited - 3,000 spent");
        assertEquals(3_000, b.of("alice").spentMicros(), "two payouts and their fees");
        assertEquals(0, b.of("alice").escrowMicros());
        assertEquals(0, b.openEscrows());
        assertEquals(1, b.customers(), "only customer accounts are kept, not nodes or the treasury");
    }

    @Test
    void partitionsReadInAnyOrderGiveTheSameBalances() {
        List<Transfer> all = new ArrayList<>(jobLife("alice", "batch_a"));
        all.addAll(jobLife("bob", "batch_b"));
        all.add(t(Accounts.customer("bob"), Accounts.escrow("batch_c"), 2_000, TransferKind.ESCROW, "batch_c"));
        all.add(t(Accounts.escrow("batch_c"), Accounts.node("n1"), 500, TransferKind.PAYOUT, "batch_c"));
        Random random = new Random(7);
        for (int round = 0; round < 50; round++) {
            Collections.shuffle(all, random);
            CustomerBalances b = new CustomerBalances();
            all.forEach(b::apply);
            assertEquals(7_000, b.of("alice").availableMicros());
            assertEquals(0, b.of("alice").escrowMicros());
            assertEquals(5_000, b.of("bob").availableMicros());
            assertEquals(Map.of("batch_c", 1_500L), b.of("bob").escrowByJob(), "order " + all);
            assertEquals(3_000, b.of("alice").spentMicros());
            assertEquals(3_500, b.of("bob").spentMicros(), "batch_b's 3,000 and batch_c's first payout");
            assertEquals(1, b.openEscrows());
        }
    }

    @Test
    void clearForgetsEverything() {
        CustomerBalances b = new CustomerBalances();
        jobLife("alice", "batch_a").subList(0, 2).forEach(b::apply);
        b.clear();
        assertEquals(0, b.of("alice").availableMicros());
        assertEquals(0, b.of("alice").escrowMicros());
        assertEquals(0, b.transfersApplied());
    }

    private static final long DAY = 86_400_000L;
    /** 2026-12-02T10:00Z: mid-day, mid-month. */
    private static final long NOW = 1_796_205_600_000L;

    static Transfer at(Transfer t, long atMs) {
        t.setAtMs(atMs);
        return t;
    }

    @Test
    void aHeldEscrowIsNotSpendableTwiceUntilTheLedgerShowsItAndThenCountsOnce() {
        CustomerBalances b = new CustomerBalances();
        b.apply(t(Accounts.EXTERNAL, Accounts.customer("alice"), 10_000, TransferKind.DEPOSIT, null));
        assertEquals(new CustomerBalances.Reserved(6_000), b.reserve("alice", "j1", 6_000, NOW, 60_000));
        assertEquals(new CustomerBalances.Insufficient(6_000, 10_000, 6_000), b.reserve("alice", "j2", 6_000, NOW, 60_000),
                "j1's escrow is held although the ledger does not show it yet");
        assertEquals(6_000, b.of("alice").heldMicros());
        b.apply(t(Accounts.customer("alice"), Accounts.escrow("j1"), 6_000, TransferKind.ESCROW, "j1"));
        assertEquals(0, b.of("alice").heldMicros(), "the ledger shows it: no longer held, counted once as escrow");
        assertEquals(4_000, b.of("alice").availableMicros());
        assertTrue(b.reserve("alice", "j2", 6_000, NOW, 60_000) instanceof CustomerBalances.Insufficient);
        assertEquals(new CustomerBalances.Reserved(4_000), b.reserve("alice", "j3", 4_000, NOW, 60_000));
        assertTrue(b.reserve("bob", "j4", 1, NOW, 60_000) instanceof CustomerBalances.Insufficient, "a customer the ledger never named has 0");
    }

    @Test
    void ofManyConcurrentReservationsExactlyThoseTheBalanceCoversAreHeld() throws Exception {
        CustomerBalances b = new CustomerBalances();
        b.apply(t(Accounts.EXTERNAL, Accounts.customer("alice"), 10_000, TransferKind.DEPOSIT, null));
        var pool = java.util.concurrent.Executors.newFixedThreadPool(8);
        try {
            List<java.util.concurrent.Future<CustomerBalances.Reservation>> all = new ArrayList<>();
            for (int i = 0; i < 40; i++) {
                String job = "j" + i;
                all.add(pool.submit(() -> b.reserve("alice", job, 3_000, NOW, 60_000)));
            }
            long held = 0;
            for (var f : all) {
                held += f.get() instanceof CustomerBalances.Reserved ? 1 : 0;
            }
            assertEquals(3, held, "10,000 covers three escrows of 3,000");
            assertEquals(9_000, b.of("alice").heldMicros());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aHoldGoesWhenNothingWasPublishedWhenSettlementFailsTheJobOrWhenItRunsOutButSurvivesAReread() {
        CustomerBalances b = new CustomerBalances();
        b.apply(t(Accounts.EXTERNAL, Accounts.customer("alice"), 10_000, TransferKind.DEPOSIT, null));
        b.reserve("alice", "aborted", 2_000, NOW, 60_000);
        b.reserve("alice", "failed", 3_000, NOW, 60_000);
        b.reserve("alice", "unknown", 4_000, NOW, 60_000);
        b.release("aborted");
        b.onStatus(io.inferex.events.JobStatus.newBuilder().setJobId("failed").setCustomerId("alice")
                .setState(io.inferex.events.JobState.FAILED).setRowCount(1).setCompletedRows(0).setFailedRows(1).setShardCount(1)
                .setShardsDone(0).setSpentMicros(0).setUpdatedAtMs(NOW).build());
        assertEquals(4_000, b.of("alice").heldMicros());
        b.clear(); // the tracker reads the ledger again: this instance's holds stay
        b.apply(t(Accounts.EXTERNAL, Accounts.customer("alice"), 10_000, TransferKind.DEPOSIT, null));
        assertEquals(new CustomerBalances.Insufficient(7_000, 10_000, 4_000), b.reserve("alice", "x", 7_000, NOW + 60_000, 60_000));
        assertEquals(new CustomerBalances.Reserved(7_000), b.reserve("alice", "y", 7_000, NOW + 60_001, 60_000),
                "a publish whose outcome never showed is held no longer than the hold");
    }

    @Test
    void aBudgetCountsWhatThePeriodsEscrowsCommittedLessTheirRefundsPlusHoldsInAnyReadOrder() {
        String c = Accounts.customer("alice");
        List<Transfer> ledger = new ArrayList<>(List.of(
                at(t(Accounts.EXTERNAL, c, 100_000, TransferKind.DEPOSIT, null), NOW - 40 * DAY),
                at(t(c, Accounts.escrow("old"), 50_000, TransferKind.ESCROW, "old"), NOW - 40 * DAY), // another month
                at(t(c, Accounts.escrow("yday"), 5_000, TransferKind.ESCROW, "yday"), NOW - DAY),
                at(t(c, Accounts.escrow("today"), 4_000, TransferKind.ESCROW, "today"), NOW - 3_600_000),
                at(t(Accounts.escrow("today"), Accounts.node("n1"), 2_850, TransferKind.PAYOUT, "today"), NOW - 60_000),
                at(t(Accounts.escrow("today"), Accounts.TREASURY, 150, TransferKind.FEE, "today"), NOW - 60_000),
                at(t(Accounts.escrow("today"), c, 1_000, TransferKind.REFUND, "today"), NOW - 60_000)));
        Random random = new Random(11);
        for (int round = 0; round < 20; round++) {
            Collections.shuffle(ledger, random);
            CustomerBalances b = new CustomerBalances();
            ledger.forEach(b::apply);
            assertEquals(3_000, b.committed("alice", CustomerBalances.Period.DAY, NOW), "today's escrow less its refund, order " + ledger);
            assertEquals(8_000, b.committed("alice", CustomerBalances.Period.MONTH, NOW), "this month: yesterday's too");
            b.applyBudget("alice", 10_000L, CustomerBalances.Period.DAY, 1);
            assertEquals(new CustomerBalances.Reserved(7_000), b.reserve("alice", "j1", 7_000, NOW, 2 * DAY));
            CustomerBalances.Reservation over = b.reserve("alice", "j2", 1, NOW, 60_000);
            assertEquals(new CustomerBalances.OverBudget(1, new CustomerBalances.Budget(10_000L, CustomerBalances.Period.DAY, 1), 10_000),
                    over, "3,000 committed + 7,000 held");
            assertTrue(b.reserve("alice", "j3", 3_001, NOW + DAY, 60_000) instanceof CustomerBalances.OverBudget,
                    "a hold counts in whichever period it is checked until the ledger shows it");
            b.release("j1");
            assertEquals(new CustomerBalances.Reserved(10_000), b.reserve("alice", "j4", 10_000, NOW + DAY, 60_000),
                    "a new day: nothing committed yet");
            b.applyBudget("alice", null, CustomerBalances.Period.MONTH, 0);
            assertTrue(b.budget("alice").isPresent(), "an older record changes nothing");
            b.applyBudget("alice", null, CustomerBalances.Period.MONTH, 2);
            assertTrue(b.budget("alice").isEmpty(), "removed");
        }
    }
}
