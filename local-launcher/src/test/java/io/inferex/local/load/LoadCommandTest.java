package io.inferex.local.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.local.LocalStack;
import java.io.PrintStream;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code ./inferex load --bootstrap-servers}: which cluster a run uses, and what it refuses there. */
class LoadCommandTest {
    private static LoadCommand parsed(String... args) {
        LoadCommand c = new LoadCommand();
        new CommandLine(c).parseArgs(args);
        return c;
    }

    @Test
    void withoutBootstrapServersTheRunStartsTheEmbeddedBrokerAndClusterOptionsAloneAreRefused() {
        assertNull(parsed("smoke").cluster());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parsed("smoke", "--client-config", "/x").cluster())
                .getMessage().contains("only for --bootstrap-servers"));
        assertThrows(IllegalArgumentException.class, () -> parsed("smoke", "--insecure-no-auth").cluster());
    }

    @Test
    void anExternalClusterNeedsTheOperatorsCredentialOrAnExplicitInsecureNoAuthAndTheStackUsesIt() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> parsed("smoke", "--bootstrap-servers", "kafka:9092").cluster())
                .getMessage().contains("--client-config"));
        assertThrows(IllegalArgumentException.class, () -> parsed("smoke", "--bootstrap-servers", "kafka:9092",
                "--client-config", "/x", "--insecure-no-auth").cluster());

        LoadRun.Cluster c = parsed("smoke", "--bootstrap-servers", "kafka:9092", "--client-config", "ops.properties").cluster();
        Scenario s = TrickleScenario.with("");
        LocalStack.Options o = new LoadRun(s, Path.of("/home"), Path.of("/run"), 1, new PrintStream(PrintStream.nullOutputStream()), c)
                .stackOptions();
        assertEquals("kafka:9092", o.externalBootstrap());
        assertEquals(Path.of("ops.properties").toAbsolutePath(), o.externalClientConfig());
        assertFalse(o.insecureNoAuth());
        assertEquals(0, o.executors(), "the fleet is simulated");
        assertTrue(o.serviceProperties().containsKey("inferex.ingest.api-keys"), "the run's customers, as on the embedded broker");

        LocalStack.Options embedded = new LoadRun(s, Path.of("/home"), Path.of("/run"), 1,
                new PrintStream(PrintStream.nullOutputStream())).stackOptions();
        assertNull(embedded.externalBootstrap());
        LoadRun.Cluster open = parsed("smoke", "--bootstrap-servers", "rp:9092", "--insecure-no-auth").cluster();
        assertTrue(open.insecureNoAuth());
        assertNull(open.clientConfig());
    }

    @Test
    void aBrokerKillOrANetworkFaultIsRefusedOnAClusterTheRunnerDidNotStartAndAServiceKillIsNot() {
        LoadRun.Cluster c = new LoadRun.Cluster("kafka:9092", Path.of("ops.properties"), false);
        Scenario brokerKill = TrickleScenario.with("faults:\n  - {kill: broker, at: 5s}\n");
        String why = LoadRun.refusal(brokerKill, c);
        assertTrue(why != null && why.contains("kill") && why.contains("broker") && why.contains("embedded"), why);
        assertNull(LoadRun.refusal(brokerKill, null), "the embedded broker can be killed");
        assertNull(LoadRun.refusal(TrickleScenario.with("faults:\n  - {kill: matcher, at: 5s}\n"), c));
        Scenario partition = TrickleScenario.with("faults:\n  - {network: verifier, at: 2s, for: 3s, drop: true}\n");
        String proxy = LoadRun.refusal(partition, c);
        assertTrue(proxy != null && proxy.contains("network fault on verifier") && proxy.contains("proxy"), proxy);
        assertNull(LoadRun.refusal(partition, null), "the embedded broker has a listener per proxied service");
        assertThrows(IllegalArgumentException.class, () -> new LoadRun(brokerKill, Path.of("/home"), Path.of("/run"), 1,
                new PrintStream(PrintStream.nullOutputStream()), c));
    }
}
