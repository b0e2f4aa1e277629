package io.inferex.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.local.LocalStack;
import io.inferex.local.OperatorCredential;
import io.inferex.security.BusCredentials;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.junit.jupiter.api.Test;

/** {@code ./inferex up} as a user runs it: a real process tree, stopped with SIGTERM. */
class InferexUpIT {
    static final Path ROOT = Path.of(System.getProperty("inferex.repo.root", "..")).toAbsolutePath().normalize();

    @Test
    void upPrintsReadyAnswersHealthRestartsACrashedServiceAndSigtermLeavesNoProcessBehind() throws Exception {
        Path runDir = Files.createDirectories(ROOT.resolve("load-tests/target/up-it-run"));
        long t0 = System.nanoTime();
        Process up = new ProcessBuilder(ROOT.resolve("inferex").toString(), "up", "--run-dir", runDir.toString())
                .directory(ROOT.toFile()).redirectErrorStream(true).start();
        List<String> output = new ArrayList<>();
        CompletableFuture<String> ready = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader in = new BufferedReader(new InputStreamReader(up.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = in.readLine()) != null) {
                    synchronized (output) {
                        output.add(line);
                    }
                    if (line.startsWith("READY ")) {
                        ready.complete(line);
                    }
                }
            } catch (Exception ignored) {
                // process ended
            }
            ready.completeExceptionally(new AssertionError("inferex up ended without READY: " + output));
        });
        reader.setDaemon(true);
        reader.start();
        try {
            String line = ready.get(180, TimeUnit.SECONDS);
            double seconds = (System.nanoTime() - t0) / 1e9;
            System.out.printf("inferex up: READY after %.1f s%n", seconds);

            Map<String, String> fields = new LinkedHashMap<>();
            for (String part : line.substring("READY ".length()).split(" ")) {
                fields.put(part.substring(0, part.indexOf('=')), part.substring(part.indexOf('=') + 1));
            }
            assertTrue(fields.keySet().containsAll(Set.of("bootstrap", "client-config", "ingest", "matcher", "verifier", "settlement",
                    "executor-1", "executor-2")), line);

            HttpClient http = HttpClient.newHttpClient();
            for (var e : fields.entrySet()) {
                if (e.getKey().equals("bootstrap") || e.getKey().equals("client-config")) {
                    continue;
                }
                var res = http.send(HttpRequest.newBuilder(URI.create(e.getValue() + "/q/health/ready")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, res.statusCode(), e.getKey() + " health: " + res.body());
                assertTrue(res.body().contains("\"UP\""), e.getKey() + " health: " + res.body());
            }
            // The operator's client config, named on the READY line, is private and lets an SRE in.
            Path clientConfig = Path.of(fields.get("client-config"));
            assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(clientConfig)));
            try (Admin admin = Admin.create(BusCredentials.read(clientConfig))) {
                Set<String> topics = admin.listTopics().names().get(30, TimeUnit.SECONDS);
                for (Topic<?, ?> t : Topics.ALL) {
                    assertTrue(topics.contains(t.name()), "topic " + t.name() + " on the embedded broker");
                }
            }

            List<ProcessHandle> tree = up.descendants().toList();
            assertTrue(tree.size() >= 7, "broker + 4 services + 2 executors as their own processes: " + tree.size());
            // Every service has its own credential, and no password is on a command line (ps shows those).
            List<String> passwords = new ArrayList<>();
            try (var secrets = Files.list(runDir.resolve(LocalStack.SECRETS))) {
                for (Path f : secrets.toList()) {
                    assertEquals("rw-------", java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(f)), f.toString());
                    var config = BusCredentials.read(f);
                    String jaas = String.valueOf(config.getOrDefault("sasl.jaas.config", config.get("kafka.sasl.jaas.config")));
                    var m = java.util.regex.Pattern.compile("password=\"([^\"]+)\"").matcher(jaas);
                    assertTrue(m.find(), f + " has a SCRAM credential");
                    passwords.add(m.group(1));
                }
            }
            assertTrue(passwords.size() >= 7, "4 services, 2 nodes and the payment gateway: " + passwords);
            assertEquals(passwords.size(), Set.copyOf(passwords).size(), "each principal its own password");
            for (ProcessHandle p : tree) {
                String cmd = p.info().commandLine().orElse("");
                assertTrue(!cmd.contains("sasl.jaas.config"), cmd);
                passwords.forEach(pw -> assertTrue(!cmd.contains(pw), "a password on the command line of " + cmd));
            }

            // Operator HTTP: the line after READY names the token file (owner-only); settlement's
            // ledger refuses a caller without the token and serves one with it; the token itself
            // is on no command line (services get its hash).
            Path tokenFile = runDir.resolve(OperatorCredential.FILE_NAME);
            long lineDeadline = System.currentTimeMillis() + 5_000;
            boolean named = false;
            while (!named && System.currentTimeMillis() < lineDeadline) {
                synchronized (output) {
                    named = output.stream().anyMatch(l -> l.startsWith("operator HTTP token: " + tokenFile));
                }
                Thread.sleep(50);
            }
            assertTrue(named, "token file named after READY: " + output);
            assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(tokenFile)));
            OperatorCredential operator = OperatorCredential.read(runDir);
            URI ledger = URI.create(fields.get("settlement") + "/ledger/balances");
            assertEquals(401, http.send(HttpRequest.newBuilder(ledger).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
            var served = http.send(HttpRequest.newBuilder(ledger).header("Authorization", operator.authorization()).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertEquals(200, served.statusCode(), served.body());
            assertTrue(served.body().contains("\"conserved\":true"), served.body());
            for (ProcessHandle p : tree) {
                assertFalse(p.info().commandLine().orElse("").contains(operator.token()), "token on a command line");
            }

            // One crash is one crash, and up supervises: kill executor-2 hard; up says so, restarts it
            // (same port, same node identity) after its backoff, and everything else stays up.
            ProcessHandle executor2 = tree.stream()
                    .filter(p -> p.info().commandLine().orElse("").contains("-Dinferex.node.name=executor-2"))
                    .findFirst().orElseThrow(() -> new AssertionError("no executor-2 process among " + tree.size()));
            executor2.destroyForcibly();
            long crashDeadline = System.currentTimeMillis() + 90_000;
            boolean crashed = false;
            boolean restarted = false;
            while (!restarted && System.currentTimeMillis() < crashDeadline) {
                synchronized (output) {
                    crashed = output.stream().anyMatch(l -> l.startsWith("CRASHED executor-2 (exit code 137), crash 1 of 5"));
                    restarted = output.stream().anyMatch(l -> l.startsWith("RESTARTED executor-2 "));
                }
                Thread.sleep(200);
            }
            assertTrue(crashed, "crash of executor-2 reported: " + output);
            assertTrue(restarted, "executor-2 restarted by the supervisor: " + output);
            assertTrue(up.isAlive(), "inferex up survives a crashed service");
            for (String name : List.of("ingest", "settlement", "executor-1", "executor-2")) {
                var res = http.send(HttpRequest.newBuilder(URI.create(fields.get(name) + "/q/health/ready")).build(),
                        HttpResponse.BodyHandlers.ofString());
                assertEquals(200, res.statusCode(), name + " after executor-2 crashed and came back: " + res.body());
            }
            String status = Files.readString(runDir.resolve(io.inferex.local.ServiceSupervisor.STATUS_FILE));
            assertTrue(status.contains("\"executor-2\": {\"state\": \"running\"") && status.contains("\"restarts\": 1, \"lastExit\": \"137\""),
                    status);

            // SIGTERM, as a service manager would send. Through the handle: Process.destroy() would also
            // close our end of its stdout and we would not see what the stop prints.
            List<ProcessHandle> restartedTree = up.descendants().toList();
            up.toHandle().destroy();
            assertTrue(up.waitFor(90, TimeUnit.SECONDS), "inferex up did not stop within 90 s of SIGTERM");
            List<ProcessHandle> all = new ArrayList<>(tree);
            all.addAll(restartedTree);
            for (ProcessHandle p : all) {
                p.onExit().get(10, TimeUnit.SECONDS);
                assertFalse(p.isAlive(), "left behind: pid " + p.pid() + " " + p.info().commandLine().orElse(""));
            }
            reader.join(10_000); // drain the last lines the stop printed
            synchronized (output) {
                assertTrue(output.contains("stopped"), "clean stop reported: " + output);
            }
        } finally {
            if (up.isAlive()) {
                up.descendants().forEach(ProcessHandle::destroyForcibly);
                up.destroyForcibly();
            }
        }
    }
}
