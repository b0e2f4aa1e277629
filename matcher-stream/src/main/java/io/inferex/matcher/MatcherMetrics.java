package io.inferex.matcher;

import io.inferex.metrics.StoreGauges;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import jakarta.annotation.PostConstruct;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.apache.kafka.streams.KafkaStreams;

/**
 * The matcher's own gauges at /q/metrics (besides Kafka Streams' metrics and the leases counted by
 * {@link io.inferex.metrics.OutputMetrics}): approximate entries of its pools (node entries, one per
 * pool a node serves), open tasks, tasks waiting for a node, open leases and the nodes holding them.
 */
@ApplicationScoped
@Startup
public class MatcherMetrics {
    @Inject
    MeterRegistry registry;
    @Inject
    KafkaStreams streams;

    @PostConstruct
    void register() {
        StoreGauges.register(registry, "matcher", () -> streams,
                "pool-nodes", MatcherTopology.NODES_STORE,
                "open-tasks", MatcherTopology.TASKS_STORE,
                "pending-tasks", MatcherTopology.PENDING_QUEUE_STORE,
                "open-leases", MatcherTopology.LEASES_STORE,
                "nodes-with-leases", MatcherTopology.NODE_LOAD_STORE);
    }
}
