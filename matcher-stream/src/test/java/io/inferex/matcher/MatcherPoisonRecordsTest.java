package io.inferex.matcher;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Assignment;
import io.inferex.events.InputRow;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.NodeStake;
import io.inferex.events.ShardResult;
import io.inferex.events.ShardTask;
import io.inferex.events.Verdict;
import io.inferex.events.VerificationOutcome;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.market.NodeIdentity;
import io.inferex.testing.PoisonRun;
import io.inferex.testing.SignedFixtures;
import io.inferex.topics.Topics;
import io.inferex.wire.AvroWire;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.apache.kafka.streams.KafkaStreams;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The matcher's real topology on the real broker: poison on every topic it reads (eight inputs,
 * five repartition topics, the job-status, node-stake and node-reputation global tables), then a
 * shard is still leased.
 */
class MatcherPoisonRecordsTest {
    static PoisonRun run;

    @BeforeAll
    static void start() throws Exception {
        var config = new MatcherTopology.Config(Duration.ofSeconds(60), 3, 1_000_000, Duration.ofMillis(500));
        run = PoisonRun.start(EmbeddedKafkaBroker.shared().clientConfig(), MatcherTopology.APPLICATION_ID,
                props -> MatcherTopology.buildTopology(config, props));
    }

    @AfterAll
    static void stop() {
        run.close();
    }

    @Test
    void everyPoisonOnEveryTopicIncludingRepartitionAndGlobalTopicsIsDeadLetteredAndAShardIsStillLeased() throws Exception {
        List<String> topics = run.sourceTopics();
        String prefix = run.applicationId() + "-";
        assertTrue(topics.containsAll(List.of(prefix + "registry-by-pool-repartition", prefix + "heartbeats-by-pool-repartition",
                prefix + "verdicts-by-pool-repartition", prefix + "results-by-pool-repartition", prefix + "closings-by-pool-repartition",
                Topics.JOB_STATUS.name(), Topics.NODE_STAKE.name(), Topics.NODE_REPUTATION.name(), Topics.VERIFICATION_TASKS.name(),
                Topics.VERIFICATION_OUTCOMES.name(), Topics.SHARD_TASKS.name())), topics.toString());

        run.assertEveryPoisonIsDeadLetteredAndTheAppRuns(Map.of("registry-by-pool-repartition", NodeRegistered.class,
                "heartbeats-by-pool-repartition", NodeHeartbeat.class, "verdicts-by-pool-repartition", Verdict.class,
                "results-by-pool-repartition", ShardResult.class, "closings-by-pool-repartition", VerificationOutcome.class));

        String jobId = "poison-" + UUID.randomUUID();
        NodeIdentity node = NodeIdentity.generate();
        run.send(Topics.JOB_STATUS.name(), jobId, JobStatus.newBuilder().setJobId(jobId).setCustomerId("c")
                .setState(JobState.IN_PROGRESS).setRowCount(1).setCompletedRows(0).setFailedRows(0).setShardCount(1)
                .setShardsDone(0).setSpentMicros(0).setUpdatedAtMs(1).build());
        // Eligibility reads the ledger's stake (node-stake, a global table), not the registration's claim.
        run.send(Topics.NODE_STAKE.name(), node.nodeId(), NodeStake.newBuilder().setNodeId(node.nodeId()).setLockedMicros(10_000_000)
                .setUnlockingMicros(0).setUnlockAtMs(0).setSlashed(false).setUpdatedAtMs(1).build());
        run.send(Topics.NODE_REGISTRY.name(), node.nodeId(), SignedFixtures.registration(node, 100, 2, 1000));
        // A live node heartbeats until it is leased work (alive = a heartbeat within 3 intervals).
        var heartbeats = java.util.concurrent.Executors.newSingleThreadScheduledExecutor();
        var sequence = new java.util.concurrent.atomic.AtomicLong();
        heartbeats.scheduleAtFixedRate(() -> {
            try {
                run.send(Topics.NODE_HEARTBEATS.name(), node.nodeId(), SignedFixtures.heartbeat(node, sequence.incrementAndGet(), 2));
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        }, 0, 500, java.util.concurrent.TimeUnit.MILLISECONDS);
        try {
            leaseOneShard(jobId, node);
        } finally {
            heartbeats.shutdownNow();
        }
        assertEquals(KafkaStreams.State.RUNNING, run.streams().state());
    }

    private static void leaseOneShard(String jobId, NodeIdentity node) throws Exception {
        run.send(Topics.SHARD_TASKS.name(), SignedFixtures.POOL, ShardTask.newBuilder().setTaskId(io.inferex.market.TaskIds.of(jobId, 0, 1)).setJobId(jobId)
                .setShardIndex(0).setShardCount(1).setModel(SignedFixtures.MODEL).setPoolKey(SignedFixtures.POOL)
                .setMaxPricePerRowMicros(200).setRows(List.of(new InputRow("a", 1, "hello"))).setCreatedAtMs(1).build());
        var leased = run.awaitRecord(Topics.ASSIGNMENTS.name(), r -> r.value() != null
                && AvroWire.of(Assignment.class).decode(r.value()).getJobId().equals(jobId), Duration.ofSeconds(30));
        assertEquals(node.nodeId(), AvroWire.of(Assignment.class).decode(leased.value()).getNodeId());
    }
}
