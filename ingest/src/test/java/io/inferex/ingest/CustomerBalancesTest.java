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
}
