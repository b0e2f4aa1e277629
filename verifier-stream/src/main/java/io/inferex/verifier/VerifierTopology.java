package io.inferex.verifier;

import io.inferex.deadletter.BoundedSerde;
import io.inferex.deadletter.DecodeOrDeadLetter;
import io.inferex.deadletter.Unprocessable;
import io.inferex.events.AcceptedResult;
import io.inferex.events.ChallengeBond;
import io.inferex.events.EpochSecret;
import io.inferex.events.ModelRegistered;
import io.inferex.events.NodeReputation;
import io.inferex.events.ReputationEvent;
import io.inferex.events.ShardCase;
import io.inferex.events.Verdict;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.VerificationTask;
import io.inferex.market.ModelRegistry;
import io.inferex.streams.StateStores;
import io.inferex.topics.Topics;
import io.inferex.verification.SamplingPolicy;
import io.inferex.wire.AvroSerde;
import java.time.Duration;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.processor.StreamPartitioner;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.DslStoreSuppliers;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.Stores;

/**
 * Judges every result, then verifies the accepted ones until they are FINAL (or FRAUD).
 *
 * <pre>
 * node-registry (key nodeId) ───────────────────────────────┐ stage 1: ResultJudge
 * assignments   (key nodeId) ───────────────────────────────┼─▶ (per node) ─┬─▶ verdicts (key jobId)
 * results       (key taskId) ─▶ re-key by nodeId ─▶ repart. ┘               ├─▶ accepted-by-shard (repart., key shard task id) ─┐
 *                                                                            ├─▶ reputation events ──────────────────────────┐   │
 *                                                                            └─▶ dead-letter                                  │   │
 * epoch-clock (1 partition) ─▶ EpochKeeper ─┬─▶ sampling-epochs (commitments, reveals)                                       │   │
 *                                           └─▶ epoch-secrets (repart., sent to every partition) ──────────────────────────┐ │   │
 * challenge-bonds (key taskId) ─▶ bonds-by-shard (repart.) ───────────────────────────────────────────────────────┐ │ │   │
 *                                                                                                                       ▼ ▼ ▼   ▼
 * models (global store: the model registry; read by stage 1 and 2)
 * node-reputation (global store) ─────────────────────────────────────────────▶ stage 2: ShardVerifier (per shard) ─┬─▶ verification-tasks (key poolKey)
 *                                                                                                                    ├─▶ verification-outcomes (key jobId)
 *                                                                                                                    ├─▶ reputation events
 *                                                                                                                    └─▶ dead-letter
 * reputation events ─▶ reputation-by-node (repart.) ─▶ stage 3: ReputationKeeper ─▶ node-reputation (compacted)
 * </pre>
 */
public final class VerifierTopology {
    public static final String APPLICATION_ID = "inferex-verifier";
    public static final String NODES_STORE = "verifier-nodes";
    public static final String LEASES_STORE = "verifier-leases";
    public static final String PARKED_STORE = "verifier-parked-results";
    public static final String PARKED_AT_STORE = "verifier-parked-at";
    public static final String JUDGED_STORE = "verifier-judged";
    public static final String CASES_STORE = "verifier-shard-cases";
    public static final String CASE_TIMERS_STORE = "verifier-shard-timers";
    public static final String SECRETS_STORE = "verifier-epoch-secrets";
    public static final String EPOCHS_STORE = "verifier-epochs";
    public static final String EPOCH_TIMERS_STORE = "verifier-epoch-timers";
    public static final String REPUTATION_STORE = "verifier-reputation";
    public static final String REPUTATION_GLOBAL_STORE = "verifier-reputation-global";
    /** The model registry's registrations (by model id), as {@link ModelRegistry#decide} applies them. */
    public static final String MODELS_GLOBAL_STORE = "verifier-models";

    private VerifierTopology() {}

