package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

class BatchExtensionsTest {
    private static String refusal(Runnable r) {
        ApiException e = assertThrows(ApiException.class, r::run);
        assertEquals(400, e.status());
        return e.body().toString();
    }

    @Test
    void theMaxPriceKeyLowersTheBatchsCeilingAndIsRefusedOutsideOneToTheDeploymentsMaximum() {
        assertEquals(200, BatchExtensions.maxPricePerRow(null, 200), "no metadata: the deployment's maximum");
        assertEquals(200, BatchExtensions.maxPricePerRow(Map.of("team", "x"), 200));
        assertEquals(150, BatchExtensions.maxPricePerRow(Map.of(BatchExtensions.MAX_PRICE, "150"), 200));
        assertEquals(1, BatchExtensions.maxPricePerRow(Map.of(BatchExtensions.MAX_PRICE, " 1 "), 200));
        assertEquals(200, BatchExtensions.maxPricePerRow(Map.of(BatchExtensions.MAX_PRICE, "200"), 200));
        for (String bad : new String[] {"0", "-5", "201", "1.5", "lots", "", "99999999999999999999"}) {
            String body = refusal(() -> BatchExtensions.maxPricePerRow(Map.of(BatchExtensions.MAX_PRICE, bad), 200));
            assertTrue(body.contains(BatchExtensions.MAX_PRICE) && body.contains("metadata"), bad + ": " + body);
        }
    }

    @Test
    void aRegionListMustNameTheCellTheBatchWouldRunIn() {
        BatchExtensions.checkRegion(null, "local");
        BatchExtensions.checkRegion(Map.of("team", "x"), "local");
        BatchExtensions.checkRegion(Map.of(BatchExtensions.REGIONS, "local"), "local");
        BatchExtensions.checkRegion(Map.of(BatchExtensions.REGIONS, "eu-west, local"), "local");
        String body = refusal(() -> BatchExtensions.checkRegion(Map.of(BatchExtensions.REGIONS, "eu-west,us-east"), "local"));
        assertTrue(body.contains("region_not_allowed") && body.contains("'local'") && body.contains("eu-west, us-east"), body);
        String empty = refusal(() -> BatchExtensions.checkRegion(Map.of(BatchExtensions.REGIONS, " , "), "local"));
        assertTrue(empty.contains("names no region"), empty);
    }
}
