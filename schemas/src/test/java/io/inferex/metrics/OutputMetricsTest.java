package io.inferex.metrics;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;

import io.inferex.events.OutcomeKind;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.VerdictOutcome;
import io.inferex.testing.LedgerEvents;
import io.inferex.topics.Topics;
import io.micrometer.core.instrument.simple.SimpleMeterRegistry;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;

class OutputMetricsTest {
    private final SimpleMeterRegistry registry = new SimpleMeterRegistry();
    private final OutputMetrics metrics = new OutputMetrics(registry);

    private ProducerRecord<Object, Object> sent(String topic, Object value) {
        ProducerRecord<Object, Object> r = new ProducerRecord<>(topic, "k", value);
        assertSame(r, metrics.onSend(r), "the record goes out unchanged");
        return r;
    }

    @Test
    void recordsAreCountedPerTopicAndVerdictsOutcomesAndTransfersByKindWithTheMicrosTheyMove() {
        sent(Topics.VERDICTS.name(), Topics.VERDICTS.valueSerde().serializer().serialize("", LedgerEvents.verdict("v1", "j", "j/00000", "n",
                VerdictOutcome.ACCEPTED, 4, 10)));
        sent(Topics.VERDICTS.name(), LedgerEvents.verdict("v2", "j", "j/00000", "n", VerdictOutcome.REJECTED, 4, 10)); // not serialized yet
        sent(Topics.VERIFICATION_OUTCOMES.name(), Topics.VERIFICATION_OUTCOMES.valueSerde().serializer().serialize("",
                LedgerEvents.outcome("o1", OutcomeKind.FRAUD, "j", "j/00000", "n", 4, 10)));
        for (long amount : new long[] {300, 200}) {
            Transfer t = Transfer.newBuilder().setTransferId("t" + amount).setDebitAccount("escrow:j").setCreditAccount("node:n")
                    .setAmountMicros(amount).setKind(TransferKind.PAYOUT).setCause("c").setAtMs(1).build();
            sent(Topics.LEDGER.name(), Topics.LEDGER.valueSerde().serializer().serialize("", t));
        }
        sent("inferex-matcher-leases-changelog", new byte[] {1, 2, 3}); // a topic counted as records only
        sent(Topics.LEDGER.name(), new byte[] {1, 2, 3}); // undecodable: counted, never thrown

        assertEquals(2, registry.get(OutputMetrics.RECORDS).tag("topic", "verdicts").counter().count());
        assertEquals(1, registry.get(OutputMetrics.VERDICTS).tag("outcome", "ACCEPTED").counter().count());
        assertEquals(1, registry.get(OutputMetrics.VERDICTS).tag("outcome", "REJECTED").counter().count());
        assertEquals(1, registry.get(OutputMetrics.OUTCOMES).tag("kind", "FRAUD").counter().count());
        assertEquals(2, registry.get(OutputMetrics.TRANSFERS).tag("kind", "PAYOUT").counter().count());
        assertEquals(500, registry.get(OutputMetrics.TRANSFER_MICROS).tag("kind", "PAYOUT").counter().count());
        assertEquals(3, registry.get(OutputMetrics.RECORDS).tag("topic", "ledger").counter().count());
        assertEquals(1, registry.get(OutputMetrics.RECORDS).tag("topic", "inferex-matcher-leases-changelog").counter().count());
    }
}
