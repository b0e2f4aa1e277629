package io.inferex.executor;

import io.inferex.executor.node.NodeRuntime;
import jakarta.enterprise.context.ApplicationScoped;
import org.eclipse.microprofile.health.HealthCheck;
import org.eclipse.microprofile.health.HealthCheckResponse;
import org.eclipse.microprofile.health.Liveness;
import org.eclipse.microprofile.health.Readiness;

/** Health of the node: ready once the model is loaded, the node registered and its assignment consumer polling. */
public final class NodeHealth {
    private NodeHealth() {}

    @Readiness
    @ApplicationScoped
    public static class Ready implements HealthCheck {
        private final ExecutorNode node;

        public Ready(ExecutorNode node) {
            this.node = node;
        }

        @Override
        public HealthCheckResponse call() {
            NodeRuntime runtime = node.runtime();
            var b = HealthCheckResponse.named("inferex-node").withData("modelLoaded", node.modelLoaded());
            if (runtime == null) {
                return b.withData("registered", false).withData("assignmentConsumer", false).down().build();
            }
            NodeRuntime.Status s = runtime.status();
            b.withData("nodeId", runtime.nodeId())
                    .withData("registered", s.registered())
                    .withData("assignmentConsumer", s.consumerRunning());
            if (s.failure() != null) {
                b.withData("failure", s.failure());
            }
            return b.status(node.modelLoaded() && s.ready()).build();
        }
    }

    /** Down when the node thread died on an error (a restart is the cure). */
    @Liveness
    @ApplicationScoped
    public static class Live implements HealthCheck {
        private final ExecutorNode node;

        public Live(ExecutorNode node) {
            this.node = node;
        }

        @Override
        public HealthCheckResponse call() {
            NodeRuntime runtime = node.runtime();
            boolean up = runtime == null || runtime.healthy();
            var b = HealthCheckResponse.named("inferex-node-thread").status(up);
            if (!up) {
                b.withData("failure", runtime.status().failure());
            }
            return b.build();
        }
    }
}
