package io.inferex.executor.node;

import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import java.util.concurrent.CompletionStage;

/**
 * Where a node's liveness records go: its signed registration ({@code node-registry}) and its
 * signed heartbeats ({@code node-heartbeats}), both keyed by node id. {@link NodeRuntime} builds
 * and signs the records; an implementation only delivers them. In the application this is
 * {@code io.inferex.executor.EmitterLivenessPublisher} (two SmallRye Kafka channels); a plain test
 * passes its own.
 *
 * <p>Both methods must not block: they return at once with a stage that completes when the
 * broker acknowledged the record, or exceptionally with the reason it was not delivered.
 */
public interface LivenessPublisher {
    /** Sends the node's registration (key: its node id). NodeRuntime awaits this stage, with a timeout, before the node is ready. */
    CompletionStage<Void> publishRegistration(NodeRegistered registration);

    /** Sends one heartbeat (key: its node id). Fire and forget for NodeRuntime, which only logs a failed stage. */
    CompletionStage<Void> publishHeartbeat(NodeHeartbeat heartbeat);
}
