package io.inferex.matcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.DeadLetters;
import io.inferex.events.Assignment;
import io.inferex.events.InputRow;
import io.inferex.events.JobState;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardTask;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.market.NodeIdentity;
import io.inferex.market.SignedPayloads;
import io.inferex.testing.SignedFixtures;
import io.inferex.testing.TopologyFixture;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

class MatcherTopologyTest extends MatcherTestBase {
    @Test
    void shardIsLeasedToALiveEligibleNodeWithAnAddressedAssignment() {
        NodeIdentity n = node(2, 100);
        task("job1/00000", 200, 1);
        var out = assignments.readKeyValuesToList();
        assertEquals(1, out.size());
        Assignment a = out.get(0).value;
        assertEquals(n.nodeId(), out.get(0).key, "keyed by node so only that node reads it");
        assertEquals("job1/00000#1", a.getLeaseId());
        assertEquals(1, a.getAttempt());
        assertEquals(100, a.getPricePerRowMicros());
        assertEquals(POOL, a.getPoolKey());
        assertEquals(a.getAssignedAtMs() + LEASE.toMillis(), a.getLeaseDeadlineMs());
        assertEquals(List.of("a"), a.getRows().stream().map(InputRow::getCustomId).toList());
    }

    @Test
    void noShardGoesToANodeThatMissedThreeHeartbeatsUntilItBeatsAgain() {
        NodeIdentity n = node(2, 100);
        driver.advanceWallClockTime(Duration.ofMillis(3_500));
        task("job1/00000", 200, 1);
        assertTrue(assignments.isEmpty(), "dead node got work");
        heartbeat(n);
        assertEquals(n.nodeId(), assignments.readKeyValue().key);
    }

    @Test
    void nodeGetsNoMoreLeasesThanSlotsAndAnAcceptedVerdictFreesTheSlot() {
        node(1, 100);
        task("job1/00000", 200, 1);
        task("job1/00001", 200, 2);
        List<Assignment> first = assignments.readValuesToList();
        assertEquals(List.of("job1/00000#1"), first.stream().map(Assignment::getLeaseId).toList());
        verdict(first.get(0), VerdictOutcome.ACCEPTED);
        assertEquals("job1/00001#1", assignments.readValue().getLeaseId());
    }

    @Test
    void aSignedAnswerFreesTheSlotBeforeTheVerdictAndTheAnsweredLeaseOutlivesItsLeaseDeadline() {
        NodeIdentity n = node(1, 100);
        task("job1/00000", 200, 1);
        task("job1/00001", 200, 2);
        Assignment first = assignments.readValue();
        assertTrue(assignments.isEmpty());
        answer(NodeIdentity.generate(), first); // forged: does not free the slot
        assertTrue(assignments.isEmpty(), "a result the node did not sign freed its slot");
        answer(n, first);
        assertEquals("job1/00001#1", assignments.readValue().getLeaseId());
        for (int s = 0; s < 70; s++) { // past the first lease's deadline, node alive
            driver.advanceWallClockTime(Duration.ofSeconds(1));
            heartbeat(n);
        }
        List<String> reLeased = assignments.readValuesToList().stream().map(Assignment::getLeaseId).toList();
        assertTrue(reLeased.stream().noneMatch(id -> id.startsWith("job1/00000")), "answered lease expired: " + reLeased);
        verdict(first, VerdictOutcome.ACCEPTED);
        assertTrue(assignments.readValuesToList().stream().noneMatch(a -> a.getTaskId().equals("job1/00000")));
    }

    @Test
    void rejectedAnswerReLeasesTheShardToAnotherNode() {
        NodeIdentity cheat = node(1, 100);
        NodeIdentity honest = node(1, 150);
        task("job1/00000", 200, 1);
        Assignment first = assignments.readValue();
        assertEquals(cheat.nodeId(), first.getNodeId());
        answer(cheat, first);
        verdict(first, VerdictOutcome.REJECTED);
        Assignment second = assignments.readValue();
        assertEquals(honest.nodeId(), second.getNodeId());
        assertEquals("job1/00000#2", second.getLeaseId());
    }

