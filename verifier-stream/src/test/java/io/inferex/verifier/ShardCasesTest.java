package io.inferex.verifier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.AcceptedResult;
import io.inferex.events.Challenge;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.InputRow;
import io.inferex.events.NodeReputation;
import io.inferex.events.OutcomeKind;
import io.inferex.events.ReputationEvent;
import io.inferex.events.ShardCase;
import io.inferex.events.ShardCaseStatus;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.VerificationTask;
import io.inferex.market.OutputDigest;
import io.inferex.market.VerificationIds;
import io.inferex.verification.SamplingPolicy;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The per-shard rules without Kafka: the cases the topology tests do not reach cheaply. */
class ShardCasesTest {
    static final String SECRET = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    static final ShardCases RULES = new ShardCases(new ShardCases.Rules(600_000, 300_000, 300_000,
            new SamplingPolicy.Config(1.0, 1.0, 1, 1.0), 100), io.inferex.market.ModelRegistry.builtIns());

    final List<VerificationTask> tasks = new ArrayList<>();
    final List<VerificationOutcome> outcomes = new ArrayList<>();
    final List<ReputationEvent> reputation = new ArrayList<>();
    final List<String> refused = new ArrayList<>();
    final ShardCases.Out out = new ShardCases.Out() {
        @Override
        public void task(VerificationTask task) {
            tasks.add(task);
        }

        @Override
        public void outcome(VerificationOutcome outcome) {
            outcomes.add(outcome);
        }

        @Override
        public void reputation(ReputationEvent event) {
            reputation.add(event);
        }

        @Override
        public void refuse(String reason) {
            refused.add(reason);
        }
    };

    static AcceptedResult result(String taskId, String nodeId, float value, long price) {
        List<Float> v = new ArrayList<>();
        v.add(value);
        v.add((float) Math.sqrt(1 - value * value));
        return AcceptedResult.newBuilder().setLeaseId(taskId + "#1").setTaskId(taskId).setShardTaskId("job/00000").setJobId("job")
                .setShardIndex(0).setNodeId(nodeId).setPoolKey("synthetic-hash-v1@local").setModel("synthetic-hash-v1")
                .setPricePerRowMicros(price).setRowCount(1).setOutputDigest("d-" + nodeId).setAcceptedAtMs(0)
                .setInputRows(List.of(new InputRow("a", 1, "x"))).setRows(List.of(new EmbeddingRow("a", v))).build();
    }

    ShardCase disputed() {
        ShardCase c = RULES.open(result("job/00000", "exec", 0.6f, 100), null, 0, SECRET, 0, out);
        assertEquals(ShardCaseStatus.SAMPLING, c.getStatus());
        c = RULES.onVerification(c, result(VerificationIds.sample("job/00000"), "sampler", 0.8f, 200), 1, out);
        assertEquals(ShardCaseStatus.DISPUTE, c.getStatus());
        return c;
    }

    @Test
    void theRePriceCapIsTwiceTheLeasePriceButNeverBelowTheFloor() {
        assertEquals(200, RULES.priceCap(result("job/00000", "n", 0.6f, 100)));
        assertEquals(100, RULES.priceCap(result("job/00000", "n", 0.6f, 10)));
        assertEquals(Long.MAX_VALUE, RULES.priceCap(result("job/00000", "n", 0.6f, Long.MAX_VALUE / 2 + 1)));
    }

    @Test
    void refereesThatCannotCountAreReplacedUpToTheLastRoundAndThenTheDisputeIsInconclusive() {
        ShardCase c = disputed();
        assertEquals(3, tasks.size() - 1, "sample + 3 referees");
        for (int round = 1; round <= VerificationIds.MAX_ROUND; round++) {
            c = RULES.onVerification(c, result(VerificationIds.referee("job/00000", round), "exec", 0.6f, 200), 2, out);
        }
        assertEquals(VerificationIds.MAX_ROUND, refused.size(), refused.toString());
        assertEquals(VerificationIds.MAX_ROUND, tasks.get(tasks.size() - 1).getRound(), "replacements stop at the last round");
        assertEquals(List.of(OutcomeKind.DISPUTED, OutcomeKind.INCONCLUSIVE), outcomes.stream().map(VerificationOutcome::getKind).toList());
        assertEquals(ShardCaseStatus.WATCHING, c.getStatus());
        assertNull(RULES.finalIfDue(c, 600_000, out), "FINAL at window close, then closed");
        assertEquals(OutcomeKind.FINAL, outcomes.get(outcomes.size() - 1).getKind());
    }

