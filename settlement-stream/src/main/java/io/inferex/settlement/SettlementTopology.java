package io.inferex.settlement;

import io.inferex.deadletter.BoundedSerde;
import io.inferex.deadletter.DecodeOrDeadLetter;
import io.inferex.deadletter.Unprocessable;
import io.inferex.events.ChallengeBond;
import io.inferex.events.JobStatus;
import io.inferex.events.NodeStake;
import io.inferex.events.Transfer;
import io.inferex.topics.Topics;
import io.inferex.wire.AnyEventSerde;
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
 * The double-entry ledger as a Kafka Streams topology.
 *
 * <pre>
 * payments ──────────────┐
 * jobs ──────────────────┤                                                                              ┌─▶ ledger
 * verdicts ──────────────┼─▶ decode (bad → dead-letter) ─▶ merge ─▶ repartition to ONE partition ─▶ LedgerProcessor ─┼─▶ job-status
 * verification-outcomes ─┤                                     (balances, jobs, stakes, bonds, applied ids) ├─▶ node-stake
 * challenges ────────────┘                                                                                ├─▶ challenge-bonds
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

    /** How long applied payment ids are kept; a payment made longer ago is refused as a possible replay. */
    public static final Duration DEFAULT_PAYMENT_REPLAY_WINDOW = Duration.ofDays(30);

    public static final int DEFAULT_SLASH_REWARD_BPS = 5_000;
    public static final Duration DEFAULT_UNSTAKE_COOLDOWN = Duration.ofMinutes(30);
    /** Must equal the verifier's {@code inferex.verifier.challenge-window}. */
    public static final Duration DEFAULT_CHALLENGE_WINDOW = Duration.ofMinutes(10);
    public static final Duration DEFAULT_FINALITY_GRACE = Duration.ofHours(1);

    /**
     * Settlement knobs. {@code feeBps}: protocol fee in basis points of each payout;
     * {@code paymentReplayWindow}: how long a payment id (and a paid verification lease) is
     * remembered (older ones are refused); {@code slashRewardBps}: share of a slashed stake that
     * goes to the outcome's reward account; {@code unstakeCooldown}: how long unstaked stake stays
     * slashable before it is released, which must be longer than the verifier's
     * {@code challengeWindow}, or a node could unstake before its last results are final;
     * {@code finalityGrace}: how long a job whose completion window passed with accepted but not
     * yet final shards waits for their outcomes (longer than the challenge window, too).
     */
    public record Config(int feeBps, Duration paymentReplayWindow, int slashRewardBps, Duration unstakeCooldown,
            Duration challengeWindow, Duration finalityGrace) {
        public Config {
            if (feeBps < 0 || feeBps > 10_000) {
                throw new IllegalArgumentException("fee must be 0..10000 basis points, got " + feeBps);
            }
            if (slashRewardBps < 0 || slashRewardBps > 10_000) {
                throw new IllegalArgumentException("slash reward must be 0..10000 basis points, got " + slashRewardBps);
            }
            for (Duration d : new Duration[] {paymentReplayWindow, unstakeCooldown, challengeWindow, finalityGrace}) {
                if (d.isNegative() || d.isZero()) {
                    throw new IllegalArgumentException("settlement durations must be positive, got " + d);
                }
            }
            if (unstakeCooldown.compareTo(challengeWindow) <= 0) {
                throw new IllegalArgumentException("unstake cooldown " + unstakeCooldown + " must be longer than the challenge window "
                        + challengeWindow + ": stake must stay slashable until every result it backed is final");
            }
            if (finalityGrace.compareTo(challengeWindow) <= 0) {
                throw new IllegalArgumentException("finality grace " + finalityGrace + " must be longer than the challenge window "
                        + challengeWindow + ": a shard accepted at the deadline must be able to become final");
            }
        }

        public Config(int feeBps, Duration paymentReplayWindow) {
            this(feeBps, paymentReplayWindow, DEFAULT_SLASH_REWARD_BPS, DEFAULT_UNSTAKE_COOLDOWN, DEFAULT_CHALLENGE_WINDOW,
                    DEFAULT_FINALITY_GRACE);
        }

        public Config(int feeBps) {
            this(feeBps, DEFAULT_PAYMENT_REPLAY_WINDOW);
        }
    }

    public static Topology buildTopology(Config config, Properties props) {
        StreamsBuilder builder = new StreamsBuilder();
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(BALANCES_STORE),
                Serdes.String(), Serdes.Long()));
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(JOBS_STORE),
                Serdes.String(), Topics.JOB_STATUS.valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(APPLIED_STORE),
                Serdes.String(), Serdes.Long()));
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(STAKES_STORE),
                Serdes.String(), Topics.NODE_STAKE.valueSerde()));
        builder.addStateStore(Stores.keyValueStoreBuilder(Stores.persistentKeyValueStore(BONDS_STORE),
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
                        .mapValues(v -> (SpecificRecord) v, Named.as("challenges-as-events")), Named.as("merge-challenges"));

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