    @Test
    void shardWaitsForItsJobsEscrowAndShardsOfAJobThatFailedEscrowAreNeverLeased() {
        NodeIdentity n = node(2, 100);
        unescrowedTask("rich/00000", 200, 1);
        unescrowedTask("poor/00000", 200, 2);
        driver.advanceWallClockTime(Duration.ofSeconds(1));
        heartbeat(n);
        assertTrue(assignments.isEmpty(), "leased before settlement escrowed the job");
        status("poor", JobState.FAILED);
        status("rich", JobState.IN_PROGRESS);
        driver.advanceWallClockTime(Duration.ofMillis(600)); // the tick retries the queue
        List<Assignment> out = assignments.readValuesToList();
        assertEquals(List.of("rich/00000#1"), out.stream().map(Assignment::getLeaseId).toList());
        assertEquals(null, driver.getKeyValueStore(MatcherTopology.TASKS_STORE).get("poor/00000"), "failed job's shard dropped");
    }

    @Test
    void nodeAskingMoreThanTheJobsMaxPriceIsNotChosenAndTheCheapestIs() {
        node(2, 500);
        NodeIdentity cheap = node(2, 150);
        node(2, 180);
        task("job1/00000", 200, 1);
        assertEquals(cheap.nodeId(), assignments.readKeyValue().key);
        assertTrue(assignments.isEmpty());
    }

    @Test
    void expiredLeaseIsReLeasedToAnotherNodeWithTheNextAttempt() {
        NodeIdentity a = node(1, 100);
        NodeIdentity b = node(1, 120);
        task("job1/00000", 200, 1);
        assertEquals(a.nodeId(), assignments.readKeyValue().key);
        for (int s = 0; s < 61; s++) { // both stay alive; a just never answers
            driver.advanceWallClockTime(Duration.ofSeconds(1));
            heartbeat(a);
            heartbeat(b);
        }
        var revocation = assignments.readKeyValue();
        assertEquals(a.nodeId(), revocation.key, "the old node learns its lease is revoked");
        assertTrue(revocation.value.getRevoked());
        assertEquals("job1/00000#1", revocation.value.getLeaseId());
        var again = assignments.readKeyValue();
        assertEquals(b.nodeId(), again.key);
        assertEquals("job1/00000#2", again.value.getLeaseId());
        assertEquals(2, again.value.getAttempt());
    }

    @Test
    void aShardWhoseLeaseExpiredOnEveryLiveNodeIsLeasedToThemAgainInsteadOfStallingForever() {
        NodeIdentity slow = node(1, 100);
        task("job1/00000", 200, 1);
        assertEquals("job1/00000#1", assignments.readValue().getLeaseId());
        for (int s = 0; s < 61; s++) { // the only node stays alive but never answers in time
            driver.advanceWallClockTime(Duration.ofSeconds(1));
            heartbeat(slow);
        }
        List<Assignment> out = assignments.readValuesToList();
        assertTrue(out.get(0).getRevoked(), "the expired lease is revoked: " + out);
        Assignment again = out.get(1);
        assertEquals(slow.nodeId(), again.getNodeId(), "no other node: the same one is tried again");
        assertEquals("job1/00000#2", again.getLeaseId());
    }

    @Test
    void rejectedResultSendsTheShardToADifferentNode() {
        NodeIdentity cheat = node(2, 100);
        NodeIdentity honest = node(2, 150);
        task("job1/00000", 200, 1);
        Assignment first = assignments.readValue();
        assertEquals(cheat.nodeId(), first.getNodeId());
        verdict(first, VerdictOutcome.REJECTED);
        Assignment second = assignments.readValue();
        assertEquals(honest.nodeId(), second.getNodeId());
        assertEquals(2, second.getAttempt());
    }

    @Test
    void deadNodesLeasesAreReLeasedBeforeTheirDeadline() {
        NodeIdentity dies = node(1, 100);
        NodeIdentity lives = node(1, 120);
        task("job1/00000", 200, 1);
        assertEquals(dies.nodeId(), assignments.readKeyValue().key);
        for (int s = 0; s < 4; s++) {
            driver.advanceWallClockTime(Duration.ofSeconds(1));
            heartbeat(lives);
        }
        var revocation = assignments.readKeyValue();
        assertEquals(dies.nodeId(), revocation.key);
        assertTrue(revocation.value.getRevoked());
        assertEquals(lives.nodeId(), assignments.readKeyValue().key);
    }