    @Test
    void aSampleThatDisagreesWithAShapeMismatchAlsoOpensADisputeAndRowsAreForgottenOnceSettled() {
        ShardCase c = RULES.open(result("job/00000", "exec", 0.6f, 100), null, 0, SECRET, 0, out);
        AcceptedResult wrongShape = result(VerificationIds.sample("job/00000"), "sampler", 0.6f, 200);
        wrongShape.setRows(List.of(new EmbeddingRow("other-id", List.of(0.6f, 0.8f))));
        c = RULES.onVerification(c, wrongShape, 1, out);
        assertEquals(ShardCaseStatus.DISPUTE, c.getStatus());
        assertEquals(OutcomeKind.DISPUTED, outcomes.get(0).getKind(), "the dispute is announced");
        c = RULES.onDeadline(c, 300_001, out);
        assertEquals(OutcomeKind.INCONCLUSIVE, outcomes.get(1).getKind());
        assertTrue(c.getOriginal().getRows().isEmpty() && c.getOriginal().getInputRows().isEmpty(), "state keeps no rows once settled");
    }

    /** Samples almost nothing: a new node at p = 0.002, a trusted one at the 0.001 floor. */
    static final ShardCases RARELY = new ShardCases(new ShardCases.Rules(600_000, 300_000, 300_000,
            new SamplingPolicy.Config(0.001, 0.002, 100, 0.9), 100), io.inferex.market.ModelRegistry.builtIns());

    @Test
    void anUnsampledResultWhoseExecutorIsBannedBeforeTheWindowClosesIsReExecutedInsteadOfMadeFinal() {
        ShardCase c = RARELY.open(result("job/00000", "exec", 0.6f, 100), null, 0, SECRET, 0, out);
        assertEquals(ShardCaseStatus.WATCHING, c.getStatus());
        assertFalse(c.getSampled());
        assertFalse(c.getOriginal().getRows().isEmpty(), "a new executor's rows are kept until the window closes");
        c = RARELY.finalIfDue(c, 600_000, out, true);
        assertEquals(ShardCaseStatus.SAMPLING, c.getStatus());
        assertEquals(List.of(), outcomes, "not FINAL on trust");
        assertEquals(1, tasks.size());
        assertEquals(VerificationIds.sample("job/00000"), tasks.get(0).getVerificationId());
        assertEquals(List.of("exec"), tasks.get(0).getExcludedNodes());
        c = RARELY.onVerification(c, result(VerificationIds.sample("job/00000"), "sampler", 0.8f, 200), 600_001, out);
        assertEquals(ShardCaseStatus.DISPUTE, c.getStatus(), "the re-execution disagrees: a dispute, as for any sample");
    }

    @Test
    void aTrustedExecutorsUnsampledRowsAreNotKeptSoItsResultIsFinalEvenIfItIsBannedLater() {
        NodeReputation trusted = NodeReputation.newBuilder().setNodeId("trusted").setScore(0.95).setObservations(500)
                .setBanned(false).setReason(null).setUpdatedAtMs(0).build();
        ShardCase c = RARELY.open(result("job/00000", "trusted", 0.6f, 100), trusted, 0, SECRET, 0, out);
        assertEquals(ShardCaseStatus.WATCHING, c.getStatus());
        assertTrue(c.getOriginal().getRows().isEmpty(), "at the sampling floor the rows are dropped to bound the state");
        assertNull(RARELY.finalIfDue(c, 600_000, out, true));
        assertEquals(List.of(OutcomeKind.FINAL), outcomes.stream().map(VerificationOutcome::getKind).toList());
        assertEquals(List.of(), tasks);
    }

    @Test
    void anUnsampledResultOfAnExecutorInGoodStandingIsFinalAtWindowClose() {
        ShardCase c = RARELY.open(result("job/00000", "exec", 0.6f, 100), null, 0, SECRET, 0, out);
        c = RARELY.finalIfDue(c, 599_999, out, false);
        assertEquals(List.of(), outcomes, "not before the window closes");
        assertNull(RARELY.finalIfDue(c, 600_000, out, false));
        assertEquals(List.of(OutcomeKind.FINAL), outcomes.stream().map(VerificationOutcome::getKind).toList());
        assertEquals(List.of(), tasks);
    }

    // --- customer challenges -------------------------------------------------------------------

