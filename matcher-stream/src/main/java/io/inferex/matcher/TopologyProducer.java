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
    /** How long an answered lease waits for its verdict before it is revoked and its shard re-leased. */
    @ConfigProperty(name = "inferex.matcher.verdict-wait", defaultValue = "PT2M")
    Duration verdictWait;
    /** How long an accepted task id is kept at least (longer while its job is open). */
    @ConfigProperty(name = "inferex.matcher.accepted-retention", defaultValue = "PT1H")
    Duration acceptedRetention;

    /** Share (basis points) of a node's in-flight value, the candidate included, its eligible stake must cover. */
    @ConfigProperty(name = "inferex.matcher.stake-coverage-bps", defaultValue = "10000")
    int stakeCoverageBps;
    /** Lowest node-reputation score that still gets work (a node not scored yet counts as 0.5). */
    @ConfigProperty(name = "inferex.matcher.min-reputation", defaultValue = "0.2")
    double minReputation;

    /** The matcher's settings, as the topology and the operator endpoint use them. */
    public MatcherTopology.Config config() {
        return new MatcherTopology.Config(leaseTimeout, missedHeartbeats, minStakeMicros, tick, verdictWait, acceptedRetention,
                stakeCoverageBps, minReputation);
    }

    @Produces
    public Topology topology() {
        return MatcherTopology.buildTopology(config(), new Properties());
    }
}
