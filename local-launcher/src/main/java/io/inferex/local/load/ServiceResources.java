package io.inferex.local.load;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * What the services cost while a load run goes on, sampled every {@code period}: each service's
 * heap from its own {@code /q/metrics} (the used heap, all pools, and the live data after the last
 * collection, {@code jvm_gc_live_data_size_bytes}), and the bytes of its state directory on disk
 * (Kafka Streams' RocksDB stores and checkpoints; ingest's data dir), plus the embedded broker's
 * log directory. The summary keeps, per service, the peak and the last sample: the scale series
 * (10k → 100k → 1M shards) reads heap and state size from here. A service that does not answer
 * is skipped for that sample; sampling never fails a run.
 */
final class ServiceResources implements AutoCloseable {
    /** One service's figures so far. */
    private static final class Figures {
        long heapPeak = -1;
        long heapLast = -1;
        long liveAfterGcPeak = -1;
        long statePeak = -1;
        long stateLast = -1;
        int samples;
    }

    private final Map<String, String> urls;
    private final Map<String, Path> stateDirs;
    private final String authorization;
    private final Map<String, Figures> figures = new LinkedHashMap<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(2)).build();
    private final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "load-resources");
        t.setDaemon(true);
        return t;
    });

    /**
     * @param urls each service's base URL (its heap is scraped; null for one without HTTP)
     * @param stateDirs each service's (or the broker's) directory on disk
     */
    ServiceResources(Map<String, String> urls, Map<String, Path> stateDirs, String authorization) {
        this.urls = Map.copyOf(urls);
        this.stateDirs = Map.copyOf(stateDirs);
        this.authorization = authorization;
        urls.keySet().forEach(s -> figures.put(s, new Figures()));
        stateDirs.keySet().forEach(s -> figures.putIfAbsent(s, new Figures()));
    }

    ServiceResources start(Duration period) {
        timer.scheduleWithFixedDelay(this::sampleQuietly, 0, period.toMillis(), TimeUnit.MILLISECONDS);
        return this;
    }

    private void sampleQuietly() {
        try {
            sample();
        } catch (RuntimeException e) {
            // a sample that fails is skipped
        }
    }

    /** Takes one sample of every service now. */
    synchronized void sample() {
        urls.forEach((service, url) -> {
            try {
                HttpResponse<String> res = http.send(HttpRequest.newBuilder(URI.create(url + "/q/metrics")).timeout(Duration.ofSeconds(5))
                        .header("Authorization", authorization).GET().build(), HttpResponse.BodyHandlers.ofString());
                if (res.statusCode() == 200) {
                    Figures f = figures.get(service);
                    long heap = sum(res.body(), "jvm_memory_used_bytes", "area=\"heap\"");
                    if (heap >= 0) {
                        f.heapLast = heap;
                        f.heapPeak = Math.max(f.heapPeak, heap);
                        f.samples++;
                    }
                    f.liveAfterGcPeak = Math.max(f.liveAfterGcPeak, sum(res.body(), "jvm_gc_live_data_size_bytes", ""));
                }
            } catch (IOException e) {
                // away for this sample (restarting, or saturated)
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        stateDirs.forEach((service, dir) -> {
            long bytes = directoryBytes(dir);
            Figures f = figures.get(service);
            f.stateLast = bytes;
            f.statePeak = Math.max(f.statePeak, bytes);
        });
    }

    /**
     * The sum of the samples of {@code metric} whose labels contain {@code labelFilter} in a
     * Prometheus text exposition; -1 when there is none.
     */
    static long sum(String prometheusText, String metric, String labelFilter) {
        double total = 0;
        boolean any = false;
        for (String line : prometheusText.split("\n")) {
            if (!line.startsWith(metric) || line.startsWith("#")) {
                continue;
            }
            String rest = line.substring(metric.length());
            if (!(rest.startsWith("{") || rest.startsWith(" ")) || !rest.contains(labelFilter)) {
                continue;
            }
            int end = rest.startsWith("{") ? rest.indexOf('}') + 1 : 0;
            if (end < 0) {
                continue;
            }
            String[] parts = rest.substring(end).strip().split("\\s+");
            try {
                double v = Double.parseDouble(parts[0]);
                if (!Double.isNaN(v)) {
                    total += v;
                    any = true;
                }
            } catch (NumberFormatException e) {
                // not a sample
            }
        }
        return any ? (long) total : -1;
    }

    /**
     * Bytes of the regular files under {@code dir} (0 when it does not exist yet), except a Kafka log's
     * offset and time indexes ({@code .index}, {@code .timeindex}): the broker preallocates them as
     * sparse files of 10 MiB per active segment, so their length says nothing of the disk used (a
     * 20-second run's broker read as 3.5 GB with them, 14 MB without).
     */
    static long directoryBytes(Path dir) {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            return files.mapToLong(p -> {
                try {
                    String name = p.getFileName().toString();
                    return Files.isRegularFile(p) && !name.endsWith(".index") && !name.endsWith(".timeindex") ? Files.size(p) : 0;
                } catch (IOException gone) {
                    return 0; // RocksDB deletes files as it compacts
                }
            }).sum();
        } catch (IOException | UncheckedIOException e) {
            return -1;
        }
    }

    /** Per service: heap peak/last and live data after GC (bytes, -1 if never read), state peak/last, samples. */
    synchronized Map<String, Object> summary() {
        Map<String, Object> out = new LinkedHashMap<>();
        figures.forEach((service, f) -> {
            Map<String, Object> m = new LinkedHashMap<>();
            if (urls.containsKey(service)) {
                m.put("heap-used-peak-bytes", f.heapPeak);
                m.put("heap-used-last-bytes", f.heapLast);
                m.put("live-after-gc-peak-bytes", f.liveAfterGcPeak);
                m.put("heap-samples", f.samples);
            }
            if (stateDirs.containsKey(service)) {
                m.put("state-peak-bytes", f.statePeak);
                m.put("state-last-bytes", f.stateLast);
            }
            out.put(service, m);
        });
        return out;
    }

    @Override
    public void close() {
        timer.shutdownNow();
        try {
            timer.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        sample(); // the state at the end
    }
}
