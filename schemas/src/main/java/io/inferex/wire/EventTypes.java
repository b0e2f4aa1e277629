package io.inferex.wire;

import io.inferex.events.AcceptedResult;
import io.inferex.events.Assignment;
import io.inferex.events.Challenge;
import io.inferex.events.ChallengeBond;
import io.inferex.events.CustomerBudget;
import io.inferex.events.CustomerKey;
import io.inferex.events.EpochSecret;
import io.inferex.events.IngestBatch;
import io.inferex.events.IngestFile;
import io.inferex.events.JobCancelRequested;
import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.events.LeaseDeclined;
import io.inferex.events.ModelChunk;
import io.inferex.events.ModelRegistered;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.NodeReputation;
import io.inferex.events.NodeStake;
import io.inferex.events.Payment;
import io.inferex.events.ReputationEvent;
import io.inferex.events.SamplingEpoch;
import io.inferex.events.ShardCase;
import io.inferex.events.ShardResult;
import io.inferex.events.ShardTask;
import io.inferex.events.TaskLeaseState;
import io.inferex.events.Transfer;
import io.inferex.events.Verdict;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.VerificationTask;
import java.util.List;
import org.apache.avro.specific.SpecificRecord;

/** Every top-level event type that travels on a topic. A new event type is added here and to the catalogue. */
public final class EventTypes {
    private EventTypes() {}

    public static final List<Class<? extends SpecificRecord>> ALL = List.of(
            JobSubmitted.class, JobCancelRequested.class, ShardTask.class, NodeRegistered.class, NodeHeartbeat.class,
            Assignment.class, ShardResult.class, VerificationTask.class, Challenge.class, ChallengeBond.class,
            Verdict.class, Payment.class, Transfer.class, JobStatus.class,
            VerificationOutcome.class, SamplingEpoch.class, NodeReputation.class, NodeStake.class,
            // internal to the verifier: its repartition topics and the per-shard stage's changelog
            AcceptedResult.class, ReputationEvent.class, ShardCase.class, EpochSecret.class,
            CustomerKey.class, CustomerBudget.class, LeaseDeclined.class, ModelRegistered.class, ModelChunk.class,
            IngestFile.class, IngestBatch.class,
            // internal to the matcher: its open-task store's changelog
            TaskLeaseState.class);
}
