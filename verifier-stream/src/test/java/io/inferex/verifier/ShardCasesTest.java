package io.inferex.verifier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.AcceptedResult;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.InputRow;
import io.inferex.events.NodeReputation;
import io.inferex.events.OutcomeKind;
import io.inferex.events.ReputationEvent;
import io.inferex.events.ShardCase;
import io.inferex.events.ShardCaseStatus;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.VerificationTask;
import io.inferex.market.VerificationIds;
import io.inferex.verification.SamplingPolicy;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The per-shard rules without Kafka: the cases the topology tests do not reach cheaply. */
class ShardCasesTest {
    static final String SECRET = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    static final ShardCases RULES = new ShardCases(new ShardCases.Rules(600_000, 300_000, 300_000,
            new SamplingPolicy.Config(1.0, 1.0, 1, 1.0), 100));

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
        assertEquals(List.of(OutcomeKind.INCONCLUSIVE), outcomes.stream().map(VerificationOutcome::getKind).toList());
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
        c = RULES.onDeadline(c, 300_001, out);
        assertEquals(OutcomeKind.INCONCLUSIVE, outcomes.get(0).getKind());
        assertTrue(c.getOriginal().getRows().isEmpty() && c.getOriginal().getInputRows().isEmpty(), "state keeps no rows once settled");
    }

    /** Samples almost nothing: a new node at p = 0.002, a trusted one at the 0.001 floor. */
    static final ShardCases RARELY = new ShardCases(new ShardCases.Rules(600_000, 300_000, 300_000,
            new SamplingPolicy.Config(0.001, 0.002, 100, 0.9), 100));

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
}