    @Test
    void registrationWithANegativePriceIsDeadLetteredAndNeverWinsAShard() {
        NodeIdentity greedy = node(2, -1);
        NodeIdentity honest = node(2, 100);
        task("job1/00000", 200, 1);
        assertEquals(honest.nodeId(), assignments.readKeyValue().key);
        var letter = dead.readRecord();
        assertTrue(DeadLetters.header(letter.headers(), DeadLetters.ERROR_MESSAGE).contains("need price >= 0"));
        assertEquals(null, driver.getKeyValueStore(MatcherTopology.NODES_STORE).get(greedy.nodeId()));
    }

    @Test
    void verdictNamingAnotherNodeDoesNotCloseOrReopenALease() {
        NodeIdentity n = node(1, 100);
        task("job1/00000", 200, 1);
        Assignment lease = assignments.readValue();
        verdicts.pipeInput(lease.getJobId(), Verdict.newBuilder().setVerdictId("x").setTaskId(lease.getTaskId())
                .setJobId(lease.getJobId()).setLeaseId(lease.getLeaseId()).setNodeId("someone-else").setPoolKey(POOL)
                .setOutcome(VerdictOutcome.REJECTED).setReason("t").setRowCount(1).setPricePerRowMicros(1).setDecidedAtMs(2).build());
        assertTrue(assignments.isEmpty(), "shard re-leased on a verdict about another node");
        assertEquals(lease, driver.<String, Assignment>getKeyValueStore(MatcherTopology.LEASES_STORE).get(lease.getLeaseId()));
        assertEquals(n.nodeId(), lease.getNodeId());
    }

    @Test
    void forgedOrReplayedHeartbeatsAreDeadLetteredAndDoNotKeepANodeAlive() {
        NodeIdentity n = node(1, 100);
        heartbeat(n);
        driver.advanceWallClockTime(Duration.ofMillis(3_500));
        NodeHeartbeat forged = signedHeartbeat(NodeIdentity.generate(), sequence++);
        forged.setNodeId(n.nodeId());
        heartbeats.pipeInput(n.nodeId(), forged);
        heartbeats.pipeInput(n.nodeId(), signedHeartbeat(n, 1)); // replay of an old sequence
        task("job1/00000", 200, 1);
        assertTrue(assignments.isEmpty(), "forged heartbeat revived the node");
        var letters = dead.readRecordsToList();
        assertEquals(2, letters.size());
        assertTrue(DeadLetters.header(letters.get(0).headers(), DeadLetters.ERROR_MESSAGE).contains("signature does not verify"));
        assertTrue(DeadLetters.header(letters.get(1).headers(), DeadLetters.ERROR_MESSAGE).contains("sequence 1 not above"));
    }

    NodeRegistered registrationAt(NodeIdentity id, long epoch, long price) {
        NodeRegistered reg = SignedFixtures.registration(id, price, 2, 1000);
        reg.setRegisteredAtMs(epoch);
        return SignedPayloads.sign(id, reg);
    }

    @Test
    void aReplayedOlderOrEqualRegistrationEpochIsDeadLetteredAndDoesNotChangeTheNode() {
        NodeIdentity n = NodeIdentity.generate();
        registry.pipeInput(n.nodeId(), registrationAt(n, 2_000, 100));
        registry.pipeInput(n.nodeId(), registrationAt(n, 1_000, 50)); // older, cheaper: would win shards
        registry.pipeInput(n.nodeId(), registrationAt(n, 2_000, 60)); // same epoch
        var letters = dead.readRecordsToList();
        assertEquals(2, letters.size());
        letters.forEach(l -> assertTrue(DeadLetters.header(l.headers(), DeadLetters.ERROR_MESSAGE).contains("not above 2000")));
        assertEquals(100L, driver.<String, NodeRegistered>getKeyValueStore(MatcherTopology.NODES_STORE).get(n.nodeId())
                .getPricePerRowMicros());
        registry.pipeInput(n.nodeId(), registrationAt(n, 3_000, 70)); // a newer one supersedes
        assertTrue(dead.isEmpty());
        assertEquals(70L, driver.<String, NodeRegistered>getKeyValueStore(MatcherTopology.NODES_STORE).get(n.nodeId())
                .getPricePerRowMicros());
    }

