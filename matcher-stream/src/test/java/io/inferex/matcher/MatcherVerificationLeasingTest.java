package io.inferex.matcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.DeadLetters;
import io.inferex.events.Assignment;
import io.inferex.events.InputRow;
import io.inferex.events.JobState;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.OutcomeKind;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.VerificationReason;
import io.inferex.events.VerificationTask;
import io.inferex.market.NodeIdentity;
import io.inferex.market.VerificationIds;
import java.time.Duration;
import java.util.ArrayList;
import java.time.Duration;
import java.util.List;
import java.util.function.Consumer;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** Re-executions the verifier asks for are leased like shards, to nobody it excludes, within their price cap and job. */
class MatcherVerificationLeasingTest extends MatcherTestBase {
    static final String SHARD = "job1/00002";

    /** The sampled re-execution of {@link #SHARD}, as the verifier writes it: excluding the executor, capped at {@code maxPrice}. */
    VerificationTask sample(NodeIdentity executor, long maxPrice) {
        return VerificationTask.newBuilder().setVerificationId(VerificationIds.sample(SHARD)).setTaskId(SHARD).setJobId("job1")
                .setLeaseId(SHARD + "#1").setSuspectNodeId(executor.nodeId()).setReason(VerificationReason.SAMPLED).setModel(MODEL)
                .setRows(List.of(new InputRow("a", 1, "hello"), new InputRow("b", 2, "world"))).setPoolKey(POOL).setShardIndex(2)
                .setMaxPricePerRowMicros(maxPrice).setRound(0).setExcludedNodes(List.of(executor.nodeId())).setCreatedAtMs(5)
                .build();
    }

    VerificationTask send(VerificationTask t) {
        verificationTasks.pipeInput(POOL, t);
        return t;
    }

    VerificationTask changed(VerificationTask t, Consumer<VerificationTask> change) {
        VerificationTask copy = VerificationTask.newBuilder(t).build();
        change.accept(copy);
        return copy;
    }

    @Test
    void aSampledReExecutionIsLeasedUnderItsVerificationIdToANodeOtherThanTheExcludedExecutor() {
        status("job1", JobState.IN_PROGRESS);
        NodeIdentity executor = node(2, 100); // cheapest: would win anything it is not excluded from
        NodeIdentity other = node(2, 150);
        send(sample(executor, 200));
        var out = assignments.readKeyValuesToList();
        assertEquals(1, out.size(), out.toString());
        Assignment lease = out.get(0).value;
        assertEquals(other.nodeId(), out.get(0).key);
        assertEquals(other.nodeId(), lease.getNodeId());
        assertEquals("job1/00002~s", lease.getTaskId());
        assertEquals("job1/00002~s#1", lease.getLeaseId());
        assertEquals("job1", lease.getJobId());
        assertEquals(2, lease.getShardIndex());
        assertEquals(150, lease.getPricePerRowMicros());
        assertEquals(POOL, lease.getPoolKey());
        assertEquals(List.of("a", "b"), lease.getRows().stream().map(InputRow::getCustomId).toList());
    }

    @Test
    void aReExecutionGoesToTheBetterReputationBandBeforeTheCheaperNodeWhileAShardGoesToTheCheapest() {
        status("job1", JobState.IN_PROGRESS);
        NodeIdentity executor = node(2, 100);
        NodeIdentity undercutter = node(2, 20); // new and cheapest: what a cheater looks like
        NodeIdentity established = node(2, 150);
        reputation(undercutter, 0.5, false);
        reputation(established, 0.95, false);
        // Reputation is a global table: the matcher re-reads each node's standing on its tick.
        driver.advanceWallClockTime(Duration.ofMillis(500));
        send(sample(executor, 200));
        var out = assignments.readKeyValuesToList();
        assertEquals(1, out.size(), out.toString());
        assertEquals(established.nodeId(), out.get(0).value.getNodeId(), "the judge is the established node, not the undercutter");
    }

    @Test
    void aReExecutionIsNotLeasedWhenOnlyTheExecutorIsEligibleNorToTheSuspectTheListOmits() {
        status("job1", JobState.IN_PROGRESS);
        NodeIdentity executor = node(4, 100);
        send(sample(executor, 200));
        send(changed(sample(executor, 200), t -> {
            t.setVerificationId(VerificationIds.referee(SHARD, 1));
            t.setRound(1);
            t.setExcludedNodes(List.of("someone-else")); // the suspect is excluded even when the list forgets it
        }));
        driver.advanceWallClockTime(Duration.ofMillis(600));
        heartbeat(executor);
        assertTrue(assignments.isEmpty(), "the executor was asked to re-execute its own shard");
        assertTrue(dead.isEmpty());
        NodeIdentity other = node(4, 180);
        List<String> leased = assignments.readValuesToList().stream().map(a -> a.getLeaseId() + "@" + a.getNodeId()).sorted().toList();
        assertEquals(List.of("job1/00002~r1#1@" + other.nodeId(), "job1/00002~s#1@" + other.nodeId()), leased);
    }

