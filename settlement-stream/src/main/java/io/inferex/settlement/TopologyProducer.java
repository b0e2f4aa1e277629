package io.inferex.settlement;

import io.inferex.ledger.LedgerConfig;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.streams.Topology;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Quarkus only wires the topology; {@link SettlementTopology} builds it. */
@ApplicationScoped
public class TopologyProducer {
    @ConfigProperty(name = "inferex.settlement.fee-bps", defaultValue = "500")
    int feeBps;
    /** How long applied payment ids are remembered; a payment made longer ago is refused. */
    @ConfigProperty(name = "inferex.settlement.payment-replay-window", defaultValue = "P30D")
    Duration paymentReplayWindow;
    /** Share of a slashed stake paid to the account that caught the fraud (the rest goes to the treasury). */
    @ConfigProperty(name = "inferex.settlement.slash-reward-bps", defaultValue = "5000")
    int slashRewardBps;
    /** How long unstaked stake stays slashable before it is released; must be longer than the challenge window. */
    @ConfigProperty(name = "inferex.settlement.unstake-cooldown", defaultValue = "PT30M")
    Duration unstakeCooldown;
    /** The verifier's challenge window (inferex.verifier.challenge-window): set both to the same value. */
    @ConfigProperty(name = "inferex.settlement.challenge-window", defaultValue = "PT10M")
    Duration challengeWindow;
    /** How long a job past its completion window waits for the outcomes of its accepted shards. */
    @ConfigProperty(name = "inferex.settlement.finality-grace", defaultValue = "PT1H")
    Duration finalityGrace;
    /** How long a cancelled job stays cancelling so shards already leased can finish; longer than the matcher's lease timeout. */
    @ConfigProperty(name = "inferex.settlement.cancel-grace", defaultValue = "PT2M")
    Duration cancelGrace;

    @Produces
    public Topology topology() {
        return SettlementTopology.buildTopology(new LedgerConfig(feeBps, paymentReplayWindow,
                slashRewardBps, unstakeCooldown, challengeWindow, finalityGrace, cancelGrace), new Properties());
    }
}
