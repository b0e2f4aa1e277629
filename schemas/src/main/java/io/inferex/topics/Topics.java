package io.inferex.topics;

import io.inferex.events.Assignment;
import io.inferex.events.Challenge;
import io.inferex.events.ChallengeBond;
import io.inferex.events.CustomerBudget;
import io.inferex.events.CustomerKey;
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
import io.inferex.events.SamplingEpoch;
import io.inferex.events.ShardResult;
import io.inferex.events.ShardTask;
import io.inferex.events.Transfer;
import io.inferex.events.Verdict;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.VerificationTask;
import io.inferex.topics.Topic.CleanupPolicy;
import io.inferex.wire.AvroSerde;
import java.time.Duration;
import java.util.List;
import java.util.Optional;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serde;
import org.apache.kafka.common.serialization.Serdes;

/**
 * The typed topic catalogue: the only place a topic name, its key and value types, partition
 * count, cleanup policy and retention are written. Keys are plain UTF-8 ids.
 */
public final class Topics {
    private Topics() {}

    /** Partitions of every market topic; tasks and nodes of one pool land on one partition. */
    public static final int MARKET_PARTITIONS = 3;
    private static final long FOREVER = -1L;

    /**
     * The most bytes one record value may have, on every topic: the broker's default
     * {@code message.max.bytes} (1,048,588) is one batch holding one record of this size, and
     * ingest keeps a shard's rows to half of it. Avro decoding limits (bytes, strings, collection
     * items; see {@code AvroWire}) are set from it, and a dead letter bigger than it carries a
     * reference to the record instead of a copy (see {@code DeadLetters}).
     */
    public static final int MAX_RECORD_BYTES = 1_048_576;

    public static final Topic<String, JobSubmitted> JOBS = market("jobs", JobSubmitted.class,
            CleanupPolicy.DELETE, FOREVER, "Accepted batches. Key jobId. Writer: ingest.");
    public static final Topic<String, JobCancelRequested> JOB_CANCELS = market("job-cancels", JobCancelRequested.class,
            CleanupPolicy.DELETE, FOREVER, "Customers' requests to cancel a batch. Key jobId. Writer: ingest (for the job's owner). Reader: settlement.");
    public static final Topic<String, ShardTask> SHARD_TASKS = market("shard-tasks", ShardTask.class,
            CleanupPolicy.DELETE, FOREVER, "Shards to run. Key pool key. Writer: ingest (same transaction as the job).");
    public static final Topic<String, NodeRegistered> NODE_REGISTRY = market("node-registry", NodeRegistered.class,
            CleanupPolicy.COMPACT, FOREVER, "Latest signed registration per node. Key nodeId. Writer: executors.");
    public static final Topic<String, NodeHeartbeat> NODE_HEARTBEATS = market("node-heartbeats", NodeHeartbeat.class,
            CleanupPolicy.DELETE, Duration.ofDays(7).toMillis(), "Signed liveness + free slots. Key nodeId. Writer: executors.");
    public static final Topic<String, Assignment> ASSIGNMENTS = market("assignments", Assignment.class,
            CleanupPolicy.DELETE, FOREVER, "Leases of shards to nodes. Key nodeId. Writer: matcher-stream.");
    public static final Topic<String, LeaseDeclined> LEASE_DECLINES = market("lease-declines", LeaseDeclined.class,
            CleanupPolicy.DELETE, Duration.ofDays(7).toMillis(), "Signed declines of held leases (full, cannot run): the matcher re-leases at once. Key pool key. Writer: executors. Reader: matcher-stream.");
    public static final Topic<String, ShardResult> RESULTS = market("results", ShardResult.class,
            CleanupPolicy.DELETE, FOREVER, "Signed outputs of leases. Key taskId. Writer: executors.");
    public static final Topic<String, VerificationTask> VERIFICATION_TASKS = market("verification-tasks", VerificationTask.class,
            CleanupPolicy.DELETE, FOREVER, "Re-executions to lease: samples and referees (VerificationIds). Key pool key. Writer: verifier-stream. Reader: matcher-stream.");
    public static final Topic<String, VerificationOutcome> VERIFICATION_OUTCOMES = market("verification-outcomes", VerificationOutcome.class,
            CleanupPolicy.DELETE, FOREVER, "FINAL, FRAUD, UPHELD, INCONCLUSIVE per accepted result. Key jobId. Writer: verifier-stream. Readers: settlement, ingest.");
    public static final Topic<String, SamplingEpoch> SAMPLING_EPOCHS = market("sampling-epochs", SamplingEpoch.class,
            CleanupPolicy.DELETE, FOREVER, "Sampling secret commitments, then reveals. Key epoch. Writer: verifier-stream. Readers: audits.");
    public static final Topic<String, NodeReputation> NODE_REPUTATION = market("node-reputation", NodeReputation.class,
            CleanupPolicy.COMPACT, FOREVER, "Latest reputation per node. Key nodeId. Writer: verifier-stream. Readers: matcher, verifier.");
    public static final Topic<String, NodeStake> NODE_STAKE = market("node-stake", NodeStake.class,
            CleanupPolicy.COMPACT, FOREVER, "Stake the ledger holds per node. Key nodeId. Writer: settlement-stream. Reader: matcher.");
    public static final Topic<String, Challenge> CHALLENGES = market("challenges", Challenge.class,
            CleanupPolicy.DELETE, FOREVER, "Disputes of results, with a bond and the evidence. Key taskId. Writer: ingest (for an authenticated customer). Reader: settlement.");
    public static final Topic<String, ChallengeBond> CHALLENGE_BONDS = market("challenge-bonds", ChallengeBond.class,
            CleanupPolicy.DELETE, FOREVER, "Bonds locked (or challenges refused) by the ledger. Key taskId. Writer: settlement-stream. Readers: verifier, ingest.");
    public static final Topic<String, Verdict> VERDICTS = market("verdicts", Verdict.class,
            CleanupPolicy.DELETE, FOREVER, "Decisions on results and challenges. Key jobId. Writer: verifier-stream.");
    public static final Topic<String, Payment> PAYMENTS = market("payments", Payment.class,
            CleanupPolicy.DELETE, FOREVER, "Money entering or leaving the market. Key accountId. Writer: payment gateway, demo.");
    public static final Topic<String, Transfer> LEDGER = market("ledger", Transfer.class,
            CleanupPolicy.DELETE, FOREVER, "Double-entry ledger lines. Key transferId. Writer: settlement-stream.");
    public static final Topic<String, JobStatus> JOB_STATUS = market("job-status", JobStatus.class,
            CleanupPolicy.COMPACT, FOREVER, "Latest progress per job. Key jobId. Writer: settlement-stream.");