    @Test
    void aReExecutionIsLeasedOnlyAtOrBelowItsPriceCap() {
        status("job1", JobState.IN_PROGRESS);
        NodeIdentity executor = node(2, 100);
        node(2, 151);
        send(sample(executor, 150));
        assertTrue(assignments.isEmpty(), "leased above the verification's max price");
        NodeIdentity atCap = node(2, 150);
        assertEquals(atCap.nodeId(), assignments.readValue().getNodeId());
    }

    @Test
    void aReExecutionWithABadIdAForeignJobOrTheWrongPoolIsDeadLetteredWithTheReason() {
        status("job1", JobState.IN_PROGRESS);
        status("done", JobState.COMPLETED);
        NodeIdentity executor = node(2, 100);
        node(2, 120);
        VerificationTask good = sample(executor, 200);
        List<VerificationTask> bad = new ArrayList<>();
        List<String> reasons = new ArrayList<>();
        bad.add(changed(good, t -> t.setVerificationId(SHARD))); reasons.add("is not a verification id");
        bad.add(changed(good, t -> t.setVerificationId(SHARD + "~x"))); reasons.add("is not a verification id");
        bad.add(changed(good, t -> t.setRound(2))); reasons.add("is round 0 but says round 2");
        bad.add(changed(good, t -> t.setTaskId("job1/00001"))); reasons.add("but names task job1/00001");
        bad.add(changed(good, t -> { // a shard index beyond the job's 4 shards
            t.setVerificationId("job1/00009~s"); t.setTaskId("job1/00009"); t.setShardIndex(9); }));
        reasons.add("is not shard 9 of the 4 of job job1");
        bad.add(changed(good, t -> { // another job's shard under this job
            t.setVerificationId("job2/00002~s"); t.setTaskId("job2/00002"); }));
        reasons.add("is not shard 2 of the 4 of job job1");
        bad.add(changed(good, t -> t.setShardIndex(3))); reasons.add("is not shard 3 of the 4 of job job1");
        bad.add(changed(good, t -> { // a job that is not open (completed) and one settlement never saw
            t.setVerificationId("done/00002~s"); t.setTaskId("done/00002"); t.setJobId("done"); }));
        reasons.add("job done is COMPLETED, not IN_PROGRESS or FINALIZING");
        bad.add(changed(good, t -> { t.setVerificationId("nojob/00002~s"); t.setTaskId("nojob/00002"); t.setJobId("nojob"); }));
        reasons.add("job nojob is unknown");
        bad.add(changed(good, t -> t.setPoolKey("other-model@local"))); reasons.add("is not its record key");
        bad.add(changed(good, t -> t.setModel("other-model"))); reasons.add("not a pool of model other-model");
        bad.add(changed(good, t -> t.setRows(List.of()))); reasons.add("has no rows");
        bad.add(changed(good, t -> t.setExcludedNodes(IntStream.range(0, 17).mapToObj(i -> "n" + i).toList())));
        reasons.add("excludes 17 nodes; at most 16");
        bad.add(changed(good, t -> t.setExcludedNodes(List.of("a,b")))); reasons.add("malformed node id");
        bad.forEach(this::send);
        verificationTasks.pipeInput("other-model@local", good); // the right task under another pool's key
        reasons.add("is not its record key");

        assertTrue(assignments.isEmpty(), "a refused re-execution was leased");
        var letters = dead.readRecordsToList();
        assertEquals(reasons.size(), letters.size());
        for (int i = 0; i < reasons.size(); i++) {
            String message = DeadLetters.header(letters.get(i).headers(), DeadLetters.ERROR_MESSAGE);
            assertTrue(message.contains(reasons.get(i)), i + ": " + message);
        }
        send(good);
        assertEquals("job1/00002~s#1", assignments.readValue().getLeaseId(), "the valid one is still leased");
    }

