package io.inferex.verifier;

import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import java.time.Duration;
import java.util.Properties;
import org.apache.kafka.streams.Topology;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/** Quarkus only wires the topology; {@link VerifierTopology} builds it. */
@ApplicationScoped
public class TopologyProducer {
    @ConfigProperty(name = "inferex.verifier.lease-wait", defaultValue = "PT30S")
    Duration leaseWait;

    @Produces
    public Topology topology() {
        return VerifierTopology.buildTopology(new VerifierTopology.Config(leaseWait), new Properties());
    }
}