    static final NodeReputation TRUSTED = NodeReputation.newBuilder().setNodeId("exec").setScore(0.95).setObservations(500)
            .setBanned(false).setReason(null).setUpdatedAtMs(0).build();

    /** A result whose digest is the real one of its rows, as the executor signed it. */
    static AcceptedResult signed(String taskId, String nodeId, float value) {
        AcceptedResult r = result(taskId, nodeId, value, 100);
        r.setOutputDigest(OutputDigest.of(r.getRows()));
        return r;
    }

    /** The challenge ingest writes: the delivered rows and the shard's inputs as evidence. */
    static Challenge challenge(String id, String challenger, AcceptedResult delivered) {
        return Challenge.newBuilder().setChallengeId(id).setTaskId(delivered.getShardTaskId()).setJobId(delivered.getJobId())
                .setChallengerId(challenger).setBondMicros(100_000).setReason("wrong").setCreatedAtMs(5)
                .setOutputDigest(delivered.getOutputDigest()).setInputRows(new ArrayList<>(delivered.getInputRows()))
                .setRows(new ArrayList<>(delivered.getRows())).build();
    }

    /** A trusted executor's unsampled result: its rows are not kept. */
    ShardCase trustedUnsampled() {
        ShardCase c = RARELY.open(signed("job/00000", "exec", 0.6f), TRUSTED, 0, SECRET, 0, out);
        assertEquals(ShardCaseStatus.WATCHING, c.getStatus());
        assertTrue(c.getOriginal().getRows().isEmpty());
        return c;
    }

    private List<OutcomeKind> kinds() {
        return outcomes.stream().map(VerificationOutcome::getKind).toList();
    }

    @Test
    void aChallengeOfAnUnsampledTrustedResultIsDisputedOnItsEvidenceAndFraudRewardsTheChallenger() {
        ShardCase c = trustedUnsampled();
        c = RARELY.onChallenge(c, challenge("c1", "customer:acme", signed("job/00000", "exec", 0.6f)), 10, out);
        assertEquals(ShardCaseStatus.DISPUTE, c.getStatus());
        assertEquals(List.of(OutcomeKind.DISPUTED), kinds());
        assertEquals("c1", outcomes.get(0).getChallengeId());
        assertEquals(3, tasks.size(), "three referees");
        assertTrue(tasks.stream().allMatch(t -> t.getRows().size() == 1), "referees re-execute the evidence's inputs");
        assertTrue(tasks.stream().allMatch(t -> t.getExcludedNodes().contains("exec")));
        assertTrue(tasks.stream().allMatch(t -> t.getReason() == io.inferex.events.VerificationReason.CHALLENGED
                && "c1".equals(t.getChallengeId())), "referee tasks name the challenge they settle");
        c = RARELY.onVerification(c, result(VerificationIds.referee("job/00000", 1), "r1", 0.8f, 200), 11, out);
        assertNull(RARELY.onVerification(c, result(VerificationIds.referee("job/00000", 2), "r2", 0.8f, 200), 12, out),
                "two referees agreeing with each other against the executor: FRAUD closes the case");
        VerificationOutcome fraud = outcomes.get(outcomes.size() - 1);
        assertEquals(OutcomeKind.FRAUD, fraud.getKind());
        assertEquals("c1", fraud.getChallengeId());
        assertEquals("customer:acme", fraud.getRewardAccount(), "the challenger raised it first");
        assertTrue(fraud.getReason().contains("challenger customer:acme"), fraud.getReason());
    }

    @Test
    void anUnfoundedChallengeIsUpheldUnderItsIdSoTheBondIsForfeitedAndNoSamplerIsBlamed() {
        ShardCase c = trustedUnsampled();
        c = RARELY.onChallenge(c, challenge("c1", "customer:acme", signed("job/00000", "exec", 0.6f)), 10, out);
        c = RARELY.onVerification(c, result(VerificationIds.referee("job/00000", 1), "r1", 0.6f, 200), 11, out);
        c = RARELY.onVerification(c, result(VerificationIds.referee("job/00000", 2), "r2", 0.6f, 200), 12, out);
        assertEquals(List.of(OutcomeKind.DISPUTED, OutcomeKind.UPHELD), kinds());
        assertEquals("c1", outcomes.get(1).getChallengeId());
        assertTrue(outcomes.get(1).getReason().contains("bond is forfeited"), outcomes.get(1).getReason());
        assertTrue(reputation.stream().noneMatch(r -> r.getKind() == io.inferex.events.ReputationEventKind.SAMPLER_OUTVOTED));
        assertEquals(ShardCaseStatus.WATCHING, c.getStatus());
        assertTrue(c.getChallenge().getRows().isEmpty() && c.getOriginal().getRows().isEmpty(), "evidence dropped once settled");
        c = RARELY.onChallenge(c, challenge("c2", "customer:other", signed("job/00000", "exec", 0.6f)), 13, out);
        assertEquals(OutcomeKind.CHALLENGE_REFUSED, outcomes.get(2).getKind(), "one challenge per result");
        assertTrue(outcomes.get(2).getReason().contains("already challenged"));
        assertNull(RARELY.finalIfDue(c, 600_000, out, false));
        VerificationOutcome fin = outcomes.get(3);
        assertEquals(OutcomeKind.FINAL, fin.getKind());
        assertNull(fin.getChallengeId(), "the bond was settled by UPHELD; FINAL pays the shard only");
    }

