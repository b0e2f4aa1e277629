package io.inferex.local;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code ./inferex}: run the market on this machine. */
@Command(name = "inferex", mixinStandardHelpOptions = true, version = "inferex 0.1.0",
        description = "Inferex, an open inference exchange, on one machine.",
        subcommands = {InferexCli.Up.class, InferexCli.Demo.class, InferexCli.Broker.class, InferexCli.TopicsCmd.class,
                BusCommands.Nodes.class, CustomerCommands.Customers.class, ModelCommands.Models.class, BusCommands.Fund.class, BusCommands.Withdraw.class, BusCommands.Unstake.class,
                ProvisionCommand.class, io.inferex.local.load.LoadCommand.class, io.inferex.local.sim.SimulateCommand.class,
                io.inferex.local.audit.AuditCommands.Export.class, io.inferex.local.audit.AuditCommands.Audit.class,
                io.inferex.local.audit.AuditCommands.Trace.class})
public final class InferexCli implements Runnable {

    public static void main(String[] args) {
        System.exit(new CommandLine(new InferexCli()).execute(args));
    }

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    /** The Inferex checkout: {@code -Dinferex.home} (set by ./inferex), else the working directory. */
    public static Path home() {
        return Path.of(System.getProperty("inferex.home", ".")).toAbsolutePath().normalize();
    }

    /** Options shared by the commands that start the stack. */
    static class StackOptions {
        @Option(names = "--bootstrap-servers", description = "Use this Kafka/Redpanda cluster instead of the embedded broker (with --client-config).")
        String bootstrapServers;

        @Option(names = "--client-config", description = "The operator's client properties for --bootstrap-servers (SASL/SCRAM credential of a super user).")
        Path clientConfig;

        @Option(names = "--insecure-no-auth", description = "Only for an external cluster that cannot authenticate: no credentials, no ACLs.")
        boolean insecureNoAuth;

        @Option(names = "--executors", defaultValue = "2", description = "Executor nodes to start (default: ${DEFAULT-VALUE}).")
        int executors;

        @Option(names = "--run-dir", description = "Where broker data, state and logs go (default: a new dir under .inferex/runs).")
        Path runDir;

        @Option(names = "--ready-timeout", defaultValue = "120", description = "Seconds to wait for each part to be ready (default: ${DEFAULT-VALUE}).")
        int readyTimeoutSeconds;

        @Option(names = "--challenge-window", description = "How long an accepted result stays open to sampling and challenges "
                + "before it is final and paid, e.g. PT10M or PT5S (default: the services' 10 min; the demo's 5 s).")
        Duration challengeWindow;

        /** The demo's window unless --challenge-window says otherwise. */
        Duration defaultChallengeWindow() {
            return null;
        }

        /** More service properties (the demo's). */
        java.util.Map<String, String> extraServiceProperties() {
            return java.util.Map.of();
        }

        LocalStack.Options toOptions() throws java.io.IOException {
            Path dir = runDir;
            if (dir == null) {
                Path runs = home().resolve(".inferex/runs");
                Files.createDirectories(runs);
                dir = Files.createTempDirectory(runs, "run-");
            }
            if (insecureNoAuth && bootstrapServers == null) {
                throw new CommandLine.ParameterException(new CommandLine(this), "--insecure-no-auth is only for --bootstrap-servers");
            }
            Duration window = challengeWindow != null ? challengeWindow : defaultChallengeWindow();
            java.util.Map<String, String> props = new java.util.LinkedHashMap<>(
                    window == null ? java.util.Map.of() : LocalStack.challengeWindowProperties(window));
            props.putAll(extraServiceProperties());
            return new LocalStack.Options(home(), dir, bootstrapServers, executors, Duration.ofSeconds(readyTimeoutSeconds),
                    props, clientConfig == null ? null : clientConfig.toAbsolutePath(), insecureNoAuth);
        }
    }

    /** The demo's stack: a 5 s challenge window, so the batch is final and paid while you watch. */
    static class DemoStackOptions extends StackOptions {
        static final Duration DEMO_CHALLENGE_WINDOW = Duration.ofSeconds(5);

        @Override
        Duration defaultChallengeWindow() {
            return DEMO_CHALLENGE_WINDOW;
        }

