package io.inferex.local.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class ServiceMetricsTest {
    @Test
    void keepsTheAppsOwnSeriesAndTheConsumersLagWithTheirLabelsAndValues() {
        String text = """
                # HELP inferex_assignments_total
                # TYPE inferex_assignments_total counter
                inferex_assignments_total{revoked="false"} 42.0
                inferex_assignments_total{revoked="true"} 3.0
                inferex_settlement_conserved 1.0
                inferex_store_entries{app="matcher",store="open-leases"} NaN
                kafka_consumer_fetch_manager_records_lag_max{client_id="c",kafka_version="4.1.2"} 7.0 1700000000000
                jvm_memory_used_bytes{area="heap",id="eden"} 1.2E7
                """;
        Map<String, Double> kept = ServiceMetrics.parse(text);
        assertEquals(42.0, kept.get("inferex_assignments_total{revoked=\"false\"}"));
        assertEquals(3.0, kept.get("inferex_assignments_total{revoked=\"true\"}"));
        assertEquals(1.0, kept.get("inferex_settlement_conserved"));
        assertTrue(kept.get("inferex_store_entries{app=\"matcher\",store=\"open-leases\"}").isNaN());
        assertEquals(7.0, kept.get("kafka_consumer_fetch_manager_records_lag_max{client_id=\"c\",kafka_version=\"4.1.2\"}"));
        assertEquals(5, kept.size(), "JVM series and comments are left out: " + kept);
    }
}
