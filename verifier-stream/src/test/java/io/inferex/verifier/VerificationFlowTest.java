package io.inferex.verifier;

import static io.inferex.verifier.MarketFixtures.registration;
import static io.inferex.verifier.MarketFixtures.sign;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.deadletter.DeadLetters;
import io.inferex.events.Assignment;
import io.inferex.events.Challenge;
import io.inferex.events.ChallengeBond;
import io.inferex.events.ChallengeBondStatus;
import io.inferex.events.EmbeddingRow;
import io.inferex.events.InputRow;
import io.inferex.events.NodeRegistered;
import io.inferex.events.NodeReputation;
import io.inferex.events.OutcomeKind;
import io.inferex.events.SamplingEpoch;
import io.inferex.events.ShardResult;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.VerificationTask;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.NodeIdentity;
import io.inferex.market.OutputDigest;
import io.inferex.market.VerificationIds;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topics;
import io.inferex.verification.SamplingDraw;
import io.inferex.verification.SamplingPolicy;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Function;
import java.util.stream.Collectors;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.BuiltInDslStoreSuppliers;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** Stage 2 and 3 of the verifier: sampling with committed epoch secrets, comparison, disputes, finality and reputation. */
class VerificationFlowTest {
    static final SamplingPolicy.Config ALWAYS = new SamplingPolicy.Config(1.0, 1.0, 1, 1.0);
    static final SamplingPolicy.Config NEVER = new SamplingPolicy.Config(1e-15, 1e-15, 1, 0.9);
    static final Duration WINDOW = Duration.ofMinutes(10);
    static final Duration HOUR = Duration.ofHours(1);

    TopologyFixture fixture;
    TopologyTestDriver driver;
    TestInputTopic<String, NodeRegistered> registry;
    TestInputTopic<String, Assignment> assignments;
    TestInputTopic<String, ShardResult> results;
    TestOutputTopic<String, VerificationTask> tasks;
    TestOutputTopic<String, VerificationOutcome> outcomes;
    TestOutputTopic<String, SamplingEpoch> epochs;
    TestOutputTopic<String, NodeReputation> reputation;
    TestOutputTopic<String, byte[]> dead;
    TestInputTopic<String, ChallengeBond> bonds;
    final NodeIdentity executor = NodeIdentity.generate();
    final NodeIdentity sampler = NodeIdentity.generate();
    final NodeIdentity referee1 = NodeIdentity.generate();
    final NodeIdentity referee2 = NodeIdentity.generate();
    final NodeIdentity referee3 = NodeIdentity.generate();

    void start(SamplingPolicy.Config sampling, Duration disputeTimeout, Duration epochLength, boolean startEpochs) {
        VerifierTopology.Config config = new VerifierTopology.Config(Duration.ofSeconds(30), WINDOW, Duration.ofMinutes(5), disputeTimeout,
                epochLength, Duration.ofMinutes(1), sampling, 100);
        // Start a second into an epoch, so the tests' few minutes never cross an epoch boundary by accident.
        long start = (System.currentTimeMillis() / epochLength.toMillis() + 1) * epochLength.toMillis() + 1_000;
        // In-memory stores: the driver commits (and would flush every RocksDB store) after each record.
        fixture = TopologyFixture.start(VerifierTopology.APPLICATION_ID, props -> {
            props.put(StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG, BuiltInDslStoreSuppliers.InMemoryDslStoreSuppliers.class);
            return VerifierTopology.buildTopology(config, props);
        }, Instant.ofEpochMilli(start));
        driver = fixture.driver();
        registry = fixture.input(Topics.NODE_REGISTRY);
        assignments = fixture.input(Topics.ASSIGNMENTS);
        results = fixture.input(Topics.RESULTS);
        tasks = fixture.output(Topics.VERIFICATION_TASKS);
        outcomes = fixture.output(Topics.VERIFICATION_OUTCOMES);
        epochs = fixture.output(Topics.SAMPLING_EPOCHS);
        reputation = fixture.output(Topics.NODE_REPUTATION);
        dead = fixture.deadLetters();
        bonds = fixture.input(Topics.CHALLENGE_BONDS);
        for (NodeIdentity n : List.of(executor, sampler, referee1, referee2, referee3)) {
            registry.pipeInput(n.nodeId(), registration(n));
        }
        if (startEpochs) {
            driver.advanceWallClockTime(Duration.ofSeconds(1));
        }
    }