        /** The demo submits as customer demo with sk-inferex-demo, which ingest accepts only when told to. */
        @Override
        java.util.Map<String, String> extraServiceProperties() {
            return DemoRun.SERVICE_PROPERTIES;
        }
    }

    @Command(name = "up", mixinStandardHelpOptions = true,
            description = {"Start the broker, the topics and every service; print READY; stop everything on Ctrl-C.",
                    "A process that exits while the stack is up is restarted with backoff (1 s doubling to 30 s); the 5th crash",
                    "of one within 5 min gives up on it. Each is reported (CRASHED, RESTARTED, GAVE UP) and in status.json in the run dir."})
    static final class Up implements Callable<Integer> {
        @CommandLine.Mixin
        StackOptions stack = new StackOptions();

        @Override
        public Integer call() throws Exception {
            long t0 = System.nanoTime();
            LocalStack.Options opts = stack.toOptions();
            System.out.println("run dir: " + opts.runDir());
            LocalStack running = LocalStack.start(opts, System.out);
            CountDownLatch stopped = new CountDownLatch(1);
            java.util.concurrent.atomic.AtomicBoolean stopping = new java.util.concurrent.atomic.AtomicBoolean();
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                stopping.set(true);
                System.out.println("stopping ...");
                running.close();
                System.out.println("stopped");
                stopped.countDown();
            }, "inferex-stop"));
            System.out.printf("started in %.1f s%n", (System.nanoTime() - t0) / 1e9);
            System.out.println(running.readyLine());
            System.out.println("operator HTTP token: " + running.operator().file()
                    + " (send it as 'Authorization: Bearer <token>' to matcher, verifier and settlement)");
            System.out.flush();
            // One crash is one crash: a process that exits (the broker, a service, an executor) is
            // restarted with backoff, said on a CRASHED and a RESTARTED line, until a crash loop makes
            // the supervisor give up (GAVE UP); status.json in the run dir has each one's state.
            // A stream app whose Kafka Streams stopped (ERROR) while its JVM lives on is reported too
            // (StreamHealthWatch) and killed, so the supervisor restarts it like any other crash.
            running.supervise(RestartPolicy.standard(), System.out);
            System.out.println("supervising every process (restart with backoff 1 s doubling to 30 s; give up on the 5th crash"
                    + " within 5 min); status: " + opts.runDir().resolve(ServiceSupervisor.STATUS_FILE));
            StreamHealthWatch streamsWatch = StreamHealthWatch.of(running, opts.executors(), name -> {
                System.out.println("killing " + name + " so that the supervisor restarts it: its stream has stopped");
                try {
                    running.process(name).kill();
                } catch (RuntimeException e) {
                    System.out.println("could not kill " + name + ": " + e.getMessage());
                }
            });
            while (!stopped.await(1, java.util.concurrent.TimeUnit.SECONDS)) {
                if (!stopping.get()) {
                    streamsWatch.poll().forEach(System.out::println);
                }
            }
            return 0;
        }
    }

    @Command(name = "demo", mixinStandardHelpOptions = true,
            description = "Run one embeddings batch end to end through all five stages and print what it cost.")
    static final class Demo implements Callable<Integer> {
        @CommandLine.Mixin
        StackOptions stack = new DemoStackOptions();

        @Option(names = "--input", description = "JSONL batch file, OpenAI Batch format (default: examples/embeddings-demo.jsonl).")
        Path input;

        @Option(names = "--timeout", defaultValue = "300", description = "Seconds the batch may take (default: ${DEFAULT-VALUE}).")
        int timeoutSeconds;

        @Override
        public Integer call() throws Exception {
            Path file = input != null ? input.toAbsolutePath() : home().resolve("examples/embeddings-demo.jsonl");
            if (!Files.isReadable(file)) {
                System.err.println("demo: cannot read input file " + file);
                return 2;
            }
            long t0 = System.nanoTime();
            LocalStack.Options opts = stack.toOptions();
            System.out.println("run dir: " + opts.runDir() + " (logs in logs/)");
            java.util.List<String> problems;
            try (LocalStack running = LocalStack.start(opts, System.out)) {
                System.out.printf("stack ready in %.1f s: %s%n", (System.nanoTime() - t0) / 1e9, running.readyLine());
                problems = new DemoRun(running, System.out).run(file, opts.runDir(), Duration.ofSeconds(timeoutSeconds)).problems();
                System.out.println("stopping the stack ...");
            } catch (RuntimeException e) {
                System.out.println();
                System.out.println("RESULT: FAILED: " + e.getMessage());
                return 1;
            }
            System.out.printf("total %.1f s%n", (System.nanoTime() - t0) / 1e9);
            if (problems.isEmpty()) {
                System.out.println("RESULT: OK: every line completed, output checked, money conserved");
                return 0;
            }
            problems.forEach(p -> System.out.println("problem: " + p));
            System.out.println("RESULT: FAILED (the problems are listed above)");
            return 1;
        }
    }

    @Command(name = "broker", mixinStandardHelpOptions = true,
            description = "Run only the embedded single-node Kafka broker (KRaft) until it is signalled (SIGTERM, SIGINT),"
                    + " in the foreground or in the background (&, nohup, a service manager).")
    static final class Broker implements Callable<Integer> {
        @Option(names = "--data-dir", required = true, description = "Broker data directory (formatted on first use).")
        Path dataDir;

        @Option(names = "--exit-with-parent", description = "Also stop when standard input closes: how `inferex up` ties the"
                + " broker it starts to its own life, so a launcher killed without stopping it leaves no orphan broker."
                + " Off by default: a background broker's standard input is usually closed from the start.")
        boolean exitWithParent;

        @Option(names = "--proxied-listener", paramLabel = "NAME=PORT:ADVERTISED_PORT", description = "Also listen on PORT"
                + " (SASL/SCRAM, like the client listener) but advertise 127.0.0.1:ADVERTISED_PORT, a proxy's port in front"
                + " of it, so clients bootstrapped at the proxy stay behind it (the load harness's network faults). Repeatable.")
        List<String> proxiedListeners = new java.util.ArrayList<>();

        @Override
        public Integer call() throws Exception {
            EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.start(dataDir, false,
                    proxiedListeners.stream().map(EmbeddedKafkaBroker.ProxiedListener::parse).toList());
            CountDownLatch stopped = new CountDownLatch(1);
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                broker.close();
                stopped.countDown();
            }, "broker-stop"));
            System.out.println("READY bootstrap=" + broker.bootstrapServers() + " client-config=" + broker.operatorConfigFile());
            System.out.flush();
            if (exitWithParent) {
                // A launcher that dies without stopping us closes our stdin: exit then too.
                Thread orphanWatch = new Thread(() -> {
                    try {
                        while (System.in.read() >= 0) {
                            // ignore input
                        }
                    } catch (java.io.IOException ignored) {
                        // stdin gone
                    }
                    System.out.println("standard input closed (--exit-with-parent): stopping the broker");
                    System.exit(0);
                }, "parent-watch");
                orphanWatch.setDaemon(true);
                orphanWatch.start();
            }
            stopped.await();
            return 0;
        }
    }

    @Command(name = "topics", mixinStandardHelpOptions = true,
            description = "Create every catalogue topic that is missing on a cluster (idempotent).")
    static final class TopicsCmd implements Callable<Integer> {
        @Option(names = "--bootstrap-servers", required = true, description = "Cluster to provision.")
        String bootstrapServers;

        @Option(names = "--client-config", required = true, description = "The operator's client properties (credential) for that cluster.")
        Path clientConfig;

        @Option(names = "--replication-factor", defaultValue = "1", description = "Replicas per partition (default: ${DEFAULT-VALUE}).")
        short replicationFactor;

        @Override
        public Integer call() {
            var report = io.inferex.topics.TopicProvisioner.ensureTopics(operator(), replicationFactor,
                    io.inferex.topics.Topics.ALL);
            System.out.println("created " + report.created() + ", already there " + report.existing());
            return 0;
        }

        private java.util.Map<String, Object> operator() {
            var c = new java.util.LinkedHashMap<>(io.inferex.security.BusCredentials.read(clientConfig));
            c.put("bootstrap.servers", bootstrapServers);
            return c;
        }
    }
}
