package io.inferex.metrics;

import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import java.util.function.Supplier;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.state.QueryableStoreTypes;

/**
 * A gauge {@code inferex.store.entries} (tags {@code app}, {@code store}) per state store of a
 * running Kafka Streams app: the store's approximate entry count over this instance's tasks
 * ({@code approximateNumEntries}, RocksDB's estimate, never a scan), NaN while the app is not
 * running. A store that keeps an index beside its entries counts both.
 */
public final class StoreGauges {
    public static final String ENTRIES = "inferex.store.entries";

    private StoreGauges() {}

    /** One gauge per pair of {@code tagsAndStores}: its tag value (e.g. "open-leases"), then the store's name. */
    public static void register(MeterRegistry registry, String app, Supplier<KafkaStreams> streams, String... tagsAndStores) {
        if (tagsAndStores.length % 2 != 0) {
            throw new IllegalArgumentException("pairs of a tag and a store name: " + java.util.Arrays.toString(tagsAndStores));
        }
        for (int i = 0; i < tagsAndStores.length; i += 2) {
            String storeName = tagsAndStores[i + 1];
            Gauge.builder(ENTRIES, () -> approximateEntries(streams.get(), storeName))
                    .tags("app", app, "store", tagsAndStores[i])
                    .description("approximate entries of the state store " + storeName)
                    .register(registry);
        }
    }

    static double approximateEntries(KafkaStreams streams, String storeName) {
        if (streams == null || streams.state() != KafkaStreams.State.RUNNING) {
            return Double.NaN;
        }
        try {
            return streams.store(StoreQueryParameters.fromNameAndType(storeName, QueryableStoreTypes.<Object, Object>keyValueStore()))
                    .approximateNumEntries();
        } catch (RuntimeException notQueryableNow) {
            return Double.NaN; // rebalancing, or the store is not on this instance
        }
    }
}
