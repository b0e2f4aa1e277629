package io.inferex.testing;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.inferex.security.OperatorToken;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.Test;

/**
 * What every operator service's HTTP server must do, run against the started app (a
 * {@code @QuarkusTest} subclass names its URL and one protected endpoint): health is open; every
 * other path needs {@code Authorization: Bearer <operator token>}, refused with 401, a JSON
 * error and {@code WWW-Authenticate: Bearer} otherwise. The app's test profile must configure
 * {@code inferex.operator.token-sha256} as the SHA-256 of {@link #TOKEN}.
 */
public abstract class OperatorGateContract {
    /** The test profile's operator token; only its hash is configured. */
    public static final String TOKEN = "test-operator-token";
    private static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();

    /** The app's base URL, without a trailing slash. */
    protected abstract String baseUrl();

    /** A protected endpoint and the status it answers with the right token once the app is ready. */
    protected abstract String protectedPath();

    protected abstract int servedStatus();

    @Test
    void withoutACredentialTheAnswerIs401WithAChallengeAndAJsonReason() throws Exception {
        for (String path : new String[] {protectedPath(), "/no-such-endpoint", "/q/dev-ui"}) {
            HttpResponse<String> res = get(path, null);
            assertEquals(401, res.statusCode(), path);
            assertTrue(res.headers().firstValue("WWW-Authenticate").orElse("").startsWith("Bearer"), path);
            assertEquals("missing_operator_token", JSON.readTree(res.body()).path("error").path("code").asText(), res.body());
            assertTrue(JSON.readTree(res.body()).path("error").has("why"), res.body());
        }
    }

    @Test
    void aWrongTokenOrTheHashItselfIs401() throws Exception {
        HttpResponse<String> wrong = get(protectedPath(), "Bearer " + TOKEN + "-not");
        assertEquals(401, wrong.statusCode());
        assertEquals("invalid_operator_token", JSON.readTree(wrong.body()).path("error").path("code").asText());
        assertEquals(401, get(protectedPath(), "Bearer " + OperatorToken.sha256Hex(TOKEN)).statusCode());
        assertEquals(401, get(protectedPath(), "Basic " + TOKEN).statusCode());
    }

    @Test
    void theRightTokenIsServed() throws Exception {
        // Interactive queries fail (5xx) while Kafka Streams is still (re)balancing after start;
        // the gate's answer would be a 401 at once.
        long deadline = System.nanoTime() + Duration.ofSeconds(90).toNanos();
        HttpResponse<String> res = get(protectedPath(), "Bearer " + TOKEN);
        while (res.statusCode() >= 500 && System.nanoTime() < deadline) {
            Thread.sleep(200);
            res = get(protectedPath(), "Bearer " + TOKEN);
        }
        assertEquals(servedStatus(), res.statusCode(), res.body());
    }

    /**
     * Series the app's {@code /q/metrics} must serve (each a prefix of a sample line, e.g.
     * {@code inferex_store_entries{app="matcher",store="open-leases"}}); docs/architecture.md, "Metrics".
     */
    protected abstract java.util.List<String> metricSeries();

    @Test
    void prometheusMetricsNeedTheTokenAndServeTheAppsSeries() throws Exception {
        assertEquals(401, get("/q/metrics", null).statusCode());
        HttpResponse<String> res = get("/q/metrics", "Bearer " + TOKEN);
        assertEquals(200, res.statusCode(), res.body());
        java.util.List<String> lines = res.body().lines().filter(l -> !l.startsWith("#")).toList();
        for (String series : metricSeries()) {
            assertTrue(lines.stream().anyMatch(l -> l.startsWith(series)), series + " in:\n" + res.body());
        }
    }

    @Test
    void healthStaysOpen() throws Exception {
        // Quarkus starts Kafka Streams a moment after the HTTP server; liveness is DOWN (503) while it is
        // CREATED. Open means: answered without a token, and UP once the app has started.
        long deadline = System.nanoTime() + 30_000_000_000L;
        int live = get("/q/health/live", null).statusCode();
        while (live == 503 && System.nanoTime() < deadline) {
            Thread.sleep(100);
            live = get("/q/health/live", null).statusCode();
        }
        assertEquals(200, live);
        assertNotEquals(401, get("/q/health/ready", null).statusCode());
        assertNotEquals(401, get("/q/health", null).statusCode());
    }

    private HttpResponse<String> get(String path, String authorization) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(baseUrl() + path)).timeout(Duration.ofSeconds(10)).GET();
        if (authorization != null) {
            b.header("Authorization", authorization);
        }
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }
}
