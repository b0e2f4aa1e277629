package io.inferex.local.load;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;

/**
 * The services' own metrics at the end of a load run: {@code GET /q/metrics} (Prometheus text) of
 * each named service, keeping the {@code inferex_*} series and the Kafka consumers' largest lag,
 * for the run's JSON summary ({@code service-metrics}; names in docs/architecture.md, "Metrics").
 */
final class ServiceMetrics {
    private ServiceMetrics() {}

    /** Series kept: the app's own, and the consumers' lag (Kafka Streams and clients). */
    static boolean kept(String series) {
        return series.startsWith("inferex_") || series.startsWith("kafka_consumer_fetch_manager_records_lag_max");
    }

    /**
     * By service: its kept series (name with labels) to their value; a service that did not answer
     * gets {@code {"error": ...}} instead, so a run never fails on its metrics.
     */
    static Map<String, Object> scrape(Map<String, String> baseUrls, String authorization) {
        HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
        Map<String, Object> out = new LinkedHashMap<>();
        baseUrls.forEach((service, url) -> {
            try {
                HttpResponse<String> res = http.send(HttpRequest.newBuilder(URI.create(url + "/q/metrics")).timeout(Duration.ofSeconds(10))
                        .header("Authorization", authorization).GET().build(), HttpResponse.BodyHandlers.ofString());
                out.put(service, res.statusCode() == 200 ? parse(res.body()) : Map.of("error", "HTTP " + res.statusCode()));
            } catch (IOException e) {
                out.put(service, Map.of("error", String.valueOf(e.getMessage())));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                out.put(service, Map.of("error", "interrupted"));
            }
        });
        return out;
    }

    /** The kept samples of a Prometheus text exposition: {@code name{labels}} to value (NaN kept as NaN). */
    static Map<String, Double> parse(String text) {
        Map<String, Double> samples = new TreeMap<>();
        for (String line : text.split("\n")) {
            line = line.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            int end = line.indexOf('}') >= 0 ? line.indexOf('}') + 1 : line.indexOf(' ');
            if (end <= 0 || end >= line.length()) {
                continue;
            }
            String series = line.substring(0, end).strip();
            if (!kept(series)) {
                continue;
            }
            String[] rest = line.substring(end).strip().split("\\s+"); // value, then an optional timestamp
            try {
                samples.put(series, Double.parseDouble(rest[0]));
            } catch (NumberFormatException notANumber) {
                // not a sample line
            }
        }
        return samples;
    }
}
