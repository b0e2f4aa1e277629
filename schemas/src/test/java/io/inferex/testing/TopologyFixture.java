package io.inferex.testing;

import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.time.Instant;
import java.util.Properties;
import java.util.function.Function;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.TestInputTopic;
import org.apache.kafka.streams.TestOutputTopic;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.TopologyTestDriver;
import org.apache.kafka.streams.state.BuiltInDslStoreSuppliers;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * A stream app's topology under {@link TopologyTestDriver}, with catalogue-typed input and output
 * topics, so every topology test sets it up the same way (state under target/, stores in memory, no broker).
 */
public final class TopologyFixture implements AutoCloseable {
    private final TopologyTestDriver driver;

    private TopologyFixture(TopologyTestDriver driver) {
        this.driver = driver;
    }

    /** Builds the topology with the test's properties, as the app's TopologyProducer would. */
    public static TopologyFixture start(String applicationId, Function<Properties, Topology> build) {
        return start(applicationId, build, Instant.now());
    }

    /** The same, with the driver's wall clock (punctuators, currentSystemTimeMs) starting at {@code wallClock}. */
    public static TopologyFixture start(String applicationId, Function<Properties, Topology> build, Instant wallClock) {
        Properties props = new Properties();
        props.put(StreamsConfig.APPLICATION_ID_CONFIG, applicationId);
        props.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, "unused:9092");
        props.put(StreamsConfig.STATE_DIR_CONFIG, "target/ttd-state");
        // Stores in memory: the driver commits after every record, which flushes each RocksDB store
        // (several times slower per record); the apps' topologies take their store kind from this
        // setting (io.inferex.streams.StateStores), RocksDB in production.
        props.put(StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG, BuiltInDslStoreSuppliers.InMemoryDslStoreSuppliers.class);
        return new TopologyFixture(new TopologyTestDriver(build.apply(props), props, wallClock));
    }

    public <V> TestInputTopic<String, V> input(Topic<String, V> topic) {
        return driver.createInputTopic(topic.name(), topic.keySerde().serializer(), topic.valueSerde().serializer());
    }

    /** Raw bytes onto a catalogue topic: poison pills. */
    public TestInputTopic<String, byte[]> rawInput(Topic<String, ?> topic) {
        return driver.createInputTopic(topic.name(), Serdes.String().serializer(), Serdes.ByteArray().serializer());
    }

    public <V> TestOutputTopic<String, V> output(Topic<String, V> topic) {
        return driver.createOutputTopic(topic.name(), topic.keySerde().deserializer(), topic.valueSerde().deserializer());
    }

    public TestOutputTopic<String, byte[]> deadLetters() {
        return driver.createOutputTopic(Topics.DEAD_LETTER.name(), Serdes.String().deserializer(), Serdes.ByteArray().deserializer());
    }

    public <K, V> KeyValueStore<K, V> store(String name) {
        return driver.getKeyValueStore(name);
    }

    /** Entries of a store whose key starts with {@code keyPrefix} ("" for all): how big a store has grown. */
    public static long entries(KeyValueStore<String, ?> store, String keyPrefix) {
        long n = 0;
        try (var it = store.all()) {
            while (it.hasNext()) {
                if (it.next().key.startsWith(keyPrefix)) {
                    n++;
                }
            }
        }
        return n;
    }

    public TopologyTestDriver driver() {
        return driver;
    }

    @Override
    public void close() {
        driver.close();
    }
}
