package io.inferex.settlement;

import static io.inferex.settlement.SettlementTopologyTest.assertMoneyConserved;
import static io.inferex.testing.LedgerEvents.deposit;
import static io.inferex.testing.LedgerEvents.job;
import static io.inferex.settlement.SettlementTopologyTest.line;
import static io.inferex.testing.LedgerEvents.outcome;
import static io.inferex.testing.LedgerEvents.verdict;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.DeadLetters;
import io.inferex.events.Challenge;
import io.inferex.events.ChallengeBond;
import io.inferex.events.ChallengeBondStatus;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.InputRow;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.events.OutcomeKind;
import io.inferex.events.PaymentKind;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.Accounts;
import io.inferex.market.Money;
import io.inferex.market.TaskIds;
import io.inferex.verification.ChallengeBonds;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** A customer's challenge: the bond is locked before any dispute, and the verifier's decision moves it. */
class ChallengeSettlementTest extends SettlementTopologyTestBase {
    static final String T0 = TaskIds.of("j1", 0, 2);
    static final String T1 = TaskIds.of("j1", 1, 2);
    static final long BOND = ChallengeBonds.MIN_BOND_MICROS;
    static final long DEPOSIT = Money.units(1);

    /** j1: 10 rows in 2 shards at most 200 per row; its shard T0 (6 rows) accepted from node exec. */
    private void acceptedShard() {
        payments.pipeInput("customer:acme", deposit("p1", "customer:acme", DEPOSIT));
        JobSubmitted j = job("j1", "acme", 10, 2, 200);
        j.setSubmittedAtMs(System.currentTimeMillis());
        jobs.pipeInput("j1", j);
        verdicts.pipeInput("j1", verdict("v1", "j1", T0, "exec", VerdictOutcome.ACCEPTED, 6, 100));
        ledger.readValuesToList();
        status.readValuesToList();
    }

    static Challenge challenge(String id, String task, String challenger, long bond) {
        return Challenge.newBuilder().setChallengeId(id).setTaskId(task).setJobId("j1").setChallengerId(challenger)
                .setBondMicros(bond).setReason("looks wrong").setCreatedAtMs(1).setOutputDigest("digest")
                .setInputRows(List.of(new InputRow("a", 1, "x"))).setRows(List.of(new EmbeddingRow("a", List.of(1f)))).build();
    }

    private static VerificationOutcome decided(String id, OutcomeKind kind, String task, String challengeId) {
        VerificationOutcome o = outcome(id, kind, "j1", task, "exec", 6, 100);
        o.setChallengeId(challengeId);
        return o;
    }

    private List<String> moves() {
        return ledger.readValuesToList().stream().map(t -> line(t.getDebitAccount(), t.getCreditAccount(), t.getAmountMicros(), t.getKind()))
                .map(Object::toString).toList();
    }

    private ChallengeBond answer() {
        List<ChallengeBond> all = bondAnswers.readValuesToList();
        assertEquals(1, all.size(), all.toString());
        return all.get(0);
    }

    @Test
    void aChallengeLocksItsBondAndAnUpheldDecisionForfeitsItHalfToTheExecutorHalfToTheTreasury() {
        acceptedShard();
        challenges.pipeInput(T0, challenge("c1", T0, "customer:acme", BOND));
        ChallengeBond locked = answer();
        assertEquals(ChallengeBondStatus.LOCKED, locked.getStatus(), locked.getReason());
        assertEquals(1, locked.getChallenge().getRows().size(), "the verifier gets the evidence with the lock");
        assertEquals(List.of(line("customer:acme", "bond:c1", BOND, TransferKind.BOND_LOCK).toString()), moves());

        outcomes.pipeInput("j1", decided("DISPUTED:c1", OutcomeKind.DISPUTED, T0, "c1"));
        assertTrue(ledger.isEmpty(), "a dispute opening moves no money");
        outcomes.pipeInput("j1", decided("UPHELD:c1", OutcomeKind.UPHELD, T0, "c1"));
        long toExecutor = ChallengeBonds.executorShare(BOND);
        assertEquals(List.of(line("bond:c1", "node:exec", toExecutor, TransferKind.BOND_FORFEIT).toString(),
                line("bond:c1", Accounts.TREASURY, BOND - toExecutor, TransferKind.BOND_FORFEIT).toString()), moves());
        assertEquals(0L, balances.get("bond:c1"));
        // settled once: a replay of the decision moves nothing
        outcomes.pipeInput("j1", decided("UPHELD:c1", OutcomeKind.UPHELD, T0, "c1"));
        assertTrue(ledger.isEmpty());
        assertMoneyConserved(balances, DEPOSIT);
    }

    @Test
    void aChallengeFoundRightGetsItsBondBackAndTheSlashRewardWhileTheShardIsResolvedUnpaid() {
        acceptedShard();
        payments.pipeInput("node:exec", deposit("d-exec", "node:exec", Money.units(10)));
        payments.pipeInput("node:exec", VerificationSettlementTest.payment("s-exec", "node:exec", PaymentKind.STAKE, Money.units(8)));
        ledger.readValuesToList();
        challenges.pipeInput(T0, challenge("c1", T0, "customer:acme", BOND));
        assertEquals(ChallengeBondStatus.LOCKED, answer().getStatus());
        ledger.readValuesToList();
        VerificationOutcome fraud = decided("FRAUD:c1", OutcomeKind.FRAUD, T0, "c1");
        fraud.setRewardAccount("customer:acme");
        outcomes.pipeInput("j1", fraud);
        assertEquals(List.of(line("stake:exec", "customer:acme", Money.units(4), TransferKind.SLASH).toString(),
                line("stake:exec", Accounts.TREASURY, Money.units(4), TransferKind.SLASH).toString(),
                line("bond:c1", "customer:acme", BOND, TransferKind.BOND_RELEASE).toString()), moves());
        JobStatus j = fixture.<String, JobStatus>store(SettlementTopology.JOBS_STORE).get("j1");
        assertEquals(0, j.getSpentMicros(), "the fraudulent shard is not charged");
        assertEquals(DEPOSIT - 2_000 + Money.units(4), balances.get("customer:acme"), "bond back, reward in, escrow still held");
        assertMoneyConserved(balances, DEPOSIT + Money.units(10));
    }

