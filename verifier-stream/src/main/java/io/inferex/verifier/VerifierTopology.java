package io.inferex.verifier;

import io.inferex.deadletter.BoundedSerde;
import io.inferex.deadletter.DecodeOrDeadLetter;
import io.inferex.deadletter.Unprocessable;
import io.inferex.events.Verdict;
import io.inferex.topics.Topics;
import java.time.Duration;
import java.util.Map;
import java.util.Properties;
import org.apache.avro.specific.SpecificRecord;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Named;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.Repartitioned;
import org.apache.kafka.streams.state.Stores;

/**
 * Judges every result.
 *
 * <pre>
 * node-registry (key nodeId) ───────────────────────────────┐
 * assignments   (key nodeId) ───────────────────────────────┼─▶ ResultJudge ─┬─▶ verdicts (key jobId)
 * results       (key taskId) ─▶ re-key by nodeId ─▶ repart. ┘  (nodes, leases, └─▶ dead-letter (bad registrations,
 *                                                               parked results)    results with no lease)
 * </pre>
 */
public final class VerifierTopology {
    public static final String APPLICATION_ID = "inferex-verifier";
    public static final String NODES_STORE = "verifier-nodes";
    public static final String LEASES_STORE = "verifier-leases";
    public static final String PARKED_STORE = "verifier-parked-results";
    public static final String PARKED_AT_STORE = "verifier-parked-at";
    public static final String JUDGED_STORE = "verifier-judged";

    private VerifierTopology() {}

    /** {@code leaseWait}: how long a result may wait for its lease to be seen before it is rejected. */
    public record Config(Duration leaseWait) {}

    public static Topology buildTopology(Config config, Properties props) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(NODES_STORE),
                Serdes.String(), Topics.NODE_REGISTRY.valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(LEASES_STORE),
                Serdes.String(), Topics.ASSIGNMENTS.valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(PARKED_STORE),
                Serdes.String(), Topics.RESULTS.valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(PARKED_AT_STORE),
                Serdes.String(), Serdes.Long()));
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(JUDGED_STORE),
                Serdes.String(), Serdes.Long()));

        // Registrations and assignments are keyed by node id; results are keyed by task id and
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

        Map<String, KStream<String, Object>> out = events
                .process(() -> new ResultJudge(config), Named.as("judge"), NODES_STORE, LEASES_STORE, PARKED_STORE, PARKED_AT_STORE, JUDGED_STORE)
                .split(Named.as("out-"))
                .branch((k, v) -> v instanceof Verdict, Branched.as("verdicts"))
                .defaultBranch(Branched.as("unprocessable"));
        out.get("out-verdicts").mapValues(v -> (Verdict) v, Named.as("as-verdict"))
                .to(Topics.VERDICTS.name(), Produced.with(Topics.VERDICTS.keySerde(), BoundedSerde.of(Topics.VERDICTS.valueSerde()))
                        .withName("verdict-sink"));
        Unprocessable.sink(out.get("out-unprocessable"), "unprocessable");
        return builder.build(props);
    }
}
