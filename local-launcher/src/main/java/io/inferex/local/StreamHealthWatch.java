package io.inferex.local;

import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Reports a stream app that stopped processing the way a crashed process is reported: its JVM
 * still answers HTTP, but its readiness check ({@code /q/health/ready}, which follows the Kafka
 * Streams state) says the stream is in ERROR, PENDING_ERROR, PENDING_SHUTDOWN or NOT_RUNNING.
 * Each stop is reported once, and handed to {@code onStop} (under {@code ./inferex up}: the app is
 * killed, so the supervisor restarts it with backoff like any crash, and a stream that keeps
 * failing ends as a crash loop the supervisor gives up on); an app that becomes ready again is
 * watched afresh.
 */
public final class StreamHealthWatch {
    private static final Pattern STATE = Pattern.compile("\"state\"\\s*:\\s*\"([A-Z_]+)\"");
    private static final Set<String> STOPPED = Set.of("ERROR", "PENDING_ERROR", "PENDING_SHUTDOWN", "NOT_RUNNING");

    private final Map<String, String> urls;
    private final Map<String, Path> logs;
    private final java.util.function.Consumer<String> onStop;
    private final Set<String> reported = new HashSet<>();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(1)).build();

    /** @param urls base URL of each stream app by name; @param logs its log file by name */
    public StreamHealthWatch(Map<String, String> urls, Map<String, Path> logs) {
        this(urls, logs, name -> { });
    }

    /** @param onStop called with the app's name once per stop, after its line is made */
    public StreamHealthWatch(Map<String, String> urls, Map<String, Path> logs, java.util.function.Consumer<String> onStop) {
        this.urls = Map.copyOf(urls);
        this.logs = Map.copyOf(logs);
        this.onStop = onStop;
    }

    /** The Kafka Streams apps of a started stack (modules named *-stream). */
    public static StreamHealthWatch of(LocalStack stack, int executors, java.util.function.Consumer<String> onStop) {
        Map<String, String> urls = new LinkedHashMap<>();
        Map<String, Path> logs = new LinkedHashMap<>();
        for (ServiceSpec spec : ServiceSpec.market(executors)) {
            if (spec.module().endsWith("-stream") && stack.urls().containsKey(spec.name())) {
                urls.put(spec.name(), stack.urls().get(spec.name()));
            }
        }
        stack.processes().forEach(p -> logs.put(p.name(), p.logFile()));
        return new StreamHealthWatch(urls, logs, onStop);
    }

    /** Asks each app once; the lines to print for apps that have newly stopped processing. */
    public List<String> poll() {
        List<String> lines = new ArrayList<>();
        urls.forEach((name, url) -> {
            HttpRequest req = HttpRequest.newBuilder(URI.create(url + "/q/health/ready")).timeout(Duration.ofSeconds(2)).build();
            try {
                HttpResponse<String> res = http.send(req, HttpResponse.BodyHandlers.ofString());
                if (res.statusCode() == 200) {
                    reported.remove(name);
                    return;
                }
                Matcher m = STATE.matcher(res.body());
                while (m.find()) {
                    if (STOPPED.contains(m.group(1)) && reported.add(name)) {
                        lines.add("STOPPED " + name + " (stream state " + m.group(1) + "); see " + logs.get(name));
                        onStop.accept(name);
                        return;
                    }
                }
            } catch (IOException e) {
                // not answering: if the process died, the supervisor's CRASHED report says so
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        return lines;
    }
}
