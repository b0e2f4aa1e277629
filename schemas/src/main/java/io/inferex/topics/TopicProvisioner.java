package io.inferex.topics;

import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.errors.TopicExistsException;

/**
 * Creates every catalogue topic that is missing, on any cluster (embedded broker, Kafka,
 * Redpanda). Idempotent: existing topics are left alone, but one whose partition count differs
 * from the catalogue is reported, since co-partitioning depends on it.
 */
public final class TopicProvisioner {
    private TopicProvisioner() {}

    /** What a provisioning run did. */
    public record Report(List<String> created, List<String> existing) {}

    /** Provisions through {@code connection}: an operator's client config (bootstrap servers and credentials). */
    public static Report ensureTopics(java.util.Map<String, ?> connection, short replicationFactor, Collection<Topic<?, ?>> topics) {
        Properties props = io.inferex.security.BusCredentials.properties(connection,
                java.util.Map.of(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, 30_000));
        try (Admin admin = Admin.create(props)) {
            return ensureTopics(admin, replicationFactor, topics);
        }
    }

    public static Report ensureTopics(Admin admin, short replicationFactor, Collection<Topic<?, ?>> topics) {
        try {
            Set<String> present = admin.listTopics().names().get(30, TimeUnit.SECONDS);
            List<NewTopic> missing = new ArrayList<>();
            List<String> existing = new ArrayList<>();
            for (Topic<?, ?> t : topics) {
                if (present.contains(t.name())) {
                    existing.add(t.name());
                } else {
                    missing.add(new NewTopic(t.name(), t.partitions(), replicationFactor).configs(t.configs()));
                }
            }
            List<String> created = new ArrayList<>();
            for (Map.Entry<String, org.apache.kafka.common.KafkaFuture<Void>> e
                    : admin.createTopics(missing).values().entrySet()) {
                try {
                    e.getValue().get(30, TimeUnit.SECONDS);
                    created.add(e.getKey());
                } catch (ExecutionException ex) {
                    if (!(ex.getCause() instanceof TopicExistsException)) {
                        throw ex; // a racing provisioner created it: fine; anything else is not
                    }
                    existing.add(e.getKey());
                }
            }
            checkPartitions(admin, existing, topics);
            return new Report(List.copyOf(created), List.copyOf(existing));
        } catch (ExecutionException e) {
            throw new IllegalStateException("topic provisioning failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("topic provisioning timed out after 30 s; is the cluster reachable?", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while provisioning topics", e);
        }
    }

    private static void checkPartitions(Admin admin, List<String> existing, Collection<Topic<?, ?>> topics)
            throws ExecutionException, InterruptedException, TimeoutException {
        if (existing.isEmpty()) {
            return;
        }
        Map<String, TopicDescription> described = admin.describeTopics(existing).allTopicNames().get(30, TimeUnit.SECONDS);
        for (Topic<?, ?> t : topics) {
            TopicDescription d = described.get(t.name());
            if (d != null && d.partitions().size() != t.partitions()) {
                throw new IllegalStateException("topic " + t.name() + " has " + d.partitions().size()
                        + " partitions but the catalogue says " + t.partitions()
                        + "; co-partitioned joins would silently miss records");
            }
        }
    }
}
