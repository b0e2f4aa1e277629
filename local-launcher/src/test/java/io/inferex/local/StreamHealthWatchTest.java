package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.sun.net.httpserver.HttpServer;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

class StreamHealthWatchTest {

    @Test
    void aStreamAppInErrorIsReportedAndHandedToTheStopActionOnceWithItsLogAndAgainAfterItRecoveredAndStoppedAgain() throws Exception {
        AtomicReference<String> state = new AtomicReference<>("RUNNING");
        HttpServer server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/q/health/ready", ex -> {
            boolean up = state.get().equals("RUNNING");
            byte[] body = ("{\"status\":\"" + (up ? "UP" : "DOWN") + "\",\"checks\":[{\"name\":\"inferex stream state\","
                    + "\"status\":\"" + (up ? "UP" : "DOWN") + "\",\"data\":{\"state\":\"" + state.get() + "\"}}]}")
                    .getBytes(StandardCharsets.UTF_8);
            ex.sendResponseHeaders(up ? 200 : 503, body.length);
            ex.getResponseBody().write(body);
            ex.close();
        });
        server.start();
        try {
            String url = "http://127.0.0.1:" + server.getAddress().getPort();
            List<String> stops = new java.util.ArrayList<>();
            var watch = new StreamHealthWatch(Map.of("settlement", url), Map.of("settlement", Path.of("logs/settlement.log")), stops::add);
            assertEquals(List.of(), watch.poll(), "a running app is not reported");
            state.set("CREATED");
            assertEquals(List.of(), watch.poll(), "not ready yet (starting) is not a stop");
            state.set("ERROR");
            assertEquals(List.of("STOPPED settlement (stream state ERROR); see logs/settlement.log"), watch.poll());
            assertEquals(List.of("settlement"), stops, "the stop action (under up: kill, so the supervisor restarts it) ran");
            assertEquals(List.of(), watch.poll(), "one stop is one report");
            assertEquals(List.of("settlement"), stops, "and one action");
            state.set("RUNNING");
            assertEquals(List.of(), watch.poll());
            state.set("NOT_RUNNING");
            assertEquals(List.of("STOPPED settlement (stream state NOT_RUNNING); see logs/settlement.log"), watch.poll());
            assertEquals(List.of("settlement", "settlement"), stops);
        } finally {
            server.stop(0);
        }
    }
}
