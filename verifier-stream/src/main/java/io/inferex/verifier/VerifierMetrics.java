package io.inferex.verifier;

import io.inferex.metrics.StoreGauges;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.apache.kafka.streams.KafkaStreams;

/**
 * The verifier's own gauges at /q/metrics (besides Kafka Streams' metrics and the verdicts and
 * outcomes by kind counted by {@link io.inferex.metrics.OutputMetrics}): approximate open shard
 * cases (sampling, disputes), results parked until their lease is known, and leases it follows.
 */
@ApplicationScoped
@Startup
public class VerifierMetrics {
    @Inject
    MeterRegistry registry;
    @Inject
    KafkaStreams streams;

    @PostConstruct
    void register() {
        StoreGauges.register(registry, "verifier", () -> streams,
                "shard-cases", VerifierTopology.CASES_STORE,
                "parked-results", VerifierTopology.PARKED_STORE,
                "leases", VerifierTopology.LEASES_STORE);
    }
}
