package io.inferex.matcher;

import io.inferex.events.ShardTask;
import io.inferex.events.TaskLeaseState;
import io.inferex.wire.AnyEventSerde;
import io.inferex.wire.AvroSerde;
import io.inferex.wire.UndecodableRecordException;
import java.util.ArrayList;
import java.util.List;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * The open-task store's values ({@link MatcherTopology#TASKS_STORE}): a task with its lease attempts
 * and excluded nodes in one record ({@link TaskLeaseState}), so a lease writes the task's state once.
 *
 * <p>Earlier builds kept the bare {@link ShardTask} there and the attempts in a store of their own
 * ({@link MatcherTopology#LEGACY_ATTEMPTS_STORE}, value {@code "<attempts>|<node>,<node>..."}). A
 * value restored from such a changelog decodes as a state with {@link #LEGACY} attempts: the
 * matcher then reads the old attempts entry once, writes the folded record and deletes the old
 * entry ({@code LeaseMatcher#openTask}), so a task leased before the upgrade keeps its attempt
 * count (its next lease id is not one the verifier has judged) and its excluded nodes.
 */
final class OpenTasks {
    /** Attempts of a state decoded from the old layout: the old attempts store holds the real count. */
    static final int LEGACY = -1;

    private OpenTasks() {}

    static Serde<TaskLeaseState> serde() {
        AvroSerde<TaskLeaseState> current = new AvroSerde<>(TaskLeaseState.class);
        AnyEventSerde any = new AnyEventSerde();
        return Serdes.serdeFrom(current, (topic, bytes) -> {
            if (bytes == null) {
                return null;
            }
            Object value = any.deserialize(topic, bytes);
            if (value instanceof TaskLeaseState state) {
                return state;
            }
            if (value instanceof ShardTask task) {
                return new TaskLeaseState(task, LEGACY, List.of());
            }
            throw new UndecodableRecordException("topic " + topic + ": " + value.getClass().getSimpleName()
                    + " is no open task", null);
        });
    }

    static TaskLeaseState fresh(ShardTask task, List<String> excluded) {
        return new TaskLeaseState(task, 0, List.copyOf(excluded));
    }

    /** The state from the old layout's task and its attempts entry (null when it was never leased). */
    static TaskLeaseState migrated(ShardTask task, String oldAttempts) {
        if (oldAttempts == null) {
            return fresh(task, List.of());
        }
        int bar = oldAttempts.indexOf('|');
        List<String> excluded = new ArrayList<>();
        if (bar < oldAttempts.length() - 1) {
            excluded.addAll(List.of(oldAttempts.substring(bar + 1).split(",")));
        }
        return new TaskLeaseState(task, Integer.parseInt(oldAttempts.substring(0, bar)), excluded);
    }
}
