package io.inferex.local;

import io.inferex.security.BusAccess;
import io.inferex.security.BusCredentials;
import io.inferex.security.OperatorToken;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * The whole market on one machine: the embedded broker as a child JVM (or an external cluster),
 * every catalogue topic, and one JVM per service. {@link #close} stops everything it started,
 * services first, the broker last.
 */
public final class LocalStack implements AutoCloseable {
    /**
     * What to start. {@code serviceProperties} are passed to every service as {@code -Dkey=value}
     * (e.g. {@code inferex.matcher.lease-timeout}); each service ignores the ones it does not know.
     */
    public record Options(Path home, Path runDir, String externalBootstrap, int executors, Duration readyTimeout,
            Map<String, String> serviceProperties, Path externalClientConfig, boolean insecureNoAuth) {
        public Options(Path home, Path runDir, String externalBootstrap, int executors, Duration readyTimeout) {
            this(home, runDir, externalBootstrap, executors, readyTimeout, Map.of(), null, false);
        }

        public Options(Path home, Path runDir, String externalBootstrap, int executors, Duration readyTimeout,
                Map<String, String> serviceProperties) {
            this(home, runDir, externalBootstrap, executors, readyTimeout, serviceProperties, null, false);
        }
    }

    /**
     * What {@code up} stakes for each executor it starts, from outside the market (a DEPOSIT to
     * {@code node:<id>}, then a STAKE of all of it): the matcher leases work only to nodes whose
     * stake the ledger holds, never to the stake a registration claims.
     */
    public static final long EXECUTOR_STAKE_MICROS = io.inferex.market.Money.units(10);
    /** The verifier's and settlement's challenge window, when a run sets it (services default to 10 min). */
    public static final String CHALLENGE_WINDOW_KEYS = "inferex.verifier.challenge-window,inferex.settlement.challenge-window";
    private static final Duration SERVICE_DEFAULT_CHALLENGE_WINDOW = Duration.ofMinutes(10);
    private static final Duration SERVICE_DEFAULT_UNSTAKE_COOLDOWN = Duration.ofMinutes(30);

    /**
     * Service properties that set the challenge window of a run for the verifier and settlement
     * alike (they must agree), and an unstake cooldown longer than it.
     */
    public static Map<String, String> challengeWindowProperties(Duration window) {
        if (window.isNegative() || window.isZero()) {
            throw new IllegalArgumentException("a challenge window must be positive: " + window);
        }
        Map<String, String> props = new LinkedHashMap<>();
        for (String key : CHALLENGE_WINDOW_KEYS.split(",")) {
            props.put(key, window.toString());
        }
        Duration cooldown = window.multipliedBy(3);
        props.put("inferex.settlement.unstake-cooldown",
                (cooldown.compareTo(SERVICE_DEFAULT_UNSTAKE_COOLDOWN) > 0 ? cooldown : SERVICE_DEFAULT_UNSTAKE_COOLDOWN).toString());
        return props;
    }

    /** The Kafka Streams apps: their main consumers join their groups as static members (see {@link #command}). */
    static final java.util.Set<String> STREAM_APPS = java.util.Set.of("matcher", "verifier", "settlement");

    /** Model files shared by the executors the launcher starts, under the home (git-ignored). */
    public static final String MODEL_CACHE = ".inferex/model-cache";
    /** The operator's client config of a run, for Kafka tools and the {@code ./inferex} commands. */
    public static final String CLIENT_PROPERTIES = "client.properties";
    /** Per-principal client configs (0600) of a run: {@code secrets/<principal>.properties}. */
    public static final String SECRETS = "secrets";

    /**
     * An executor started on a running stack ({@link #startExecutors}) beside the stack's own, with
     * properties that only it gets (e.g. {@code inferex.node.adversary}, its price or slots); they
     * override the stack's {@code serviceProperties}.
     */
    public record ExtraExecutor(String name, Map<String, String> properties) {
        public ExtraExecutor {
            if (!name.startsWith("executor-")) {
                throw new IllegalArgumentException("an executor's name starts with executor-: " + name);
            }
            properties = Map.copyOf(properties);
        }
    }

    private final Options options;
    /** The services whose Kafka traffic goes through a {@link TcpProxy} of this stack (network faults), by name. */
    private final java.util.Set<String> proxied;
    private final Map<String, TcpProxy> proxies = new LinkedHashMap<>();
    // Guarded by this: startExecutors may run beside a caller reading urls() or executorNodeIds().
    private final List<ManagedProcess> processes = new ArrayList<>();
    private final Map<String, String> urls = new LinkedHashMap<>();
    /** Every executor started, staked or not, by name. */
    private final Map<String, String> startedNodeIds = new java.util.TreeMap<>();
    /** The executors staked, by name. */
    private final Map<String, String> nodeIds = new java.util.TreeMap<>();
    private ManagedProcess broker;
    private OperatorCredential httpOperator;
    private String bootstrap;
    private Map<String, Object> operator;
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();

    private LocalStack(Options options, java.util.Set<String> proxied) {
        this.options = options;
        this.proxied = java.util.Set.copyOf(proxied);
    }

    /** Starts the stack and returns once every service reports ready; on failure stops what started. */
    public static LocalStack start(Options options, PrintStream progress) {
        return start(options, java.util.Set.of(), progress);
    }

    /**
     * As {@link #start(Options, PrintStream)}, with each service named in {@code behindProxies}
     * (ingest, matcher, verifier, settlement; or {@link #FLEET}, the load harness's clients) talking to the embedded broker only through its own
     * {@link TcpProxy} ({@link #proxy}), so a test can delay, reset or blackhole that service's link
     * alone. The broker gets a listener per proxied service that advertises the proxy's port
     * ({@link EmbeddedKafkaBroker.ProxiedListener}): the service learns the proxy, not the broker,
     * from its metadata, and every connection it opens goes through the proxy.
     */
    public static LocalStack start(Options options, java.util.Set<String> behindProxies, PrintStream progress) {
        if (!behindProxies.isEmpty() && options.externalBootstrap() != null) {
            throw new IllegalArgumentException("services behind a proxy need the embedded broker, not " + options.externalBootstrap());
        }
        LocalStack stack = new LocalStack(options, behindProxies);
        try {
            stack.startAll(progress);
            return stack;
        } catch (RuntimeException e) {
            stack.close();
            throw e;
        }
    }

    private void startAll(PrintStream progress) {
        ServiceSpec.market(options.executors()).forEach(this::requireJar);
        try {
            Files.createDirectories(options.runDir());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        httpOperator = OperatorCredential.create(options.runDir());
        if (options.externalBootstrap() == null) {
            progress.println("starting embedded Kafka broker (KRaft) ...");
            List<String> brokerCommand = new ArrayList<>(List.of(javaBinary(), "-Xmx512m",
                    "-cp", launcherClassPath(), InferexCli.class.getName(), "broker",
                    "--data-dir", options.runDir().resolve("kafka").toString(), "--exit-with-parent"));
            brokerCommand.addAll(startProxies(progress));
            broker = ManagedProcess.start("broker", brokerCommand,
                    options.home(), options.runDir().resolve("logs/broker.log"), l -> l.startsWith("READY "));
            String ready = broker.awaitLine(options.readyTimeout());
            bootstrap = ready.substring(ready.indexOf("bootstrap=") + "bootstrap=".length()).trim().split(" ")[0];
            operator = BusCredentials.read(options.runDir().resolve("kafka").resolve(EmbeddedKafkaBroker.OPERATOR_CONFIG));
        } else {
            bootstrap = options.externalBootstrap();
            if (options.insecureNoAuth()) {
                progress.println("WARNING: --insecure-no-auth: the bus has no authentication and no ACLs");
                operator = BusCredentials.unauthenticated(bootstrap);
            } else if (options.externalClientConfig() != null) {
                operator = new LinkedHashMap<>(BusCredentials.read(options.externalClientConfig()));
                operator.put("bootstrap.servers", bootstrap);
            } else {
                throw new IllegalStateException("--bootstrap-servers needs the operator's --client-config (or --insecure-no-auth)");
            }
        }
        BusCredentials.write(options.runDir().resolve(CLIENT_PROPERTIES), operator);
        var report = TopicProvisioner.ensureTopics(operator, (short) 1, Topics.ALL);
        progress.println("topics: " + report.created().size() + " created, " + report.existing().size() + " already there");
        List<ServiceSpec> market = ServiceSpec.market(options.executors());
        launch(market, Map.of(), provisionPrincipals(market, true, progress), progress);
        stake(market.stream().map(ServiceSpec::name).filter(n -> n.startsWith("executor-")).toList(), progress);
    }

    /**
     * One proxy per service in {@link #proxied}, each forwarding to a broker listener of its own
     * whose advertised port is the proxy's; returns the broker's {@code --proxied-listener} arguments.
     */
    private List<String> startProxies(PrintStream progress) {
        List<String> args = new ArrayList<>();
        for (String service : new java.util.TreeSet<>(proxied)) {
            if (!STREAM_APPS.contains(service) && !service.equals("ingest") && !service.equals(FLEET)) {
                throw new IllegalArgumentException("only ingest, matcher, verifier, settlement and the fleet can be put behind a proxy: "
                        + service);
            }
            int brokerPort = EmbeddedKafkaBroker.freePort();
            TcpProxy proxy = TcpProxy.start("broker-" + service, 0,
                    new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(), brokerPort));
            synchronized (this) {
                proxies.put(service, proxy);
            }
            var listener = new EmbeddedKafkaBroker.ProxiedListener("VIA_" + service.toUpperCase(java.util.Locale.ROOT), brokerPort,
                    proxy.port());
            args.add("--proxied-listener");
            args.add(listener.toString());
            progress.println("network proxy: " + service + " -> 127.0.0.1:" + proxy.port() + " -> broker listener " + listener);
        }
        return args;
    }

    /**
     * The name under which the load harness's simulated fleet (clients in the harness, not a service
     * of the stack) can be put behind a proxy: its clients bootstrap at {@link #bootstrapVia}.
     */
    public static final String FLEET = "fleet";

    /**
     * The bootstrap address for clients of {@code name} that must stay behind its proxy: the proxy's
     * port, whose broker listener advertises that port, so every connection they open goes through it.
     */
    public String bootstrapVia(String name) {
        return "127.0.0.1:" + proxy(name).port();
    }

    /** The proxy between {@code service} and the broker (a stack started with it behind one). */
    public synchronized TcpProxy proxy(String service) {
        TcpProxy p = proxies.get(service);
        if (p == null) {
            throw new IllegalArgumentException(service + " is not behind a proxy on this stack (behind one: " + proxies.keySet() + ")");
        }
        return p;
    }

    /** The bootstrap address a service is given: its proxy's when it is behind one. */
    private synchronized String bootstrapFor(String service) {
        TcpProxy p = proxies.get(service);
        return p == null ? bootstrap : "127.0.0.1:" + p.port();
    }

    /**
     * Starts more executors on this running stack, each with its own principal, node home and
     * properties, and returns once every one reports ready, with their node ids by name. They are
     * not staked (so the matcher leases them nothing) until {@link #stake} is called: a test can
     * start them while other work runs and let them compete only when it chooses.
     */
    public Map<String, String> startExecutors(List<ExtraExecutor> executors, PrintStream progress) {
        List<ServiceSpec> specs = new ArrayList<>();
        Map<String, Map<String, String>> properties = new LinkedHashMap<>();
        for (ExtraExecutor e : executors) {
            synchronized (this) {
                if (urls.containsKey(e.name()) || properties.containsKey(e.name())) {
                    throw new IllegalArgumentException("an executor named " + e.name() + " is already started");
                }
            }
            specs.add(new ServiceSpec(e.name(), "executor", "executor"));
            properties.put(e.name(), e.properties());
        }
        launch(specs, properties, provisionPrincipals(specs, false, progress), progress);
        Map<String, String> ids = new java.util.TreeMap<>();
        synchronized (this) {
            specs.forEach(s -> ids.put(s.name(), startedNodeIds.get(s.name())));
        }
        return ids;
    }

    /**
     * Starts another ingest instance on this running stack (several instances serve the same
     * customers: their files and batches are in the log), named {@code ingest-N}, under the ingest
     * principal's credential, with its own port, transactional id and data dir
     * ({@code state/<name>/ingest-data}); returns its URL once it reports ready. Like every process
     * of the stack it can be killed and restarted by name.
     */
    public String startIngest(String name, PrintStream progress) {
        if (!name.matches("ingest-[0-9]+")) {
            throw new IllegalArgumentException("another ingest instance is named ingest-N: " + name);
        }
        synchronized (this) {
            if (urls.containsKey(name)) {
                throw new IllegalArgumentException(name + " is already started");
            }
        }
        ServiceSpec spec = new ServiceSpec(name, "ingest", "ingest");
        Map<String, Path> secrets = options.insecureNoAuth() ? Map.of()
                : Map.of(name, options.runDir().resolve(SECRETS).resolve(BusAccess.INGEST.principal() + ".properties"));
        launch(List.of(spec), Map.of(), secrets, progress);
        return urls().get(name);
    }

    private void requireJar(ServiceSpec spec) {
        if (!Files.isRegularFile(spec.jar(options.home()))) {
            throw new IllegalStateException(spec.jar(options.home()) + " is missing: build with ./mvnw -DskipTests package");
        }
    }

    /** Starts each service's JVM, waits until every one is ready, and records each executor's node id. */
    private void launch(List<ServiceSpec> specs, Map<String, Map<String, String>> ownProperties, Map<String, Path> secrets,
            PrintStream progress) {
        Map<String, CompletableFuture<Void>> health = new LinkedHashMap<>();
        Map<String, String> started = new LinkedHashMap<>();
        specs.forEach(this::requireJar);
        for (ServiceSpec spec : specs) {
            int port = EmbeddedKafkaBroker.freePort();
            String url = "http://127.0.0.1:" + port;
            ManagedProcess p = ManagedProcess.start(spec.name(),
                    command(spec, port, secrets.get(spec.name()), ownProperties.getOrDefault(spec.name(), Map.of())),
                    options.home(), options.runDir().resolve("logs/" + spec.name() + ".log"), l -> false);
            synchronized (this) {
                processes.add(p);
            }
            started.put(spec.name(), url);
            health.put(spec.name(), CompletableFuture.runAsync(() -> awaitHealthy(p, url)));
        }
        progress.println("waiting for " + health.size() + " services to report ready ...");
        for (var e : health.entrySet()) {
            try {
                e.getValue().join();
            } catch (java.util.concurrent.CompletionException ex) {
                throw ex.getCause() instanceof RuntimeException r ? r : ex;
            }
        }
        Map<String, String> ids = new LinkedHashMap<>();
        started.forEach((name, url) -> {
            if (name.startsWith("executor-")) {
                ids.put(name, nodeIdOf(url));
            }
        });
        synchronized (this) {
            urls.putAll(started);
            startedNodeIds.putAll(ids);
        }
    }

    /**
     * Stakes each named executor of this stack {@link #EXECUTOR_STAKE_MICROS} through the payment
     * gateway (a deposit to its node account, then a stake of all of it); from then on
     * {@link #executorNodeIds} lists it.
     */
    public void stake(List<String> executorNames, PrintStream progress) {
        List<io.inferex.events.Payment> payments = new ArrayList<>();
        Map<String, String> staked = new java.util.TreeMap<>();
        synchronized (this) {
            for (String name : executorNames) {
                String nodeId = startedNodeIds.get(name);
                if (nodeId == null) {
                    throw new IllegalArgumentException("no executor " + name + " was started on this stack");
                }
                if (!nodeIds.containsKey(name)) {
                    staked.put(name, nodeId);
                    payments.addAll(PaymentGateway.depositAndStake(nodeId, EXECUTOR_STAKE_MICROS));
                }
            }
        }
        if (payments.isEmpty()) {
            return;
        }
        try (PaymentGateway gateway = new PaymentGateway(paymentGatewayConfig())) {
            gateway.pay(payments);
        }
        synchronized (this) {
            nodeIds.putAll(staked);
        }
        progress.println("staked " + staked.size() + " executors " + io.inferex.market.Money.format(EXECUTOR_STAKE_MICROS)
                + " units each (deposit, then stake): " + staked);
    }

    /** {@code GET /node} of an executor (no credential: it is the node's public self-description). */
    private String nodeIdOf(String url) {
        try {
            var res = http.send(HttpRequest.newBuilder(URI.create(url + "/node")).timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
            if (res.statusCode() != 200) {
                throw new IllegalStateException("GET " + url + "/node answered " + res.statusCode() + ": " + res.body());
            }
            return MarketHttp.JSON.readTree(res.body()).get("nodeId").asText();
        } catch (IOException e) {
            throw new UncheckedIOException("GET " + url + "/node", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }

    /** Node id of each executor this stack started and staked, by service name (executor-1, ...). */
    public synchronized Map<String, String> executorNodeIds() {
        return Map.copyOf(nodeIds);
    }

    /** The challenge window the verifier and settlement of this run use. */
    public Duration challengeWindow() {
        String v = options.serviceProperties().get(CHALLENGE_WINDOW_KEYS.split(",")[0]);
        return v == null ? SERVICE_DEFAULT_CHALLENGE_WINDOW : Duration.parse(v);
    }

    /**
     * Gives every service and executor its own principal: a fresh password, the SCRAM user and its
     * ACLs from {@link BusAccess}, and a 0600 Quarkus config file with its credential, which the
     * service reads through {@code quarkus.config.locations} (no secret on a command line).
     */
    private Map<String, Path> provisionPrincipals(List<ServiceSpec> specs, boolean withPaymentGateway, PrintStream progress) {
        if (options.insecureNoAuth()) {
            return Map.of();
        }
        Map<String, BusAccess.Grant> rows = new LinkedHashMap<>();
        for (ServiceSpec spec : specs) {
            rows.put(spec.name(), spec.role().equals("executor") ? BusAccess.node(spec.name())
                    : BusAccess.SERVICES.stream().filter(g -> g.principal().equals(spec.role())).findFirst().orElseThrow());
        }
        if (withPaymentGateway) {
            rows.put(BusAccess.PAYMENT_GATEWAY.principal(), BusAccess.PAYMENT_GATEWAY);
        }
        Map<String, Path> files = ProvisionCommand.provision(operator, rows,
                name -> options.runDir().resolve(SECRETS).resolve(name + ".properties"));
        progress.println("principals: " + specs.size() + " services and nodes" + (withPaymentGateway ? " + payment-gateway" : "")
                + ", each with its own credential and ACLs");
        return files;
    }

    /** The payment gateway's client config of a run. */
    public static Path paymentGatewayConfigFile(Path runDir) {
        return runDir.resolve(SECRETS).resolve(BusAccess.PAYMENT_GATEWAY.principal() + ".properties");
    }

    /** A client config's security settings as Quarkus keys for Kafka clients, SmallRye channels and Kafka Streams. */
    static Map<String, Object> quarkusSecurityConfig(Map<String, Object> client) {
        Map<String, Object> config = new LinkedHashMap<>();
        client.forEach((k, v) -> {
            if (!k.equals("bootstrap.servers")) {
                config.put("kafka." + k, v);
                config.put("kafka-streams." + k, v);
            }
        });
        return config;
    }

    private List<String> command(ServiceSpec spec, int port, Path secrets, Map<String, String> ownProperties) {
        Path state = stateDir(spec.name());
        List<String> cmd = new ArrayList<>(List.of(javaBinary(), "-Xmx384m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                "-Dquarkus.http.port=" + port,
                "-Dquarkus.http.host=127.0.0.1",
                "-Dkafka.bootstrap.servers=" + bootstrapFor(spec.name()),
                "-Dkafka-streams.state.dir=" + state,
                "-Dinferex.node.name=" + spec.name(),
                "-Dinferex.node.home=" + state,
                "-D" + OperatorToken.CONFIG_KEY + "=" + httpOperator.sha256())); // its hash only, never the token
        if (STREAM_APPS.contains(spec.role())) {
            // Static group membership: a stream app restarted after a crash (supervisor, chaos run)
            // takes its partitions back at once, instead of waiting out its dead self's session
            // timeout (45 s) before the group rebalances. One instance per app here, so its name is unique.
            cmd.add("-Dkafka-streams.consumer.group.instance.id=" + spec.name());
        }
        if (spec.role().equals("executor")) {
            // One copy of the model files for every executor of the machine, verified once (ModelFiles).
            cmd.add("-Dinferex.node.model-dir=" + options.home().resolve(MODEL_CACHE).toAbsolutePath().normalize());
        }
        if (secrets != null) {
            cmd.add("-Dquarkus.config.locations=" + secrets.toUri());
        }
        Map<String, String> properties = new LinkedHashMap<>(options.serviceProperties());
        properties.putAll(ownProperties);
        properties.forEach((k, v) -> cmd.add("-D" + k + "=" + v));
        cmd.add("-jar");
        cmd.add(spec.jar(options.home()).toString());
        return cmd;
    }

    private void awaitHealthy(ManagedProcess p, String url) {
        long deadline = System.nanoTime() + options.readyTimeout().toNanos();
        HttpRequest req = HttpRequest.newBuilder(URI.create(url + "/q/health/ready")).timeout(Duration.ofSeconds(3)).build();
        while (System.nanoTime() < deadline) {
            if (!p.isAlive()) {
                throw new IllegalStateException(p.name() + " exited (code " + p.exitCode() + ") before it was ready; see " + p.logFile());
            }
            try {
                if (http.send(req, HttpResponse.BodyHandlers.discarding()).statusCode() == 200) {
                    return;
                }
            } catch (IOException e) {
                // not listening yet
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted");
            }
            sleep(250);
        }
        throw new IllegalStateException(p.name() + " was not ready within " + options.readyTimeout().toSeconds()
                + " s; see " + p.logFile());
    }

    /**
     * A crash and a restart of {@code name} (a service, an executor, or {@code broker}): SIGKILL to
     * its JVM and descendants, then {@link #restart}.
     */
    public ManagedProcess killAndRestart(String name) {
        process(name).kill();
        return restart(name);
    }

    /**
     * Starts the exited process {@code name} again with the same command (same port, config, state
     * or data directory; the broker comes back on its ports, see {@link EmbeddedKafkaBroker#ports}),
     * its log appended to, and returns it once it reports ready, as at start-up. The new process
     * replaces the old one in {@link #processes} before the wait, so a restart that dies before it is
     * ready is seen as exited.
     */
    public ManagedProcess restart(String name) {
        ManagedProcess old = process(name);
        ManagedProcess restarted = old.restart();
        String url;
        synchronized (this) {
            if (old == broker) {
                broker = restarted;
            } else {
                processes.set(processes.indexOf(old), restarted);
            }
            url = urls.get(name);
        }
        if (url == null) {
            restarted.awaitLine(options.readyTimeout());
        } else {
            awaitHealthy(restarted, url);
        }
        return restarted;
    }

    /** The current process named {@code name}. */
    public synchronized ManagedProcess process(String name) {
        if (broker != null && broker.name().equals(name)) {
            return broker;
        }
        return processes.stream().filter(p -> p.name().equals(name)).reduce((a, b) -> b)
                .orElseThrow(() -> new IllegalArgumentException("no process " + name + " on this stack"));
    }

    private ServiceSupervisor supervisor;

    /**
     * From now on, restarts any of this stack's processes that exits, with {@code policy}'s backoff
     * ({@link ServiceSupervisor}); {@link #close} stops supervising before it stops anything.
     */
    public synchronized ServiceSupervisor supervise(RestartPolicy policy, PrintStream out) {
        if (supervisor != null) {
            throw new IllegalStateException("already supervised");
        }
        supervisor = new ServiceSupervisor(this, policy, out, System::currentTimeMillis);
        return supervisor;
    }

    public String bootstrapServers() {
        return bootstrap;
    }

    /** The operator's client config (a super user on an authenticated bus). */
    public Map<String, Object> operatorConfig() {
        return operator;
    }

    /** The payment gateway's client config (unauthenticated only with --insecure-no-auth). */
    public Map<String, Object> paymentGatewayConfig() {
        return options.insecureNoAuth() ? operator : BusCredentials.read(paymentGatewayConfigFile(options.runDir()));
    }

    public Path runDir() {
        return options.runDir();
    }

    /** A service's directory on disk: its Kafka Streams state, ingest's data dir, an executor's node home. */
    public Path stateDir(String service) {
        return options.runDir().resolve("state").resolve(service);
    }

    /** The embedded broker's data directory (its topics' logs), or null on an external cluster. */
    public Path brokerDataDir() {
        return options.externalBootstrap() == null ? options.runDir().resolve("kafka") : null;
    }

    /** Base URL of each service by name (ingest, matcher, verifier, settlement, executor-N). */
    public synchronized Map<String, String> urls() {
        return Map.copyOf(urls);
    }

    /** This run's operator HTTP credential (matcher, verifier and settlement endpoints other than health). */
    public OperatorCredential operator() {
        return httpOperator;
    }

    public synchronized List<ManagedProcess> processes() {
        List<ManagedProcess> all = new ArrayList<>(processes);
        if (broker != null) {
            all.add(broker);
        }
        return all;
    }

    /** The one line that tells a person (or a script) where everything is. */
    public synchronized String readyLine() {
        StringBuilder sb = new StringBuilder("READY bootstrap=").append(bootstrap)
                .append(" client-config=").append(options.runDir().resolve(CLIENT_PROPERTIES));
        urls.forEach((name, url) -> sb.append(' ').append(name).append('=').append(url));
        return sb.toString();
    }

    @Override
    public void close() {
        ServiceSupervisor watching;
        synchronized (this) {
            watching = supervisor;
        }
        if (watching != null) {
            watching.close(); // a stop is not a crash; outside the lock: a restart in progress may need it
        }
        stopAll();
    }

    private synchronized void stopAll() {
        // Services first, in parallel (each has a grace period), then the broker they talk to.
        List<CompletableFuture<Void>> stops = processes.stream()
                .map(p -> CompletableFuture.runAsync(() -> p.stop(Duration.ofSeconds(20)))).toList();
        stops.forEach(CompletableFuture::join);
        processes.clear();
        if (broker != null) {
            broker.stop(Duration.ofSeconds(20));
            broker = null;
        }
        proxies.values().forEach(TcpProxy::close); // after the services: they stop cleanly through them
        proxies.clear();
    }

    /** The packaged launcher (its manifest names its libs) when built, else this JVM's class path. */
    private String launcherClassPath() {
        Path jar = options.home().resolve("local-launcher/target/local-launcher.jar");
        return Files.isRegularFile(jar) ? jar.toString() : System.getProperty("java.class.path");
    }

    static String javaBinary() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
