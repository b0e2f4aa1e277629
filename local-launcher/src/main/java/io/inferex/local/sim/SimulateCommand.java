package io.inferex.local.sim;

import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./inferex simulate-verification}: the verification simulation's figures (no Kafka, seconds). */
@Command(name = "simulate-verification", mixinStandardHelpOptions = true,
        description = "Simulate sampled re-execution and disputes with the verifier's own rules: detection probability and "
                + "shards until detection per cheat, false fraud verdicts on honest nodes, verification overhead.")
public final class SimulateCommand implements Callable<Integer> {
    @Option(names = "--results", defaultValue = "10000", description = "Shard results in the fleet run (default: ${DEFAULT-VALUE}).")
    int results;

    @Option(names = "--honest-nodes", defaultValue = "40", description = "Honest nodes (default: ${DEFAULT-VALUE}).")
    int honestNodes;

    @Option(names = "--trials", defaultValue = "2000", description = "Fresh cheaters per mode in the detection trials (default: ${DEFAULT-VALUE}).")
    int trials;

    @Option(names = "--horizon", defaultValue = "500", description = "A trial cheater's shards before it counts as undetected (default: ${DEFAULT-VALUE}).")
    int horizon;

    @Option(names = "--honest-noise", description = "Per-coordinate sigma of honest variation (default: from docs/verification.md's calibration).")
    Double honestNoise;

    @Option(names = "--int8-noise", description = "Per-coordinate sigma of the int8 substitute's deviation (default: from the calibration).")
    Double int8Noise;

    @Option(names = "--warmup", defaultValue = "300", description = "Honest shards a patient cheater answers before cheating (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--seed", defaultValue = "1", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Override
    public Integer call() {
        VerificationSimulation.Config d = VerificationSimulation.Config.defaults(seed);
        var config = d.sized(results, honestNodes, trials, horizon, warmup)
                .withNoise(honestNoise != null ? honestNoise : d.honestNoise(), int8Noise != null ? int8Noise : d.int8Noise());
        long t0 = System.nanoTime();
        VerificationSimulation.Report report = new VerificationSimulation(config).run();
        System.out.print(VerificationSimulation.text(report));
        System.out.printf("simulated in %.1f s%n", (System.nanoTime() - t0) / 1e9);
        return 0;
    }
}
