package io.inferex.ingest;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.HealthCheckResponseBuilder;
import org.eclipse.microprofile.health.Readiness;

/** Ready when the transactional producer is initialised, the market tracker consumes and the customer keys, the model registry and the files and batches of every instance (ingest-files, ingest-batches) are read. */
@Readiness
@ApplicationScoped
public class IngestReadiness implements HealthCheck {
    @Inject
    TransactionalProducer producer;

    @Inject
    MarketTracker tracker;

    @Inject
    CustomerKeyFeed customerKeys;

    @Inject
    ModelFeed models;

    @Inject
    IngestStore stores;

    @Override
    public HealthCheckResponse call() {
        HealthCheckResponseBuilder b = HealthCheckResponse.named("ingest-kafka")
                .status(producer.ready() && tracker.ready() && customerKeys.ready() && models.ready() && stores.log().ready())
                .withData("producer", producer.ready() ? "ready" : "not ready: " + producer.lastError())
                .withData("transactionalId", String.valueOf(producer.transactionalId()))
                .withData("tracker", tracker.ready() ? "consuming" : "not consuming")
                .withData("customerKeys", customerKeys.ready() ? customerKeys.keys() + " read" : "catching up")
                .withData("models", models.ready() ? models.registrations() + " registrations read" : "catching up")
                .withData("filesAndBatches", stores.log().ready() ? "read" : "catching up");
        tracker.stats().forEach((k, v) -> b.withData(k, String.valueOf(v)));
        return b.build();
    }
}
