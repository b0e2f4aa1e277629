package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Random;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@link TcpProxy} against an echo server on loopback: what it forwards is unchanged and in order,
 * added latency holds bytes back at least that long, a reset closes both sides, a blackhole
 * forwards nothing until restored. Lower bounds and orderings only, never an upper time bound.
 */
class TcpProxyTest {
    private ServerSocket upstream;
    private final ConcurrentLinkedQueue<Socket> upstreamSides = new ConcurrentLinkedQueue<>();
    /** When the echo server received each first byte of a connection (nanoTime). */
    private final LinkedBlockingQueue<Long> firstByteAt = new LinkedBlockingQueue<>();
    private TcpProxy proxy;

    @BeforeEach
    void echoServerAndProxy() throws IOException {
        upstream = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        Thread t = new Thread(() -> {
            while (!upstream.isClosed()) {
                try {
                    Socket s = upstream.accept();
                    upstreamSides.add(s);
                    Thread echo = new Thread(() -> echo(s), "echo");
                    echo.setDaemon(true);
                    echo.start();
                } catch (IOException e) {
                    return;
                }
            }
        }, "echo-accept");
        t.setDaemon(true);
        t.start();
        proxy = TcpProxy.start("test", 0, new InetSocketAddress(InetAddress.getLoopbackAddress(), upstream.getLocalPort()));
    }

    private void echo(Socket s) {
        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
            byte[] buf = new byte[8192];
            boolean first = true;
            for (int n; (n = in.read(buf)) >= 0; ) {
                if (first) {
                    firstByteAt.add(System.nanoTime());
                    first = false;
                }
                out.write(buf, 0, n);
                out.flush();
            }
        } catch (IOException e) {
            // reset by the test
        }
    }

    @AfterEach
    void close() throws IOException {
        proxy.close();
        upstream.close();
    }

    private Socket connect() throws IOException {
        Socket s = new Socket(InetAddress.getLoopbackAddress(), proxy.port());
        s.setSoTimeout(20_000);
        return s;
    }

    @Test
    void bytesPassUnchangedAndInOrderBothWaysEvenWithJitter() throws Exception {
        proxy.latency(TcpProxy.Direction.TO_UPSTREAM, Duration.ZERO, Duration.ofMillis(3));
        proxy.latency(TcpProxy.Direction.TO_CLIENT, Duration.ZERO, Duration.ofMillis(3));
        byte[] sent = new byte[300_000];
        new Random(7).nextBytes(sent);
        try (Socket s = connect()) {
            Thread writer = new Thread(() -> {
                try {
                    OutputStream out = s.getOutputStream();
                    for (int off = 0; off < sent.length; off += 1_000) { // many small writes: many chunks, each with its jitter
                        out.write(sent, off, Math.min(1_000, sent.length - off));
                        out.flush();
                    }
                } catch (IOException e) {
                    throw new IllegalStateException(e);
                }
            });
            writer.start();
            byte[] got = new byte[sent.length];
            new DataInputStream(s.getInputStream()).readFully(got);
            writer.join();
            assertArrayEquals(sent, got);
        }
        assertEquals(sent.length, proxy.bytesForwarded(TcpProxy.Direction.TO_UPSTREAM));
    }

    @Test
    void addedLatencyHoldsEachDirectionBackAtLeastItsFixedPart() throws Exception {
        proxy.latency(TcpProxy.Direction.TO_UPSTREAM, Duration.ofMillis(150), Duration.ofMillis(20));
        proxy.latency(TcpProxy.Direction.TO_CLIENT, Duration.ofMillis(100), Duration.ZERO);
        try (Socket s = connect()) {
            long sentAt = System.nanoTime();
            s.getOutputStream().write(42);
            s.getOutputStream().flush();
            assertEquals(42, s.getInputStream().read());
            long roundTrip = System.nanoTime() - sentAt;
            long reachedUpstream = firstByteAt.poll(20, TimeUnit.SECONDS) - sentAt;
            assertTrue(reachedUpstream >= TimeUnit.MILLISECONDS.toNanos(150), "to upstream after " + reachedUpstream / 1e6 + " ms");
            assertTrue(roundTrip >= TimeUnit.MILLISECONDS.toNanos(250), "round trip " + roundTrip / 1e6 + " ms");
        }
    }

    @Test
    void aResetClosesBothSidesAndRefusedConnectionsEndUntilRestored() throws Exception {
        try (Socket s = connect()) {
            s.getOutputStream().write(1);
            assertEquals(1, s.getInputStream().read());
            Socket upstreamSide = upstreamSides.peek();
            proxy.resetConnections();
            proxy.refuse(true);
            assertConnectionEnded(s);
            awaitClosedByEchoServer(upstreamSide);
            assertEquals(0, proxy.openConnections());
        }
        try (Socket refused = connect()) {
            assertConnectionEnded(refused);
        }
        proxy.restore();
        try (Socket s = connect()) {
            s.getOutputStream().write(7);
            assertEquals(7, s.getInputStream().read());
        }
        assertTrue(proxy.resets() >= 2, "resets " + proxy.resets());
    }

    @Test
    void aBlackholeForwardsNothingUntilRestoredThenDeliversWhatItHeld() throws Exception {
        try (Socket before = connect()) {
            before.getOutputStream().write(1);
            assertEquals(1, before.getInputStream().read());
            firstByteAt.take();
            proxy.blackhole(true);
            long forwarded = proxy.bytesForwarded(TcpProxy.Direction.TO_UPSTREAM);
            before.getOutputStream().write(new byte[] {2, 3});
            try (Socket during = connect()) { // accepted, but not passed on
                during.getOutputStream().write(4);
                Thread.sleep(300);
                assertEquals(forwarded, proxy.bytesForwarded(TcpProxy.Direction.TO_UPSTREAM));
                long restoredAt = System.nanoTime();
                proxy.restore();
                assertEquals(2, before.getInputStream().read());
                assertEquals(3, before.getInputStream().read());
                assertEquals(4, during.getInputStream().read());
                // the new connection reached the upstream only after the restore
                assertTrue(firstByteAt.take() >= restoredAt);
            }
        }
    }

    /** The peer's side ended: an RST shows as an IOException, an orderly close as end of stream. */
    private static void assertConnectionEnded(Socket s) {
        try {
            assertEquals(-1, s.getInputStream().read(), "the connection still carries bytes");
        } catch (java.net.SocketTimeoutException stillOpen) {
            throw new AssertionError("the connection is still open", stillOpen);
        } catch (IOException expected) {
            // reset
        }
    }

    /** The echo server's side of a connection is closed once its reader saw the reset (waits, no time bound asserted). */
    private static void awaitClosedByEchoServer(Socket s) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        while (!s.isClosed() && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertTrue(s.isClosed(), "the upstream side of the connection was not closed");
    }
}
