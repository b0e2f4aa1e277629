package io.inferex.matcher;

import io.inferex.local.EmbeddedKafkaTestResource;
import io.inferex.testing.OperatorGateContract;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import java.net.URL;

/** The matcher's HTTP server against a real broker: only health is open, the rest needs the operator token. */
@QuarkusTest
@QuarkusTestResource(value = EmbeddedKafkaTestResource.class, initArgs = @io.quarkus.test.common.ResourceArg(name = "principal", value = "matcher"))
class OperatorAuthTest extends OperatorGateContract {
    @TestHTTPResource("/")
    URL root;

    @Override
    protected String baseUrl() {
        return root.toString().replaceAll("/$", "");
    }

    @Override
    protected String protectedPath() {
        return "/pools/nodes";
    }

    @Override
    protected int servedStatus() {
        return 200;
    }

    /** Its own gauges (approximate store entries, never a scan) and Kafka Streams' metrics. */
    @Override
    protected java.util.List<String> metricSeries() {
        return java.util.List.of("inferex_store_entries{app=\"matcher\",store=\"open-leases\"}", "inferex_store_entries{app=\"matcher\",store=\"pool-nodes\"}", "inferex_store_entries{app=\"matcher\",store=\"pending-tasks\"}", "kafka_stream_");
    }
}
