package io.inferex.local;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.UUID;

/** The few HTTP calls the demo makes, as an OpenAI Batch client would make them. */
public final class MarketHttp {
    static final ObjectMapper JSON = new ObjectMapper();
    private final HttpClient http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private final String apiKey;

    public MarketHttp(String apiKey) {
        this.apiKey = apiKey;
    }

    public JsonNode get(String url) {
        return send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + apiKey).GET());
    }

    /**
     * Waits until ingest shows this customer at least {@code micros} available (a deposit reaches
     * ingest through settlement and the ledger; ingest escrows a batch at create, so a create right
     * after a payment could otherwise be refused with 402). Retries the 503 of an ingest still
     * reading the ledger.
     */
    public JsonNode awaitAvailable(String ingestUrl, long micros, Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        String last = "no answer";
        while (true) {
            try {
                JsonNode balance = get(ingestUrl + "/v1/inferex/balance");
                if (balance.path("available").asLong() - balance.path("held_for_new_batches").asLong() >= micros) {
                    return balance;
                }
                last = balance.toString();
            } catch (HttpFailure notYet) {
                last = notYet.getMessage();
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("ingest did not show " + micros + " micro-units available in " + timeout + ": " + last);
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted waiting for funds", e);
            }
        }
    }

    public JsonNode postJson(String url, Object body) {
        try {
            return send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + apiKey)
                    .header("Content-Type", "application/json")
                    .POST(HttpRequest.BodyPublishers.ofByteArray(JSON.writeValueAsBytes(body))));
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    /** multipart/form-data upload of {@code file} with {@code purpose=batch}, as POST /v1/files expects. */
    public JsonNode uploadBatchFile(String url, Path file) throws IOException {
        String boundary = "inferex-" + UUID.randomUUID();
        byte[] content = Files.readAllBytes(file);
        String head = "--" + boundary + "\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
                + "--" + boundary + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + file.getFileName()
                + "\"\r\nContent-Type: application/jsonl\r\n\r\n";
        String tail = "\r\n--" + boundary + "--\r\n";
        byte[] body = new byte[head.length() + content.length + tail.length()];
        System.arraycopy(head.getBytes(StandardCharsets.UTF_8), 0, body, 0, head.length());
        System.arraycopy(content, 0, body, head.length(), content.length);
        System.arraycopy(tail.getBytes(StandardCharsets.UTF_8), 0, body, head.length() + content.length, tail.length());
        return send(HttpRequest.newBuilder(URI.create(url)).header("Authorization", "Bearer " + apiKey)
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body)));
    }

    /** GET {@code url} into the file {@code to}; fails on any status but 200. */
    public void download(String url, Path to) {
        try {
            HttpResponse<Path> res = http.send(HttpRequest.newBuilder(URI.create(url))
                    .header("Authorization", "Bearer " + apiKey).GET().build(), HttpResponse.BodyHandlers.ofFile(to));
            if (res.statusCode() != 200) {
                throw new IllegalStateException("GET " + url + " answered " + res.statusCode() + ": " + Files.readString(to));
            }
        } catch (IOException e) {
            throw new IllegalStateException("GET " + url + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }

    private JsonNode send(HttpRequest.Builder request) {
        HttpRequest req = request.timeout(Duration.ofSeconds(30)).build();
        try {
            HttpResponse<String> res = http.send(req, HttpResponse.BodyHandlers.ofString());
            if (res.statusCode() / 100 != 2) {
                throw new HttpFailure(req.method() + " " + req.uri() + " answered " + res.statusCode() + ": " + res.body(),
                        res.statusCode(), res.body());
            }
            return JSON.readTree(res.body());
        } catch (IOException e) {
            throw new IllegalStateException(req.method() + " " + req.uri() + ": " + e.getMessage(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }

    /** A non-2xx answer, with its status and body. */
    public static final class HttpFailure extends IllegalStateException {
        final int status;
        final String body;

        HttpFailure(String message, int status, String body) {
            super(message);
            this.status = status;
            this.body = body;
        }

        /** The HTTP status of the answer. */
        public int status() {
            return status;
        }
    }
}
