package io.inferex.matcher;

import io.inferex.events.Assignment;
import io.inferex.events.InputRow;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.NodeReputation;
import io.inferex.events.NodeStake;
import io.inferex.events.ShardResult;
import io.inferex.events.ShardTask;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationTask;
import io.inferex.market.NodeIdentity;
import io.inferex.market.SignedPayloads;
import io.inferex.testing.SignedFixtures;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topics;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.time.Instant;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** The matcher's topology under TopologyTestDriver, with the market's inputs and helpers that write honest events. */
abstract class MatcherTestBase {
    static final String MODEL = SignedFixtures.MODEL;
    static final String POOL = SignedFixtures.POOL;
    static final Duration LEASE = Duration.ofSeconds(60);
    /** Stake every node made by {@link #node} locks unless a test says otherwise: well above the minimum and any test shard. */
    static final long STAKE = 10_000_000;

    TopologyFixture fixture;
    TopologyTestDriver driver;
    TestInputTopic<String, ShardTask> tasks;
    TestInputTopic<String, VerificationTask> verificationTasks;
    TestInputTopic<String, NodeRegistered> registry;
    TestInputTopic<String, NodeHeartbeat> heartbeats;
    TestInputTopic<String, Verdict> verdicts;
    TestInputTopic<String, ShardResult> results;
    TestInputTopic<String, JobStatus> jobStatus;
    TestInputTopic<String, NodeStake> nodeStake;
    TestInputTopic<String, NodeReputation> nodeReputation;
    final Set<String> escrowed = new HashSet<>();
    TestOutputTopic<String, Assignment> assignments;
    TestOutputTopic<String, byte[]> dead;
    long sequence = 1;

    @BeforeEach
    void start() {
        startWith(new MatcherTopology.Config(LEASE, 3, 1_000_000, Duration.ofMillis(500)));
    }

    void startWith(MatcherTopology.Config config) {
        if (fixture != null) {
            fixture.close();
        }
        fixture = TopologyFixture.start(MatcherTopology.APPLICATION_ID, props -> MatcherTopology.buildTopology(config, props),
                Instant.ofEpochMilli(1_000_000));
        driver = fixture.driver();
        tasks = fixture.input(Topics.SHARD_TASKS);
        verificationTasks = fixture.input(Topics.VERIFICATION_TASKS);
        registry = fixture.input(Topics.NODE_REGISTRY);
        heartbeats = fixture.input(Topics.NODE_HEARTBEATS);
        verdicts = fixture.input(Topics.VERDICTS);
        results = fixture.input(Topics.RESULTS);
        jobStatus = fixture.input(Topics.JOB_STATUS);
        nodeStake = fixture.input(Topics.NODE_STAKE);
        nodeReputation = fixture.input(Topics.NODE_REPUTATION);
        assignments = fixture.output(Topics.ASSIGNMENTS);
        dead = fixture.deadLetters();
    }

    @AfterEach
    void stop() {
        fixture.close();
    }

    /** A registered, live node that has locked {@link #STAKE} in the ledger. */
    NodeIdentity node(int slots, long price) {
        NodeIdentity id = NodeIdentity.generate();
        stake(id, STAKE, 0, false);
        registry.pipeInput(id.nodeId(), SignedFixtures.registration(id, price, slots, 1000));
        heartbeat(id);
        return id;
    }

    /** A registered, live node with no node-stake record at all (its registration still claims stake). */
    NodeIdentity unstakedNode(int slots, long price) {
        NodeIdentity id = NodeIdentity.generate();
        registry.pipeInput(id.nodeId(), SignedFixtures.registration(id, price, slots, 1000));
        heartbeat(id);
        return id;
    }

    /** Settlement's node-stake record for the node. */
    void stake(NodeIdentity id, long locked, long unlocking, boolean slashed) {
        nodeStake.pipeInput(id.nodeId(), NodeStake.newBuilder().setNodeId(id.nodeId()).setLockedMicros(locked)
                .setUnlockingMicros(unlocking).setUnlockAtMs(unlocking > 0 ? 5_000_000 : 0).setSlashed(slashed).setUpdatedAtMs(1)
                .build());
    }

    /** The verifier's node-reputation record for the node. */
    void reputation(NodeIdentity id, double score, boolean banned) {
        nodeReputation.pipeInput(id.nodeId(), NodeReputation.newBuilder().setNodeId(id.nodeId()).setScore(score).setObservations(10)
                .setBanned(banned).setReason(banned ? "fraud on job0/00000" : null).setUpdatedAtMs(1).build());
    }

    void heartbeat(NodeIdentity id) {
        heartbeats.pipeInput(id.nodeId(), signedHeartbeat(id, sequence++));
    }

    static NodeHeartbeat signedHeartbeat(NodeIdentity id, long seq) {
        return SignedFixtures.heartbeat(id, seq, 1);
    }

    void status(String jobId, JobState state) {
        jobStatus.pipeInput(jobId, JobStatus.newBuilder().setJobId(jobId).setCustomerId("c").setState(state).setRowCount(4)
                .setCompletedRows(0).setFailedRows(0).setShardCount(4).setShardsDone(0).setSpentMicros(0).setUpdatedAtMs(1).build());
    }

    /** A shard of a job settlement has escrowed, as in the running market. */
    ShardTask task(String taskId, long maxPrice, int createdAt) {
        String jobId = taskId.substring(0, taskId.indexOf('/'));
        if (escrowed.add(jobId)) {
            status(jobId, JobState.IN_PROGRESS);
        }
        return unescrowedTask(taskId, maxPrice, createdAt);
    }

    ShardTask unescrowedTask(String taskId, long maxPrice, int createdAt) {
        ShardTask t = ShardTask.newBuilder().setTaskId(taskId).setJobId(taskId.substring(0, taskId.indexOf('/')))
                .setShardIndex(Integer.parseInt(taskId.substring(taskId.indexOf('/') + 1))).setShardCount(4).setModel(MODEL)
                .setPoolKey(POOL).setMaxPricePerRowMicros(maxPrice).setRows(List.of(new InputRow("a", 1, "hello")))
                .setCreatedAtMs(createdAt).build();
        tasks.pipeInput(POOL, t);
        return t;
    }

    void verdict(Assignment lease, VerdictOutcome outcome) {
        verdicts.pipeInput(lease.getJobId(), Verdict.newBuilder().setVerdictId(lease.getLeaseId() + "/v").setTaskId(lease.getTaskId())
                .setJobId(lease.getJobId()).setLeaseId(lease.getLeaseId()).setNodeId(lease.getNodeId()).setPoolKey(POOL)
                .setOutcome(outcome).setReason("t").setRowCount(1).setPricePerRowMicros(lease.getPricePerRowMicros())
                .setDecidedAtMs(2).build());
    }

    void answer(NodeIdentity signer, Assignment lease) {
        ShardResult r = signedResult(signer, lease);
        results.pipeInput(lease.getTaskId(), r);
    }

    /** The lease's node's answer, signed by {@code signer}. */
    static ShardResult signedResult(NodeIdentity signer, Assignment lease) {
        ShardResult r = ShardResult.newBuilder().setLeaseId(lease.getLeaseId()).setTaskId(lease.getTaskId())
                .setJobId(lease.getJobId()).setShardIndex(lease.getShardIndex()).setNodeId(lease.getNodeId()).setModel(MODEL)
                .setPoolKey(POOL).setModelDigest("d").setRows(List.of()).setOutputDigest("o").setComputeMillis(1)
                .setProducedAtMs(1).setSignature(ByteBuffer.allocate(0)).build();
        SignedPayloads.sign(signer, r);
        return r;
    }
}