    @AfterEach
    void stop() {
        if (fixture != null) {
            fixture.close();
        }
    }

    // ---- fixtures: leases and results whose rows are a function of the input (honest) or of anything else (a cheat)

    static Assignment shardLease(String nodeId, String taskId, int rows) {
        List<InputRow> in = new ArrayList<>();
        for (int i = 0; i < rows; i++) {
            in.add(new InputRow("req-" + i, i + 1, "sentence " + i));
        }
        long now = System.currentTimeMillis();
        return Assignment.newBuilder().setLeaseId(taskId + "#1").setTaskId(taskId).setJobId(taskId.substring(0, taskId.indexOf('/')))
                .setShardIndex(0).setNodeId(nodeId).setAttempt(1).setModel(MarketFixtures.MODEL).setPoolKey(MarketFixtures.POOL)
                .setPricePerRowMicros(100).setRows(in).setAssignedAtMs(now).setLeaseDeadlineMs(now + 3_600_000).build();
    }

    /** What the matcher would lease for a verification task. */
    static Assignment verificationLease(String nodeId, VerificationTask t, int attempt) {
        long now = System.currentTimeMillis();
        return Assignment.newBuilder().setLeaseId(t.getVerificationId() + "#" + attempt).setTaskId(t.getVerificationId())
                .setJobId(t.getJobId()).setShardIndex(t.getShardIndex()).setNodeId(nodeId).setAttempt(attempt).setModel(t.getModel())
                .setPoolKey(t.getPoolKey()).setPricePerRowMicros(t.getMaxPricePerRowMicros()).setRows(t.getRows())
                .setAssignedAtMs(now).setLeaseDeadlineMs(now + 3_600_000).build();
    }

    /** Unit vectors derived from each row's input text (honest) or from the text and a cheat's salt. */
    static ShardResult result(NodeIdentity node, Assignment lease, String salt) {
        List<EmbeddingRow> rows = new ArrayList<>();
        for (InputRow in : lease.getRows()) {
            Random random = new Random((in.getInput() + salt).hashCode());
            double[] v = new double[ModelCatalogue.ALL_MINILM_L6_V2.dimension()];
            double sq = 0;
            for (int i = 0; i < v.length; i++) {
                v[i] = random.nextGaussian();
                sq += v[i] * v[i];
            }
            List<Float> unit = new ArrayList<>();
            for (double f : v) {
                unit.add((float) (f / Math.sqrt(sq)));
            }
            rows.add(new EmbeddingRow(in.getCustomId(), unit));
        }
        ShardResult r = ShardResult.newBuilder().setLeaseId(lease.getLeaseId()).setTaskId(lease.getTaskId()).setJobId(lease.getJobId())
                .setShardIndex(lease.getShardIndex()).setNodeId(node.nodeId()).setModel(MarketFixtures.MODEL).setPoolKey(MarketFixtures.POOL)
                .setModelDigest(ModelCatalogue.ALL_MINILM_L6_V2.weightsSha256()).setRows(rows).setOutputDigest(OutputDigest.of(rows))
                .setComputeMillis(5).setProducedAtMs(2).setSignature(ByteBuffer.allocate(0)).build();
        return sign(node, r);
    }

    static ShardResult honest(NodeIdentity node, Assignment lease) {
        return result(node, lease, "");
    }

    static ShardResult cheat(NodeIdentity node, Assignment lease) {
        return result(node, lease, "random-vectors:" + node.nodeId());
    }