    @Test
    void aReExecutionIsLeasedWhileItsJobIsFinalizingAndDroppedOnceTheJobIsClosed() {
        status("job1", JobState.FINALIZING);
        NodeIdentity executor = node(1, 100);
        NodeIdentity other = node(1, 120);
        send(sample(executor, 200));
        Assignment lease = assignments.readValue();
        assertEquals(other.nodeId(), lease.getNodeId());
        verdict(lease, VerdictOutcome.REJECTED); // re-queued, but the job closes before anyone else can take it
        status("job1", JobState.COMPLETED);
        driver.advanceWallClockTime(Duration.ofMillis(600));
        assertTrue(assignments.isEmpty());
        assertEquals(null, driver.getKeyValueStore(MatcherTopology.TASKS_STORE).get("job1/00002~s"));
    }

    @Test
    void aRejectedReExecutionGoesToAThirdNodeNeverBackToTheExecutorOrTheNodeThatFailedIt() {
        status("job1", JobState.IN_PROGRESS);
        NodeIdentity executor = node(2, 100);
        NodeIdentity sloppy = node(2, 110);
        NodeIdentity third = node(2, 190);
        send(sample(executor, 200));
        Assignment first = assignments.readValue();
        assertEquals(sloppy.nodeId(), first.getNodeId());
        answer(sloppy, first);
        verdict(first, VerdictOutcome.REJECTED);
        Assignment second = assignments.readValue();
        assertEquals(third.nodeId(), second.getNodeId());
        assertEquals("job1/00002~s#2", second.getLeaseId());
        assertEquals(2, second.getAttempt());
        verdict(second, VerdictOutcome.REJECTED);
        heartbeat(executor);
        heartbeat(sloppy);
        driver.advanceWallClockTime(Duration.ofMillis(600));
        assertTrue(assignments.readValuesToList().stream().noneMatch(a -> !a.getRevoked()), "leased to the executor or a failed node");
    }

    @Test
    void anAcceptedReExecutionIsClosedAndItsReplayIsDeadLetteredNotLeasedAgain() {
        status("job1", JobState.IN_PROGRESS);
        NodeIdentity executor = node(1, 100);
        NodeIdentity other = node(1, 120);
        VerificationTask t = send(sample(executor, 200));
        Assignment lease = assignments.readValue();
        answer(other, lease);
        verdict(lease, VerdictOutcome.ACCEPTED);
        assertEquals(null, driver.getKeyValueStore(MatcherTopology.TASKS_STORE).get("job1/00002~s"));
        send(t); // replay
        assertTrue(assignments.isEmpty(), "an accepted re-execution was leased again");
        assertTrue(DeadLetters.header(dead.readRecord().headers(), DeadLetters.ERROR_MESSAGE).contains("already accepted"));
        // kept while the job is FINALIZING, past the retention
        status("job1", JobState.FINALIZING);
        driver.advanceWallClockTime(MatcherTopology.DEFAULT_ACCEPTED_RETENTION.plusSeconds(1));
        send(t);
        assertTrue(DeadLetters.header(dead.readRecord().headers(), DeadLetters.ERROR_MESSAGE).contains("already accepted"));
        assertFalse(assignments.readValuesToList().stream().anyMatch(a -> !a.getRevoked()));
    }

    @Test
    void anUnansweredReExecutionLeaseExpiresAndIsLeasedToAnotherNode() {
        Duration lease = Duration.ofSeconds(5);
        startWith(new MatcherTopology.Config(lease, 3, 1_000_000, Duration.ofMillis(500)));
        status("job1", JobState.IN_PROGRESS);
        NodeIdentity executor = node(1, 100);
        NodeIdentity slow = node(1, 110);
        NodeIdentity spare = node(1, 130);
        send(sample(executor, 200));
        assertEquals(slow.nodeId(), assignments.readValue().getNodeId());
        for (int s = 0; s <= lease.toSeconds(); s++) { // everyone alive; the lease just runs out
            driver.advanceWallClockTime(Duration.ofSeconds(1));
            heartbeat(executor);
            heartbeat(slow);
            heartbeat(spare);
        }
        List<Assignment> out = assignments.readValuesToList();
        assertEquals(2, out.size(), out.toString());
        assertTrue(out.get(0).getRevoked());
        assertEquals(spare.nodeId(), out.get(1).getNodeId());
        assertEquals("job1/00002~s#2", out.get(1).getLeaseId());
    }

    /** The verifier's decision on {@link #SHARD}, as it writes it (keyed by job). */
    void outcome(OutcomeKind kind, boolean sampled, long decidedAtMs) {
        fixture.input(io.inferex.topics.Topics.VERIFICATION_OUTCOMES).pipeInput("job1", VerificationOutcome.newBuilder()
                .setOutcomeId(kind + ":" + SHARD + "#1").setKind(kind).setTaskId(SHARD).setJobId("job1").setLeaseId(SHARD + "#1")
                .setNodeId("suspect").setPoolKey(POOL).setRowCount(2).setPricePerRowMicros(100).setOutputDigest("o")
                .setSampled(sampled).setSamplingEpoch(1).setSamplingProbability(0.5).setReason("votes").setDecidedAtMs(decidedAtMs)
                .build());
    }

