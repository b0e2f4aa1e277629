package io.inferex.matcher;

import io.inferex.deadletter.BoundedSerde;
import io.inferex.deadletter.DecodeOrDeadLetter;
import io.inferex.deadletter.Unprocessable;
import io.inferex.events.Assignment;
import io.inferex.events.NodeHeartbeat;
import io.inferex.events.NodeRegistered;
import io.inferex.events.ShardResult;
import io.inferex.events.Verdict;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.Pools;
import io.inferex.streams.StateStores;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.function.Function;
import java.util.Properties;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.state.DslStoreSuppliers;
import org.apache.kafka.streams.state.Stores;

/**
 * Leases every shard to one eligible live node.
 *
 * <pre>
 * shard-tasks     (key pool) ───────────────────────────────────────┐
 * verification-tasks (key pool): re-executions, leased like shards ──┤
 * node-registry   (key node) ─▶ one copy per pool it serves ─▶ rep. ├─▶ LeaseMatcher ─┬─▶ assignments (key nodeId):
 * node-heartbeats (key node) ─▶ one copy per pool in poolKeys ─▶ rep.│  (nodes, tasks, │   leases and revocations
 * verdicts        (key job)  ─▶ re-key by pool ──────────────▶ rep. │   leases)       └─▶ dead-letter
 * results         (key task) ─▶ re-key by pool ──────────────▶ rep. ┤
 * lease-declines  (key pool): signed declines of held leases ──────┤
 * verification-outcomes (key job): decided/final ─▶ re-key by pool ─▶ rep. ┘ (their re-executions still out are revoked)
 * job-status      (key job)  ─▶ global table: lease only shards of escrowed (IN_PROGRESS) jobs
 * node-stake      (key node) ─▶ global table: eligible stake (locked - unlocking, slashed)
 * node-reputation (key node) ─▶ global table: banned, score (eligibility and preference)
 * </pre>
 *
 * Everything is co-partitioned by pool key (model@cell), so a pool's nodes and shards meet in
 * one task and matching scales with the number of partitions.
 */
public final class MatcherTopology {
    public static final String APPLICATION_ID = "inferex-matcher";
    public static final String NODES_STORE = "matcher-nodes";
    /** Newest registration epoch per pool and node ("pool|nodeId"): a replayed registration is refused. */
    public static final String EPOCHS_STORE = "matcher-registration-epochs";
    public static final String LAST_HEARTBEAT_STORE = "matcher-last-heartbeat";
    public static final String LAST_SEEN_STORE = "matcher-last-seen";
    public static final String TASKS_STORE = "matcher-open-tasks";
    /** Pending tasks, keyed so the oldest comes first ({@link MatchIndex#queueKey}). */
    public static final String PENDING_QUEUE_STORE = "matcher-pending-queue";
    public static final String LEASES_STORE = "matcher-leases";
    public static final String ANSWERED_STORE = "matcher-answered-leases";
    /** Per node: count and value (rows x price) of its unanswered leases, kept with the leases so matching reads it by key. */
    public static final String NODE_LOAD_STORE = "matcher-node-load";
    /**
     * Earlier builds' attempts per task ("attempts|excluded,nodes"): now folded into the open task's
     * record ({@link OpenTasks}). Never written; read once per task restored from an old changelog,
     * then deleted. Kept registered only so such state migrates; a later build can drop it.
     */
    public static final String LEGACY_ATTEMPTS_STORE = "matcher-attempts";
    /** Accepted task ids with a time index ({@link io.inferex.state.ExpiringKeys}). */
    public static final String ACCEPTED_STORE = "matcher-accepted-tasks";
    /** Global copy of job-status: a shard is leased only once settlement has escrowed its job. */
    public static final String JOB_STATUS_STORE = "matcher-job-status";
    /** Global copy of node-stake (the ledger's stake per node): eligibility, never the registration's claim. */
    public static final String NODE_STAKE_STORE = "matcher-node-stake";
    /** Global copy of node-reputation (the verifier's score per node): eligibility and preference. */
    public static final String NODE_REPUTATION_STORE = "matcher-node-reputation";

    private MatcherTopology() {}

