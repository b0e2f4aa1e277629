package io.inferex.matcher;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.streams.Topology;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Quarkus only wires the topology; {@link MatcherTopology} builds it. */
@ApplicationScoped
public class TopologyProducer {
    @ConfigProperty(name = "inferex.matcher.lease-timeout", defaultValue = "PT60S")
    Duration leaseTimeout;
    @ConfigProperty(name = "inferex.matcher.missed-heartbeats", defaultValue = "3")
    int missedHeartbeats;
    @ConfigProperty(name = "inferex.matcher.min-stake-micros", defaultValue = "1000000")
    long minStakeMicros;
    @ConfigProperty(name = "inferex.matcher.tick", defaultValue = "PT0.5S")
    Duration tick;

    @Produces
    public Topology topology() {
        return MatcherTopology.buildTopology(new MatcherTopology.Config(leaseTimeout, missedHeartbeats, minStakeMicros, tick),
                new Properties());
    }
}