    @Test
    void aChallengeWhoseEvidenceIsNotTheAcceptedResultOrThatComesTooLateIsRefusedAndChangesNothing() {
        ShardCase c = trustedUnsampled();
        AcceptedResult forged = signed("job/00000", "exec", 0.6f);
        forged.setRows(List.of(new EmbeddingRow("a", List.of(0.8f, 0.6f))));
        c = RARELY.onChallenge(c, challenge("c1", "customer:acme", forged), 10, out);
        assertEquals(ShardCaseStatus.WATCHING, c.getStatus());
        assertTrue(outcomes.get(0).getReason().contains("evidence"), outcomes.get(0).getReason());
        c = RARELY.onChallenge(c, challenge("c2", "node:exec", signed("job/00000", "exec", 0.6f)), 11, out);
        assertTrue(outcomes.get(1).getReason().contains("executor"), outcomes.get(1).getReason());
        c = RARELY.onChallenge(c, challenge("c3", "customer:acme", signed("job/00000", "exec", 0.6f)), 600_000, out);
        assertTrue(outcomes.get(2).getReason().contains("window closed"), outcomes.get(2).getReason());
        assertEquals(List.of(OutcomeKind.CHALLENGE_REFUSED, OutcomeKind.CHALLENGE_REFUSED, OutcomeKind.CHALLENGE_REFUSED), kinds());
        assertEquals(List.of("c1", "c2", "c3"), outcomes.stream().map(VerificationOutcome::getChallengeId).toList());
        assertEquals(List.of(), tasks, "no referee is paid for a refused challenge");
        assertNull(c.getChallenge());
    }

    @Test
    void aChallengerThatIsANodeCannotRefereeItsOwnChallenge() {
        ShardCase c = trustedUnsampled();
        c = RARELY.onChallenge(c, challenge("c1", "node:rival", signed("job/00000", "exec", 0.6f)), 10, out);
        assertTrue(tasks.stream().allMatch(t -> t.getExcludedNodes().contains("rival")), "never leased to the challenger's node");
        RARELY.onVerification(c, result(VerificationIds.referee("job/00000", 1), "rival", 0.8f, 200), 11, out);
        assertTrue(refused.get(0).contains("challenger"), refused.toString());
        assertEquals(4, tasks.size(), "its round is asked again");
    }

    @Test
    void aChallengeDuringAnOpenSampleWaitsForItAndIsDisputedEvenWhenTheSampleAgrees() {
        ShardCase c = RULES.open(signed("job/00000", "exec", 0.6f), null, 0, SECRET, 0, out);
        assertEquals(ShardCaseStatus.SAMPLING, c.getStatus());
        c = RULES.onChallenge(c, challenge("c1", "customer:acme", signed("job/00000", "exec", 0.6f)), 1, out);
        assertEquals(ShardCaseStatus.SAMPLING, c.getStatus());
        assertEquals(List.of(), kinds());
        c = RULES.onVerification(c, result(VerificationIds.sample("job/00000"), "sampler", 0.6f, 200), 2, out);
        assertEquals(ShardCaseStatus.DISPUTE, c.getStatus(), "the challenger paid for referees");
        assertEquals(List.of(OutcomeKind.DISPUTED), kinds());
        c = RULES.onDeadline(c, 400_000, out);
        assertEquals(List.of(OutcomeKind.DISPUTED, OutcomeKind.INCONCLUSIVE), kinds());
        assertEquals("c1", outcomes.get(1).getChallengeId(), "INCONCLUSIVE returns the bond");
    }
}