    /**
     * @param leaseTimeout how long a node has for one shard before it is re-leased
     * @param missedHeartbeats a node is dead after this many intervals without a valid heartbeat
     * @param minStakeMicros eligible stake (node-stake: locked minus unlocking) a node needs to take any work
     * @param tick how often leases and liveness are checked on the wall clock
     * @param verdictWait how long an answered lease waits for its verdict before it is revoked and the shard re-queued
     * @param acceptedRetention how long an accepted task id is remembered at least (a replayed task is not leased again)
     * @param stakeCoverageBps share (basis points) of a node's in-flight value, the candidate included, its eligible stake must cover
     * @param minReputation lowest node-reputation score that still gets work
     */
    public record Config(Duration leaseTimeout, int missedHeartbeats, long minStakeMicros, Duration tick, Duration verdictWait,
            Duration acceptedRetention, int stakeCoverageBps, double minReputation) {
        /** With the default verdict wait, accepted-task retention, stake coverage and minimum reputation. */
        public Config(Duration leaseTimeout, int missedHeartbeats, long minStakeMicros, Duration tick) {
            this(leaseTimeout, missedHeartbeats, minStakeMicros, tick, DEFAULT_VERDICT_WAIT, DEFAULT_ACCEPTED_RETENTION);
        }

        /** With the default stake coverage and minimum reputation. */
        public Config(Duration leaseTimeout, int missedHeartbeats, long minStakeMicros, Duration tick, Duration verdictWait,
                Duration acceptedRetention) {
            this(leaseTimeout, missedHeartbeats, minStakeMicros, tick, verdictWait, acceptedRetention, DEFAULT_STAKE_COVERAGE_BPS,
                    DEFAULT_MIN_REPUTATION);
        }

        NodeEligibility.Rules eligibility() {
            return new NodeEligibility.Rules(minStakeMicros, stakeCoverageBps, minReputation);
        }
    }

    /** Eligible stake must cover at least this share (basis points) of a node's in-flight value: 10000 = all of it. */
    public static final int DEFAULT_STAKE_COVERAGE_BPS = 10_000;
    /** Lowest reputation score that still gets work; below the score of a node the verifier has not scored yet. */
    public static final double DEFAULT_MIN_REPUTATION = 0.2;

    /** How long an answered lease waits for its verdict before the shard is re-checked (re-leased). */
    public static final Duration DEFAULT_VERDICT_WAIT = Duration.ofMinutes(2);
    /** How long an accepted task id is remembered at least (longer while its job is still IN_PROGRESS). */
    public static final Duration DEFAULT_ACCEPTED_RETENTION = Duration.ofHours(1);
    /** Most pools one registration or heartbeat may name; more is dead-lettered before any fan-out. */
    public static final int MAX_POOLS_PER_NODE = 16;

