package io.inferex.ledger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.NodeStake;
import io.inferex.events.OutcomeKind;
import io.inferex.events.TransferKind;
import io.inferex.events.VerdictOutcome;
import io.inferex.market.Accounts;
import io.inferex.market.TaskIds;
import io.inferex.testing.LedgerEvents;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The pure decisions: a refusal carries nothing to write. */
class LedgerRulesTest {
    final Map<String, Long> balances = new HashMap<>();
    final Map<String, JobStatus> jobs = new HashMap<>();
    final Map<String, Long> marks = new HashMap<>();
    final LedgerRules rules = new LedgerRules(new LedgerConfig(500, Duration.ofDays(30)));
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

        public Long jobMark(String jobId, String mark) {
            return marks.get(jobId + "/" + mark);
        }

        public boolean verificationPaid(String leaseId) {
            return false;
        }

        public NodeStake stake(String nodeId) {
            return null;
        }

        public io.inferex.events.ChallengeBond bond(String challengeId) {
            return null;
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
    void aPayoutThatCannotBeWrittenInFullIsRefusedWholeWithNoMarkAndNoTransfer() {
        // An impossible ledger (a node balance at the top of a long), to force the last check to fail:
        // the payout to the node overflows after the escrow debit was planned.
        balances.put("escrow:j1", 2_000L);
        balances.put("node:n1", Long.MAX_VALUE - 10);
        jobs.put("j1", open("j1", 10, 2));
        var d = rules.outcome(LedgerEvents.outcome("o1", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 0, 2), "n1", 6, 100),
                1, state);
        assertTrue(d.refusal().contains("overflows"), d.refusal());
        assertTrue(d.jobMarks().isEmpty());
        assertNull(d.status());
        assertTrue(d.transfers().isEmpty() && d.balances().isEmpty());
    }

    @Test
    void anAcceptedVerdictOnAShardLeaseMovesNoMoneyAndTheLastOneMakesTheJobFinalizing() {
        balances.put("escrow:j1", 2_000L);
        jobs.put("j1", open("j1", 10, 2));
        var first = rules.verdict(LedgerEvents.verdict("v1", "j1", TaskIds.of("j1", 0, 2), "n1", VerdictOutcome.ACCEPTED, 6, 100),
                1, state);
        assertTrue(first.transfers().isEmpty() && first.balances().isEmpty(), "no money on the form check");
        assertEquals(6L, first.jobMarks().get(LedgerRules.Marks.accepted(TaskIds.of("j1", 0, 2))));
        assertEquals(JobState.IN_PROGRESS, first.status().getState());
        jobs.put("j1", first.status());
        marks.put("j1/" + LedgerRules.Marks.accepted(TaskIds.of("j1", 0, 2)), 6L);
        var last = rules.verdict(LedgerEvents.verdict("v2", "j1", TaskIds.of("j1", 1, 2), "n2", VerdictOutcome.ACCEPTED, 4, 100),
                2, state);
        assertTrue(last.transfers().isEmpty());
        assertEquals(JobState.FINALIZING, last.status().getState());
        assertEquals(2, last.status().getShardsDone());
        assertEquals(10, last.status().getCompletedRows());
        assertEquals(0, last.status().getSpentMicros());
    }

    @Test
    void aFinalOutcomeNamingOtherRowsThanTheShardWasAcceptedWithIsRefused() {
        balances.put("escrow:j1", 2_000L);
        jobs.put("j1", open("j1", 10, 2));
        marks.put("j1/" + LedgerRules.Marks.accepted(TaskIds.of("j1", 0, 2)), 6L);
        var d = rules.outcome(LedgerEvents.outcome("o1", OutcomeKind.FINAL, "j1", TaskIds.of("j1", 0, 2), "n1", 7, 100), 1, state);
        assertTrue(d.refusal().contains("accepted with 6"), d.refusal());
        assertTrue(d.transfers().isEmpty());
    }

    @Test
    void anUnknownOutcomeKindIsRefused() {
        jobs.put("j1", open("j1", 10, 2));
        var d = rules.outcome(LedgerEvents.outcome("o1", OutcomeKind.UNKNOWN, "j1", TaskIds.of("j1", 0, 2), "n1", 6, 100), 1, state);
        assertTrue(d.refusal().contains("kind this build does not know"), d.refusal());
    }

    @Test
    void aVerificationVerdictForAJobThatFailedEscrowIsRefusedAndTheTreasuryPaysNothing() {
        JobStatus failed = open("j1", 10, 2);
        failed.setState(JobState.FAILED);
        jobs.put("j1", failed);
        var v = LedgerEvents.verdict("v1", "j1", io.inferex.market.VerificationIds.sample(TaskIds.of("j1", 0, 2)), "n2",
                VerdictOutcome.ACCEPTED, 6, 100);
        v.setDecidedAtMs(1);
        var d = rules.verdict(v, 1, state);
        assertTrue(d.refusal().contains("failed escrow"), d.refusal());
        assertTrue(d.transfers().isEmpty());
    }

    static JobStatus open(String jobId, int rows, int shards) {
        return JobStatus.newBuilder().setJobId(jobId).setCustomerId("acme").setState(JobState.IN_PROGRESS)
                .setRowCount(rows).setCompletedRows(0).setFailedRows(0).setShardCount(shards).setShardsDone(0).setSpentMicros(0)
                .setUpdatedAtMs(0).build();
    }

    @Test
    void aDepositToExternalIsRefusedBecauseItWouldCreateMoney() {
        var d = rules.payment(LedgerEvents.deposit("p", Accounts.EXTERNAL, 1_000), System.currentTimeMillis(), state);
        assertNotNull(d.refusal());
        assertEquals(0, d.transfers().size());
    }

    @Test
    void theHandWrittenIdCheckAcceptsExactlyWhatTheIdPatternMatches() {
        String alphabet = "aZ09_.~@-:/ \u00e9\u0000+#%";
        java.util.Random random = new java.util.Random(20261202);
        java.util.List<String> ids = new java.util.ArrayList<>(java.util.Arrays.asList(null, "", ":", "a:", ":a", "a",
                "x".repeat(199), "x".repeat(200), "x".repeat(201), "job-1:shard:2", "customer:demo", "\ud800"));
        for (int i = 0; i < 20_000; i++) {
            int length = random.nextInt(5) == 0 ? 195 + random.nextInt(10) : random.nextInt(8);
            StringBuilder b = new StringBuilder();
            for (int j = 0; j < length; j++) {
                b.append(alphabet.charAt(random.nextInt(alphabet.length())));
            }
            ids.add(b.toString());
        }
        int accepted = 0;
        for (String id : ids) {
            assertEquals(LedgerRules.plainIdByPattern(id), LedgerRules.plainId(id), () -> "id " + id);
            accepted += LedgerRules.plainId(id) ? 1 : 0;
        }
        assertTrue(accepted > 100 && accepted < ids.size() - 100, "both answers are exercised: " + accepted + " accepted");
    }
}