    ShardResult answer(Assignment lease, ShardResult r) {
        assignments.pipeInput(lease.getNodeId(), lease);
        results.pipeInput(r.getTaskId(), r);
        return r;
    }

    Assignment executeShard(String taskId, boolean cheating) {
        Assignment lease = shardLease(executor.nodeId(), taskId, 3);
        answer(lease, cheating ? cheat(executor, lease) : honest(executor, lease));
        return lease;
    }

    VerificationTask onlyTask() {
        List<VerificationTask> out = tasks.readValuesToList();
        assertEquals(1, out.size(), "one verification task: " + out);
        return out.get(0);
    }

    /** Shard sampled; the sample's node answers (honestly or not); returns the referee tasks it opened, if any. */
    Map<Integer, VerificationTask> sampleAnswered(String taskId, boolean executorCheats, boolean samplerCheats) {
        executeShard(taskId, executorCheats);
        VerificationTask sample = onlyTask();
        Assignment l = verificationLease(sampler.nodeId(), sample, 1);
        answer(l, samplerCheats ? cheat(sampler, l) : honest(sampler, l));
        if (executorCheats != samplerCheats) {
            VerificationOutcome opened = outcomes.readValue();
            assertEquals(OutcomeKind.DISPUTED, opened.getKind(), "a disagreeing sample announces its dispute: " + opened.getReason());
            assertEquals(taskId, opened.getTaskId());
            assertNull(opened.getChallengeId(), "no challenge behind it");
        }
        return tasks.readValuesToList().stream().collect(Collectors.toMap(VerificationTask::getRound, Function.identity()));
    }

    String deadReason() {
        var letter = dead.readRecord();
        return DeadLetters.header(letter.headers(), DeadLetters.ERROR_MESSAGE);
    }

    Map<String, NodeReputation> latestReputation() {
        Map<String, NodeReputation> m = new HashMap<>();
        reputation.readKeyValuesToList().forEach(kv -> m.put(kv.key, kv.value));
        return m;
    }

    // ---- finality

    @Test
    void anUnsampledResultIsFinalWhenItsChallengeWindowClosesAndNotBefore() {
        start(NEVER, Duration.ofMinutes(5), HOUR, true);
        Assignment lease = executeShard("job1/00000", false);
        assertTrue(tasks.isEmpty(), "not sampled: no re-execution");
        driver.advanceWallClockTime(WINDOW.minusSeconds(5));
        assertTrue(outcomes.isEmpty(), "provisional until the window closes");
        driver.advanceWallClockTime(Duration.ofSeconds(10));
        VerificationOutcome o = outcomes.readValue();
        assertEquals(OutcomeKind.FINAL, o.getKind());
        assertEquals("FINAL:" + lease.getLeaseId(), o.getOutcomeId());
        assertEquals("job1/00000", o.getTaskId());
        assertEquals("job1", o.getJobId());
        assertEquals(lease.getLeaseId(), o.getLeaseId());
        assertEquals(executor.nodeId(), o.getNodeId());
        assertEquals(MarketFixtures.POOL, o.getPoolKey());
        assertEquals(3, o.getRowCount());
        assertEquals(100, o.getPricePerRowMicros());
        assertEquals(honest(executor, lease).getOutputDigest(), o.getOutputDigest());
        assertFalse(o.getSampled());
        assertEquals(1e-15, o.getSamplingProbability());
        assertTrue(outcomes.isEmpty(), "one outcome");
        driver.advanceWallClockTime(WINDOW);
        assertTrue(outcomes.isEmpty(), "FINAL once");
    }

