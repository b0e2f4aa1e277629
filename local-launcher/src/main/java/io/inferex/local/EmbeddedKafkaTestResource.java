package io.inferex.local;

import io.inferex.topics.TopicProvisioner;
import io.inferex.topics.Topics;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import java.util.Map;

/**
 * Quarkus test resource: points a {@code @QuarkusTest} at the JVM's shared embedded broker, with
 * every catalogue topic created. Use with {@code @QuarkusTestResource(EmbeddedKafkaTestResource.class)}.
 */
public class EmbeddedKafkaTestResource implements QuarkusTestResourceLifecycleManager {
    @Override
    public Map<String, String> start() {
        String bootstrap = EmbeddedKafkaBroker.shared().bootstrapServers();
        TopicProvisioner.ensureTopics(bootstrap, (short) 1, Topics.ALL);
        return Map.of("kafka.bootstrap.servers", bootstrap);
    }

    @Override
    public void stop() {
        // The broker is shared by every test of this JVM and stops at JVM exit.
    }
}
