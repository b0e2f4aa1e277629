package io.inferex.local;

import io.inferex.security.BusAccess;
import io.inferex.security.BusCredentials;
import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.util.LinkedHashMap;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;

/**
 * Quarkus test resource: points a {@code @QuarkusTest} at the JVM's shared embedded broker, with
 * every catalogue topic created, and runs the application under its own principal from the access
 * table ({@link BusAccess}), so a module's tests prove that its ACLs are enough. Name the principal
 * with {@code initArgs = @ResourceArg(name = "principal", value = "ingest")} (a service of
 * {@link BusAccess#SERVICES}) or {@code @ResourceArg(name = "node", value = "<node name>")} for an
 * executor node. The operator provisions the topics, the SCRAM user and its ACLs.
 */
public class EmbeddedKafkaTestResource implements QuarkusTestResourceLifecycleManager {
    private BusAccess.Grant grant;

    @Override
    public void init(Map<String, String> initArgs) {
        String node = initArgs.get("node");
        String principal = initArgs.get("principal");
        if (node != null) {
            grant = BusAccess.node(node);
        } else if (principal != null) {
            grant = BusAccess.SERVICES.stream().filter(g -> g.principal().equals(principal)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("no principal " + principal + " in BusAccess.SERVICES"));
        } else {
            throw new IllegalArgumentException("EmbeddedKafkaTestResource needs @ResourceArg principal=<service> or node=<name>");
        }
    }

    @Override
    public Map<String, String> start() {
        EmbeddedKafkaBroker broker = EmbeddedKafkaBroker.shared();
        TopicProvisioner.ensureTopics(broker.clientConfig(), (short) 1, Topics.ALL);
        Map<String, Object> client;
        try (Admin admin = Admin.create(broker.clientConfig())) {
            client = BusAccess.provision(admin, broker.bootstrapServers(), grant, BusCredentials.newSecret());
        }
        Map<String, String> config = new LinkedHashMap<>();
        config.put("kafka.bootstrap.servers", broker.bootstrapServers());
        LocalStack.quarkusSecurityConfig(client).forEach((k, v) -> config.put(k, String.valueOf(v)));
        return config;
    }

    @Override
    public void stop() {
        // The broker is shared by every test of this JVM and stops at JVM exit.
    }
}