    @Test
    void aSampledResultThatTheReExecutionMatchesIsFinalAtWindowClose() {
        start(ALWAYS, Duration.ofMinutes(5), HOUR, true);
        Assignment lease = executeShard("job1/00000", false);
        VerificationTask sample = onlyTask();
        assertEquals(VerificationIds.sample("job1/00000"), sample.getVerificationId());
        assertEquals(MarketFixtures.POOL, sample.getPoolKey());
        assertEquals(0, sample.getRound());
        assertEquals(List.of(executor.nodeId()), sample.getExcludedNodes());
        assertEquals(lease.getRows(), sample.getRows());
        assertEquals(lease.getLeaseId(), sample.getLeaseId());
        assertEquals(executor.nodeId(), sample.getSuspectNodeId());
        assertEquals(200, sample.getMaxPricePerRowMicros(), "max(2 x lease price 100, floor 100)");
        Assignment l = verificationLease(sampler.nodeId(), sample, 1);
        answer(l, honest(sampler, l));
        assertTrue(tasks.isEmpty(), "agreement opens no dispute");
        assertTrue(outcomes.isEmpty(), "still provisional");
        driver.advanceWallClockTime(WINDOW);
        VerificationOutcome o = outcomes.readValue();
        assertEquals(OutcomeKind.FINAL, o.getKind(), o.getReason());
        assertTrue(o.getSampled());
        assertTrue(o.getReason().contains("agreed"), o.getReason());
        assertTrue(latestReputation().get(executor.nodeId()).getScore() > 0.5, "sample agreed and form accepted raise the score");
    }

    @Test
    void aMismatchingSampleOpensADisputeThatTwoRefereesDecideAsFraudWithTheSamplersRewardAndACorrection() {
        start(ALWAYS, Duration.ofMinutes(5), HOUR, true);
        Map<Integer, VerificationTask> referees = sampleAnswered("job1/00000", true, false);
        assertEquals(List.of(1, 2, 3), referees.keySet().stream().sorted().toList());
        for (VerificationTask t : referees.values()) {
            assertEquals(VerificationIds.referee("job1/00000", t.getRound()), t.getVerificationId());
            assertEquals(List.of(executor.nodeId(), sampler.nodeId()), t.getExcludedNodes());
        }
        Assignment r1 = verificationLease(referee1.nodeId(), referees.get(1), 1);
        ShardResult r1Result = answer(r1, honest(referee1, r1));
        assertTrue(outcomes.isEmpty(), "one vote does not decide");
        Assignment r2 = verificationLease(referee2.nodeId(), referees.get(2), 1);
        answer(r2, honest(referee2, r2));
        VerificationOutcome o = outcomes.readValue();
        assertEquals(OutcomeKind.FRAUD, o.getKind(), o.getReason());
        assertEquals("node:" + sampler.nodeId(), o.getRewardAccount());
        assertEquals(r1.getLeaseId(), o.getCorrectionLeaseId());
        assertEquals(r1Result.getOutputDigest(), o.getCorrectionDigest());
        assertEquals(executor.nodeId(), o.getNodeId());
        assertTrue(o.getSampled());
        driver.advanceWallClockTime(WINDOW.plusMinutes(1));
        assertTrue(outcomes.isEmpty(), "a fraudulent result is never FINAL");
        Map<String, NodeReputation> rep = latestReputation();
        assertTrue(rep.get(executor.nodeId()).getBanned(), "FRAUD bans the executor");
        assertFalse(rep.get(referee1.nodeId()).getBanned());
    }

    @Test
    void whenTwoRefereesAgreeWithTheExecutorTheResultIsUpheldAndFinalAtWindowClose() {
        start(ALWAYS, Duration.ofMinutes(5), HOUR, true);
        Map<Integer, VerificationTask> referees = sampleAnswered("job1/00000", false, true);
        Assignment r1 = verificationLease(referee1.nodeId(), referees.get(1), 1);
        answer(r1, honest(referee1, r1));
        Assignment r3 = verificationLease(referee3.nodeId(), referees.get(3), 1);
        answer(r3, honest(referee3, r3));
        VerificationOutcome upheld = outcomes.readValue();
        assertEquals(OutcomeKind.UPHELD, upheld.getKind(), upheld.getReason());
        assertNull(upheld.getRewardAccount());
        assertTrue(outcomes.isEmpty(), "FINAL waits for the window");
        driver.advanceWallClockTime(WINDOW);
        assertEquals(OutcomeKind.FINAL, outcomes.readValue().getKind());
        Map<String, NodeReputation> rep = latestReputation();
        assertTrue(rep.get(sampler.nodeId()).getScore() < rep.get(referee1.nodeId()).getScore(), "the outvoted sampler loses reputation");
    }

