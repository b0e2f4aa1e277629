package io.inferex.streams;

import java.util.Properties;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.state.BuiltInDslStoreSuppliers;
import org.apache.kafka.streams.state.DslKeyValueParams;
import org.apache.kafka.streams.state.DslStoreSuppliers;
import org.apache.kafka.streams.state.KeyValueBytesStoreSupplier;

/**
 * Where a stream app's own (Processor API) key-value stores live: what the app's
 * {@code dsl.store.suppliers.class} says, like the DSL's stores. RocksDB (persistent,
 * changelogged) unless configured otherwise; topology tests configure them in memory
 * ({@code TopologyFixture}), since TopologyTestDriver commits, and so flushes every RocksDB store,
 * after each record.
 */
public final class StateStores {
    private StateStores() {}

    /** The configured store suppliers, RocksDB when {@code props} names none. */
    public static DslStoreSuppliers suppliers(Properties props) {
        Object configured = props.get(StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG);
        if (configured == null) {
            return new BuiltInDslStoreSuppliers.RocksDBDslStoreSuppliers();
        }
        try {
            Class<?> type = configured instanceof Class<?> c ? c : Class.forName(configured.toString());
            return (DslStoreSuppliers) type.getDeclaredConstructor().newInstance();
        } catch (ReflectiveOperationException | ClassCastException e) {
            throw new IllegalArgumentException(StreamsConfig.DSL_STORE_SUPPLIERS_CLASS_CONFIG + " " + configured + " is no DslStoreSuppliers", e);
        }
    }

    /** A plain (not timestamped) key-value store named {@code name}, of the configured kind. */
    public static KeyValueBytesStoreSupplier keyValue(DslStoreSuppliers suppliers, String name) {
        return suppliers.keyValueStore(new DslKeyValueParams(name, false));
    }
}
