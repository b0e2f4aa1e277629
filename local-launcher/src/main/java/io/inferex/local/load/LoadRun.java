package io.inferex.local.load;

import com.fasterxml.jackson.databind.JsonNode;
import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.local.BusCommands;
import io.inferex.local.LocalStack;
import io.inferex.local.MarketHttp;
import io.inferex.local.PaymentGateway;
import io.inferex.local.TcpProxy;
import io.inferex.market.Accounts;
import io.inferex.market.Money;
import io.inferex.market.SyntheticHashModel;
import io.inferex.security.OperatorToken;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.HdrHistogram.Histogram;

/**
 * One load run: the embedded stack without real executors, a simulated fleet, customers submitting
 * batches of {@link SyntheticHashModel} rows over ingest's HTTP API on the scenario's arrival
 * process, every shard followed through the stage topics, then the checker, the SLO gate and the
 * report (JSON + HTML) in the run dir.
 */
public final class LoadRun {
    /** Exit codes of {@code ./inferex load}. */
    public static final int OK = 0;
    public static final int SLO_MISSED = 1;
    public static final int ANOMALIES = 2;
    public static final int REFUSED = 3;
    static final int ROWS_PER_SHARD = 16;
    private static final com.fasterxml.jackson.databind.ObjectMapper JSON = new com.fasterxml.jackson.databind.ObjectMapper();

    /** A submitted batch. */
    record Submitted(String batchId, int no, int customer, int rows, long submittedAtMs, String model) {}

    /** The model real executors serve ({@code real-executors}): the catalogue's default. */
    static final io.inferex.market.ModelCatalogue.ModelSpec REAL_MODEL = io.inferex.market.ModelCatalogue.ALL_MINILM_L6_V2;

    /** What a run ends with. */
    public record Outcome(int exitCode, String checker, List<String> sloMisses, Path summary, Path html) {}

    private final Scenario scenario;
    private final Path home;
    private final Path runDir;
    private final PrintStream out;
    private final long seed;
    private final Random random;
    private final List<String> apiKeys = new ArrayList<>();
    private final ConcurrentLinkedQueue<Submitted> submitted = new ConcurrentLinkedQueue<>();
    private final AtomicInteger submitErrors = new AtomicInteger();
    private final List<String> submitErrorSamples = java.util.Collections.synchronizedList(new ArrayList<>());
    private final AtomicLong submittedRows = new AtomicLong();
    private final AtomicInteger submitRetries = new AtomicInteger();
    /** What the chaos of the run did (faults, churn), in order, for the report. */
    private final List<Map<String, Object>> chaos = java.util.Collections.synchronizedList(new ArrayList<>());

    /**
     * An existing Kafka or Redpanda cluster to run on instead of the embedded broker: its bootstrap
     * servers and the operator's client config (a super user's SASL/SCRAM credential, which issues
     * the run's principals and ACLs), or no credentials at all ({@code insecureNoAuth}, a cluster
     * without authentication). The run's services still start as local JVMs.
     */
    public record Cluster(String bootstrapServers, Path clientConfig, boolean insecureNoAuth) {
        public Cluster {
            if (bootstrapServers == null || bootstrapServers.isBlank()) {
                throw new IllegalArgumentException("a cluster needs its bootstrap servers");
            }
            if (clientConfig == null && !insecureNoAuth) {
                throw new IllegalArgumentException("--bootstrap-servers needs the operator's --client-config (a super user's "
                        + "SASL/SCRAM credential), or --insecure-no-auth for a cluster without authentication");
            }
            if (clientConfig != null && insecureNoAuth) {
                throw new IllegalArgumentException("--client-config and --insecure-no-auth exclude each other");
            }
        }
    }

    /**
     * Why the scenario cannot run on {@code cluster} (null: it can, or no cluster was given): the
     * runner cannot kill and restart a broker it did not start.
     */
    public static String refusal(Scenario scenario, Cluster cluster) {
        if (cluster == null) {
            return null;
        }
        for (Scenario.Fault f : scenario.faults()) {
            if (f.network() != null) {
                return "network fault on " + f.target() + " at " + f.at() + ": the runner's proxy needs the embedded broker's "
                        + "per-service listeners; on your own cluster put a proxy in front of a listener that advertises it";
            }
            if ("broker".equals(f.target())) {
                return "fault " + f.kind() + " " + f.target() + " at " + f.at() + ": the runner can kill only a broker it started; "
                        + "run this scenario on the embedded broker (without --bootstrap-servers)";
            }
        }
        return null;
    }

    private final Cluster cluster;

    public LoadRun(Scenario scenario, Path home, Path runDir, long seed, PrintStream out) {
        this(scenario, home, runDir, seed, out, null);
    }

    /** A run on {@code cluster} (null: the embedded broker). */
    public LoadRun(Scenario scenario, Path home, Path runDir, long seed, PrintStream out, Cluster cluster) {
        String refused = refusal(scenario, cluster);
        if (refused != null) {
            throw new IllegalArgumentException(refused);
        }
        this.cluster = cluster;
        this.scenario = scenario;
        this.home = home;
        this.runDir = runDir;
        this.out = out;
        this.seed = seed;
        this.random = new Random(seed);
    }

