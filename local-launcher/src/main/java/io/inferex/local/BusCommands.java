package io.inferex.local;

import io.inferex.events.PaymentKind;
import io.inferex.market.Accounts;
import io.inferex.security.BusAccess;
import io.inferex.security.BusCredentials;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code ./inferex nodes ...}, {@code fund}, {@code withdraw}, {@code unstake}: operator commands against a running market. */
public final class BusCommands {
    private BusCommands() {}

    /** Where the market is: a run dir of {@code ./inferex up}, or a cluster and a client config. */
    static class Target {
        @Option(names = "--run-dir", description = "Run dir of a running `./inferex up` (default: the newest under .inferex/runs).")
        Path runDir;

        @Option(names = "--bootstrap-servers", description = "The cluster (with --client-config).")
        String bootstrapServers;

        @Option(names = "--client-config", description = "Client properties file: the operator's (nodes) or the payment gateway's (fund, withdraw).")
        Path clientConfig;

        /** The client config to use: {@code --client-config} (with its bootstrap replaced), else the run dir's {@code fileInRun}. */
        Map<String, Object> config(java.util.function.Function<Path, Path> fileInRun) {
            if (clientConfig != null) {
                Map<String, Object> c = new LinkedHashMap<>(BusCredentials.read(clientConfig));
                if (bootstrapServers != null) {
                    c.put("bootstrap.servers", bootstrapServers);
                }
                return c;
            }
            if (bootstrapServers != null) {
                throw new IllegalArgumentException("--bootstrap-servers needs --client-config");
            }
            Path dir = runDir != null ? runDir : newestRun();
            Path file = fileInRun.apply(dir);
            if (!Files.isRegularFile(file)) {
                throw new IllegalArgumentException(file + " is missing: is `./inferex up` running with that run dir?");
            }
            return BusCredentials.read(file);
        }

        Map<String, Object> operator() {
            return config(dir -> dir.resolve(LocalStack.CLIENT_PROPERTIES));
        }
    }

    public static Path newestRun() {
        Path runs = InferexCli.home().resolve(".inferex/runs");
        try (var dirs = Files.list(runs)) {
            return dirs.filter(d -> Files.isRegularFile(d.resolve(LocalStack.CLIENT_PROPERTIES)))
                    .max(java.util.Comparator.comparing(d -> d.resolve(LocalStack.CLIENT_PROPERTIES).toFile().lastModified()))
                    .orElseThrow(() -> new IllegalArgumentException("no run under " + runs + "; give --run-dir or --client-config"));
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException("no run under " + runs + "; give --run-dir or --client-config");
        }
    }

    @Command(name = "nodes", mixinStandardHelpOptions = true, description = "Issue, revoke and list executor node credentials.",
            subcommands = {NodesAdd.class, NodesRevoke.class, NodesList.class})
    static final class Nodes implements Runnable {
        @Override
        public void run() {
            new picocli.CommandLine(this).usage(System.out);
        }
    }

    @Command(name = "add", mixinStandardHelpOptions = true,
            description = "Issue a credential for node NAME (principal node-NAME, its ACLs) and print its client config once. "
                    + "The broker keeps only a salted hash (SCRAM); issuing again replaces the password.")
    static final class NodesAdd implements Callable<Integer> {
        @Parameters(paramLabel = "NAME")
        String name;

        @Option(names = "--out", description = "Write the node's client properties to this file (0600) instead of printing them.")
        Path out;

        @Mixin
        Target target = new Target();

        @Override
        public Integer call() {
            Map<String, Object> operator = target.operator();
            Map<String, Object> node = issueNode(operator, name);
            if (out != null) {
                BusCredentials.write(out, node);
                System.out.println("node " + name + ": principal " + BusAccess.nodePrincipal(name) + ", client config in " + out);
            } else {
                System.out.println("# node " + name + " (principal " + BusAccess.nodePrincipal(name) + "); shown once, keep it secret");
                node.forEach((k, v) -> System.out.println(k + "=" + v));
            }
            return 0;
        }
    }