    /**
     * The verifier's knobs.
     *
     * @param leaseWait how long a result may wait for its lease to be seen before it is rejected
     * @param challengeWindow how long an accepted result stays provisional before it is FINAL
     * @param sampleTimeout how long a sampled re-execution may take before the sample is given up
     * @param disputeTimeout how long a dispute may take before it is INCONCLUSIVE
     * @param epochLength length of a sampling epoch (one secret each)
     * @param revealDelay how long after its epoch ends a secret is published
     * @param sampling the sampling policy's knobs
     * @param verificationPriceFloorMicros lowest price cap of a re-execution (the cap is max(2 × lease price, this))
     */
    public record Config(Duration leaseWait, Duration challengeWindow, Duration sampleTimeout, Duration disputeTimeout,
            Duration epochLength, Duration revealDelay, SamplingPolicy.Config sampling, long verificationPriceFloorMicros) {
        public static final Duration DEFAULT_CHALLENGE_WINDOW = Duration.ofMinutes(10);
        public static final Duration DEFAULT_SAMPLE_TIMEOUT = Duration.ofMinutes(5);
        public static final Duration DEFAULT_DISPUTE_TIMEOUT = Duration.ofMinutes(5);
        public static final Duration DEFAULT_EPOCH_LENGTH = Duration.ofHours(1);
        public static final Duration DEFAULT_REVEAL_DELAY = Duration.ofMinutes(1);
        public static final long DEFAULT_PRICE_FLOOR_MICROS = 100;

        public Config {
            for (Duration d : new Duration[] {leaseWait, challengeWindow, sampleTimeout, disputeTimeout, revealDelay}) {
                if (d.isNegative() || d.isZero()) {
                    throw new IllegalArgumentException("verifier durations must be positive: " + d);
                }
            }
            if (epochLength.compareTo(Duration.ofSeconds(1)) < 0) {
                throw new IllegalArgumentException("a sampling epoch is at least a second: " + epochLength);
            }
            if (verificationPriceFloorMicros < 0) {
                throw new IllegalArgumentException("verification price floor must not be negative: " + verificationPriceFloorMicros);
            }
        }

        /** Defaults for everything but the lease wait. */
        public Config(Duration leaseWait) {
            this(leaseWait, DEFAULT_CHALLENGE_WINDOW, DEFAULT_SAMPLE_TIMEOUT, DEFAULT_DISPUTE_TIMEOUT, DEFAULT_EPOCH_LENGTH,
                    DEFAULT_REVEAL_DELAY, SamplingPolicy.DEFAULTS, DEFAULT_PRICE_FLOOR_MICROS);
        }

        ShardCases.Rules shardRules() {
            return new ShardCases.Rules(challengeWindow.toMillis(), sampleTimeout.toMillis(), disputeTimeout.toMillis(), sampling,
                    verificationPriceFloorMicros);
        }
    }

