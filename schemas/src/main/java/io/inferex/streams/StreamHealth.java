package io.inferex.streams;

import org.apache.kafka.streams.KafkaStreams;

/**
 * What a Kafka Streams app's state means for its health checks, in one place for every stream
 * app (each app's Quarkus readiness and liveness checks only ask this).
 *
 * <ul>
 *   <li>ready: RUNNING or REBALANCING (processing, or about to after a rebalance);</li>
 *   <li>live: anything but ERROR, PENDING_ERROR, PENDING_SHUTDOWN and NOT_RUNNING, the states of
 *       an app that has stopped processing and will not start again by itself (CREATED is a
 *       starting app: live, not ready).</li>
 * </ul>
 */
public record StreamHealth(String state, boolean ready, boolean live) {

    public static StreamHealth of(KafkaStreams.State state) {
        if (state == null) {
            return new StreamHealth("NOT_CREATED", false, true);
        }
        boolean stopped = switch (state) {
            case ERROR, PENDING_ERROR, PENDING_SHUTDOWN, NOT_RUNNING -> true;
            case CREATED, REBALANCING, RUNNING -> false;
        };
        return new StreamHealth(state.name(), !stopped && state.isRunningOrRebalancing(), !stopped);
    }
}
