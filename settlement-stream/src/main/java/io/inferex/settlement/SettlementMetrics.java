package io.inferex.settlement;

import io.inferex.market.Accounts;
import io.inferex.metrics.StoreGauges;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.runtime.Startup;
import jakarta.annotation.PostConstruct;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * Settlement's own gauges at /q/metrics (besides Kafka Streams' metrics and the transfers by kind
 * counted by {@link io.inferex.metrics.OutputMetrics}): approximate accounts, jobs and stakes, and
 * the conservation check. The check sums every balance, so it runs on its own schedule
 * ({@code inferex.settlement.metrics.conservation-interval}, 30 s), never per scrape or per
 * record; a scrape reads its last result: {@code inferex_settlement_balance_sum_micros} (0 when
 * money is conserved), {@code inferex_settlement_conserved} (1 or 0), and the money deposited from
 * outside ({@code inferex_settlement_deposited_micros}); NaN until the first check ran.
 */
@ApplicationScoped
@Startup
public class SettlementMetrics {
    @Inject
    MeterRegistry registry;
    @Inject
    KafkaStreams streams;
    @ConfigProperty(name = "inferex.settlement.metrics.conservation-interval", defaultValue = "PT30S")
    Duration interval;

    private volatile double sum = Double.NaN;
    private volatile double deposited = Double.NaN;
    private ScheduledExecutorService checker;

    @PostConstruct
    void register() {
        StoreGauges.register(registry, "settlement", () -> streams,
                "accounts", SettlementTopology.BALANCES_STORE,
                "jobs", SettlementTopology.JOBS_STORE,
                "stakes", SettlementTopology.STAKES_STORE);
        Gauge.builder("inferex.settlement.balance.sum.micros", () -> sum).description("sum of every balance at the last check (0: conserved)")
                .register(registry);
        Gauge.builder("inferex.settlement.conserved", () -> Double.isNaN(sum) ? Double.NaN : sum == 0 ? 1 : 0)
                .description("1 when every balance summed to 0 at the last check").register(registry);
        Gauge.builder("inferex.settlement.deposited.micros", () -> deposited).description("money inside the market at the last check")
                .register(registry);
        checker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "settlement-conservation-check");
            t.setDaemon(true);
            return t;
        });
        checker.scheduleWithFixedDelay(this::check, 0, interval.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Sums every balance (a scan of the balances store): only on the check's schedule. */
    void check() {
        if (streams.state() != KafkaStreams.State.RUNNING) {
            return;
        }
        try (var it = streams.store(StoreQueryParameters.fromNameAndType(SettlementTopology.BALANCES_STORE,
                QueryableStoreTypes.<String, Long>keyValueStore())).all()) {
            long total = 0;
            long external = 0;
            while (it.hasNext()) {
                var kv = it.next();
                total += kv.value;
                if (kv.key.equals(Accounts.EXTERNAL)) {
                    external = kv.value;
                }
            }
            sum = total;
            deposited = -external;
        } catch (RuntimeException notQueryableNow) {
            // rebalancing: the next check tries again
        }
    }

    @PreDestroy
    void stop() {
        if (checker != null) {
            checker.shutdownNow();
        }
    }
}
