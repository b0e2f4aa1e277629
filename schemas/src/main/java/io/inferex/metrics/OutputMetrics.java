package io.inferex.metrics;

import io.inferex.events.Assignment;
import io.inferex.events.Transfer;
import io.inferex.events.Verdict;
import io.inferex.events.VerificationOutcome;
import io.inferex.topics.Topics;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Metrics;
import java.util.Map;
import org.apache.kafka.clients.producer.ProducerInterceptor;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;

/**
 * Counts what a service's producer writes, as Micrometer meters in the global registry (which
 * Quarkus serves at {@code /q/metrics}): records per topic (throughput), verdicts by outcome,
 * verification outcomes by kind, leases granted and revoked, and ledger transfers by kind with
 * the micro-units they move. A stream app names it in {@code kafka-streams.producer.interceptor.classes};
 * ingest and the executor add it to their producers. Counted when sent, since the process started:
 * under exactly-once, a transaction that aborts and is retried counts twice (rare: a failover).
 * It never fails a send: a value it cannot read is counted as a record only.
 */
public class OutputMetrics implements ProducerInterceptor<Object, Object> {
    /** Records written, tag {@code topic}. */
    public static final String RECORDS = "inferex.records.out";
    /** Verdicts written, tag {@code outcome} (ACCEPTED, REJECTED). */
    public static final String VERDICTS = "inferex.verdicts";
    /** Verification outcomes written, tag {@code kind} (FINAL, FRAUD, UPHELD, ...). */
    public static final String OUTCOMES = "inferex.verification.outcomes";
    /** Assignments written, tag {@code revoked} (false: a lease granted; true: one revoked). */
    public static final String ASSIGNMENTS = "inferex.assignments";
    /** Ledger transfers written, tag {@code kind}. */
    public static final String TRANSFERS = "inferex.ledger.transfers";
    /** Micro-units moved by the ledger transfers written, tag {@code kind}. */
    public static final String TRANSFER_MICROS = "inferex.ledger.transfer.micros";

    private final MeterRegistry registry;

    public OutputMetrics() {
        this(Metrics.globalRegistry);
    }

    OutputMetrics(MeterRegistry registry) {
        this.registry = registry;
    }

    @Override
    public ProducerRecord<Object, Object> onSend(ProducerRecord<Object, Object> record) {
        try {
            count(record.topic(), record.value());
        } catch (RuntimeException unreadable) {
            // a metric never fails a send
        }
        return record;
    }

    void count(String topic, Object value) {
        registry.counter(RECORDS, "topic", topic).increment();
        Object event = value instanceof byte[] bytes && KINDED.contains(topic)
                ? Topics.byName(topic).orElseThrow().valueSerde().deserializer().deserialize(topic, bytes)
                : value; // a Kafka Streams producer sends bytes; a client's may send the event itself
        if (event instanceof Verdict v) {
            registry.counter(VERDICTS, "outcome", v.getOutcome().name()).increment();
        } else if (event instanceof VerificationOutcome o) {
            registry.counter(OUTCOMES, "kind", o.getKind().name()).increment();
        } else if (event instanceof Assignment a) {
            registry.counter(ASSIGNMENTS, "revoked", Boolean.toString(a.getRevoked())).increment();
        } else if (event instanceof Transfer t) {
            registry.counter(TRANSFERS, "kind", t.getKind().name()).increment();
            registry.counter(TRANSFER_MICROS, "kind", t.getKind().name()).increment(t.getAmountMicros());
        }
    }

    /** The topics whose records are counted by kind too (only these are decoded). */
    private static final java.util.Set<String> KINDED = java.util.Set.of(Topics.VERDICTS.name(), Topics.VERIFICATION_OUTCOMES.name(),
            Topics.ASSIGNMENTS.name(), Topics.LEDGER.name());

    @Override
    public void onAcknowledgement(RecordMetadata metadata, Exception exception) {
        // counted on send
    }

    @Override
    public void close() {
        // the meters belong to the registry
    }

    @Override
    public void configure(Map<String, ?> configs) {
        // nothing to configure
    }
}
