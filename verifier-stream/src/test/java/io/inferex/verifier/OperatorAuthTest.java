package io.inferex.verifier;

import io.inferex.local.EmbeddedKafkaTestResource;
import io.inferex.testing.OperatorGateContract;
import io.quarkus.test.common.QuarkusTestResource;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import java.net.URL;

/** The verifier's HTTP server against a real broker: only health is open, the rest needs the operator token. */
@QuarkusTest
@QuarkusTestResource(value = EmbeddedKafkaTestResource.class, initArgs = @io.quarkus.test.common.ResourceArg(name = "principal", value = "verifier"))
class OperatorAuthTest extends OperatorGateContract {
    @TestHTTPResource("/")
    URL root;

    @Override
    protected String baseUrl() {
        return root.toString().replaceAll("/$", "");
    }

    @Override
    protected String protectedPath() {
        return "/no-such-endpoint";
    }

    /** The verifier serves nothing but health: the right token gets past the gate to a router that knows no such path. */
    @Override
    protected int servedStatus() {
        return 404;
    }

    /** Its own gauges (approximate store entries, never a scan) and Kafka Streams' metrics. */
    @Override
    protected java.util.List<String> metricSeries() {
        return java.util.List.of("inferex_store_entries{app=\"verifier\",store=\"shard-cases\"}", "kafka_stream_");
    }
}
