package io.inferex.settlement;

import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.events.NodeStake;
import io.inferex.events.Payment;
import io.inferex.events.Transfer;
import io.inferex.events.Verdict;
import io.inferex.events.VerificationOutcome;
import io.inferex.ledger.LedgerConfig;
import io.inferex.testing.TopologyFixture;
import io.inferex.topics.Topics;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.KeyValueStore;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/** The settlement topology under {@code TopologyTestDriver}: its inputs, outputs and balances store, for each test. */
abstract class SettlementTopologyTestBase {
    static final int FEE_BPS = 500;
    TopologyFixture fixture;
    TopologyTestDriver driver;
    TestInputTopic<String, Payment> payments;
    TestInputTopic<String, JobSubmitted> jobs;
    TestInputTopic<String, Verdict> verdicts;
    TestInputTopic<String, VerificationOutcome> outcomes;
    TestInputTopic<String, io.inferex.events.Challenge> challenges;
    TestOutputTopic<String, io.inferex.events.ChallengeBond> bondAnswers;
    TestOutputTopic<String, Transfer> ledger;
    TestOutputTopic<String, JobStatus> status;
    TestOutputTopic<String, NodeStake> stakes;
    TestOutputTopic<String, byte[]> dead;
    KeyValueStore<String, Long> balances;

    @BeforeEach
    void start() {
        fixture = TopologyFixture.start(SettlementTopology.APPLICATION_ID,
                props -> SettlementTopology.buildTopology(new LedgerConfig(FEE_BPS), props));
        driver = fixture.driver();
        payments = fixture.input(Topics.PAYMENTS);
        jobs = fixture.input(Topics.JOBS);
        verdicts = fixture.input(Topics.VERDICTS);
        outcomes = fixture.input(Topics.VERIFICATION_OUTCOMES);
        challenges = fixture.input(Topics.CHALLENGES);
        bondAnswers = fixture.output(Topics.CHALLENGE_BONDS);
        ledger = fixture.output(Topics.LEDGER);
        status = fixture.output(Topics.JOB_STATUS);
        stakes = fixture.output(Topics.NODE_STAKE);
        dead = fixture.deadLetters();
        balances = fixture.store(SettlementTopology.BALANCES_STORE);
    }

    @AfterEach
    void stop() {
        fixture.close();
    }
}