    VerificationTask referee(int round) {
        return changed(sample(NodeIdentity.generate(), 200), t -> {
            t.setVerificationId(VerificationIds.referee(SHARD, round));
            t.setRound(round);
            t.setSuspectNodeId("suspect");
            t.setExcludedNodes(List.of("suspect", "sampler"));
        });
    }

    @Test
    void aDecidedDisputeRevokesItsRefereeRoundStillOutAtOnceAsUnneededFreesTheSlotAndLeasesItNeverAgain() {
        status("job1", JobState.IN_PROGRESS);
        NodeIdentity idle = node(1, 105); // cheapest: takes round 3, then never answers
        NodeIdentity first = node(1, 110);
        NodeIdentity second = node(1, 120);
        send(referee(3));
        send(referee(1));
        send(referee(2));
        var leases = assignments.readValuesToList();
        assertEquals(List.of("job1/00002~r3#1@" + idle.nodeId(), "job1/00002~r1#1@" + first.nodeId(),
                "job1/00002~r2#1@" + second.nodeId()), leases.stream().map(a -> a.getLeaseId() + "@" + a.getNodeId()).toList());
        for (Assignment answered : leases.subList(1, 3)) {
            answer(answered.getNodeId().equals(first.nodeId()) ? first : second, answered);
            verdict(answered, VerdictOutcome.ACCEPTED);
        }
        outcome(OutcomeKind.DISPUTED, true, 5); // opens the dispute: closes nothing
        outcome(OutcomeKind.CHALLENGE_REFUSED, false, 5);
        assertTrue(assignments.isEmpty(), "nothing revoked before the dispute was decided");

        outcome(OutcomeKind.FRAUD, true, 6); // two referees agreed: round 3 is moot
        Assignment revocation = assignments.readValue();
        assertEquals("job1/00002~r3#1", revocation.getLeaseId());
        assertEquals(idle.nodeId(), revocation.getNodeId());
        assertTrue(revocation.getRevoked());
        assertTrue(revocation.getUnneeded(), "not needed is no fault of the node");
        assertTrue(assignments.isEmpty());
        assertEquals(null, driver.getKeyValueStore(MatcherTopology.TASKS_STORE).get("job1/00002~r3"));

        // Its slot is free at once: the cheapest node takes the next shard.
        task("job2/00001", 200, 7);
        Assignment next = assignments.readValue();
        assertEquals(idle.nodeId(), next.getNodeId(), "the idle node's slot was freed with the revocation");
        // Nothing of round 3 is left to expire or lease again.
        driver.advanceWallClockTime(LEASE.plusSeconds(1));
        heartbeat(first);
        heartbeat(second);
        assertTrue(assignments.readValuesToList().stream().noneMatch(a -> a.getTaskId().startsWith(SHARD)), "round 3 came back");
    }

    @Test
    void aDecisionClosesOnlyReExecutionsAskedBeforeItAndAGenuinelyExpiredOneStaysChargedToItsNode() {
        status("job1", JobState.IN_PROGRESS);
        NodeIdentity a = node(1, 105);
        NodeIdentity b = node(1, 110);
        send(changed(referee(1), t -> t.setCreatedAtMs(50))); // a later dispute's round, asked after the decision below
        send(sample(NodeIdentity.generate(), 200)); // asked at 5
        var leases = assignments.readValuesToList();
        assertEquals(2, leases.size(), leases.toString());
        outcome(OutcomeKind.FINAL, true, 10); // the sample was given up; the result is final
        Assignment revocation = assignments.readValue();
        assertEquals("job1/00002~s#1", revocation.getLeaseId());
        assertTrue(revocation.getUnneeded());
        assertTrue(assignments.isEmpty(), "the round asked after the decision stays leased");

        driver.advanceWallClockTime(LEASE.plusSeconds(1));
        heartbeat(a);
        heartbeat(b);
        List<Assignment> expired = assignments.readValuesToList().stream().filter(Assignment::getRevoked).toList();
        assertEquals(List.of("job1/00002~r1#1"), expired.stream().map(Assignment::getLeaseId).toList());
        assertFalse(expired.get(0).getUnneeded(), "a lease left unanswered to its deadline is the node's fault");
    }
}