    public static final Topic<String, CustomerKey> CUSTOMER_KEYS = new Topic<>("customer-keys", Serdes.String(),
            new AvroSerde<>(CustomerKey.class), 1, CleanupPolicy.COMPACT, FOREVER,
            "Customers' API keys, hashed. Key keyId (key-hash prefix); a tombstone revokes. Writer: operator (./inferex customers). Reader: ingest.");

    public static final Topic<String, CustomerBudget> CUSTOMER_BUDGETS = market("customer-budgets", CustomerBudget.class,
            CleanupPolicy.COMPACT, FOREVER, "Customers' own budgets for new batches. Key customerId; the newest record wins. Writer: ingest (for the authenticated customer). Reader: ingest.");
    public static final Topic<String, ModelRegistered> MODELS = new Topic<>("models", Serdes.String(),
            new AvroSerde<>(ModelRegistered.class), 1, CleanupPolicy.COMPACT, FOREVER,
            "The model registry: one registration per model id (ModelRegistry). Key modelId/fingerprint. Writer: operator (./inferex models register). Readers: ingest, verifier, executors.");
    public static final Topic<String, ModelChunk> MODEL_CHUNKS = new Topic<>("model-chunks", Serdes.String(),
            new AvroSerde<>(ModelChunk.class), 1, CleanupPolicy.COMPACT, FOREVER,
            "The content-addressed model store: model files in chunks (ModelChunks). Key fileSha256/index. Writer: operator (./inferex models register). Readers: executors.");

    public static final Topic<String, IngestFile> INGEST_FILES = market("ingest-files", IngestFile.class,
            CleanupPolicy.COMPACT, FOREVER, "Customers' files: an upload's metadata and where its chunks are, or a deletion record. Key fileId. Writer and reader: ingest (every instance).");
    public static final Topic<String, ModelChunk> INGEST_FILE_CHUNKS = new Topic<>("ingest-file-chunks", Serdes.String(),
            new AvroSerde<>(ModelChunk.class), MARKET_PARTITIONS, CleanupPolicy.COMPACT, FOREVER,
            "Uploaded files' bytes in 512 KiB chunks, committed with their ingest-files record; a delete tombstones them. Key fileId/index. Writer and reader: ingest.");
    public static final Topic<String, IngestBatch> INGEST_BATCHES = market("ingest-batches", IngestBatch.class,
            CleanupPolicy.COMPACT, FOREVER, "Batches' create-time facts and Idempotency-Key, in the transaction of their job. Key batchId. Writer and reader: ingest (every instance).");

    /** Records no reader could decode or process; raw key and value, reason in headers (see DeadLetters). */
    public static final Topic<byte[], byte[]> DEAD_LETTER = new Topic<>("dead-letter", Serdes.ByteArray(), Serdes.ByteArray(),
            1, CleanupPolicy.DELETE, Duration.ofDays(30).toMillis(), "Undecodable or unprocessable records, with the reason in headers.");

    public static final List<Topic<?, ?>> ALL = List.of(JOBS, JOB_CANCELS, SHARD_TASKS, NODE_REGISTRY, NODE_HEARTBEATS, ASSIGNMENTS,
            LEASE_DECLINES, RESULTS, VERIFICATION_TASKS, CHALLENGES, CHALLENGE_BONDS, VERDICTS, VERIFICATION_OUTCOMES, SAMPLING_EPOCHS, NODE_REPUTATION, NODE_STAKE,
            PAYMENTS, LEDGER, JOB_STATUS, CUSTOMER_KEYS, CUSTOMER_BUDGETS, MODELS, MODEL_CHUNKS,
            INGEST_FILES, INGEST_FILE_CHUNKS, INGEST_BATCHES, DEAD_LETTER);

    public static Optional<Topic<?, ?>> byName(String name) {
        return ALL.stream().filter(t -> t.name().equals(name)).findFirst();
    }

    private static <V extends SpecificRecord> Topic<String, V> market(String name, Class<V> type,
            CleanupPolicy policy, long retentionMs, String doc) {
        Serde<String> keys = Serdes.String();
        return new Topic<>(name, keys, new AvroSerde<>(type), MARKET_PARTITIONS, policy, retentionMs, doc);
    }
}