    public static Topology buildTopology(Config config, Properties props) {
        StreamsBuilder builder = new StreamsBuilder();
        // Caching coalesces the writes of one key within a commit interval: on for the stores a lease
        // rewrites many times (a node's load and last-seen, the queue's put-then-delete), off for those
        // written about once per lease and changed again much later (the task with its attempts, the
        // lease, the accepted ids), where the cache's sorted map only costs CPU. The lease index is
        // in memory (LeaseIndex, rebuilt from the lease stores on init): it writes no changelog.
        DslStoreSuppliers stores = StateStores.suppliers(props); // RocksDB unless props say otherwise
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, NODES_STORE),
                Serdes.String(), Topics.NODE_REGISTRY.valueSerde()).withCachingEnabled());
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, LAST_HEARTBEAT_STORE),
                Serdes.String(), Topics.NODE_HEARTBEATS.valueSerde()).withCachingEnabled());
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, LAST_SEEN_STORE),
                Serdes.String(), Serdes.Long()).withCachingEnabled());
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, TASKS_STORE),
                Serdes.String(), OpenTasks.serde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, PENDING_QUEUE_STORE),
                Serdes.String(), Serdes.Long()).withCachingEnabled());
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, LEASES_STORE),
                Serdes.String(), Topics.ASSIGNMENTS.valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, ANSWERED_STORE),
                Serdes.String(), Topics.ASSIGNMENTS.valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, LEGACY_ATTEMPTS_STORE),
                Serdes.String(), Serdes.String()));
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, NODE_LOAD_STORE),
                Serdes.String(), Serdes.String()).withCachingEnabled());
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, ACCEPTED_STORE),
                Serdes.String(), Serdes.Long()));
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, EPOCHS_STORE),
                Serdes.String(), Serdes.Long()).withCachingEnabled());

        // Every instance sees every job's status (a compacted topic, one small record per job), so
        // the pool partitions need no re-keying of it. Settlement writes it under EOS; a record
        // that does not decode is dead-lettered by the app's deserialization handler
        // (DeadLetterDeserializationHandler, its own producer: a global store cannot produce).
        builder.globalTable(Topics.JOB_STATUS.name(),
                Consumed.with(Topics.JOB_STATUS.keySerde(), Topics.JOB_STATUS.valueSerde()).withName("job-status-source"),
                Materialized.as(JOB_STATUS_STORE));
        // Stake and reputation are keyed by node, not pool, and a node's pools may live on any
        // partition: every instance keeps both (one small record per node, compacted), read by key.
        builder.globalTable(Topics.NODE_STAKE.name(),
                Consumed.with(Topics.NODE_STAKE.keySerde(), Topics.NODE_STAKE.valueSerde()).withName("node-stake-source"),
                Materialized.as(NODE_STAKE_STORE));
        builder.globalTable(Topics.NODE_REPUTATION.name(),
                Consumed.with(Topics.NODE_REPUTATION.keySerde(), Topics.NODE_REPUTATION.valueSerde()).withName("node-reputation-source"),
                Materialized.as(NODE_REPUTATION_STORE));

        int partitions = Topics.SHARD_TASKS.partitions();
        // A node serving two models is in two pools: it is copied to each pool's partition, once per
        // distinct pool, and an event naming more than MAX_POOLS_PER_NODE pools is dead-lettered here.
        KStream<String, SpecificRecord> registrations = perPool(builder, Topics.NODE_REGISTRY, "registration", "registry-by-pool",
                reg -> reg.getModels().stream().map(model -> Pools.poolKey(model, reg.getCell())).toList());
        KStream<String, SpecificRecord> heartbeats = perPool(builder, Topics.NODE_HEARTBEATS, "heartbeat", "heartbeats-by-pool",
                NodeHeartbeat::getPoolKeys);
        KStream<String, SpecificRecord> verdicts = DecodeOrDeadLetter.stream(builder, Topics.VERDICTS, APPLICATION_ID)
                .selectKey((jobId, v) -> v.getPoolKey(), Named.as("verdict-by-pool"))
                .repartition(Repartitioned.<String, Verdict>as("verdicts-by-pool").withKeySerde(Serdes.String())
                        .withValueSerde(Topics.VERDICTS.valueSerde()).withNumberOfPartitions(partitions))
                .mapValues(v -> (SpecificRecord) v, Named.as("verdicts-as-events"));
        // A node's slot frees when it answers, not when the verifier has judged the answer:
        // results join the pool too, so verification latency does not idle the fleet.
        KStream<String, SpecificRecord> results = DecodeOrDeadLetter.stream(builder, Topics.RESULTS, APPLICATION_ID)
                .selectKey((taskId, r) -> r.getPoolKey(), Named.as("result-by-pool"))
                .repartition(Repartitioned.<String, ShardResult>as("results-by-pool").withKeySerde(Serdes.String())
                        .withValueSerde(Topics.RESULTS.valueSerde()).withNumberOfPartitions(partitions))
                .mapValues(v -> (SpecificRecord) v, Named.as("results-as-events"));

        // Re-executions the verifier asks for are keyed by pool like shards (co-partitioned): no repartition.
        KStream<String, SpecificRecord> verifications = DecodeOrDeadLetter.stream(builder, Topics.VERIFICATION_TASKS, APPLICATION_ID)
                .mapValues(v -> (SpecificRecord) v, Named.as("verification-tasks-as-events"));

        // The verifier's decisions that close a shard's verification (few: disputes decided, sampled
        // results made final), re-keyed by pool: their referee rounds and samples still out are revoked at once.
        KStream<String, SpecificRecord> closings = DecodeOrDeadLetter.stream(builder, Topics.VERIFICATION_OUTCOMES, APPLICATION_ID)
                .filter((jobId, o) -> VerificationClosing.closes(o), Named.as("verification-closings"))
                .selectKey((jobId, o) -> o.getPoolKey(), Named.as("closing-by-pool"))
                .repartition(Repartitioned.<String, VerificationOutcome>as("closings-by-pool").withKeySerde(Serdes.String())
                        .withValueSerde(Topics.VERIFICATION_OUTCOMES.valueSerde()).withNumberOfPartitions(partitions))
                .mapValues(v -> (SpecificRecord) v, Named.as("closings-as-events"));

        // A node's decline of a lease it holds is keyed by the lease's pool key (co-partitioned): no repartition.
        KStream<String, SpecificRecord> declines = DecodeOrDeadLetter.stream(builder, Topics.LEASE_DECLINES, APPLICATION_ID)
                .mapValues(v -> (SpecificRecord) v, Named.as("lease-declines-as-events"));

        Map<String, KStream<String, Object>> out = DecodeOrDeadLetter.stream(builder, Topics.SHARD_TASKS, APPLICATION_ID)
                .mapValues(v -> (SpecificRecord) v, Named.as("tasks-as-events"))
                .merge(verifications, Named.as("merge-verification-tasks"))
                .merge(registrations, Named.as("merge-registrations"))
                .merge(heartbeats, Named.as("merge-heartbeats"))
                .merge(verdicts, Named.as("merge-verdicts"))
                .merge(results, Named.as("merge-results"))
                .merge(declines, Named.as("merge-lease-declines"))
                .merge(closings, Named.as("merge-verification-closings"))
                .process(() -> new LeaseMatcher(config), Named.as("matcher"), NODES_STORE, LAST_HEARTBEAT_STORE, LAST_SEEN_STORE,
                        TASKS_STORE, PENDING_QUEUE_STORE, LEASES_STORE, ANSWERED_STORE, LEGACY_ATTEMPTS_STORE, ACCEPTED_STORE, EPOCHS_STORE,
                        NODE_LOAD_STORE)
                .split(Named.as("out-"))
                .branch((k, v) -> v instanceof Assignment, Branched.as("assignments"))
                .defaultBranch(Branched.as("unprocessable"));
        out.get("out-assignments").mapValues(v -> (Assignment) v, Named.as("as-assignment"))
                .to(Topics.ASSIGNMENTS.name(), Produced.with(Topics.ASSIGNMENTS.keySerde(), BoundedSerde.of(Topics.ASSIGNMENTS.valueSerde()))
                        .withName("assignment-sink"));
        Unprocessable.sink(out.get("out-unprocessable"), "unprocessable");
        return builder.build(props);
    }

    /**
     * A node-keyed topic copied to each pool its events name ({@link FanOut}: once per distinct
     * pool, dead-lettered above {@link #MAX_POOLS_PER_NODE}) and repartitioned by pool key.
     */
    private static <V extends SpecificRecord> KStream<String, SpecificRecord> perPool(StreamsBuilder builder,
            Topic<String, V> topic, String what, String repartitionName, Function<V, List<String>> poolsOf) {
        Map<String, KStream<String, Object>> copies = DecodeOrDeadLetter.stream(builder, topic, APPLICATION_ID)
                .process(() -> new FanOut<V>(MAX_POOLS_PER_NODE, poolsOf, what), Named.as(what + "-per-pool"))
                .split(Named.as(what + "-"))
                .branch((k, v) -> !(v instanceof Unprocessable), Branched.as("copies"))
                .defaultBranch(Branched.as("refused"));
        Unprocessable.sink(copies.get(what + "-refused"), what + "-refused");
        @SuppressWarnings("unchecked")
        KStream<String, SpecificRecord> byPool = copies.get(what + "-copies")
                .mapValues(v -> (V) v, Named.as("as-" + what))
                .repartition(Repartitioned.<String, V>as(repartitionName).withKeySerde(Serdes.String())
                        .withValueSerde(topic.valueSerde()).withNumberOfPartitions(Topics.SHARD_TASKS.partitions()))
                .mapValues(v -> (SpecificRecord) v, Named.as(what + "s-as-events"));
        return byPool;
    }
}