    /**
     * The properties every service of the run's stack needs: the customers' hashed API keys, the
     * price cap and shard size ingest must accept, the scenario's challenge window and sampling.
     * The same on every call (the keys are drawn once, first, from the run's seed).
     */
    public synchronized Map<String, String> serviceProperties() {
        if (apiKeys.isEmpty()) {
            for (int c = 0; c < scenario.customers(); c++) {
                apiKeys.add("sk-load-" + Long.toHexString(random.nextLong()) + "-" + c);
            }
        }
        Map<String, String> props = new LinkedHashMap<>();
        StringBuilder keys = new StringBuilder();
        for (int c = 0; c < apiKeys.size(); c++) {
            // ingest keeps SHA-256 hex of each key
            keys.append(c == 0 ? "" : ",").append(customer(c)).append(':').append(OperatorToken.sha256Hex(apiKeys.get(c)));
        }
        props.put("inferex.ingest.api-keys", keys.toString());
        props.put("inferex.ingest.max-price-per-row-micros", Long.toString(maxPrice()));
        props.put("inferex.ingest.rows-per-shard", Integer.toString(ROWS_PER_SHARD));
        props.putAll(LocalStack.challengeWindowProperties(scenario.challengeWindow()));
        if (scenario.newNodeSamplingP() != null) {
            props.put("inferex.verifier.sampling.new-node-p", Double.toString(scenario.newNodeSamplingP()));
        }
        return props;
    }

    private long maxPrice() {
        return Math.max(200, (long) Math.ceil(scenario.fleet().pricePerRowMicros().max()));
    }

    /** The stack a run starts: the embedded broker, or the given cluster; real executors only if the scenario mixes them in. */
    LocalStack.Options stackOptions() {
        Map<String, String> props = serviceProperties();
        int executors = scenario.realExecutors() == null ? 0 : scenario.realExecutors().nodes();
        return cluster == null ? new LocalStack.Options(home, runDir, null, executors, Duration.ofSeconds(180), props)
                : new LocalStack.Options(home, runDir, cluster.bootstrapServers(), executors, Duration.ofSeconds(180), props,
                        cluster.clientConfig() == null ? null : cluster.clientConfig().toAbsolutePath(), cluster.insecureNoAuth());
    }

    /**
     * Starts the stack (no real executors) with {@link #serviceProperties}, on the embedded broker or
     * the run's cluster, runs, and stops it (an external cluster is left as it is, with the run's topics
     * and records).
     */
    public Outcome run() throws Exception {
        long t0 = System.nanoTime();
        try (LocalStack stack = LocalStack.start(stackOptions(), scenario.proxiedServices(), out)) {
            // Ctrl-C or SIGTERM mid-run must not leave the services running (the broker exits with its parent).
            Thread stop = new Thread(stack::close, "load-stop");
            Runtime.getRuntime().addShutdownHook(stop);
            try {
                out.printf("stack ready in %.1f s (%s) on %s%n", (System.nanoTime() - t0) / 1e9,
                        scenario.realExecutors() == null ? "no real executors"
                                : stack.executorNodeIds().size() + " real executors of " + REAL_MODEL.id(),
                        cluster == null ? "the embedded broker" : cluster.bootstrapServers());
                return measure(stack, maxPrice());
            } finally {
                try {
                    Runtime.getRuntime().removeShutdownHook(stop);
                } catch (IllegalStateException shuttingDown) {
                    // the hook is already running
                }
            }
        }
    }

    /**
     * Runs on a stack that is already up and was started with (at least) {@link #serviceProperties}
     * (a system test shares its stack this way, one stack start fewer). The observer sees only
     * what happens from now on, so the stack's earlier history is not counted; the run's own
     * customers, fleet and node principals are new. The stack is left running.
     */
    public Outcome runOn(LocalStack stack) throws Exception {
        if (scenario.realExecutors() != null && stack.executorNodeIds().size() < scenario.realExecutors().nodes()) {
            throw new IllegalArgumentException("the scenario mixes in " + scenario.realExecutors().nodes() + " real executors; the stack has "
                    + stack.executorNodeIds().size());
        }
        if (!stack.challengeWindow().equals(scenario.challengeWindow())) {
            throw new IllegalArgumentException("the stack's challenge window " + stack.challengeWindow() + " is not the scenario's "
                    + scenario.challengeWindow());
        }
        serviceProperties(); // draws the API keys if the caller did not ask for them first
        scenario.proxiedServices().forEach(stack::proxy); // a network fault needs its service behind the stack's proxy
        return measure(stack, maxPrice());
    }