    @Test
    void aDisputeWithoutTwoAgreeingVotesBeforeItsTimeoutIsInconclusiveAndFinalityWaitsForIt() {
        start(ALWAYS, Duration.ofMinutes(15), HOUR, true);
        Map<Integer, VerificationTask> referees = sampleAnswered("job1/00000", false, true);
        Assignment r1 = verificationLease(referee1.nodeId(), referees.get(1), 1);
        answer(r1, honest(referee1, r1));
        driver.advanceWallClockTime(WINDOW.plusMinutes(1));
        assertTrue(outcomes.isEmpty(), "the window has closed but the dispute is open: not FINAL yet");
        driver.advanceWallClockTime(Duration.ofMinutes(5));
        List<VerificationOutcome> out = outcomes.readValuesToList();
        assertEquals(List.of(OutcomeKind.INCONCLUSIVE, OutcomeKind.FINAL), out.stream().map(VerificationOutcome::getKind).toList());
        assertTrue(out.get(0).getReason().contains("referees 1 agree / 0 disagree"), out.get(0).getReason());
    }

    @Test
    void aRefereeWhoIsTheExecutorIsRefusedDoesNotCountAndIsReplaced() {
        start(ALWAYS, Duration.ofMinutes(5), HOUR, true);
        Map<Integer, VerificationTask> referees = sampleAnswered("job1/00000", true, false);
        Assignment own = verificationLease(executor.nodeId(), referees.get(1), 1);
        answer(own, honest(executor, own)); // even a matching answer from the executor must not count
        assertTrue(deadReason().contains("is the executor"), "refused with the reason");
        VerificationTask replacement = onlyTask();
        assertEquals(4, replacement.getRound());
        assertTrue(replacement.getExcludedNodes().containsAll(List.of(executor.nodeId(), sampler.nodeId())));
        Assignment r2 = verificationLease(referee2.nodeId(), referees.get(2), 1);
        answer(r2, honest(referee2, r2));
        assertTrue(outcomes.isEmpty(), "the executor's vote did not count: one vote so far");
        Assignment r4 = verificationLease(referee3.nodeId(), replacement, 1);
        answer(r4, honest(referee3, r4));
        assertEquals(OutcomeKind.FRAUD, outcomes.readValue().getKind());
    }

    @Test
    void aRefereeCountsOnceAndTheSamplerCannotReferee() {
        start(ALWAYS, Duration.ofMinutes(5), HOUR, true);
        Map<Integer, VerificationTask> referees = sampleAnswered("job1/00000", true, false);
        Assignment bySampler = verificationLease(sampler.nodeId(), referees.get(1), 1);
        answer(bySampler, honest(sampler, bySampler));
        assertTrue(deadReason().contains("is the sampler"));
        Assignment r2 = verificationLease(referee1.nodeId(), referees.get(2), 1);
        answer(r2, honest(referee1, r2));
        Assignment again = verificationLease(referee1.nodeId(), referees.get(3), 1);
        answer(again, honest(referee1, again));
        assertTrue(deadReason().contains("already voted"));
        assertTrue(outcomes.isEmpty(), "one distinct referee has voted");
    }

