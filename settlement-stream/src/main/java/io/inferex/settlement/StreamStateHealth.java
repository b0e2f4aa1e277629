package io.inferex.settlement;

import io.inferex.streams.StreamHealth;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import jakarta.inject.Inject;
import org.apache.kafka.streams.KafkaStreams;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;

/**
 * /q/health/ready and /q/health/live follow the Kafka Streams state ({@link StreamHealth}): an
 * app in ERROR, PENDING_ERROR or NOT_RUNNING has stopped processing and is neither ready nor live.
 */
@ApplicationScoped
public class StreamStateHealth {
    @Inject
    KafkaStreams streams;

    @Produces
    @Readiness
    HealthCheck ready() {
        return () -> response(StreamHealth.of(streams.state()), true);
    }

    @Produces
    @Liveness
    HealthCheck live() {
        return () -> response(StreamHealth.of(streams.state()), false);
    }

    private static HealthCheckResponse response(StreamHealth health, boolean readiness) {
        return HealthCheckResponse.named("inferex stream state").status(readiness ? health.ready() : health.live())
                .withData("state", health.state()).build();
    }
}