    private Outcome measure(LocalStack stack, long maxPrice) throws Exception {
        Map<String, Object> operator = stack.operatorConfig();
        List<Map<String, Object>> principals = new ArrayList<>();
        for (int p = 0; p < scenario.fleet().principals(); p++) {
            Map<String, Object> client = new java.util.HashMap<>(BusCommands.issueNode(operator, "sim-" + p));
            if (scenario.proxiedServices().contains(LocalStack.FLEET)) {
                // a network fault on the fleet's link: every node principal's clients go through the fleet's proxy
                client.put("bootstrap.servers", stack.bootstrapVia(LocalStack.FLEET));
            }
            principals.add(client);
        }
        fundCustomers(stack, maxPrice);
        out.println("baseline: bare produce->consume hop, 300 records after 300 of warm-up ...");
        Histogram baseline = Baseline.measure(operator, 300, 300, Duration.ofMillis(5));
        out.printf("baseline: p50 %.2f ms, p99 %.2f ms%n", baseline.getValueAtPercentile(50) / 1000.0,
                baseline.getValueAtPercentile(99) / 1000.0);

        String ingest = stack.urls().get("ingest");
        try (StageObserver observer = new StageObserver(operator);
                SimulatedFleet fleet = new SimulatedFleet(scenario.fleet(), scenario.adversaryFraction(), scenario.cheaters(), principals, random)) {
            out.println("fleet: " + fleet.size() + " simulated nodes under " + principals.size() + " node principal(s), model "
                    + SyntheticHashModel.ID);
            stakeFleet(stack, fleet);
            Thread.sleep(3_000); // registrations and a first heartbeat reach the matcher before the first shard
            long start = System.currentTimeMillis();
            ServiceResources resources = resources(stack).start(Duration.ofSeconds(2));
            var faults = scheduleChaos(stack, observer, fleet, start);
            try {
                drive(ingest, observer, fleet);
            } finally {
                faults.shutdown();
            }
            long submitEnd = System.currentTimeMillis();
            drain(observer, fleet);
            faults.awaitTermination(5, TimeUnit.MINUTES); // a restart still under way is part of the run
            long end = System.currentTimeMillis();
            resources.close();

            List<ShardChecker.Job> jobs = new ArrayList<>();
            MarketHttp operatorHttp = new MarketHttp(stack.operator().token());
            String settlement = stack.urls().get("settlement");
            JsonNode balances = operatorHttp.get(settlement + "/ledger/balances");
            for (Submitted s : submitted) {
                MarketHttp customer = new MarketHttp(apiKeys.get(s.customer()));
                JsonNode batch = customer.get(ingest + "/v1/batches/" + s.batchId());
                boolean delivered = batch.path("status").asText().equals("completed")
                        && batch.path("request_counts").path("completed").asInt() == s.rows();
                JsonNode job = operatorHttp.get(settlement + "/ledger/jobs/" + s.batchId());
                List<ShardChecker.Line> output = delivered
                        ? output(customer, ingest + "/v1/files/" + batch.path("output_file_id").asText() + "/content", s.model()) : null;
                jobs.add(new ShardChecker.Job(s.batchId(), job.path("shardCount").asInt(), delivered,
                        balances.path("balances").path(Accounts.escrow(s.batchId())).asLong(), inputIds(s), output, ROWS_PER_SHARD));
            }
            var ledger = new ShardChecker.Ledger(balances.path("conserved").asBoolean(), balances.path("sumMicros").asLong());
            List<StageObserver.Shard> shards = observer.shards();
            List<ShardChecker.Anomaly> anomalies = ShardChecker.check(shards, jobs, ledger);
            String checker = ShardChecker.summary(anomalies);

            List<Map<String, Object>> cheaters = cheaters(fleet, observer, shards, balances.path("balances"));
            List<String> convictedHonest = observer.fraudByNode().keySet().stream()
                    .filter(node -> !fleet.cheaters().containsKey(node)).sorted().toList();
            if (!convictedHonest.isEmpty()) {
                anomalies = new ArrayList<>(anomalies);
                anomalies.add(new ShardChecker.Anomaly("honest-node-convicted", convictedHonest,
                        "a FRAUD outcome against a node that never cheated"));
                checker = ShardChecker.summary(anomalies);
            }
            LoadReport report = LoadReport.of(scenario, seed, shards, baseline, start, submitEnd, end, observer, fleet.counts(),
                    submitted.size(), submittedRows.get(), submitErrors.get(), List.copyOf(submitErrorSamples), anomalies, cheaters);
            // The services' own view of the run (Prometheus, /q/metrics): leases, verdicts, transfers by kind, conservation.
            Map<String, String> scraped = new LinkedHashMap<>();
            for (String service : List.of("matcher", "verifier", "settlement")) {
                scraped.put(service, stack.urls().get(service));
            }
            report.addServiceMetrics(ServiceMetrics.scrape(scraped, stack.operator().authorization()));
            report.addResources(resources.summary());
            report.summary().put("submit-retries", submitRetries.get());
            if (scenario.realExecutors() != null) {
                Map<String, Object> real = new LinkedHashMap<>();
                real.put("model", REAL_MODEL.id());
                real.put("nodes", stack.executorNodeIds().keySet());
                real.put("batches", submitted.stream().filter(x -> REAL_MODEL.id().equals(x.model())).count());
                real.put("rows", submitted.stream().filter(x -> REAL_MODEL.id().equals(x.model())).mapToLong(Submitted::rows).sum());
                report.summary().put("real-executors", real);
            }
            if (!chaos.isEmpty()) {
                report.addChaos(chaosSummary(shards, fleet));
            }
            List<String> misses = report.sloMisses();
            Path json = report.writeJson(runDir.resolve("load-summary.json"));
            Path html = report.writeHtml(runDir.resolve("load-report.html"));
            out.println();
            out.print(report.text());
            out.println(checker);
            out.println("report: " + html + "\nsummary: " + json);
            int code = !anomalies.isEmpty() ? ANOMALIES : !misses.isEmpty() || submitErrors.get() > 0 ? SLO_MISSED : OK;
            if (submitRetries.get() > 0) {
                out.println("submissions retried: " + submitRetries.get() + " (a service or the broker was away)");
            }
            if (submitErrors.get() > 0) {
                out.println("SLO: " + submitErrors.get() + " submissions failed, e.g. " + submitErrorSamples);
            }
            misses.forEach(m -> out.println("SLO MISSED: " + m));
            out.println(code == OK ? "RESULT: PASS" : "RESULT: FAIL (exit " + code + ")");
            return new Outcome(code, checker, misses, json, html);
        }
    }

