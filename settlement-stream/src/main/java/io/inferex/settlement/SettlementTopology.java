package io.inferex.settlement;

import io.inferex.deadletter.BoundedSerde;
import io.inferex.deadletter.DecodeOrDeadLetter;
import io.inferex.deadletter.Unprocessable;
import io.inferex.events.ChallengeBond;
import io.inferex.events.JobStatus;
import io.inferex.events.NodeStake;
import io.inferex.events.Transfer;
import io.inferex.ledger.LedgerConfig;
import io.inferex.streams.StateStores;
import io.inferex.topics.Topics;
import io.inferex.wire.AnyEventSerde;
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
import org.apache.kafka.streams.state.DslStoreSuppliers;
import org.apache.kafka.streams.state.Stores;

/**
 * The double-entry ledger as a Kafka Streams topology.
 *
 * <pre>
 * payments ──────────────┐
 * jobs ──────────────────┤                                                                              ┌─▶ ledger
 * verdicts ──────────────┼─▶ decode (bad → dead-letter) ─▶ merge ─▶ repartition to ONE partition ─▶ LedgerProcessor ─┼─▶ job-status
 * verification-outcomes ─┤                                     (balances, jobs, stakes, bonds, applied ids) ├─▶ node-stake
 * challenges ────────────┤                                                                                ├─▶ challenge-bonds
 *                                                                                                         └─▶ dead-letter
 * </pre>
 */
public final class SettlementTopology {
    public static final String APPLICATION_ID = "inferex-settlement";
    public static final String BALANCES_STORE = "settlement-balances";
    public static final String JOBS_STORE = "settlement-jobs";
    public static final String APPLIED_STORE = "settlement-applied";
    public static final String STAKES_STORE = "settlement-stakes";
    public static final String BONDS_STORE = "settlement-bonds";
    /** The single key every money event is re-keyed to; see the repartition comment below. */
    static final String LEDGER_KEY = "ledger";

    private SettlementTopology() {}

    public static Topology buildTopology(LedgerConfig config, Properties props) {
        StreamsBuilder builder = new StreamsBuilder();
        DslStoreSuppliers stores = StateStores.suppliers(props); // RocksDB unless props say otherwise
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, BALANCES_STORE),
                Serdes.String(), Serdes.Long()));
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, JOBS_STORE),
                Serdes.String(), Topics.JOB_STATUS.valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, APPLIED_STORE),
                Serdes.String(), Serdes.Long()));
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, STAKES_STORE),
                Serdes.String(), Topics.NODE_STAKE.valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(StateStores.keyValue(stores, BONDS_STORE),
                Serdes.String(), Topics.CHALLENGE_BONDS.valueSerde()));

        KStream<String, SpecificRecord> events = DecodeOrDeadLetter.stream(builder, Topics.PAYMENTS, APPLICATION_ID)
                .mapValues(v -> (SpecificRecord) v, Named.as("payments-as-events"))
                .merge(DecodeOrDeadLetter.stream(builder, Topics.JOBS, APPLICATION_ID)
                        .mapValues(v -> (SpecificRecord) v, Named.as("jobs-as-events")), Named.as("merge-jobs"))
                .merge(DecodeOrDeadLetter.stream(builder, Topics.VERDICTS, APPLICATION_ID)
                        .mapValues(v -> (SpecificRecord) v, Named.as("verdicts-as-events")), Named.as("merge-verdicts"))
                .merge(DecodeOrDeadLetter.stream(builder, Topics.VERIFICATION_OUTCOMES, APPLICATION_ID)
                        .mapValues(v -> (SpecificRecord) v, Named.as("outcomes-as-events")), Named.as("merge-outcomes"))
                .merge(DecodeOrDeadLetter.stream(builder, Topics.CHALLENGES, APPLICATION_ID)
                        .mapValues(v -> (SpecificRecord) v, Named.as("challenges-as-events")), Named.as("merge-challenges"))
                .merge(DecodeOrDeadLetter.stream(builder, Topics.JOB_CANCELS, APPLICATION_ID)
                        .mapValues(v -> (SpecificRecord) v, Named.as("cancels-as-events")), Named.as("merge-cancels"));

        // A transfer touches two accounts that may belong to any customer, node or job, so the
        // ledger is one sequence: every money event goes through one partition and one task.
        // Its order there is the ledger's order; a replay of the log reproduces it. Scaling out
        // means sharding by customer, which a later change can do without changing the events.
        KStream<String, Object> outcomes = events
                .selectKey((k, v) -> LEDGER_KEY, Named.as("to-ledger-key"))
                .repartition(Repartitioned.<String, SpecificRecord>as("ledger-sequence")
                        .withKeySerde(Serdes.String()).withValueSerde(new AnyEventSerde()).withNumberOfPartitions(1))
                .process(() -> new LedgerProcessor(config), Named.as("ledger"), BALANCES_STORE, JOBS_STORE, APPLIED_STORE,
                        STAKES_STORE, BONDS_STORE);

        Map<String, KStream<String, Object>> out = outcomes.split(Named.as("out-"))
                .branch((k, v) -> v instanceof Transfer, Branched.as("transfers"))
                .branch((k, v) -> v instanceof JobStatus, Branched.as("status"))
                .branch((k, v) -> v instanceof NodeStake, Branched.as("stake"))
                .branch((k, v) -> v instanceof ChallengeBond, Branched.as("bonds"))
                .defaultBranch(Branched.as("unprocessable"));
        out.get("out-transfers").mapValues(v -> (Transfer) v, Named.as("as-transfer"))
                .to(Topics.LEDGER.name(), Produced.with(Topics.LEDGER.keySerde(), BoundedSerde.of(Topics.LEDGER.valueSerde())).withName("ledger-sink"));
        out.get("out-status").mapValues(v -> (JobStatus) v, Named.as("as-status"))
                .to(Topics.JOB_STATUS.name(), Produced.with(Topics.JOB_STATUS.keySerde(), BoundedSerde.of(Topics.JOB_STATUS.valueSerde()))
                        .withName("job-status-sink"));
        out.get("out-stake").mapValues(v -> (NodeStake) v, Named.as("as-stake"))
                .to(Topics.NODE_STAKE.name(), Produced.with(Topics.NODE_STAKE.keySerde(), BoundedSerde.of(Topics.NODE_STAKE.valueSerde()))
                        .withName("node-stake-sink"));
        out.get("out-bonds").mapValues(v -> (ChallengeBond) v, Named.as("as-bond"))
                .to(Topics.CHALLENGE_BONDS.name(), Produced.with(Topics.CHALLENGE_BONDS.keySerde(),
                        BoundedSerde.of(Topics.CHALLENGE_BONDS.valueSerde())).withName("challenge-bonds-sink"));
        Unprocessable.sink(out.get("out-unprocessable"), "unprocessable");
        return builder.build(props);
    }
}