    /** Issues (or re-issues) node {@code name}'s credential and ACLs; returns its client config. */
    public static Map<String, Object> issueNode(Map<String, Object> operator, String name) {
        try (Admin admin = Admin.create(operator)) {
            return BusAccess.provision(admin, String.valueOf(operator.get("bootstrap.servers")), BusAccess.node(name),
                    BusCredentials.newSecret());
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true,
            description = "Delete node NAME's ACLs and credential: its open connections are refused at their next request, "
                    + "new ones at once.")
    static final class NodesRevoke implements Callable<Integer> {
        @Parameters(paramLabel = "NAME")
        String name;

        @Mixin
        Target target = new Target();

        @Override
        public Integer call() {
            String principal = BusAccess.nodePrincipal(name);
            try (Admin admin = Admin.create(target.operator())) {
                BusAccess.revokeAll(admin, principal);
                BusAccess.deleteUser(admin, principal);
            }
            System.out.println("revoked " + principal);
            return 0;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List the nodes that hold a credential.")
    static final class NodesList implements Callable<Integer> {
        @Mixin
        Target target = new Target();

        @Override
        public Integer call() throws Exception {
            try (Admin admin = Admin.create(target.operator())) {
                listNodes(admin).forEach(System.out::println);
            }
            return 0;
        }
    }

    /** The roster: node names whose principal has a SCRAM credential on the cluster. */
    static List<String> listNodes(Admin admin) throws Exception {
        return admin.describeUserScramCredentials().all().get(30, TimeUnit.SECONDS).keySet().stream()
                .filter(u -> u.startsWith(BusAccess.NODE_PREFIX)).map(u -> u.substring(BusAccess.NODE_PREFIX.length()))
                .sorted().toList();
    }

    /** A payment of AMOUNT as the payment gateway; the subclass names the account and the kind. */
    abstract static class PaymentCommand implements Callable<Integer> {
        @Parameters(index = "1", paramLabel = "AMOUNT", description = "Amount in micro-units (1 unit = 1000000).")
        long amountMicros;

        @Mixin
        Target target = new Target();

        abstract PaymentKind kind();

        /** The account the payment names, or null when the argument is not usable (the reason is printed). */
        abstract String paymentAccount();

        @Override
        public Integer call() {
            String account = paymentAccount();
            if (account == null) {
                return 2;
            }
            var payment = PaymentGateway.payment(account, kind(), amountMicros);
            try (PaymentGateway gateway = new PaymentGateway(target.config(LocalStack::paymentGatewayConfigFile))) {
                gateway.pay(List.of(payment));
            }
            System.out.println(kind() + " " + amountMicros + " micros " + account + " (payment " + payment.getPaymentId() + ")");
            return 0;
        }
    }

    abstract static class MoneyCommand extends PaymentCommand {
        @Parameters(index = "0", paramLabel = "ACCOUNT", description = "Account id, e.g. customer:demo or node:<nodeId>.")
        String account;

        @Override
        String paymentAccount() {
            if (!account.contains(":") && !account.equals(Accounts.TREASURY)) {
                System.err.println("ACCOUNT must be an account id such as " + Accounts.customer("demo"));
                return null;
            }
            return account;
        }
    }

    @Command(name = "fund", mixinStandardHelpOptions = true, description = "Deposit AMOUNT into ACCOUNT, as the payment gateway.")
    static final class Fund extends MoneyCommand {
        @Override
        PaymentKind kind() {
            return PaymentKind.DEPOSIT;
        }
    }

    @Command(name = "withdraw", mixinStandardHelpOptions = true, description = "Withdraw AMOUNT from ACCOUNT, as the payment gateway.")
    static final class Withdraw extends MoneyCommand {
        @Override
        PaymentKind kind() {
            return PaymentKind.WITHDRAWAL;
        }
    }

    @Command(name = "unstake", mixinStandardHelpOptions = true,
            description = "Unstake AMOUNT of NODE_ID's stake, as the payment gateway: settlement marks it unlocking (no longer"
                    + " eligible, still slashable) and releases it to node:NODE_ID when the unstake cooldown has passed.")
    static final class Unstake extends PaymentCommand {
        @Parameters(index = "0", paramLabel = "NODE_ID", description = "The node id (not node:<id>).")
        String nodeId;

        @Override
        PaymentKind kind() {
            return PaymentKind.WITHDRAWAL;
        }

        @Override
        String paymentAccount() {
            if (nodeId.isBlank() || nodeId.contains(":")) {
                System.err.println("NODE_ID must be a plain node id, not an account such as " + Accounts.node(nodeId));
                return null;
            }
            return Accounts.stake(nodeId);
        }
    }
}