    /**
     * Per cheater: its mode, how many of its answers were wrong, whether verification caught it
     * (a FRAUD outcome) and how many of its wrong shards were declared FINAL before (undetected),
     * and what the ledger's stake account holds now (0 once slashed).
     */
    static List<Map<String, Object>> cheaters(SimulatedFleet fleet, StageObserver observer, List<StageObserver.Shard> shards,
            JsonNode balances) {
        java.util.Set<String> corrupted = fleet.corruptedLeases();
        Map<String, Long> caught = observer.fraudByNode();
        List<Map<String, Object>> out = new ArrayList<>();
        fleet.cheaters().forEach((node, mode) -> {
            long wrongFinal = 0;
            long wrongAccepted = 0;
            for (StageObserver.Shard s : shards) {
                if (s.acceptedLeaseId != null && corrupted.contains(s.acceptedLeaseId) && s.acceptedNodeId != null
                        && s.acceptedNodeId.equals(node)) {
                    wrongAccepted++;
                    if (s.outcome == io.inferex.events.OutcomeKind.FINAL) {
                        wrongFinal++;
                    }
                }
            }
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("node", node);
            m.put("mode", mode.toString());
            m.put("wrong-results-accepted", wrongAccepted);
            m.put("caught", caught.containsKey(node));
            m.put("wrong-results-final-undetected", wrongFinal);
            m.put("stake-left-micros", balances.path(Accounts.stake(node)).asLong());
            out.add(m);
        });
        return out;
    }

    /** Heap and disk of the run's services (and of the embedded broker's logs), sampled while it runs. */
    private static ServiceResources resources(LocalStack stack) {
        Map<String, String> urls = new LinkedHashMap<>();
        Map<String, Path> dirs = new LinkedHashMap<>();
        for (String service : List.of("ingest", "matcher", "verifier", "settlement")) {
            String url = stack.urls().get(service);
            if (url != null) {
                urls.put(service, url);
                dirs.put(service, stack.stateDir(service));
            }
        }
        if (stack.brokerDataDir() != null) {
            dirs.put("broker", stack.brokerDataDir());
        }
        return new ServiceResources(urls, dirs, stack.operator().authorization());
    }

    /** Each simulated node gets a deposit and stakes it: the matcher leases only to stake the ledger holds. */
    private void stakeFleet(LocalStack stack, SimulatedFleet fleet) {
        List<Payment> payments = new ArrayList<>();
        for (String node : fleet.nodeIds()) {
            payments.addAll(PaymentGateway.depositAndStake(node, NODE_STAKE_MICROS));
        }
        try (PaymentGateway gateway = new PaymentGateway(stack.paymentGatewayConfig())) {
            gateway.pay(payments);
        }
        out.println("staked " + fleet.size() + " nodes " + Money.format(NODE_STAKE_MICROS) + " units each; challenge window "
                + scenario.challengeWindow().toMillis() + " ms");
    }

    /** What each simulated node stakes. */
    static final long NODE_STAKE_MICROS = Money.units(10);

