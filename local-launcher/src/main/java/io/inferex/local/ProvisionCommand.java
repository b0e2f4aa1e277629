package io.inferex.local;

import io.inferex.security.BusAccess;
import io.inferex.security.BusCredentials;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code ./inferex provision}: the one-shot set-up of a cluster deployment (compose/). As the
 * operator (a super user of the cluster) it creates the catalogue's topics, then gives each service,
 * the payment gateway and each named executor node its own principal: a fresh password, the SCRAM
 * user and the ACLs of its {@link BusAccess} row. Each principal's client config is written to
 * {@code SECRETS_DIR/<name>/kafka.properties} (0600), in the form the service reads through
 * {@code quarkus.config.locations}; compose mounts each service only its own sub-directory.
 */
@Command(name = "provision", mixinStandardHelpOptions = true,
        description = "Set up a cluster: topics, then every service's and node's credential and ACLs, each written to "
                + "SECRETS_DIR/<name>/kafka.properties (for compose/).")
final class ProvisionCommand implements Callable<Integer> {
    @Option(names = "--bootstrap-servers", required = true, description = "The cluster.")
    String bootstrapServers;

    @Option(names = "--operator-user", defaultValue = BusAccess.OPERATOR,
            description = "The cluster's super user (default: ${DEFAULT-VALUE}).")
    String operatorUser;

    @Option(names = "--operator-password-file", required = true,
            description = "File holding the super user's password (e.g. a compose secret), [A-Za-z0-9._-].")
    Path operatorPasswordFile;

    @Option(names = "--replication-factor", defaultValue = "3", description = "Replicas per partition (default: ${DEFAULT-VALUE}).")
    short replicationFactor;

    @Option(names = "--secrets-dir", required = true, description = "Where each principal's client config goes.")
    Path secretsDir;

    @Option(names = "--nodes", split = ",", description = "Executor node names to issue credentials for (principal node-NAME).")
    List<String> nodes = new ArrayList<>();

    @Override
    public Integer call() {
        Map<String, Object> operator = BusCredentials.clientConfig(bootstrapServers, operatorUser, readPassword(operatorPasswordFile));
        var report = TopicProvisioner.ensureTopics(operator, replicationFactor, Topics.ALL);
        System.out.println("topics: " + report.created().size() + " created, " + report.existing().size() + " already there");
        Map<String, Path> written = provision(operator, principals(nodes), name -> secretsDir.resolve(name).resolve("kafka.properties"));
        written.forEach((name, file) -> System.out.println("principal " + name + ": client config in " + file));
        return 0;
    }

    /** The rows a deployment provisions: every service, the payment gateway, then one per node name. */
    static Map<String, BusAccess.Grant> principals(List<String> nodeNames) {
        Map<String, BusAccess.Grant> rows = new LinkedHashMap<>();
        BusAccess.SERVICES.forEach(g -> rows.put(g.principal(), g));
        nodeNames.forEach(n -> rows.put(n, BusAccess.node(n)));
        return rows;
    }

    /**
     * Issues each row a fresh credential and its ACLs and writes its config to {@code fileFor(name)}
     * (0600): the plain client keys (Kafka tools, {@link PaymentGateway}) and the same settings as a
     * Quarkus config ({@code kafka.*} and {@code kafka-streams.*} keys). Used by compose's one-shot
     * set-up and by {@code ./inferex up} alike.
     */
    static Map<String, Path> provision(Map<String, Object> operator, Map<String, BusAccess.Grant> rows,
            java.util.function.Function<String, Path> fileFor) {
        Map<String, Path> files = new LinkedHashMap<>();
        String bootstrap = String.valueOf(operator.get("bootstrap.servers"));
        try (Admin admin = Admin.create(operator)) {
            rows.forEach((name, grant) -> {
                Map<String, Object> client = BusAccess.provision(admin, bootstrap, grant, BusCredentials.newSecret());
                Path file = fileFor.apply(name);
                Map<String, Object> config = new LinkedHashMap<>(client);
                config.putAll(LocalStack.quarkusSecurityConfig(client));
                BusCredentials.write(file, config);
                files.put(name, file);
            });
        }
        return files;
    }

    static String readPassword(Path file) {
        try {
            String password = Files.readString(file).strip();
            if (password.isEmpty()) {
                throw new IllegalArgumentException(file + " is empty: it must hold the operator's password");
            }
            return password;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read the operator's password from " + file, e);
        }
    }
}
