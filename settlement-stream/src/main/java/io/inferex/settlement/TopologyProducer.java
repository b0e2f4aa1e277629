package io.inferex.settlement;

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

    @Produces
    public Topology topology() {
        return SettlementTopology.buildTopology(new SettlementTopology.Config(feeBps, paymentReplayWindow), new Properties());
    }
}
