package io.inferex.local.load;

import io.inferex.local.InferexCli;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code ./inferex load SCENARIO}: a load scenario on the embedded stack, with report and SLO gate. */
@Command(name = "load", mixinStandardHelpOptions = true,
        description = {"Run a load scenario (load-tests/scenarios/NAME.yaml, or a path) on the embedded stack with a simulated fleet;",
                "write load-summary.json and load-report.html to the run dir.",
                "Exit 0: SLOs met and every shard accounted; 1: an SLO missed; 2: checker anomalies; 3: scenario refused."})
public final class LoadCommand implements Callable<Integer> {
    @Parameters(paramLabel = "SCENARIO", description = "Scenario name (smoke, burst, ...) or a YAML file.")
    String scenario;

    @Option(names = "--run-dir", description = "Where the stack's data, logs and the report go (default: a new dir under .inferex/runs).")
    Path runDir;

    @Option(names = "--seed", defaultValue = "1", description = "Random seed (arrivals, batch sizes, fleet) (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--bootstrap-servers", description = "Run on this Kafka or Redpanda cluster instead of the embedded broker "
            + "(with --client-config); the services still run here.")
    String bootstrapServers;

    @Option(names = "--client-config", description = "The operator's client properties for --bootstrap-servers "
            + "(a super user's SASL/SCRAM credential: the run issues its own principals and ACLs).")
    Path clientConfig;

    @Option(names = "--insecure-no-auth", description = "Only for a --bootstrap-servers cluster without authentication: no credentials, no ACLs.")
    boolean insecureNoAuth;

    /** The cluster the options name, null for the embedded broker. */
    LoadRun.Cluster cluster() {
        if (bootstrapServers == null) {
            if (clientConfig != null || insecureNoAuth) {
                throw new IllegalArgumentException("--client-config and --insecure-no-auth are only for --bootstrap-servers");
            }
            return null;
        }
        return new LoadRun.Cluster(bootstrapServers, clientConfig, insecureNoAuth);
    }

    @Override
    public Integer call() throws Exception {
        LoadRun.Cluster cluster;
        try {
            cluster = cluster();
        } catch (IllegalArgumentException e) {
            System.err.println("load: " + e.getMessage());
            return LoadRun.REFUSED;
        }
        if (cluster != null && cluster.clientConfig() != null && !Files.isReadable(cluster.clientConfig())) {
            System.err.println("load: --client-config " + cluster.clientConfig() + " cannot be read");
            return LoadRun.REFUSED;
        }
        Path file = Path.of(scenario);
        if (!Files.isRegularFile(file)) {
            file = InferexCli.home().resolve("load-tests/scenarios").resolve(scenario + ".yaml");
        }
        Scenario s;
        try {
            s = ScenarioParser.parse(file);
        } catch (ScenarioParser.ScenarioException e) {
            System.err.println("load: scenario refused: " + e.getMessage());
            return LoadRun.REFUSED;
        }
        String refused = LoadRun.refusal(s, cluster);
        if (refused != null) {
            System.err.println("load: scenario refused: " + refused);
            return LoadRun.REFUSED;
        }
        Path dir = runDir;
        if (dir == null) {
            Path runs = InferexCli.home().resolve(".inferex/runs");
            Files.createDirectories(runs);
            dir = Files.createTempDirectory(runs, "load-" + s.name() + "-");
        }
        System.out.println("load " + s.name() + " (" + file + "), run dir " + dir
                + (cluster == null ? "" : ", cluster " + cluster.bootstrapServers()));
        try {
            return new LoadRun(s, InferexCli.home(), dir.toAbsolutePath(), seed, System.out, cluster).run().exitCode();
        } catch (RuntimeException e) {
            System.out.println("RESULT: FAILED: " + e);
            return LoadRun.SLO_MISSED;
        }
    }
}