    public static Topology buildTopology(Config config, Properties props) {
        StreamsBuilder builder = new StreamsBuilder();
        DslStoreSuppliers stores = StateStores.suppliers(props);
        store(builder, stores, NODES_STORE, Topics.NODE_REGISTRY.valueSerde());
        store(builder, stores, LEASES_STORE, Topics.ASSIGNMENTS.valueSerde());
        store(builder, stores, PARKED_STORE, Topics.RESULTS.valueSerde());
        store(builder, stores, PARKED_AT_STORE, Serdes.Long());
        store(builder, stores, JUDGED_STORE, Serdes.Long());
        store(builder, stores, CASES_STORE, new AvroSerde<>(ShardCase.class));
        store(builder, stores, CASE_TIMERS_STORE, Serdes.Long());
        store(builder, stores, SECRETS_STORE, Serdes.String());
        store(builder, stores, EPOCHS_STORE, Topics.SAMPLING_EPOCHS.valueSerde());
        store(builder, stores, EPOCH_TIMERS_STORE, Serdes.Long());
        store(builder, stores, REPUTATION_STORE, Topics.NODE_REPUTATION.valueSerde());
        // The reputation the verifier itself publishes, on every instance, for the sampling rate.
        builder.addGlobalStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, REPUTATION_GLOBAL_STORE), Serdes.String(),
                        Topics.NODE_REPUTATION.valueSerde()).withLoggingDisabled(),
                Topics.NODE_REPUTATION.name(), Consumed.with(Topics.NODE_REPUTATION.keySerde(), Topics.NODE_REPUTATION.valueSerde()),
                () -> new GlobalReputation());
        // The model registry, on every instance: results are judged against its digests and tolerances.
        // Kafka Streams (3.8+) replays the topic through this processor on restore, so the registry is
        // rebuilt by the same rule, in offset order, after a restart.
        builder.addGlobalStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, MODELS_GLOBAL_STORE), Serdes.String(),
                        Topics.MODELS.valueSerde()).withLoggingDisabled(),
                Topics.MODELS.name(), Consumed.with(Topics.MODELS.keySerde(), Topics.MODELS.valueSerde()),
                () -> new GlobalModels());

        // Stage 1. Registrations and assignments are keyed by node id; results are keyed by task id and
        // re-keyed by the node that signed them, so a node's key, its leases and its results
        // meet in one task without a global table.
        KStream<String, SpecificRecord> results = DecodeOrDeadLetter.stream(builder, Topics.RESULTS, APPLICATION_ID)
                .selectKey((taskId, r) -> r.getNodeId(), Named.as("result-by-node"))
                .repartition(Repartitioned.<String, io.inferex.events.ShardResult>as("results-by-node")
                        .withKeySerde(Serdes.String()).withValueSerde(Topics.RESULTS.valueSerde())
                        .withNumberOfPartitions(Topics.NODE_REGISTRY.partitions()))
                .mapValues(v -> (SpecificRecord) v, Named.as("results-as-events"));
        KStream<String, SpecificRecord> events = DecodeOrDeadLetter.stream(builder, Topics.NODE_REGISTRY, APPLICATION_ID)
                .mapValues(v -> (SpecificRecord) v, Named.as("registry-as-events"))
                .merge(DecodeOrDeadLetter.stream(builder, Topics.ASSIGNMENTS, APPLICATION_ID)
                        .mapValues(v -> (SpecificRecord) v, Named.as("assignments-as-events")), Named.as("merge-assignments"))
                .merge(results, Named.as("merge-results"));

        Map<String, KStream<String, Object>> judged = events
                .process(() -> new ResultJudge(config), Named.as("judge"), NODES_STORE, LEASES_STORE, PARKED_STORE, PARKED_AT_STORE, JUDGED_STORE)
                .split(Named.as("out-"))
                .branch((k, v) -> v instanceof Verdict, Branched.as("verdicts"))
                .branch((k, v) -> v instanceof AcceptedResult, Branched.as("accepted"))
                .branch((k, v) -> v instanceof ReputationEvent, Branched.as("reputation"))
                .defaultBranch(Branched.as("unprocessable"));
        KStream<String, Verdict> verdicts = judged.get("out-verdicts").mapValues(v -> (Verdict) v, Named.as("as-verdict"));
        verdicts.to(Topics.VERDICTS.name(), Produced.with(Topics.VERDICTS.keySerde(), BoundedSerde.of(Topics.VERDICTS.valueSerde()))
                .withName("verdict-sink"));
        Unprocessable.sink(judged.get("out-unprocessable"), "unprocessable");

        // The epoch keeper's sub-topology: its source is a one-partition internal topic that nothing is
        // sent on (every verdict is filtered out before it), so exactly one task in the app keeps the epochs.
        Map<String, KStream<String, Object>> keeper = verdicts.filter((k, v) -> false, Named.as("epoch-clock-nothing"))
                .repartition(Repartitioned.<String, Verdict>as("epoch-clock").withKeySerde(Serdes.String())
                        .withValueSerde(Topics.VERDICTS.valueSerde()).withNumberOfPartitions(1))
                .process(() -> new EpochKeeper(config), Named.as("epoch-keeper"), EPOCHS_STORE, EPOCH_TIMERS_STORE)
                .split(Named.as("epochs-"))
                .branch((k, v) -> v instanceof EpochKeeper.Published, Branched.as("published"))
                .defaultBranch(Branched.as("to-shards"));
        keeper.get("epochs-published").mapValues(v -> ((EpochKeeper.Published) v).epoch(), Named.as("as-published-epoch"))
                .to(Topics.SAMPLING_EPOCHS.name(), Produced.with(Topics.SAMPLING_EPOCHS.keySerde(), Topics.SAMPLING_EPOCHS.valueSerde())
                        .withName("sampling-epochs-sink"));
        KStream<String, SpecificRecord> secrets = keeper.get("epochs-to-shards")
                .mapValues(v -> ((EpochKeeper.ToShards) v).secret(), Named.as("as-secret"))
                .repartition(Repartitioned.<String, EpochSecret>as("epoch-secrets").withKeySerde(Serdes.String())
                        .withValueSerde(new AvroSerde<>(EpochSecret.class)).withNumberOfPartitions(Topics.MARKET_PARTITIONS)
                        .withStreamPartitioner(everyPartition()))
                .mapValues(v -> (SpecificRecord) v, Named.as("secrets-as-events"));

        // Stage 2, per shard.
        KStream<String, SpecificRecord> accepted = judged.get("out-accepted")
                .mapValues(v -> (AcceptedResult) v, Named.as("as-accepted"))
                .repartition(Repartitioned.<String, AcceptedResult>as("accepted-by-shard").withKeySerde(Serdes.String())
                        .withValueSerde(new AvroSerde<>(AcceptedResult.class)).withNumberOfPartitions(Topics.MARKET_PARTITIONS))
                .mapValues(v -> (SpecificRecord) v, Named.as("accepted-as-events"));
        // Challenges whose bond settlement locked (or refused: the processor ignores those), by shard.
        KStream<String, SpecificRecord> bonds = DecodeOrDeadLetter.stream(builder, Topics.CHALLENGE_BONDS, APPLICATION_ID)
                .repartition(Repartitioned.<String, ChallengeBond>as("bonds-by-shard").withKeySerde(Serdes.String())
                        .withValueSerde(new AvroSerde<>(ChallengeBond.class)).withNumberOfPartitions(Topics.MARKET_PARTITIONS))
                .mapValues(v -> (SpecificRecord) v, Named.as("bonds-as-events"));
        Map<String, KStream<String, Object>> verified = accepted.merge(secrets, Named.as("merge-secrets"))
                .merge(bonds, Named.as("merge-bonds"))
                .process(() -> new ShardVerifier(config), Named.as("verify-shard"), CASES_STORE, CASE_TIMERS_STORE, SECRETS_STORE)
                .split(Named.as("shard-"))
                .branch((k, v) -> v instanceof VerificationTask, Branched.as("tasks"))
                .branch((k, v) -> v instanceof VerificationOutcome, Branched.as("outcomes"))
                .branch((k, v) -> v instanceof ReputationEvent, Branched.as("reputation"))
                .defaultBranch(Branched.as("unprocessable"));
        verified.get("shard-tasks").mapValues(v -> (VerificationTask) v, Named.as("as-task"))
                .to(Topics.VERIFICATION_TASKS.name(), Produced.with(Topics.VERIFICATION_TASKS.keySerde(),
                        BoundedSerde.of(Topics.VERIFICATION_TASKS.valueSerde())).withName("verification-task-sink"));
        verified.get("shard-outcomes").mapValues(v -> (VerificationOutcome) v, Named.as("as-outcome"))
                .to(Topics.VERIFICATION_OUTCOMES.name(), Produced.with(Topics.VERIFICATION_OUTCOMES.keySerde(),
                        BoundedSerde.of(Topics.VERIFICATION_OUTCOMES.valueSerde())).withName("verification-outcome-sink"));
        Unprocessable.sink(verified.get("shard-unprocessable"), "shard-unprocessable");

        // Stage 3, per node.
        Map<String, KStream<String, Object>> scored = judged.get("out-reputation")
                .merge(verified.get("shard-reputation"), Named.as("merge-reputation"))
                .mapValues(v -> (ReputationEvent) v, Named.as("as-reputation-event"))
                .repartition(Repartitioned.<String, ReputationEvent>as("reputation-by-node").withKeySerde(Serdes.String())
                        .withValueSerde(new AvroSerde<>(ReputationEvent.class)).withNumberOfPartitions(Topics.MARKET_PARTITIONS))
                .process(ReputationKeeper::new, Named.as("score-node"), REPUTATION_STORE)
                .split(Named.as("scored-"))
                .branch((k, v) -> v instanceof NodeReputation, Branched.as("reputation"))
                .defaultBranch(Branched.as("unprocessable"));
        scored.get("scored-reputation").mapValues(v -> (NodeReputation) v, Named.as("as-node-reputation"))
                .to(Topics.NODE_REPUTATION.name(), Produced.with(Topics.NODE_REPUTATION.keySerde(), Topics.NODE_REPUTATION.valueSerde())
                        .withName("node-reputation-sink"));
        Unprocessable.sink(scored.get("scored-unprocessable"), "reputation-unprocessable");
        return builder.build(props);
    }

    private static <V> void store(StreamsBuilder builder, DslStoreSuppliers stores, String name,
            org.apache.kafka.common.serialization.Serde<V> values) {
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, name), Serdes.String(), values));
    }

    /** Sends each record to every partition: each per-shard task needs every epoch's secret. */
    private static StreamPartitioner<String, EpochSecret> everyPartition() {
        return (topic, key, value, partitions) -> Optional.of(IntStream.range(0, partitions).boxed().collect(Collectors.toSet()));
    }

    /** The registry a processor consults: the built-in models and the global store of registrations. */
    static ModelRegistry registry(KeyValueStore<String, ModelRegistered> store) {
        return new ModelRegistry(store::get);
    }

    /**
     * Keeps the global model store: each record of {@code models} applied with {@link ModelRegistry#decide}
     * (a refused one changes nothing; ingest, which reads the same topic, dead-letters it).
     */
    private static final class GlobalModels implements Processor<String, ModelRegistered, Void, Void> {
        private static final org.jboss.logging.Logger LOG = org.jboss.logging.Logger.getLogger(GlobalModels.class);
        private KeyValueStore<String, ModelRegistered> store;

        @Override
        public void init(ProcessorContext<Void, Void> context) {
            store = context.getStateStore(MODELS_GLOBAL_STORE);
        }

        @Override
        public void process(Record<String, ModelRegistered> record) {
            ModelRegistered existing = record.value() == null ? null : store.get(record.value().getModelId());
            ModelRegistry.Decision d = ModelRegistry.decide(record.key(), record.value(), existing);
            if (d instanceof ModelRegistry.Decision.Accept a) {
                store.put(a.registration().getModelId(), a.registration());
            } else if (d instanceof ModelRegistry.Decision.Refuse r) {
                LOG.warnf("model registration %s refused: %s", record.key(), r.reason());
            }
        }
    }

    /** Keeps the global reputation store: the latest record per node (a tombstone removes it). */
    private static final class GlobalReputation implements Processor<String, NodeReputation, Void, Void> {
        private KeyValueStore<String, NodeReputation> store;

        @Override
        public void init(ProcessorContext<Void, Void> context) {
            store = context.getStateStore(REPUTATION_GLOBAL_STORE);
        }

        @Override
        public void process(Record<String, NodeReputation> record) {
            if (record.key() == null) {
                return;
            }
            if (record.value() == null) {
                store.delete(record.key());
            } else {
                store.put(record.key(), record.value());
            }
        }
    }
}
