package io.inferex.settlement;

import static io.inferex.settlement.SettlementTopologyTest.assertMoneyConserved;
import static io.inferex.testing.LedgerEvents.deposit;
import static io.inferex.testing.LedgerEvents.job;
import static io.inferex.testing.LedgerEvents.outcome;
import static io.inferex.testing.LedgerEvents.verdict;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.DeadLetters;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
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
import io.inferex.market.Money;
import io.inferex.market.TaskIds;
import io.inferex.market.VerificationIds;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topics;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Settlement of verified work: pay on finality, pay verification, slash fraud, real stake with a cooldown. */
class VerificationSettlementTest extends SettlementTopologyTestBase {
    static final String T0 = TaskIds.of("j1", 0, 2);
    static final String T1 = TaskIds.of("j1", 1, 2);

    private JobStatus job1() {
        return fixture.<String, JobStatus>store(SettlementTopology.JOBS_STORE).get("j1");
    }

    private void fundedJob() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", Money.units(1)));
        JobSubmitted j = job("j1", "acme", 10, 2, 200);
        j.setSubmittedAtMs(System.currentTimeMillis()); // its 24 h window starts on the driver's clock
        jobs.pipeInput("j1", j);
        ledger.readValuesToList();
        status.readValuesToList();
    }

    private void stake(String node, long deposit, long stake) {
        payments.pipeInput(Accounts.node(node), deposit("d-" + node, Accounts.node(node), deposit));
        payments.pipeInput(Accounts.node(node), payment("s-" + node + "-" + stake, Accounts.node(node), PaymentKind.STAKE, stake));
    }

    static Payment payment(String id, String account, PaymentKind kind, long amount) {
        return Payment.newBuilder().setPaymentId(id).setAccountId(account).setKind(kind).setAmountMicros(amount)
                .setAtMs(System.currentTimeMillis()).build();
    }

    static Verdict verification(String id, String verificationId, String node, int rows, long price) {
        Verdict v = verdict(id, "j1", verificationId, node, VerdictOutcome.ACCEPTED, rows, price);
        v.setDecidedAtMs(System.currentTimeMillis());
        return v;
    }

    static VerificationOutcome fraud(String id, String task, String node, String rewardAccount) {
        VerificationOutcome o = outcome(id, OutcomeKind.FRAUD, "j1", task, node, 6, 100);
        o.setRewardAccount(rewardAccount);
        o.setCorrectionLeaseId(VerificationIds.referee(task, 1) + "#1");
        o.setCorrectionDigest("corrected");
        return o;
    }

    @Test
    void formAcceptedVerdictsMoveNoMoneyAndMakeTheJobFinalizingOnceEveryShardIsAccepted() {
        fundedJob();
        verdicts.pipeInput("j1", verdict("v1", "j1", T0, "n1", VerdictOutcome.ACCEPTED, 6, 100));
        verdicts.pipeInput("j1", verdict("v2", "j1", T1, "n2", VerdictOutcome.ACCEPTED, 4, 150));

        assertTrue(ledger.isEmpty(), "no payment before FINAL");
        assertNull(balances.get("node:n1"));
        assertEquals(2_000L, balances.get("escrow:j1"));
        List<JobStatus> seen = status.readValuesToList();
        assertEquals(JobState.IN_PROGRESS, seen.get(0).getState());
        assertEquals(JobState.FINALIZING, seen.get(1).getState());
        assertEquals(2, seen.get(1).getShardsDone());
        assertEquals(10, seen.get(1).getCompletedRows());
        assertEquals(0, seen.get(1).getSpentMicros());
    }

    @Test
    void finalPaysEachShardOnceAndTheLastCompletesTheJobWithTheEscrowRestToTheCustomer() {
        fundedJob();
        verdicts.pipeInput("j1", verdict("v1", "j1", T0, "n1", VerdictOutcome.ACCEPTED, 6, 100));
        verdicts.pipeInput("j1", verdict("v2", "j1", T1, "n2", VerdictOutcome.ACCEPTED, 4, 150));
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", T0, "n1", 6, 100));
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", T0, "n1", 6, 100));
        outcomes.pipeInput("j1", outcome("o1b", OutcomeKind.FINAL, "j1", T0, "n3", 6, 100));
        assertEquals(JobState.FINALIZING, job1().getState());
        outcomes.pipeInput("j1", outcome("o2", OutcomeKind.FINAL, "j1", T1, "n2", 4, 150));

        List<Transfer> lines = ledger.readValuesToList();
        assertEquals(List.of("o1/payout/node:n1", "o1/fee/treasury", "o2/payout/node:n2", "o2/fee/treasury", "j1/release/refund/customer:acme"),
                lines.stream().map(Transfer::getTransferId).toList());
        assertEquals(570L, balances.get("node:n1"));
        assertEquals(570L, balances.get("node:n2"));
        assertNull(balances.get("node:n3"));
        assertEquals(60L, balances.get(Accounts.TREASURY));
        assertEquals(0L, balances.get("escrow:j1"));
        assertEquals(Money.units(1) - 1_200, balances.get("customer:acme"));
        assertEquals(JobState.COMPLETED, job1().getState());
        assertEquals(1_200, job1().getSpentMicros());
        assertMoneyConserved(balances, Money.units(1));
    }

    @Test
    void aFinalOutcomeBeforeItsAcceptedVerdictCountsTheShardAsAcceptedAndTheLateVerdictChangesNothing() {
        fundedJob();
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", T0, "n1", 6, 100));
        assertEquals(1, job1().getShardsDone());
        assertEquals(6, job1().getCompletedRows());
        assertEquals(570L, balances.get("node:n1"));
        verdicts.pipeInput("j1", verdict("v1", "j1", T0, "n1", VerdictOutcome.ACCEPTED, 6, 100));
        assertEquals(1, job1().getShardsDone(), "not counted twice");
        assertEquals(6, job1().getCompletedRows());
        outcomes.pipeInput("j1", outcome("o2", OutcomeKind.FINAL, "j1", T1, "n2", 4, 150));
        assertEquals(JobState.COMPLETED, job1().getState());
        assertEquals(10, job1().getCompletedRows());
        assertEquals(Money.units(1) - 1_200, balances.get("customer:acme"));
        assertMoneyConserved(balances, Money.units(1));
    }

    @Test
    void aFormAcceptedVerificationLeaseIsPaidOnceFromTheTreasuryWhichMayGoBelowZero() {
        fundedJob();
        String sample = VerificationIds.sample(T0);
        verdicts.pipeInput("j1", verification("vs", sample, "n2", 6, 80));
        verdicts.pipeInput("j1", verification("vs", sample, "n2", 6, 80));
        verdicts.pipeInput("j1", verification("vs-again", sample, "n2", 6, 80)); // another verdict, same lease
        verdicts.pipeInput("j1", verification("vr", VerificationIds.referee(T0, 1), "n3", 6, 90));

        List<Transfer> lines = ledger.readValuesToList();
        assertEquals(2, lines.size());
        assertEquals(new SettlementTopologyTest.Line(Accounts.TREASURY, "node:n2", 480, TransferKind.PAYOUT),
                SettlementTopologyTest.line(lines.get(0).getDebitAccount(), lines.get(0).getCreditAccount(), lines.get(0).getAmountMicros(),
                        lines.get(0).getKind()));
        assertEquals("vs", lines.get(0).getCause());
        assertEquals(540L, balances.get("node:n3"));
        assertEquals(-1_020L, balances.get(Accounts.TREASURY));
        assertEquals(2_000L, balances.get("escrow:j1"), "the customer does not pay for verification");
        assertEquals(0, job1().getShardsDone(), "a verification lease is no shard");
        assertMoneyConserved(balances, Money.units(1));

        // a verification id whose shard is not one of the job's, or a lease not of that verification: refused
        verdicts.pipeInput("j1", verification("bad1", VerificationIds.sample("j1/00002"), "n2", 6, 80));
        Verdict foreignLease = verification("bad2", VerificationIds.referee(T1, 2), "n2", 6, 80);
        foreignLease.setLeaseId(T1 + "#1");
        verdicts.pipeInput("j1", foreignLease);
        var letters = dead.readRecordsToList();
        assertEquals(2, letters.size());
        assertTrue(DeadLetters.header(letters.get(0).headers(), DeadLetters.ERROR_MESSAGE).contains("does not verify one of the 2 shards"));
        assertTrue(DeadLetters.header(letters.get(1).headers(), DeadLetters.ERROR_MESSAGE).contains("is not a lease of"));
        assertTrue(ledger.isEmpty());
    }

    @Test
    void aVerificationLeaseIsStillPaidAfterItsJobCompleted() {
        fundedJob();
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", T0, "n1", 6, 100));
        outcomes.pipeInput("j1", outcome("o2", OutcomeKind.FINAL, "j1", T1, "n2", 4, 150));
        assertEquals(JobState.COMPLETED, job1().getState());
        verdicts.pipeInput("j1", verification("vr3", VerificationIds.referee(T0, 3), "n4", 6, 50));
        assertEquals(300L, balances.get("node:n4"));
    }

    @Test
    void fraudSlashesTheWholeStakeRewardsTheSamplerResolvesTheShardUnpaidAndBansTheNode() {
        fundedJob();
        stake("cheat", Money.units(10), Money.units(8));
        stakes.readValuesToList();
        ledger.readValuesToList();
        verdicts.pipeInput("j1", verdict("v1", "j1", T0, "cheat", VerdictOutcome.ACCEPTED, 6, 100));
        outcomes.pipeInput("j1", fraud("f1", T0, "cheat", "node:sampler"));

        List<Transfer> lines = ledger.readValuesToList();
        assertEquals(List.of(SettlementTopologyTest.line("stake:cheat", "node:sampler", Money.units(4), TransferKind.SLASH),
                SettlementTopologyTest.line("stake:cheat", Accounts.TREASURY, Money.units(4), TransferKind.SLASH)),
                lines.stream().map(t -> SettlementTopologyTest.line(t.getDebitAccount(), t.getCreditAccount(), t.getAmountMicros(), t.getKind())).toList());
        assertEquals(0L, balances.get("stake:cheat"));
        assertEquals(Money.units(2), balances.get("node:cheat"), "its unstaked balance stays; it is paid nothing for the shard");
        NodeStake slashed = stakes.readValue();
        assertEquals("cheat", slashed.getNodeId());
        assertTrue(slashed.getSlashed());
        assertEquals(0, slashed.getLockedMicros());
        JobStatus j = job1();
        assertEquals(JobState.IN_PROGRESS, j.getState());
        assertEquals(1, j.getShardsDone());
        assertEquals(0, j.getSpentMicros());
        // a FINAL for the resolved shard pays nothing
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", T0, "cheat", 6, 100));
        assertTrue(ledger.isEmpty());
        // banned: a later stake is refused
        payments.pipeInput("node:cheat", payment("s-again", "node:cheat", PaymentKind.STAKE, Money.units(1)));
        assertTrue(DeadLetters.header(dead.readRecordsToList().get(0).headers(), DeadLetters.ERROR_MESSAGE).contains("banned"));
        assertEquals(0L, balances.get("stake:cheat"));
        // the other shard completes the job: the fraudulent shard's escrow goes back to the customer
        outcomes.pipeInput("j1", outcome("o2", OutcomeKind.FINAL, "j1", T1, "n2", 4, 150));
        assertEquals(JobState.COMPLETED, job1().getState());
        assertEquals(Money.units(1) - 600, balances.get("customer:acme"));
        assertMoneyConserved(balances, Money.units(1) + Money.units(10));
    }

    @Test
    void aFraudRewardToAnAccountThatIsNotAParticipantsGoesToTheTreasury() {
        fundedJob();
        stake("cheat", Money.units(10), Money.units(8));
        ledger.readValuesToList();
        outcomes.pipeInput("j1", fraud("f1", T0, "cheat", "escrow:j1"));
        List<Transfer> lines = ledger.readValuesToList();
        assertEquals(1, lines.size());
        assertEquals(Accounts.TREASURY, lines.get(0).getCreditAccount());
        assertEquals(Money.units(8), lines.get(0).getAmountMicros());
        assertEquals(2_000L, balances.get("escrow:j1"));
    }

    @Test
    void upheldAndInconclusiveWithoutAChallengeMoveNoMoneyAndAnUnknownKindIsDeadLettered() {
        fundedJob();
        outcomes.pipeInput("j1", outcome("u1", OutcomeKind.UPHELD, "j1", T0, "n1", 6, 100));
        outcomes.pipeInput("j1", outcome("i1", OutcomeKind.INCONCLUSIVE, "j1", T0, "n1", 6, 100));
        assertTrue(ledger.isEmpty());
        assertEquals(0, job1().getShardsDone());
        outcomes.pipeInput("j1", outcome("x1", OutcomeKind.UNKNOWN, "j1", T0, "n1", 6, 100));
        fixture.rawInput(Topics.VERIFICATION_OUTCOMES).pipeInput("j1", new byte[] {(byte) 0xC3, 1, 2, 3});
        var letters = dead.readRecordsToList();
        assertEquals(2, letters.size());
        assertTrue(DeadLetters.header(letters.get(0).headers(), DeadLetters.ERROR_MESSAGE).contains("kind this build does not know"));
        assertEquals(Topics.VERIFICATION_OUTCOMES.name(), DeadLetters.header(letters.get(1).headers(), DeadLetters.SOURCE_TOPIC));
    }

    @Test
    void stakeChangesArePublishedAndAnUnstakeIsReleasedOnlyAfterTheCooldown() {
        stake("n1", Money.units(10), Money.units(8));
        NodeStake locked = stakes.readValue();
        assertEquals(Money.units(8), locked.getLockedMicros());
        assertEquals(0, locked.getUnlockingMicros());
        assertFalse(locked.getSlashed());

        payments.pipeInput("stake:n1", payment("u1", "stake:n1", PaymentKind.WITHDRAWAL, Money.units(3)));
        NodeStake unlocking = stakes.readValue();
        assertEquals(Money.units(8), unlocking.getLockedMicros(), "still held, still slashable");
        assertEquals(Money.units(3), unlocking.getUnlockingMicros());
        assertTrue(unlocking.getUnlockAtMs() > 0);
        // more than the eligible rest (8 - 3) is refused
        payments.pipeInput("stake:n1", payment("u2", "stake:n1", PaymentKind.WITHDRAWAL, Money.units(6)));
        assertTrue(DeadLetters.header(dead.readRecordsToList().get(0).headers(), DeadLetters.ERROR_MESSAGE).contains("exceeds its eligible stake"));
        ledger.readValuesToList();

        fixture.driver().advanceWallClockTime(LedgerConfig.DEFAULT_UNSTAKE_COOLDOWN.minusMinutes(1));
        assertTrue(ledger.isEmpty(), "released before the cooldown");
        assertEquals(Money.units(8), balances.get("stake:n1"));
        fixture.driver().advanceWallClockTime(Duration.ofMinutes(2));
        Transfer release = ledger.readValue();
        assertEquals(TransferKind.STAKE_RELEASE, release.getKind());
        assertEquals("stake:n1", release.getDebitAccount());
        assertEquals("node:n1", release.getCreditAccount());
        assertEquals(Money.units(3), release.getAmountMicros());
        NodeStake released = stakes.readValue();
        assertEquals(Money.units(5), released.getLockedMicros());
        assertEquals(0, released.getUnlockingMicros());
        assertEquals(0, released.getUnlockAtMs());
        assertEquals(Money.units(5), balances.get("node:n1"));
        fixture.driver().advanceWallClockTime(Duration.ofHours(1));
        assertTrue(ledger.isEmpty(), "released once");
        assertMoneyConserved(balances, Money.units(10));
    }

    @Test
    void aSlashDuringTheCooldownTakesTheUnlockingPartAndNothingIsReleased() {
        fundedJob();
        stake("cheat", Money.units(10), Money.units(8));
        payments.pipeInput("stake:cheat", payment("u1", "stake:cheat", PaymentKind.WITHDRAWAL, Money.units(8)));
        ledger.readValuesToList();
        stakes.readValuesToList();
        outcomes.pipeInput("j1", fraud("f1", T0, "cheat", "node:sampler"));
        assertEquals(Money.units(8), ledger.readValuesToList().stream().mapToLong(Transfer::getAmountMicros).sum());
        assertEquals(Money.units(4), balances.get("node:sampler"));
        NodeStake slashed = stakes.readValue();
        assertEquals(0, slashed.getLockedMicros());
        assertEquals(0, slashed.getUnlockingMicros());
        fixture.driver().advanceWallClockTime(LedgerConfig.DEFAULT_UNSTAKE_COOLDOWN.plusMinutes(1));
        assertTrue(ledger.isEmpty(), "nothing left to release");
        assertEquals(Money.units(2), balances.get("node:cheat"));
        assertTrue(stakes.isEmpty());
        // and it cannot unstake or stake again
        payments.pipeInput("stake:cheat", payment("u2", "stake:cheat", PaymentKind.WITHDRAWAL, 1));
        assertTrue(DeadLetters.header(dead.readRecordsToList().get(0).headers(), DeadLetters.ERROR_MESSAGE).contains("slashed"));
    }

    /*
     * The completion window passes with shard 0 accepted but not final and shard 1 never accepted:
     * the job goes FINALIZING for the finality grace; shard 0's FINAL during the grace still pays;
     * at the grace's end the job EXPIRES and the rest of the escrow goes back.
     */
    @Test
    void aJobPastItsWindowWithAcceptedShardsAwaitingFinalityGetsOneGraceThenExpiresWithoutPayingUnverifiedWork() {
        fundedJob();
        verdicts.pipeInput("j1", verdict("v1", "j1", T0, "n1", VerdictOutcome.ACCEPTED, 6, 100));
        status.readValuesToList();
        ledger.readValuesToList();

        fixture.driver().advanceWallClockTime(Duration.ofHours(24).plusSeconds(10));
        JobStatus grace = status.readValue();
        assertEquals(JobState.FINALIZING, grace.getState());
        assertTrue(ledger.isEmpty(), "no money at the start of the grace");
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", T0, "n1", 6, 100));
        assertEquals(570L, balances.get("node:n1"));
        status.readValuesToList();
        ledger.readValuesToList();

        fixture.driver().advanceWallClockTime(LedgerConfig.DEFAULT_FINALITY_GRACE.plusSeconds(10));
        JobStatus expired = status.readValue();
        assertEquals(JobState.EXPIRED, expired.getState());
        assertEquals(4, expired.getFailedRows());
        Transfer refund = ledger.readValue();
        assertEquals(TransferKind.REFUND, refund.getKind());
        assertEquals(2_000 - 600, refund.getAmountMicros());
        assertEquals(0, TopologyFixture.entries(fixture.store(SettlementTopology.APPLIED_STORE), LedgerProcessor.jobMarks("j1")));
        assertMoneyConserved(balances, Money.units(1));
    }

    @Test
    void aJobWhoseAcceptedShardNeverBecomesFinalExpiresAfterTheGraceWithThatShardUnpaid() {
        fundedJob();
        verdicts.pipeInput("j1", verdict("v1", "j1", T0, "n1", VerdictOutcome.ACCEPTED, 6, 100));
        verdicts.pipeInput("j1", verdict("v2", "j1", T1, "n2", VerdictOutcome.ACCEPTED, 4, 100));
        fixture.driver().advanceWallClockTime(Duration.ofHours(24).plusSeconds(10));
        assertEquals(JobState.FINALIZING, job1().getState());
        fixture.driver().advanceWallClockTime(LedgerConfig.DEFAULT_FINALITY_GRACE.plusSeconds(10));
        assertEquals(JobState.EXPIRED, job1().getState());
        assertNull(balances.get("node:n1"));
        assertNull(balances.get("node:n2"));
        assertEquals(Money.units(1), balances.get("customer:acme"));
        // a FINAL after the job expired pays nothing
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", T0, "n1", 6, 100));
        assertNull(balances.get("node:n1"));
    }

    @Test
    void settlementRefusesToStartWhenTheUnstakeCooldownIsNotLongerThanTheChallengeWindow() {
        var e = assertThrows(IllegalArgumentException.class, () -> new LedgerConfig(500, Duration.ofDays(30), 5_000,
                Duration.ofMinutes(10), Duration.ofMinutes(10), Duration.ofHours(1)));
        assertTrue(e.getMessage().contains("must be longer than the challenge window"), e.getMessage());
    }
}
