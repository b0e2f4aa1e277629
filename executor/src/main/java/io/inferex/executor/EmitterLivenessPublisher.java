package io.inferex.executor;

import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.executor.node.LivenessPublisher;
import io.smallrye.reactive.messaging.kafka.api.OutgoingKafkaRecordMetadata;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicLong;
import org.eclipse.microprofile.reactive.messaging.Channel;
import org.eclipse.microprofile.reactive.messaging.Emitter;
import org.eclipse.microprofile.reactive.messaging.Message;

/**
 * The node's liveness records on two SmallRye Reactive Messaging Kafka channels. The channels'
 * topics, serializers ({@code StringSerializer} key, {@code CatalogueSerializer} value) and producer
 * settings are in application.properties; each record is keyed by its node id through
 * {@link OutgoingKafkaRecordMetadata}. The returned stage follows the message's ack (the broker
 * acknowledged the write) or nack (the connector gave up, with the producer's exception).
 */
@ApplicationScoped
public class EmitterLivenessPublisher implements LivenessPublisher {
    /** Channel of the signed {@code NodeRegistered}; topic {@code node-registry}. */
    public static final String REGISTRATION_CHANNEL = "node-registration";
    /** Channel of the signed {@code NodeHeartbeat} stream; topic {@code node-heartbeats}. */
    public static final String HEARTBEAT_CHANNEL = "node-heartbeat";

    @Inject
    @Channel(REGISTRATION_CHANNEL)
    Emitter<NodeRegistered> registrations;

    @Inject
    @Channel(HEARTBEAT_CHANNEL)
    Emitter<NodeHeartbeat> heartbeats;

    private final AtomicLong registrationsAcked = new AtomicLong();
    private final AtomicLong heartbeatsAcked = new AtomicLong();

    @Override
    public CompletionStage<Void> publishRegistration(NodeRegistered registration) {
        return send(registrations, registration.getNodeId(), registration, registrationsAcked);
    }

    @Override
    public CompletionStage<Void> publishHeartbeat(NodeHeartbeat heartbeat) {
        return send(heartbeats, heartbeat.getNodeId(), heartbeat, heartbeatsAcked);
    }

    /** Registrations the broker acknowledged through this publisher. */
    public long registrationsAcknowledged() {
        return registrationsAcked.get();
    }

    /** Heartbeats the broker acknowledged through this publisher. */
    public long heartbeatsAcknowledged() {
        return heartbeatsAcked.get();
    }

    private static <T> CompletionStage<Void> send(Emitter<T> emitter, String nodeId, T payload, AtomicLong acked) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        Message<T> message = Message.of(payload)
                .addMetadata(OutgoingKafkaRecordMetadata.<String>builder().withKey(nodeId).build())
                .withAck(() -> {
                    acked.incrementAndGet();
                    done.complete(null);
                    return CompletableFuture.completedFuture(null);
                })
                .withNack(reason -> {
                    done.completeExceptionally(reason);
                    return CompletableFuture.completedFuture(null);
                });
        try {
            // Never blocks: the emitter buffers until the Kafka sink requests; a full buffer or a
            // cancelled channel throws, which is a failed send like any other.
            emitter.send(message);
        } catch (RuntimeException e) {
            done.completeExceptionally(e);
        }
        return done;
    }
}