    @Test
    void anInconclusiveOrRefusedChallengeReturnsTheBondOnceEvenAfterTheJobHasClosed() {
        acceptedShard();
        challenges.pipeInput(T0, challenge("c1", T0, "customer:acme", BOND));
        challenges.pipeInput(T1, challenge("c2", T1, "customer:acme", BOND)); // T1 not accepted: refused, nothing locked
        List<ChallengeBond> answers = bondAnswers.readValuesToList();
        assertEquals(List.of(ChallengeBondStatus.LOCKED, ChallengeBondStatus.REFUSED), answers.stream().map(ChallengeBond::getStatus).toList());
        assertTrue(answers.get(1).getReason().contains("no accepted result"), answers.get(1).getReason());
        assertTrue(answers.get(1).getChallenge().getRows().isEmpty(), "a refusal does not repeat the evidence");
        ledger.readValuesToList();
        // both shards final: the job completes while the bond is still open
        outcomes.pipeInput("j1", outcome("o0", OutcomeKind.FINAL, "j1", T0, "exec", 6, 100));
        outcomes.pipeInput("j1", outcome("o1", OutcomeKind.FINAL, "j1", T1, "n2", 4, 100));
        assertEquals(JobState.COMPLETED, status.readValuesToList().get(1).getState());
        ledger.readValuesToList();
        outcomes.pipeInput("j1", decided("INCONCLUSIVE:c1", OutcomeKind.INCONCLUSIVE, T0, "c1"));
        assertEquals(List.of(line("bond:c1", "customer:acme", BOND, TransferKind.BOND_RELEASE).toString()), moves());
        outcomes.pipeInput("j1", decided("CHALLENGE_REFUSED:c1", OutcomeKind.CHALLENGE_REFUSED, T0, "c1"));
        assertTrue(ledger.isEmpty(), "returned once");
        assertTrue(dead.isEmpty());
        assertMoneyConserved(balances, DEPOSIT);
    }

    @Test
    void aChallengeIsRefusedWithNothingMovedWhenTheBondIsTooSmallFundsAreShortOrTheShardIsAlreadyFinal() {
        acceptedShard();
        challenges.pipeInput(T0, challenge("small", T0, "customer:acme", BOND - 1));
        assertTrue(answer().getReason().contains("below"));
        challenges.pipeInput(T0, challenge("poor", T0, "customer:nobody", BOND));
        assertTrue(answer().getReason().contains("insufficient funds"));
        outcomes.pipeInput("j1", outcome("o0", OutcomeKind.FINAL, "j1", T0, "exec", 6, 100));
        ledger.readValuesToList();
        challenges.pipeInput(T0, challenge("late", T0, "customer:acme", BOND));
        ChallengeBond late = answer();
        assertEquals(ChallengeBondStatus.REFUSED, late.getStatus());
        assertTrue(late.getReason().contains("already resolved"), late.getReason());
        assertTrue(ledger.isEmpty());
        assertNull(balances.get("bond:late"));
    }

    @Test
    void aMalformedChallengeIsDeadLetteredAndADuplicateIsAnsweredOnce() {
        acceptedShard();
        challenges.pipeInput(T0, challenge("c1", T0, "escrow:j1", BOND));
        challenges.pipeInput(T0, challenge("c2", "j1/99999", "customer:acme", BOND));
        var letters = dead.readRecordsToList();
        assertEquals(2, letters.size());
        assertTrue(DeadLetters.header(letters.get(0).headers(), DeadLetters.ERROR_MESSAGE).contains("challenger account"));
        assertTrue(DeadLetters.header(letters.get(1).headers(), DeadLetters.ERROR_MESSAGE).contains("not one of the"));
        challenges.pipeInput(T0, challenge("c3", T0, "customer:acme", BOND));
        challenges.pipeInput(T0, challenge("c3", T0, "customer:acme", BOND));
        assertEquals(ChallengeBondStatus.LOCKED, answer().getStatus());
        assertEquals(1, ledger.readValuesToList().size(), "one lock");
    }

    @Test
    void aBondTheVerifierNeverAnswersIsReturnedAfterTheFinalityGrace() {
        acceptedShard();
        challenges.pipeInput(T0, challenge("c1", T0, "customer:acme", BOND));
        ledger.readValuesToList();
        driver.advanceWallClockTime(io.inferex.ledger.LedgerConfig.DEFAULT_FINALITY_GRACE.plus(Duration.ofSeconds(10)));
        List<Transfer> back = ledger.readValuesToList();
        assertEquals(List.of(line("bond:c1", "customer:acme", BOND, TransferKind.BOND_RELEASE).toString()),
                back.stream().map(t -> line(t.getDebitAccount(), t.getCreditAccount(), t.getAmountMicros(), t.getKind()).toString()).toList());
        outcomes.pipeInput("j1", decided("UPHELD:c1", OutcomeKind.UPHELD, T0, "c1"));
        assertTrue(ledger.isEmpty(), "a late decision finds no bond");
    }
}
