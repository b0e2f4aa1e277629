package io.inferex.matcher;

import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.ShardTask;
import io.inferex.events.VerificationTask;
import io.inferex.market.TaskIds;
import io.inferex.market.VerificationIds;
import java.util.LinkedHashSet;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.Set;

/**
 * Whether the matcher takes a re-execution the verifier asks for, and what it leases: pure. A
 * {@link VerificationTask} is leased like a shard, under its verification id, so it is held as the
 * {@link ShardTask} it re-executes with {@code taskId} = the verification id, and its excluded
 * nodes (the suspect included) start as the task's exclusions.
 */
final class VerificationIntake {
    /** Most nodes a re-execution may exclude: the executor, the sampler and up to {@link VerificationIds#MAX_ROUND} referees, with room. */
    static final int MAX_EXCLUDED_NODES = 16;

    private VerificationIntake() {}

    /** True while the job may still have its shards re-executed (its payout is not final yet). */
    static boolean openForVerification(JobState state) {
        return state == JobState.IN_PROGRESS || state == JobState.FINALIZING;
    }

    /**
     * Why the re-execution {@code task}, read under record key {@code key}, is refused, or empty
     * when it may be leased. {@code job} is settlement's status of its job (null when unknown).
     */
    static Optional<String> problem(String key, VerificationTask task, JobStatus job) {
        String id = task.getVerificationId();
        String what = "verification task " + id;
        OptionalInt round = VerificationIds.round(id);
        if (round.isEmpty()) {
            return Optional.of(what + " is not a verification id (taskId~s or taskId~r<1.." + VerificationIds.MAX_ROUND + ">)");
        }
        if (round.getAsInt() != task.getRound()) {
            return Optional.of(what + " is round " + round.getAsInt() + " but says round " + task.getRound());
        }
        String shard = VerificationIds.shardOf(id).orElseThrow();
        if (!shard.equals(task.getTaskId())) {
            return Optional.of(what + " re-executes " + shard + " but names task " + task.getTaskId());
        }
        if (job == null || !openForVerification(job.getState())) {
            return Optional.of(what + ": job " + task.getJobId() + " is " + (job == null ? "unknown" : job.getState())
                    + ", not IN_PROGRESS or FINALIZING");
        }
        OptionalInt index = TaskIds.indexOf(task.getJobId(), shard, job.getShardCount());
        if (index.isEmpty() || index.getAsInt() != task.getShardIndex()) {
            return Optional.of(what + ": " + shard + " is not shard " + task.getShardIndex() + " of the " + job.getShardCount()
                    + " of job " + task.getJobId());
        }
        if (!task.getPoolKey().equals(key) || !task.getPoolKey().startsWith(task.getModel() + "@")
                || task.getPoolKey().length() == task.getModel().length() + 1) {
            return Optional.of(what + ": pool " + task.getPoolKey() + " is not its record key " + key + " or not a pool of model "
                    + task.getModel());
        }
        if (task.getRows().isEmpty()) {
            return Optional.of(what + " has no rows");
        }
        if (task.getMaxPricePerRowMicros() < 0) {
            return Optional.of(what + " has a negative max price " + task.getMaxPricePerRowMicros());
        }
        if (task.getExcludedNodes().size() > MAX_EXCLUDED_NODES) {
            return Optional.of(what + " excludes " + task.getExcludedNodes().size() + " nodes; at most " + MAX_EXCLUDED_NODES);
        }
        for (String node : excluded(task)) {
            if (node.isEmpty() || node.indexOf(',') >= 0 || node.indexOf('|') >= 0) {
                return Optional.of(what + " excludes a malformed node id '" + node + "'");
            }
        }
        return Optional.empty();
    }

    /** The nodes that must not run it: its excluded nodes and the suspect, whether or not the list names the suspect. */
    static Set<String> excluded(VerificationTask task) {
        Set<String> out = new LinkedHashSet<>(task.getExcludedNodes());
        out.add(task.getSuspectNodeId());
        return out;
    }

    /** What the matcher holds and leases: the shard's rows under the verification id, at the verification's price cap. */
    static ShardTask asLeasable(VerificationTask task, int shardCount) {
        return ShardTask.newBuilder().setTaskId(task.getVerificationId()).setJobId(task.getJobId())
                .setShardIndex(task.getShardIndex()).setShardCount(shardCount).setModel(task.getModel())
                .setPoolKey(task.getPoolKey()).setMaxPricePerRowMicros(task.getMaxPricePerRowMicros()).setRows(task.getRows())
                .setCreatedAtMs(task.getCreatedAtMs()).build();
    }
}
