package io.inferex.verifier;

import io.inferex.verification.SamplingPolicy;
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
    @ConfigProperty(name = "inferex.verifier.challenge-window", defaultValue = "PT10M")
    Duration challengeWindow;
    @ConfigProperty(name = "inferex.verifier.sample-timeout", defaultValue = "PT5M")
    Duration sampleTimeout;
    @ConfigProperty(name = "inferex.verifier.dispute-timeout", defaultValue = "PT5M")
    Duration disputeTimeout;
    @ConfigProperty(name = "inferex.verifier.epoch-length", defaultValue = "PT1H")
    Duration epochLength;
    @ConfigProperty(name = "inferex.verifier.reveal-delay", defaultValue = "PT1M")
    Duration revealDelay;
    @ConfigProperty(name = "inferex.verifier.sampling.floor", defaultValue = "0.015")
    double samplingFloor;
    @ConfigProperty(name = "inferex.verifier.sampling.new-node-p", defaultValue = "0.25")
    double newNodeP;
    @ConfigProperty(name = "inferex.verifier.sampling.warmup-observations", defaultValue = "100")
    long warmupObservations;
    @ConfigProperty(name = "inferex.verifier.sampling.trusted-score", defaultValue = "0.9")
    double trustedScore;
    @ConfigProperty(name = "inferex.verifier.verification-price-floor-micros", defaultValue = "100")
    long priceFloorMicros;

    @Produces
    public Topology topology() {
        return VerifierTopology.buildTopology(new VerifierTopology.Config(leaseWait, challengeWindow, sampleTimeout, disputeTimeout,
                epochLength, revealDelay, new SamplingPolicy.Config(samplingFloor, newNodeP, warmupObservations, trustedScore),
                priceFloorMicros), new Properties());
    }
}