    @Test
    void aVerificationResultForAShardWithNoOpenVerificationIsDeadLettered() {
        start(ALWAYS, Duration.ofMinutes(5), HOUR, true);
        VerificationTask invented = VerificationTask.newBuilder().setVerificationId(VerificationIds.referee("job9/00000", 1))
                .setTaskId("job9/00000").setJobId("job9").setLeaseId("job9/00000#1").setSuspectNodeId(executor.nodeId())
                .setReason(io.inferex.events.VerificationReason.SAMPLED).setModel(MarketFixtures.MODEL)
                .setRows(shardLease(executor.nodeId(), "job9/00000", 2).getRows()).setPoolKey(MarketFixtures.POOL)
                .setMaxPricePerRowMicros(100).setRound(1).setCreatedAtMs(0).build();
        Assignment l = verificationLease(referee1.nodeId(), invented, 1);
        answer(l, honest(referee1, l));
        assertTrue(deadReason().contains("no open verification"));
        assertTrue(outcomes.isEmpty());
    }

    // ---- epochs

    @Test
    void samplingWaitsForTheEpochSecretWhoseCommitmentIsPublishedFirstAndTheRevealRecomputesEveryDecision() {
        Duration epochLength = Duration.ofMinutes(30);
        start(new SamplingPolicy.Config(0.5, 0.5, 1, 0.9), Duration.ofMinutes(5), epochLength, false);
        List<Assignment> leases = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            leases.add(executeShard(String.format("job%d/00000", i), false));
        }
        assertTrue(tasks.isEmpty(), "no secret yet, so no sampling decision");
        driver.advanceWallClockTime(Duration.ofSeconds(1));
        List<SamplingEpoch> committed = epochs.readValuesToList();
        assertEquals(2, committed.size(), "the current and the next epoch are committed: " + committed);
        committed.forEach(e -> assertNull(e.getSecret(), "only the commitment before the epoch ends"));
        int sampledTasks = tasks.readValuesToList().size();
        driver.advanceWallClockTime(WINDOW.plusMinutes(1)); // samples unanswered: given up after 5 min; all FINAL by now
        List<VerificationOutcome> finals = outcomes.readValuesToList();
        assertEquals(12, finals.size());
        assertEquals(sampledTasks, finals.stream().filter(VerificationOutcome::getSampled).count());
        assertTrue(sampledTasks > 0 && sampledTasks < 12, "p = 0.5 over 12 draws: " + sampledTasks);