    private void fundCustomers(LocalStack stack, long maxPrice) {
        // Expected rows over the run, twice over, so the scenario never runs out of money by design.
        double batches = scenario.arrival().process().equals("burst")
                ? Math.ceil(scenario.duration().toMillis() / (double) scenario.arrival().burstEvery().toMillis())
                        * scenario.arrival().batchesPerArrival()
                : scenario.duration().toMillis() / 1000.0 * scenario.arrival().batchesPerSecond();
        long rows = (long) Math.ceil((batches + 1) * scenario.batchRows().max() / scenario.customers()) * 2 + 100;
        long each = Math.multiplyExact(rows, maxPrice);
        List<Payment> payments = new ArrayList<>();
        for (int c = 0; c < scenario.customers(); c++) {
            payments.add(PaymentGateway.payment(Accounts.customer(customer(c)), PaymentKind.DEPOSIT, each));
        }
        try (PaymentGateway gateway = new PaymentGateway(stack.paymentGatewayConfig())) {
            gateway.pay(payments);
        }
        // Ingest escrows a batch at create: wait until it has read every deposit from the ledger.
        for (int c = 0; c < scenario.customers(); c++) {
            new MarketHttp(apiKeys.get(c)).awaitAvailable(stack.urls().get("ingest"), each, Duration.ofSeconds(60));
        }
        out.println("funded " + scenario.customers() + " customers with " + Money.format(each) + " each");
    }

    /** Submits batches on the arrival process until the scenario's duration is over, printing progress. */
    private void drive(String ingest, StageObserver observer, SimulatedFleet fleet) throws Exception {
        ExecutorService submitters = Executors.newFixedThreadPool(Math.min(4, scenario.customers()), r -> {
            Thread t = new Thread(r, "load-customer");
            t.setDaemon(true);
            return t;
        });
        long startNs = System.nanoTime();
        long endNs = startNs + scenario.duration().toNanos();
        double nextNs = startNs;
        long lastProgress = 0;
        int batchNo = 0;
        try {
            while (System.nanoTime() < endNs) {
                long now = System.nanoTime();
                if (now >= nextNs) {
                    for (int b = 0; b < scenario.arrival().batchesPerArrival(); b++) {
                        int no = batchNo++;
                        int customer = random.nextInt(scenario.customers());
                        int rows = Math.max(1, (int) Math.round(scenario.batchRows().draw(random)));
                        // drawn only when real executors are mixed in, so other scenarios keep their seeds' runs
                        String model = scenario.realExecutors() != null && random.nextDouble() < scenario.realExecutors().batchFraction()
                                ? REAL_MODEL.id() : SyntheticHashModel.ID;
                        submitters.submit(() -> submit(ingest, no, customer, rows, model));
                    }
                    nextNs += scenario.arrival().nextGapSeconds(random) * 1e9;
                }
                if (now - lastProgress > 1_000_000_000L) {
                    progress(observer, fleet, (now - startNs) / 1e9);
                    lastProgress = now;
                }
                long sleepMs = Math.max(0, Math.min(100, (long) ((nextNs - System.nanoTime()) / 1e6)));
                Thread.sleep(sleepMs);
            }
        } finally {
            submitters.shutdown();
            submitters.awaitTermination(60, TimeUnit.SECONDS);
        }
    }

    /**
     * Submits one batch as a careful customer does: a failure that is not the customer's fault
     * (no answer, a 5xx: a service or the broker restarting) is retried with backoff for up to
     * {@link #SUBMIT_PATIENCE}; each retry is counted, and only a batch never accepted is an error.
     */
    private void submit(String ingest, int no, int customer, int rows, String model) {
        long deadline = System.nanoTime() + SUBMIT_PATIENCE.toNanos();
        long backoffMs = 250;
        while (true) {
            try {
                submitOnce(ingest, no, customer, rows, model);
                return;
            } catch (IOException | RuntimeException e) {
                boolean customersFault = e instanceof MarketHttp.HttpFailure f && f.status() < 500;
                if (customersFault || System.nanoTime() + backoffMs * 1_000_000 > deadline) {
                    submitErrors.incrementAndGet();
                    if (submitErrorSamples.size() < 5) {
                        submitErrorSamples.add(String.valueOf(e.getMessage()));
                    }
                    return;
                }
                submitRetries.incrementAndGet();
                try {
                    Thread.sleep(backoffMs);
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    return;
                }
                backoffMs = Math.min(5_000, backoffMs * 2);
            }
        }
    }

    /** How long a customer keeps retrying a submission that failed through no fault of its own. */
    static final Duration SUBMIT_PATIENCE = Duration.ofSeconds(120);

