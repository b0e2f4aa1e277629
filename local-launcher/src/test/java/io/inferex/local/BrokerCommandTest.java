package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code inferex broker} as an SRE runs it: a broker started in the background ({@code &},
 * {@code nohup}, a service manager) has its standard input closed from the start, and must run
 * until it is signalled; only the launcher's own child broker ({@code --exit-with-parent}) follows
 * its parent's pipe.
 */
class BrokerCommandTest {

    @TempDir
    Path dir;

    @Test
    void aBrokerWhoseStandardInputIsClosedKeepsRunningUntilSigtermAndThenStopsCleanly() throws Exception {
        Process broker = start(List.of());
        try {
            awaitReady(broker);
            // stdin was /dev/null from the start: the old broker had exited by now
            assertTrue(!broker.waitFor(3, TimeUnit.SECONDS), "the broker stopped although nobody signalled it");
            broker.destroy(); // SIGTERM
            assertTrue(broker.waitFor(60, TimeUnit.SECONDS), "the broker did not stop on SIGTERM");
            int exit = broker.exitValue();
            assertTrue(exit == 143 || exit == 0, "SIGTERM stops the JVM through its shutdown hook (exit 143), not " + exit);
        } finally {
            broker.destroyForcibly();
        }
    }

    @Test
    void withExitWithParentTheBrokerStopsWhenItsParentsPipeCloses() throws Exception {
        Process broker = start(List.of("--exit-with-parent"));
        try {
            awaitReady(broker);
            assertTrue(broker.waitFor(60, TimeUnit.SECONDS), "the launcher's child broker outlived its parent's pipe");
            assertEquals(0, broker.exitValue());
        } finally {
            broker.destroyForcibly();
        }
    }

    @Test
    void aProxiedListenerAdvertisesItsProxySoAClientBootstrappedThereStaysBehindIt() throws Exception {
        int brokerPort = EmbeddedKafkaBroker.freePort();
        try (TcpProxy proxy = TcpProxy.start("test", 0, new java.net.InetSocketAddress(java.net.InetAddress.getLoopbackAddress(),
                brokerPort))) {
            Process broker = start(List.of("--proxied-listener", "VIA_TEST=" + brokerPort + ":" + proxy.port()));
            try {
                String ready = awaitReady(broker);
                java.util.Map<String, Object> client = new java.util.HashMap<>(io.inferex.security.BusCredentials.read(
                        Path.of(ready.substring(ready.indexOf("client-config=") + "client-config=".length()).trim())));
                String direct = (String) client.get("bootstrap.servers");
                client.put("bootstrap.servers", "127.0.0.1:" + proxy.port());
                try (var admin = org.apache.kafka.clients.admin.Admin.create(client)) {
                    // The metadata this listener gives names the proxy: every later connection goes through it.
                    var nodes = admin.describeCluster().nodes().get(60, TimeUnit.SECONDS);
                    assertEquals(List.of(proxy.port()), nodes.stream().map(org.apache.kafka.common.Node::port).toList());
                    admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic("proxied", 1, (short) 1))).all()
                            .get(60, TimeUnit.SECONDS);
                }
                client.put("bootstrap.servers", direct);
                try (var admin = org.apache.kafka.clients.admin.Admin.create(client)) {
                    // the client listener still advertises itself
                    assertEquals(List.of(direct), admin.describeCluster().nodes().get(60, TimeUnit.SECONDS).stream()
                            .map(n -> n.host() + ":" + n.port()).toList());
                }
                client.put("bootstrap.servers", "127.0.0.1:" + proxy.port());
                long before = proxy.bytesForwarded(TcpProxy.Direction.TO_UPSTREAM);
                try (var producer = new org.apache.kafka.clients.producer.KafkaProducer<>(client,
                        new org.apache.kafka.common.serialization.StringSerializer(),
                        new org.apache.kafka.common.serialization.StringSerializer())) {
                    var written = producer.send(new org.apache.kafka.clients.producer.ProducerRecord<>("proxied", "k", "v"))
                            .get(60, TimeUnit.SECONDS);
                    assertEquals(0, written.offset());
                }
                assertTrue(proxy.bytesForwarded(TcpProxy.Direction.TO_UPSTREAM) > before, "the produce did not go through the proxy");
            } finally {
                broker.destroyForcibly();
            }
        }
    }

    private Process start(List<String> extra) throws IOException {
        List<String> command = new java.util.ArrayList<>(List.of(LocalStack.javaBinary(), "-Xmx384m",
                "-cp", System.getProperty("java.class.path"), InferexCli.class.getName(), "broker",
                "--data-dir", dir.resolve("kafka").toString()));
        command.addAll(extra);
        return new ProcessBuilder(command).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true).start();
    }

    /** Reads the broker's output until its READY line (the broker is up), then keeps draining it. */
    private static String awaitReady(Process broker) throws InterruptedException {
        AtomicReference<String> ready = new AtomicReference<>();
        StringBuilder seen = new StringBuilder();
        Thread reader = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(broker.getInputStream(), StandardCharsets.UTF_8))) {
                for (String line; (line = r.readLine()) != null; ) {
                    synchronized (seen) {
                        if (seen.length() < 20_000) {
                            seen.append(line).append('\n');
                        }
                    }
                    if (line.startsWith("READY ")) {
                        ready.compareAndSet(null, line);
                    }
                }
            } catch (IOException ignored) {
                // the process ended
            }
        }, "broker-output");
        reader.setDaemon(true);
        reader.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (ready.get() == null && System.nanoTime() < deadline && broker.isAlive()) {
            Thread.sleep(100);
        }
        synchronized (seen) {
            assertTrue(ready.get() != null, "no READY line from the broker; it printed:\n" + seen);
        }
        return ready.get();
    }
}
