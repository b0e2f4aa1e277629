package io.inferex.verifier;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.AcceptedResult;
import io.inferex.events.Assignment;
import io.inferex.events.ReputationEvent;
import io.inferex.events.EpochSecret;
import io.inferex.events.ShardResult;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.local.EmbeddedKafkaBroker;
import io.inferex.market.NodeIdentity;
import io.inferex.testing.PoisonRun;
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

/** The verifier's real topology on the real broker: poison on every topic it reads, then an honest result is still judged. */
class VerifierPoisonRecordsTest {
    static PoisonRun run;

    @BeforeAll
    static void start() throws Exception {
        run = PoisonRun.start(EmbeddedKafkaBroker.shared().clientConfig(), VerifierTopology.APPLICATION_ID,
                props -> VerifierTopology.buildTopology(new VerifierTopology.Config(Duration.ofSeconds(30)), props));
    }

    @AfterAll
    static void stop() {
        run.close();
    }

    @Test
    void everyPoisonOnEveryTopicIncludingTheRepartitionTopicIsDeadLetteredAndAnHonestResultIsStillJudged() throws Exception {
        List<String> topics = run.sourceTopics();
        assertTrue(topics.contains(run.applicationId() + "-results-by-node-repartition"), topics.toString());
        assertTrue(topics.containsAll(List.of(Topics.NODE_REGISTRY.name(), Topics.ASSIGNMENTS.name(), Topics.RESULTS.name())),
                topics.toString());

        assertTrue(topics.containsAll(List.of(run.applicationId() + "-accepted-by-shard-repartition",
                run.applicationId() + "-epoch-secrets-repartition", run.applicationId() + "-epoch-clock-repartition",
                run.applicationId() + "-reputation-by-node-repartition", run.applicationId() + "-bonds-by-shard-repartition",
                Topics.NODE_REPUTATION.name(), Topics.CHALLENGE_BONDS.name())), topics.toString());

        run.assertEveryPoisonIsDeadLetteredAndTheAppRuns(Map.of("results-by-node-repartition", ShardResult.class,
                "accepted-by-shard-repartition", AcceptedResult.class, "epoch-secrets-repartition", EpochSecret.class,
                "epoch-clock-repartition", Verdict.class, "reputation-by-node-repartition", ReputationEvent.class,
                "bonds-by-shard-repartition", io.inferex.events.ChallengeBond.class));

        NodeIdentity node = NodeIdentity.generate();
        Assignment lease = MarketFixtures.lease(node.nodeId(), "poison-" + UUID.randomUUID() + "/0000", 2);
        run.send(Topics.NODE_REGISTRY.name(), node.nodeId(), MarketFixtures.registration(node));
        run.send(Topics.ASSIGNMENTS.name(), node.nodeId(), lease);
        run.send(Topics.RESULTS.name(), lease.getTaskId(), MarketFixtures.honestResult(node, lease));
        var verdict = run.awaitRecord(Topics.VERDICTS.name(), r -> r.value() != null
                && AvroWire.of(Verdict.class).decode(r.value()).getLeaseId().equals(lease.getLeaseId()), Duration.ofSeconds(30));
        Verdict v = AvroWire.of(Verdict.class).decode(verdict.value());
        assertEquals(VerdictOutcome.ACCEPTED, v.getOutcome(), v.getReason());
        assertEquals(KafkaStreams.State.RUNNING, run.streams().state());
    }
}
