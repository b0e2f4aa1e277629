package io.inferex.settlement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.TransferKind;
import io.inferex.events.VerdictOutcome;
import io.inferex.market.Accounts;
import io.inferex.market.TaskIds;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The pure decisions: a refusal carries nothing to write. */
class LedgerRulesTest {
    final Map<String, Long> balances = new HashMap<>();
    final Map<String, JobStatus> jobs = new HashMap<>();
    final LedgerRules rules = new LedgerRules(500, Duration.ofDays(30));
    final LedgerRules.LedgerState state = new LedgerRules.LedgerState() {
        public long balance(String account) {
            return balances.getOrDefault(account, 0L);
        }

        public JobStatus job(String jobId) {
            return jobs.get(jobId);
        }

        public boolean paymentApplied(String paymentId) {
            return false;
        }

        public boolean verdictApplied(String jobId, String verdictId) {
            return false;
        }

        public boolean shardPaid(String jobId, String taskId) {
            return false;
        }
    };

    @Test
    void aTransferFromAnAccountToItselfIsRefused() {
        var plan = new LedgerRules.Plan(state, 0);
        plan.move("customer:a", "customer:a", 5, TransferKind.DEPOSIT, null, "p");
        assertNotNull(plan.refusal);
        assertTrue(plan.transfers.isEmpty() && plan.balances.isEmpty());
    }

    @Test
    void aPayoutThatCannotBeWrittenInFullIsRefusedWholeWithNoPaidMarkerAndNoTransfer() {
        // An impossible ledger (a node balance at the top of a long), to force the last check to fail:
        // the payout to the node overflows after the escrow debit was planned.
        balances.put("escrow:j1", 2_000L);
        balances.put("node:n1", Long.MAX_VALUE - 10);
        jobs.put("j1", JobStatus.newBuilder().setJobId("j1").setCustomerId("acme").setState(JobState.IN_PROGRESS)
                .setRowCount(10).setCompletedRows(0).setFailedRows(0).setShardCount(2).setShardsDone(0).setSpentMicros(0)
                .setUpdatedAtMs(0).build());
        var d = rules.verdict(SettlementTopologyTest.verdict("v1", "j1", TaskIds.of("j1", 0, 2), "n1", VerdictOutcome.ACCEPTED, 6, 100),
                1, state);
        assertTrue(d.refusal().contains("overflows"), d.refusal());
        assertNull(d.paidTaskId());
        assertNull(d.verdictId());
        assertNull(d.status());
        assertTrue(d.transfers().isEmpty() && d.balances().isEmpty());
    }

    @Test
    void aDepositToExternalIsRefusedBecauseItWouldCreateMoney() {
        var d = rules.payment(SettlementTopologyTest.deposit("p", Accounts.EXTERNAL, 1_000), System.currentTimeMillis(), state);
        assertNotNull(d.refusal());
        assertEquals(0, d.transfers().size());
    }
}