    @Test
    void aRegistrationForTwoPoolsIsAppliedInBothAndOnlyItsReplayIsDeadLetteredInEach() {
        NodeIdentity n = NodeIdentity.generate();
        NodeRegistered reg = SignedFixtures.registration(n, 100, 2, 1000);
        reg.setModels(List.of(MODEL, "other-model"));
        reg.setModelDigests(List.of(reg.getModelDigests().get(0), "0".repeat(64)));
        SignedPayloads.sign(n, reg);
        registry.pipeInput(n.nodeId(), reg);
        assertTrue(dead.isEmpty(), "the copy for the second pool is the same registration, not a replay");
        registry.pipeInput(n.nodeId(), reg);
        var letters = dead.readRecordsToList();
        assertEquals(2, letters.size(), "the replay is refused in each of its pools");
        letters.forEach(l -> assertTrue(DeadLetters.header(l.headers(), DeadLetters.ERROR_MESSAGE).contains("replayed or older")));
    }

    @Test
    void aHeartbeatNamingTooManyPoolsOrPoolsTheNodeDidNotRegisterIsDeadLetteredAndKeepsNoNodeAlive() {
        NodeIdentity n = node(1, 100);
        driver.advanceWallClockTime(Duration.ofMillis(3_500));
        List<String> thousands = java.util.stream.IntStream.range(0, 5_000).mapToObj(i -> MODEL + "@cell" + i).toList();
        NodeHeartbeat bomb = SignedFixtures.heartbeat(n, sequence++, 1);
        bomb.setPoolKeys(new java.util.ArrayList<>(thousands));
        heartbeats.pipeInput(n.nodeId(), SignedPayloads.sign(n, bomb));
        NodeHeartbeat foreign = SignedFixtures.heartbeat(n, sequence++, 1);
        foreign.setPoolKeys(List.of(POOL, MODEL + "@elsewhere"));
        heartbeats.pipeInput(n.nodeId(), SignedPayloads.sign(n, foreign));
        NodeHeartbeat twice = SignedFixtures.heartbeat(n, sequence++, 1);
        twice.setPoolKeys(List.of(POOL, POOL));
        heartbeats.pipeInput(n.nodeId(), SignedPayloads.sign(n, twice));

        var letters = dead.readRecordsToList();
        assertEquals(3, letters.size());
        assertTrue(DeadLetters.header(letters.get(0).headers(), DeadLetters.ERROR_MESSAGE).contains("names 5000 pools; at most 16"));
        assertTrue(DeadLetters.header(letters.get(1).headers(), DeadLetters.ERROR_MESSAGE).contains("but the node registered"));
        assertTrue(DeadLetters.header(letters.get(2).headers(), DeadLetters.ERROR_MESSAGE).contains("but the node registered"));
        task("job1/00000", 200, 1);
        assertTrue(assignments.isEmpty(), "a refused heartbeat kept the node alive");
        heartbeat(n);
        assertEquals(n.nodeId(), assignments.readKeyValue().key);
    }

    @Test
    void aTaskIdThatIsNotTheOneIngestDerivesForItsJobAndIndexIsDeadLetteredAndNeverLeased() {
        node(4, 100);
        status("job1", JobState.IN_PROGRESS);
        for (String[] bad : List.of(new String[] {"job1/0000", "0"}, new String[] {"job1/00004", "4"},
                new String[] {"job1/00001", "2"}, new String[] {"job2/00000", "0"})) {
            tasks.pipeInput(POOL, ShardTask.newBuilder().setTaskId(bad[0]).setJobId("job1").setShardIndex(Integer.parseInt(bad[1]))
                    .setShardCount(4).setModel(MODEL).setPoolKey(POOL).setMaxPricePerRowMicros(200)
                    .setRows(List.of(new InputRow("a", 1, "hello"))).setCreatedAtMs(1).build());
        }
        assertTrue(assignments.isEmpty(), "a fake task was leased");
        var letters = dead.readRecordsToList();
        assertEquals(4, letters.size());
        letters.forEach(l -> assertTrue(DeadLetters.header(l.headers(), DeadLetters.ERROR_MESSAGE).contains("of job job1")));
    }

