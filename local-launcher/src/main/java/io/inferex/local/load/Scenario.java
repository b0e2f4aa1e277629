package io.inferex.local.load;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * A load scenario as {@link ScenarioParser} reads it from {@code load-tests/scenarios/*.yaml}.
 * Everything here is something the runner does; what it cannot do yet is refused by the parser.
 */
public record Scenario(String name, Duration duration, int customers, Arrival arrival, Distribution batchRows,
        Fleet fleet, double adversaryFraction, Duration drainTimeout, Map<String, Double> slos, Duration challengeWindow,
        List<Cheater> cheaters, Double newNodeSamplingP, Churn churn, List<Fault> faults, RealExecutors realExecutors) {
    /**
     * Real executors mixed into the simulated fleet ({@code real-executors}): {@code nodes} executor
     * processes running the catalogue's default model on ONNX Runtime, started and staked with the
     * stack, and {@code batchFraction} of the batches (drawn by the run's seed) ask for that model, so
     * they run on them; the rest stay on the simulated fleet's synthetic model. Null: simulated only.
     */
    public record RealExecutors(int nodes, double batchFraction) {}

    /** A scenario without real executors. */
    public Scenario(String name, Duration duration, int customers, Arrival arrival, Distribution batchRows,
            Fleet fleet, double adversaryFraction, Duration drainTimeout, Map<String, Double> slos, Duration challengeWindow,
            List<Cheater> cheaters, Double newNodeSamplingP, Churn churn, List<Fault> faults) {
        this(name, duration, customers, arrival, batchRows, fleet, adversaryFraction, drainTimeout, slos, challengeWindow, cheaters,
                newNodeSamplingP, churn, faults, null);
    }

    /**
     * Node churn: {@code fraction} of the simulated nodes (honest ones first, chosen by the run's
     * seed) vanish at {@code at} (no heartbeat, no answer, their leases abandoned) and come back at
     * {@code backAt} (a new registration, heartbeats again, old leases forgotten).
     */
    public record Churn(double fraction, Duration at, Duration backAt) {}

    /**
     * A fault at {@code at} into the submission phase: {@code kill} SIGKILLs {@code target} (the
     * broker, or a service: ingest, matcher, verifier, settlement) and starts it again at once,
     * as {@code inferex up}'s supervisor would; {@code network} impairs the link between
     * {@code target} (a service, or {@code fleet}: the simulated nodes) and the broker for {@code lasting}
     * as {@code network} says, through the stack's proxy in front of it, then restores it.
     */
    public record Fault(String kind, String target, Duration at, Duration lasting, Network network) {
        public Fault(String kind, String target, Duration at) {
            this(kind, target, at, null, null);
        }

        /** When a network fault ends (its link restored). */
        public Duration end() {
            return lasting == null ? at : at.plus(lasting);
        }
    }

    /**
     * How a network fault impairs a link: {@code latency} adds {@code latencyMs} plus a uniform
     * {@code [0, jitterMs]} to each chunk in {@code direction} ({@code both}, {@code to-broker},
     * {@code from-broker}); {@code drop} resets every connection at the start and each new one
     * during the window (a partition the clients notice); {@code blackhole} forwards nothing and
     * holds what it read (a partition the clients see only as silence).
     */
    public record Network(String mode, long latencyMs, long jitterMs, String direction) {
        public static Network latency(long latencyMs, long jitterMs, String direction) {
            return new Network("latency", latencyMs, jitterMs, direction);
        }

        public static Network of(String mode) {
            return new Network(mode, 0, 0, "both");
        }
    }

    /** What a fault may kill. */
    public static final java.util.List<String> KILL_TARGETS = java.util.List.of("broker", "ingest", "matcher", "verifier", "settlement");
    /**
     * Whose link to the broker a network fault may impair: a service's, or {@code fleet}, the simulated
     * nodes' (every node principal's producer and consumer in the harness).
     */
    public static final java.util.List<String> NETWORK_TARGETS = java.util.List.of("ingest", "matcher", "verifier", "settlement",
            "fleet");
    /** The directions a network latency may apply to. */
    public static final java.util.List<String> DIRECTIONS = java.util.List.of("both", "to-broker", "from-broker");

    /** The services a run must put behind a proxy: those of its network faults. */
    public java.util.Set<String> proxiedServices() {
        java.util.Set<String> out = new java.util.TreeSet<>();
        faults.stream().filter(f -> f.network() != null).forEach(f -> out.add(f.target()));
        return out;
    }

    /**
     * {@code nodes} extra simulated nodes (beyond the fleet's) that cheat in {@code mode}, with the
     * fleet's slots and speed, at {@code pricePerRowMicros} (a cheater undercuts to win work) or, when
     * null, the fleet's prices; their results pass every form check.
     */
    public record Cheater(CheatMode mode, int nodes, Long pricePerRowMicros) {}

    /** This scenario with other SLOs. */
    public Scenario withSlos(Map<String, Double> otherSlos) {
        return new Scenario(name, duration, customers, arrival, batchRows, fleet, adversaryFraction, drainTimeout, otherSlos,
                challengeWindow, cheaters, newNodeSamplingP, churn, faults, realExecutors);
    }

    /**
     * The challenge window a load run gives the verifier and settlement unless the scenario sets
     * {@code challenge-window}: short, so that finality and payment fall inside the run (the
     * services' own default is 10 minutes).
     */
    public static final Duration DEFAULT_CHALLENGE_WINDOW = Duration.ofSeconds(5);

    /*
     * newNodeSamplingP: when set ({@code sampling-new-node-p}), the verifier's p for a new node
     * (its default is 0.25): a short run that must see its cheaters caught sets 1.0, so that
     * the outcome does not hang on a draw (the detection odds are the simulation's subject).
     */


    /** How batches arrive (all customers together). */
    public record Arrival(String process, double batchesPerSecond, Duration burstEvery, int burstBatches) {
        /** Seconds from now to the next submission, or for bursts the next burst. */
        double nextGapSeconds(RandomGenerator random) {
            return switch (process) {
                case "constant" -> 1.0 / batchesPerSecond;
                case "poisson" -> -Math.log(1 - random.nextDouble()) / batchesPerSecond;
                case "burst" -> burstEvery.toMillis() / 1000.0;
                default -> throw new IllegalStateException(process);
            };
        }

        public int batchesPerArrival() {
            return process.equals("burst") ? burstBatches : 1;
        }
    }

    /** A number drawn per use: constant, uniform in [min, max], or exponential with a mean (capped at max). */
    public record Distribution(String kind, double min, double max, double mean) {
        public double draw(RandomGenerator random) {
            return switch (kind) {
                case "constant" -> min;
                case "uniform" -> min + random.nextDouble() * (max - min);
                case "exponential" -> Math.min(max, min - Math.log(1 - random.nextDouble()) * mean);
                default -> throw new IllegalStateException(kind);
            };
        }

        public static Distribution constant(double v) {
            return new Distribution("constant", v, v, v);
        }
    }

    /**
     * The simulated fleet: {@code nodes} executors in this JVM under {@code principals} node
     * credentials; each draws its per-row compute time, its price and has {@code slots} slots.
     */
    public record Fleet(int nodes, int principals, int slots, Distribution msPerRow, Distribution pricePerRowMicros) {}

    /** Stage names, in pipeline order; an SLO key is {@code <stage>.<p50|p90|p99|p999|max>} in ms. */
    public static final java.util.List<String> STAGES = java.util.List.of(
            "accepted-assigned", "assigned-result", "result-verdict", "verdict-final", "final-paid", "accepted-paid");
    public static final java.util.List<String> PERCENTILES = java.util.List.of("p50", "p90", "p99", "p999", "max");
}
