package io.inferex.executor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.topics.Topics;
import io.inferex.wire.CatalogueSerializer;
import java.io.InputStream;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The liveness channels' configuration (application.properties, read as a file, every profile) names the
 * catalogue's topics and serdes: a channel writing to a misspelt topic would publish into a topic no
 * matcher reads (or, with auto-creation, one the provisioner never sized).
 */
class LivenessChannelConfigTest {
    static final String OUT = "mp.messaging.outgoing.";
    static final Map<String, String> TOPIC_OF_CHANNEL = Map.of(
            EmitterLivenessPublisher.REGISTRATION_CHANNEL, Topics.NODE_REGISTRY.name(),
            EmitterLivenessPublisher.HEARTBEAT_CHANNEL, Topics.NODE_HEARTBEATS.name());
    static Properties props;

    @BeforeAll
    static void load() throws Exception {
        props = new Properties();
        try (InputStream in = LivenessChannelConfigTest.class.getResourceAsStream("/application.properties")) {
            assertNotNull(in, "application.properties on the class path");
            props.load(in);
        }
    }

    @Test
    void channelTopicsAreTheCatalogueNamesInEveryProfile() {
        assertEquals("node-registry", Topics.NODE_REGISTRY.name());
        assertEquals("node-heartbeats", Topics.NODE_HEARTBEATS.name());
        TOPIC_OF_CHANNEL.forEach((channel, topic) -> {
            assertEquals(topic, props.getProperty(OUT + channel + ".topic"), channel + " topic");
            for (String key : props.stringPropertyNames()) {
                if (withoutProfile(key).equals(OUT + channel + ".topic")) {
                    assertEquals(topic, props.getProperty(key), key);
                }
            }
        });
    }

    @Test
    void channelsUseTheKafkaConnectorStringKeysAndTheCatalogueSerializer() {
        for (String channel : TOPIC_OF_CHANNEL.keySet()) {
            assertEquals("smallrye-kafka", props.getProperty(OUT + channel + ".connector"), channel);
            assertEquals(StringSerializer.class.getName(), props.getProperty(OUT + channel + ".key.serializer"), channel);
            assertEquals(CatalogueSerializer.class.getName(), props.getProperty(OUT + channel + ".value.serializer"), channel);
            // acks=all keeps the Kafka client's default idempotence on (SmallRye's default acks=1 would turn it off)
            assertEquals("all", props.getProperty(OUT + channel + ".acks"), channel);
            int linger = Integer.parseInt(props.getProperty(OUT + channel + ".linger.ms"));
            assertTrue(linger >= 0 && linger <= 5, channel + " linger.ms " + linger);
        }
    }

    @Test
    void noOtherChannelIsConfigured() {
        Set<String> channels = new TreeSet<>();
        for (String key : props.stringPropertyNames()) {
            String k = withoutProfile(key);
            if (k.startsWith("mp.messaging.incoming.")) {
                channels.add(k);
            } else if (k.startsWith(OUT)) {
                String rest = k.substring(OUT.length());
                channels.add(rest.substring(0, rest.indexOf('.')));
            }
        }
        assertEquals(new TreeSet<>(TOPIC_OF_CHANNEL.keySet()), channels,
                "only the liveness channels: assignments and results are plain clients in NodeRuntime");
    }

    private static String withoutProfile(String key) {
        return key.startsWith("%") ? key.substring(key.indexOf('.') + 1) : key;
    }
}