    private void submitOnce(String ingest, int no, int customer, int rows, String model) throws IOException {
        Path file = Files.createTempFile(runDir, "batch-" + no + "-", ".jsonl");
        try {
            StringBuilder sb = new StringBuilder();
            for (int i = 0; i < rows; i++) {
                sb.append("{\"custom_id\":\"").append(customId(no, i))
                        .append("\",\"method\":\"POST\",\"url\":\"/v1/embeddings\",\"body\":{\"model\":\"")
                        .append(model).append("\",\"input\":\"").append(inputOf(customId(no, i)))
                        .append("\"}}\n");
            }
            Files.writeString(file, sb, StandardCharsets.UTF_8);
            MarketHttp http = new MarketHttp(apiKeys.get(customer));
            JsonNode uploaded = http.uploadBatchFile(ingest + "/v1/files", file);
            JsonNode batch = http.postJson(ingest + "/v1/batches", Map.of("input_file_id", uploaded.get("id").asText(),
                    "endpoint", "/v1/embeddings", "completion_window", "24h"));
            submitted.add(new Submitted(batch.get("id").asText(), no, customer, rows, System.currentTimeMillis(), model));
            submittedRows.addAndGet(rows);
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** The topics a target writes: once a record arrives on one after its restart, the pipeline moves again. */
    static java.util.Set<String> outputTopics(String target) {
        return switch (target) {
            case "ingest" -> java.util.Set.of(io.inferex.topics.Topics.SHARD_TASKS.name());
            case "matcher" -> java.util.Set.of(io.inferex.topics.Topics.ASSIGNMENTS.name());
            case "verifier" -> java.util.Set.of(io.inferex.topics.Topics.VERDICTS.name(), io.inferex.topics.Topics.VERIFICATION_OUTCOMES.name());
            case "settlement" -> java.util.Set.of(io.inferex.topics.Topics.LEDGER.name());
            case "fleet" -> java.util.Set.of(io.inferex.topics.Topics.RESULTS.name());
            // the broker: any service's output
            default -> java.util.Set.of(io.inferex.topics.Topics.SHARD_TASKS.name(), io.inferex.topics.Topics.ASSIGNMENTS.name(),
                    io.inferex.topics.Topics.VERDICTS.name(), io.inferex.topics.Topics.VERIFICATION_OUTCOMES.name(),
                    io.inferex.topics.Topics.LEDGER.name());
        };
    }

    /**
     * Schedules the scenario's faults and churn, at their offsets from {@code start} (the first
     * submission). A kill is SIGKILL, then the same process started again at once, as
     * {@code inferex up}'s supervisor does after its first backoff; the time to recover is from the
     * kill to the first record the observer receives on one of the target's output topics after the
     * new process was started (nothing written before the kill can arrive that late).
     */
    private java.util.concurrent.ScheduledExecutorService scheduleChaos(LocalStack stack, StageObserver observer,
            SimulatedFleet fleet, long start) {
        var timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "load-chaos");
            t.setDaemon(true);
            return t;
        });
        Random churnRandom = new Random(seed * 31 + 7);
        Scenario.Churn churn = scenario.churn();
        if (churn != null) {
            timer.schedule(() -> {
                List<String> gone = fleet.vanish(churn.fraction(), churnRandom);
                Map<String, Object> e = event("churn-vanish", "nodes", start);
                e.put("nodes", gone.size());
                out.println("CHAOS: " + gone.size() + " of " + fleet.size() + " nodes vanished (no heartbeats, no answers)");
            }, churn.at().toMillis(), TimeUnit.MILLISECONDS);
            timer.schedule(() -> {
                int back = fleet.comeBack();
                Map<String, Object> e = event("churn-return", "nodes", start);
                e.put("nodes", back);
                out.println("CHAOS: " + back + " vanished nodes came back (registered again)");
            }, churn.backAt().toMillis(), TimeUnit.MILLISECONDS);
        }
        for (Scenario.Fault f : scenario.faults()) {
            if (f.network() == null) {
                timer.schedule(() -> kill(stack, observer, f.target(), start), f.at().toMillis(), TimeUnit.MILLISECONDS);
                continue;
            }
            TcpProxy proxy = stack.proxy(f.target());
            var entry = new java.util.concurrent.atomic.AtomicReference<Map<String, Object>>();
            // one timer thread: the start runs before the end
            timer.schedule(() -> entry.set(impair(proxy, f, start)), f.at().toMillis(), TimeUnit.MILLISECONDS);
            timer.schedule(() -> restore(proxy, f, observer, entry.get(), start), f.end().toMillis(), TimeUnit.MILLISECONDS);
        }
        return timer;
    }

    /** Starts a network fault on {@code proxy}'s link; returns its chaos entry (restore completes it). */
    private Map<String, Object> impair(TcpProxy proxy, Scenario.Fault f, long start) {
        Scenario.Network n = f.network();
        Map<String, Object> e = event("network-" + n.mode(), f.target(), start);
        e.put("for-s", f.lasting().toMillis() / 1000.0);
        switch (n.mode()) {
            case "latency" -> {
                Duration fixed = Duration.ofMillis(n.latencyMs());
                Duration jitter = Duration.ofMillis(n.jitterMs());
                if (!n.direction().equals("from-broker")) {
                    proxy.latency(TcpProxy.Direction.TO_UPSTREAM, fixed, jitter);
                }
                if (!n.direction().equals("to-broker")) {
                    proxy.latency(TcpProxy.Direction.TO_CLIENT, fixed, jitter);
                }
                e.put("latency-ms", n.latencyMs());
                e.put("jitter-ms", n.jitterMs());
                e.put("direction", n.direction());
            }
            case "drop" -> {
                proxy.refuse(true);
                e.put("connections-reset", proxy.openConnections());
                proxy.resetConnections();
            }
            case "blackhole" -> proxy.blackhole(true);
            default -> throw new IllegalStateException(n.mode());
        }
        e.put(RESETS_BEFORE, proxy.resets());
        out.println("CHAOS: network " + n.mode() + " between " + f.target() + " and the broker for " + f.lasting().toMillis() / 1000.0
                + " s" + (n.mode().equals("latency") ? " (+" + n.latencyMs() + " ms, jitter " + n.jitterMs() + " ms, " + n.direction() + ")" : ""));
        return e;
    }

    /**
     * Ends a network fault: the link is clean again, and the entry gets when, how many connections the
     * proxy reset during the window, and (in the report) the time from the restore to the first
     * record on the target's output topics received after it.
     */
    private void restore(TcpProxy proxy, Scenario.Fault f, StageObserver observer, Map<String, Object> e, long start) {
        long restoredAt = System.currentTimeMillis();
        proxy.restore();
        if (e == null) {
            return; // the start threw: nothing to report but the restore
        }
        e.put("restored-at-s", Math.round((restoredAt - start) / 100.0) / 10.0);
        e.put("resets-during", proxy.resets() - (long) e.remove(RESETS_BEFORE));
        e.put(PROGRESS_FROM, restoredAt);
        e.put(PROGRESS, observer.firstAfter(outputTopics(f.target()), restoredAt));
        out.println("CHAOS: link between " + f.target() + " and the broker restored");
    }

    private static final String RESETS_BEFORE = "resets-before";
    private static final String PROGRESS_FROM = "progressFromMs";

    private static final String PROGRESS = "progress";

    private Map<String, Object> event(String kind, String target, long start) {
        Map<String, Object> e = new LinkedHashMap<>();
        e.put("kind", kind);
        e.put("target", target);
        e.put("at-s", Math.round((System.currentTimeMillis() - start) / 100.0) / 10.0);
        e.put("atMs", System.currentTimeMillis());
        chaos.add(e);
        return e;
    }

    private void kill(LocalStack stack, StageObserver observer, String target, long start) {
        Map<String, Object> e = event("kill", target, start);
        long killedAt = (long) e.get("atMs");
        try {
            out.println("CHAOS: SIGKILL " + target);
            stack.process(target).kill();
            // completes when the pipeline moves again; taken out of the entry for the report
            e.put(PROGRESS, observer.firstAfter(outputTopics(target), System.currentTimeMillis()));
            stack.restart(target);
            e.put("kill-to-ready-ms", System.currentTimeMillis() - killedAt);
            out.println("CHAOS: " + target + " restarted and ready " + e.get("kill-to-ready-ms") + " ms after the kill");
        } catch (RuntimeException ex) {
            e.put("error", String.valueOf(ex.getMessage()));
            out.println("CHAOS: restart of " + target + " failed: " + ex.getMessage());
        }
    }

    /**
     * The chaos entries for the report: a kill with its time to ready and to progress; churn with
     * the work the vanished nodes took with them and when the last of it was accepted from a new
     * lease (the market had re-leased and redone all of it).
     */
    private List<Map<String, Object>> chaosSummary(List<StageObserver.Shard> shards, SimulatedFleet fleet) {
        List<Map<String, Object>> out = new ArrayList<>();
        Map<String, StageObserver.Shard> byId = new java.util.HashMap<>();
        shards.forEach(s -> byId.put(s.taskId, s));
        synchronized (chaos) {
            for (Map<String, Object> e : chaos) {
                Map<String, Object> m = new LinkedHashMap<>(e);
                long at = (long) m.remove("atMs");
                Object from = m.remove(PROGRESS_FROM);
                if (m.remove(PROGRESS) instanceof java.util.concurrent.CompletableFuture<?> recovered) {
                    Long moved = (Long) recovered.getNow(null);
                    long since = from == null ? at : (long) from;
                    m.put(from == null ? "kill-to-progress-ms" : "restore-to-progress-ms", moved == null ? "no progress seen" : moved - since);
                }
                if (from != null && !m.get("target").equals("ingest")) {
                    m.put("restore-to-caught-up-ms", caughtUp(shards, (String) m.get("target"), (long) from));
                }
                if (e.get("kind").equals("churn-vanish")) {
                    // Re-executions (verification ids) abandoned are re-leased too, but are not shards: counted apart.
                    java.util.Set<String> all = fleet.abandonedTasks();
                    List<String> tasks = all.stream().filter(t -> !io.inferex.market.VerificationIds.isVerification(t)).toList();
                    m.put("re-executions-abandoned", all.size() - tasks.size());
                    long last = 0;
                    long redone = 0;
                    for (String t : tasks) {
                        StageObserver.Shard s = byId.get(t);
                        if (s != null && s.verdict > 0) {
                            redone++;
                            last = Math.max(last, s.verdict);
                        }
                    }
                    m.put("leases-abandoned", fleet.counts().leasesAbandoned());
                    m.put("shards-abandoned", tasks.size());
                    m.put("shards-abandoned-then-accepted", redone);
                    m.put("vanish-to-last-abandoned-accepted-ms", redone == 0 ? "none" : Math.max(0, last - at));
                }
                out.add(m);
            }
        }
        return out;
    }

    /**
     * After a network fault on {@code target}'s link ends at {@code restoredAt}: how long until every
     * shard that was waiting on the target then (its input to the target's stage seen before the
     * restore) had passed that stage: for the matcher accepted then assigned, for the verifier a
     * result then a verdict, for settlement FINAL then paid, for the fleet assigned then a result. The backlog the fault left, worked
     * off; 0 when nothing was waiting, "never" when some shard never got there.
     */
    static Object caughtUp(List<StageObserver.Shard> shards, String target, long restoredAt) {
        long last = restoredAt;
        for (StageObserver.Shard s : shards) {
            long[] inOut = switch (target) {
                case "matcher" -> new long[] {s.accepted, s.assigned};
                case "verifier" -> new long[] {s.result, s.verdict};
                case "settlement" -> new long[] {s.outcome == io.inferex.events.OutcomeKind.FINAL ? s.resolved : 0, s.paid};
                case "fleet" -> new long[] {s.assigned, s.result};
                default -> throw new IllegalArgumentException("no stage to catch up for a network fault on " + target);
            };
            if (inOut[0] == 0 || inOut[0] >= restoredAt) {
                continue;
            }
            if (inOut[1] == 0) {
                return "never";
            }
            last = Math.max(last, inOut[1]);
        }
        return last - restoredAt;
    }

    /** The custom ids of a submitted batch, in input order (as {@link #submit} writes them). */
    static List<String> inputIds(Submitted s) {
        List<String> ids = new ArrayList<>(s.rows());
        for (int i = 0; i < s.rows(); i++) {
            ids.add(customId(s.no(), i));
        }
        return ids;
    }

    static String customId(int batchNo, int row) {
        return "b" + batchNo + "-r" + row;
    }

    /** The input text of a row: a function of its custom id, so the checker knows what the model must answer. */
    static String inputOf(String customId) {
        int r = customId.indexOf("-r");
        return "load batch " + customId.substring(1, r) + " row " + customId.substring(r + 2);
    }

    /** A delivered output file, each line checked against {@link SyntheticHashModel} for its input. */
    private List<ShardChecker.Line> output(MarketHttp customer, String url, String model) throws IOException {
        Path file = Files.createTempFile(runDir, "output-", ".jsonl");
        try {
            customer.download(url, file);
            List<ShardChecker.Line> lines = new ArrayList<>();
            for (String text : Files.readAllLines(file, StandardCharsets.UTF_8)) {
                JsonNode line = JSON.readTree(text);
                String id = line.path("custom_id").asText();
                JsonNode e = line.path("response").path("body").path("data").path(0).path("embedding");
                float[] got = null;
                if (e.isArray()) {
                    got = new float[e.size()];
                    for (int i = 0; i < got.length; i++) {
                        got[i] = (float) e.get(i).asDouble();
                    }
                }
                boolean correct = id.matches("b\\d+-r\\d+") && (SyntheticHashModel.ID.equals(model)
                        ? ShardChecker.matches(SyntheticHashModel.embed(inputOf(id)), got)
                        : ShardChecker.wellFormed(got, REAL_MODEL.dimension()));
                lines.add(new ShardChecker.Line(id, line.path("inferex").path("verification").asText(), correct));
            }
            return lines;
        } finally {
            Files.deleteIfExists(file);
        }
    }

    /** Waits until every submitted job's shards are paid (or found fraudulent), or the drain timeout. */
    private void drain(StageObserver observer, SimulatedFleet fleet) throws InterruptedException {
        long deadline = System.nanoTime() + scenario.drainTimeout().toNanos();
        long t0 = System.nanoTime();
        long expectedShards = submitted.stream().mapToLong(s -> (s.rows() + ROWS_PER_SHARD - 1) / ROWS_PER_SHARD).sum();
        while (System.nanoTime() < deadline) {
            long[] p = observer.progress();
            if (p[StageObserver.ACCEPTED] >= expectedShards
                    && p[StageObserver.PAID] + observer.fraudulent() >= p[StageObserver.ACCEPTED]) {
                break;
            }
            progress(observer, fleet, -(System.nanoTime() - t0) / 1e9);
            Thread.sleep(1_000);
        }
        Thread.sleep(500); // the last job-status and refund records
    }

    private void progress(StageObserver observer, SimulatedFleet fleet, double seconds) {
        long[] p = observer.progress();
        out.printf("%s %5.1fs  batches %d (%d rows, %d failed)  shards: accepted %d  assigned %d  result %d  verdict %d  final %d  "
                + "paid %d  | re-executions %d | dead letters %d | fleet results %d%n", seconds >= 0 ? "load " : "drain",
                Math.abs(seconds), submitted.size(), submittedRows.get(), submitErrors.get(), p[0], p[1], p[2], p[3], p[4], p[5],
                observer.verification().leases(), observer.deadLetters(), fleet.counts().results());
    }

    static String customer(int c) {
        return "load-" + c;
    }
}
