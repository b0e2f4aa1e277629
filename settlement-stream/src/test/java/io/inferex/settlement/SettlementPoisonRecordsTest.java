package io.inferex.settlement;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.events.Transfer;
import io.inferex.ledger.LedgerConfig;
import io.inferex.local.EmbeddedKafkaBroker;
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

/** Settlement's real topology on the real broker: poison on every topic it reads, then a deposit still settles. */
class SettlementPoisonRecordsTest {
    static PoisonRun run;

    @BeforeAll
    static void start() throws Exception {
        run = PoisonRun.start(EmbeddedKafkaBroker.shared().clientConfig(), SettlementTopology.APPLICATION_ID,
                props -> SettlementTopology.buildTopology(new LedgerConfig(500), props));
    }

    @AfterAll
    static void stop() {
        run.close();
    }

    @Test
    void everyPoisonOnEveryTopicIncludingTheRepartitionTopicIsDeadLetteredAndADepositStillSettles() throws Exception {
        List<String> topics = run.sourceTopics();
        assertTrue(topics.contains(run.applicationId() + "-ledger-sequence-repartition"), topics.toString());
        assertTrue(topics.containsAll(List.of(Topics.PAYMENTS.name(), Topics.JOBS.name(), Topics.VERDICTS.name())), topics.toString());

        run.assertEveryPoisonIsDeadLetteredAndTheAppRuns(Map.of("ledger-sequence-repartition", Payment.class));

        String account = "customer:poison-" + UUID.randomUUID();
        run.send(Topics.PAYMENTS.name(), account, Payment.newBuilder().setPaymentId("dep-" + account).setAccountId(account)
                .setKind(PaymentKind.DEPOSIT).setAmountMicros(1_000_000).setAtMs(System.currentTimeMillis()).build()); // inside the replay window
        var line = run.awaitRecord(Topics.LEDGER.name(), r -> r.value() != null
                && AvroWire.of(Transfer.class).decode(r.value()).getCreditAccount().equals(account), Duration.ofSeconds(30));
        assertEquals(1_000_000, AvroWire.of(Transfer.class).decode(line.value()).getAmountMicros());
        assertEquals(KafkaStreams.State.RUNNING, run.streams().state());
    }
}