        driver.advanceWallClockTime(epochLength); // past the end of the epoch and the reveal delay
        SamplingEpoch reveal = epochs.readValuesToList().stream().filter(e -> e.getSecret() != null).findFirst().orElseThrow();
        SamplingEpoch commitment = committed.stream().filter(e -> e.getEpoch() == reveal.getEpoch()).findFirst().orElseThrow();
        assertTrue(SamplingDraw.opens(commitment.getCommitment(), reveal.getSecret()), "the revealed secret opens the commitment");
        for (VerificationOutcome o : finals) {
            assertEquals(reveal.getEpoch(), o.getSamplingEpoch());
            assertEquals(o.getSampled(), SamplingDraw.sampled(reveal.getSecret(), o.getLeaseId(), o.getSamplingProbability()),
                    "an audit recomputes the decision for " + o.getLeaseId());
        }
    }

    // ---- reputation and the adaptive p

    @Test
    void aLeaseRevokedUnansweredLowersTheNodesReputation() {
        start(NEVER, Duration.ofMinutes(5), HOUR, true);
        Assignment lease = shardLease(executor.nodeId(), "job1/00000", 2);
        assignments.pipeInput(executor.nodeId(), lease);
        assignments.pipeInput(executor.nodeId(), Assignment.newBuilder(lease).setRevoked(true).build());
        NodeReputation r = latestReputation().get(executor.nodeId());
        assertTrue(r.getScore() < io.inferex.verification.ReputationRules.INITIAL_SCORE, "score " + r.getScore());
        assertEquals(1, r.getObservations());
    }

    @Test
    void anUnsampledResultOfANodeBannedBeforeItsWindowClosesIsReExecutedInsteadOfBeingMadeFinal() {
        // Practically never sampled, yet above the floor (a node still new): its rows are kept for the window.
        start(new SamplingPolicy.Config(1e-15, 2e-15, 1_000, 0.9), Duration.ofMinutes(5), HOUR, true);
        executeShard("job1/00000", false);
        assertTrue(tasks.isEmpty(), "not sampled");
        // Meanwhile the executor is caught cheating elsewhere: the verifier's own stage 3 publishes the ban.
        fixture.input(Topics.NODE_REPUTATION).pipeInput(executor.nodeId(), NodeReputation.newBuilder().setNodeId(executor.nodeId())
                .setScore(0.0).setObservations(5).setBanned(true).setReason("FRAUD on another shard").setUpdatedAtMs(0).build());
        driver.advanceWallClockTime(WINDOW.plusSeconds(2));
        assertTrue(outcomes.isEmpty(), "not FINAL on trust");
        VerificationTask recheck = tasks.readValue();
        assertEquals(VerificationIds.sample("job1/00000"), recheck.getVerificationId());
        assertEquals(List.of(executor.nodeId()), recheck.getExcludedNodes());
    }

    @Test
    void pFollowsThePublishedReputationFromTheNewNodeRateDownToTheFloor() {
        // A short warm-up (10 observations) and a trusted score the node reaches within it keep the test small.
        SamplingPolicy.Config policy = new SamplingPolicy.Config(0.015, 0.25, 10, 0.6);
        start(policy, Duration.ofMinutes(5), HOUR, true);
        int shards = (int) policy.warmupObservations() + 3;
        for (int i = 0; i < shards; i++) {
            executeShard(String.format("job%d/00000", i), false);
        }
        driver.advanceWallClockTime(WINDOW.plusMinutes(1));
        List<VerificationOutcome> finals = outcomes.readValuesToList();
        assertEquals(shards, finals.size());
        double first = finals.stream().filter(o -> o.getTaskId().equals("job0/00000")).findFirst().orElseThrow().getSamplingProbability();
        double last = finals.stream().filter(o -> o.getTaskId().equals("job" + (shards - 1) + "/00000")).findFirst().orElseThrow()
                .getSamplingProbability();
        assertTrue(first > 0.2 && first <= policy.newNodeP(), "a new node is sampled near the new-node rate: " + first);
        assertEquals(policy.floor(), last, 1e-12, "an established node with a good score is sampled at the floor");
    }

    @Test
    void aSecondAcceptedLeaseOfTheSameShardIsDeadLetteredAndOnlyTheFirstIsFinalized() {
        start(NEVER, Duration.ofMinutes(5), HOUR, true);
        Assignment first = executeShard("job1/00000", false);
        Assignment second = Assignment.newBuilder(shardLease(sampler.nodeId(), "job1/00000", 3)).setLeaseId("job1/00000#2")
                .setAttempt(2).build();
        answer(second, honest(sampler, second));
        assertTrue(deadReason().contains("already has an accepted result under verification"));
        driver.advanceWallClockTime(WINDOW.plusMinutes(1));
        List<VerificationOutcome> out = outcomes.readValuesToList();
        assertEquals(1, out.size(), "a shard is finalized once: " + out);
        assertEquals(first.getLeaseId(), out.get(0).getLeaseId());
    }

    // ---- customer challenges (the bond already locked by settlement)

    static ChallengeBond locked(String id, String challenger, Assignment lease, ShardResult delivered) {
        Challenge c = Challenge.newBuilder().setChallengeId(id).setTaskId(lease.getTaskId()).setJobId(lease.getJobId())
                .setChallengerId(challenger).setBondMicros(100_000).setReason("these vectors look wrong").setCreatedAtMs(1)
                .setOutputDigest(delivered.getOutputDigest()).setInputRows(lease.getRows()).setRows(delivered.getRows()).build();
        return ChallengeBond.newBuilder().setChallenge(c).setStatus(ChallengeBondStatus.LOCKED).setReason("locked").setAtMs(1).build();
    }

    @Test
    void aBondedChallengeOfAnUnsampledResultIsDisputedByThreeRefereesAndAFrivolousOneIsUpheldUnderItsId() {
        start(NEVER, Duration.ofMinutes(5), HOUR, true);
        Assignment lease = shardLease(executor.nodeId(), "job1/00000", 3);
        ShardResult delivered = answer(lease, honest(executor, lease));
        assertTrue(tasks.isEmpty(), "not sampled");
        bonds.pipeInput("job1/00000", locked("c1", "customer:acme", lease, delivered));
        VerificationOutcome opened = outcomes.readValue();
        assertEquals(OutcomeKind.DISPUTED, opened.getKind(), opened.getReason());
        assertEquals("c1", opened.getChallengeId());
        Map<Integer, VerificationTask> referees = tasks.readValuesToList().stream()
                .collect(Collectors.toMap(VerificationTask::getRound, Function.identity()));
        assertEquals(List.of(1, 2, 3), referees.keySet().stream().sorted().toList());
        Assignment r1 = verificationLease(referee1.nodeId(), referees.get(1), 1);
        answer(r1, honest(referee1, r1));
        Assignment r2 = verificationLease(referee2.nodeId(), referees.get(2), 1);
        answer(r2, honest(referee2, r2));
        VerificationOutcome upheld = outcomes.readValue();
        assertEquals(OutcomeKind.UPHELD, upheld.getKind(), upheld.getReason());
        assertEquals("c1", upheld.getChallengeId(), "settlement forfeits the bond on it");
        driver.advanceWallClockTime(WINDOW);
        VerificationOutcome fin = outcomes.readValue();
        assertEquals(OutcomeKind.FINAL, fin.getKind());
        assertNull(fin.getChallengeId());
    }

    @Test
    void aChallengeProvedRightIsFraudRewardingTheChallengerAndOneForAShardAlreadyFinalIsRefused() {
        start(NEVER, Duration.ofMinutes(5), HOUR, true);
        Assignment lease = shardLease(executor.nodeId(), "job1/00000", 3);
        ShardResult delivered = answer(lease, cheat(executor, lease));
        bonds.pipeInput("job1/00000", locked("c1", "customer:acme", lease, delivered));
        assertEquals(OutcomeKind.DISPUTED, outcomes.readValue().getKind());
        Map<Integer, VerificationTask> referees = tasks.readValuesToList().stream()
                .collect(Collectors.toMap(VerificationTask::getRound, Function.identity()));
        Assignment r1 = verificationLease(referee1.nodeId(), referees.get(1), 1);
        answer(r1, honest(referee1, r1));
        Assignment r2 = verificationLease(referee2.nodeId(), referees.get(2), 1);
        answer(r2, honest(referee2, r2));
        VerificationOutcome fraud = outcomes.readValue();
        assertEquals(OutcomeKind.FRAUD, fraud.getKind(), fraud.getReason());
        assertEquals("customer:acme", fraud.getRewardAccount());
        assertEquals("c1", fraud.getChallengeId());
        assertTrue(latestReputation().get(executor.nodeId()).getBanned());

        // A second shard, final before its challenge arrives: refused, so settlement returns the bond.
        Assignment other = shardLease(sampler.nodeId(), "job1/00001", 2);
        ShardResult fine = answer(other, honest(sampler, other));
        driver.advanceWallClockTime(WINDOW.plusSeconds(2));
        assertEquals(OutcomeKind.FINAL, outcomes.readValue().getKind());
        bonds.pipeInput("job1/00001", locked("c2", "customer:acme", other, fine));
        VerificationOutcome refused = outcomes.readValue();
        assertEquals(OutcomeKind.CHALLENGE_REFUSED, refused.getKind());
        assertEquals("c2", refused.getChallengeId());
        assertTrue(refused.getReason().contains("decided"), refused.getReason());
        assertTrue(dead.isEmpty(), "a refused challenge is a decision, not a bad record");
    }
}