    @Test
    void anAnsweredLeaseWhoseVerdictDoesNotComeWithinTheVerdictWaitIsRevokedAndItsShardLeasedAgain() {
        Duration verdictWait = Duration.ofSeconds(5);
        startWith(new MatcherTopology.Config(LEASE, 3, 1_000_000, Duration.ofMillis(500), verdictWait, Duration.ofHours(1)));
        NodeIdentity n = node(1, 100);
        task("job1/00000", 200, 1);
        Assignment first = assignments.readValue();
        answer(n, first);
        for (int s = 0; s < verdictWait.toSeconds() + 2; s++) {
            driver.advanceWallClockTime(Duration.ofSeconds(1));
            heartbeat(n);
        }
        List<Assignment> out = assignments.readValuesToList();
        assertEquals(2, out.size(), out.toString());
        assertTrue(out.get(0).getRevoked());
        assertEquals("job1/00000#1", out.get(0).getLeaseId());
        assertEquals("job1/00000#2", out.get(1).getLeaseId(), "the shard is re-checked, not held");
        assertTrue(!out.get(1).getRevoked());
    }

    @Test
    void aTaskReplayedAfterItWasAcceptedIsNotLeasedAgainAndTheMemoryOfItEndsWithItsJob() {
        NodeIdentity n = node(2, 100);
        ShardTask t = task("job1/00000", 200, 1);
        Assignment lease = assignments.readValue();
        answer(n, lease);
        verdict(lease, VerdictOutcome.ACCEPTED);
        tasks.pipeInput(POOL, t); // replay
        assertTrue(assignments.isEmpty(), "an accepted task was leased again");
        assertTrue(DeadLetters.header(dead.readRecord().headers(), DeadLetters.ERROR_MESSAGE).contains("already accepted"));

        // bounded: kept while the job is open, forgotten after the retention once it is closed
        var store = driver.<String, Long>getKeyValueStore(MatcherTopology.ACCEPTED_STORE);
        driver.advanceWallClockTime(MatcherTopology.DEFAULT_ACCEPTED_RETENTION.plusSeconds(1));
        assertEquals(2, TopologyFixture.entries(store, ""), "task id and its time index entry, job still open");
        status("job1", JobState.COMPLETED);
        driver.advanceWallClockTime(MatcherTopology.DEFAULT_ACCEPTED_RETENTION.plusSeconds(1));
        assertEquals(0, TopologyFixture.entries(store, ""));
        tasks.pipeInput(POOL, t); // and a replay now is dropped by the job's terminal status
        heartbeat(n);
        assertTrue(assignments.isEmpty());
    }

    @Test
    void anAcceptedVerdictRevokesEveryOtherOpenLeaseOfTheShard() {
        NodeIdentity slow = node(1, 100);
        NodeIdentity fast = node(1, 120);
        task("job1/00000", 200, 1);
        Assignment first = assignments.readValue();
        assertEquals(slow.nodeId(), first.getNodeId());
        for (int s = 0; s < 4; s++) { // slow stops beating: its lease is revoked and the shard goes to fast
            driver.advanceWallClockTime(Duration.ofSeconds(1));
            heartbeat(fast);
        }
        List<Assignment> out = assignments.readValuesToList();
        Assignment second = out.get(out.size() - 1);
        assertEquals(fast.nodeId(), second.getNodeId());
        // the slow node's late answer was judged before its revocation reached the verifier: first accepted wins,
        // and the live lease is revoked so that node stops
        verdict(first, VerdictOutcome.ACCEPTED);
        Assignment revoked = assignments.readValue();
        assertTrue(revoked.getRevoked());
        assertEquals(second.getLeaseId(), revoked.getLeaseId());
        assertEquals(null, driver.getKeyValueStore(MatcherTopology.LEASES_STORE).get(second.getLeaseId()));
        assertEquals(0, TopologyFixture.entries(driver.getKeyValueStore(MatcherTopology.NODE_LOAD_STORE), ""),
                "a node's load is gone with its last unanswered lease");
    }
}
