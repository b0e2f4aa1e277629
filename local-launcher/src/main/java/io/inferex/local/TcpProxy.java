package io.inferex.local;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.Set;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP proxy with faults, for the load harness's network chaos: it listens on a loopback port and
 * forwards every connection to one upstream address (a broker listener), and on command it
 * <ul>
 *   <li>{@link #latency delays} each direction by a fixed time plus a random jitter in
 *       {@code [0, jitter]}, bytes kept in order (a chunk never overtakes an earlier one);</li>
 *   <li>{@link #resetConnections resets} every open connection (both sides closed with an RST,
 *       mid-stream) and, while {@link #refuse refusing}, resets each new one at once: a partition
 *       a client notices;</li>
 *   <li>{@link #blackhole blackholes}: accepts connections but forwards nothing either way and
 *       holds what it has read, like a link whose packets vanish while TCP keeps retransmitting;
 *       the clients see only silence (their own request timeouts);</li>
 *   <li>{@link #restore restores} a clean link: held bytes flow again, in order.</li>
 * </ul>
 * Plain blocking sockets: per connection a reader and a writer thread per direction (the writer
 * sends each chunk when it is due), so added latency delays the bytes without limiting how many
 * requests are in flight. Bytes are never altered: the proxy knows nothing of Kafka.
 */
public final class TcpProxy implements AutoCloseable {
    /** A direction of the traffic: from the connecting client to the upstream, or back. */
    public enum Direction { TO_UPSTREAM, TO_CLIENT }

    private record Delay(long fixedNanos, long jitterNanos) {
        static final Delay NONE = new Delay(0, 0);
    }

    private final String name;
    private final InetSocketAddress upstream;
    private final ServerSocket server;
    private final Thread acceptor;
    private final Set<Link> links = ConcurrentHashMap.newKeySet();
    private volatile Delay toUpstream = Delay.NONE;
    private volatile Delay toClient = Delay.NONE;
    private volatile boolean refusing;
    private final Object gate = new Object();
    private volatile boolean blackholed;
    private volatile boolean closed;
    private final AtomicLong accepted = new AtomicLong();
    private final AtomicLong reset = new AtomicLong();
    private final AtomicLong bytesToUpstream = new AtomicLong();
    private final AtomicLong bytesToClient = new AtomicLong();

    private TcpProxy(String name, ServerSocket server, InetSocketAddress upstream) {
        this.name = name;
        this.server = server;
        this.upstream = upstream;
        this.acceptor = new Thread(this::acceptLoop, "proxy-" + name + "-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    /** Listens on {@code 127.0.0.1:listenPort} (0: a free port) and forwards to {@code upstream}. */
    public static TcpProxy start(String name, int listenPort, InetSocketAddress upstream) {
        try {
            ServerSocket server = new ServerSocket();
            server.setReuseAddress(true);
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), listenPort), 200);
            return new TcpProxy(name, server, upstream);
        } catch (IOException e) {
            throw new IllegalStateException("proxy " + name + " cannot listen on port " + listenPort + ": " + e.getMessage(), e);
        }
    }

    public String name() {
        return name;
    }

    /** The port it listens on (loopback). */
    public int port() {
        return server.getLocalPort();
    }

    /** Where it forwards to. */
    public InetSocketAddress upstream() {
        return upstream;
    }

    /**
     * From now on each chunk read in {@code direction} is sent {@code fixed} plus a uniform random
     * {@code [0, jitter]} later (never before an earlier chunk). Zero and zero: no added delay.
     */
    public void latency(Direction direction, Duration fixed, Duration jitter) {
        if (fixed.isNegative() || jitter.isNegative()) {
            throw new IllegalArgumentException("latency and jitter cannot be negative: " + fixed + ", " + jitter);
        }
        Delay d = new Delay(fixed.toNanos(), jitter.toNanos());
        if (direction == Direction.TO_UPSTREAM) {
            toUpstream = d;
        } else {
            toClient = d;
        }
    }

    /** Closes both sides of every open connection with an RST (mid-stream, whatever was in flight). */
    public void resetConnections() {
        for (Link l : links) {
            l.close(true);
        }
    }

    /** While on, a new connection is accepted and reset at once. */
    public void refuse(boolean on) {
        refusing = on;
    }

    /** While on, nothing is forwarded either way (what was read is held) and new connections are not passed on. */
    public void blackhole(boolean on) {
        synchronized (gate) {
            blackholed = on;
            gate.notifyAll();
        }
    }

    /** A clean link again: no added latency, connections accepted and forwarded, held bytes sent. */
    public void restore() {
        latency(Direction.TO_UPSTREAM, Duration.ZERO, Duration.ZERO);
        latency(Direction.TO_CLIENT, Duration.ZERO, Duration.ZERO);
        refuse(false);
        blackhole(false);
    }

    /** Connections accepted so far (refused ones included). */
    public long accepted() {
        return accepted.get();
    }

    /** Connections reset by the proxy (by {@link #resetConnections} or while refusing). */
    public long resets() {
        return reset.get();
    }

    /** Connections open now. */
    public int openConnections() {
        return links.size();
    }

    /** Bytes forwarded (written out) in {@code direction} so far. */
    public long bytesForwarded(Direction direction) {
        return (direction == Direction.TO_UPSTREAM ? bytesToUpstream : bytesToClient).get();
    }

    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException ignored) {
            // closing anyway
        }
        blackhole(false); // wakes every waiter; each sees closed
        for (Link l : links) {
            l.close(false);
        }
    }

    private void acceptLoop() {
        while (!closed) {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                if (closed) {
                    return;
                }
                continue;
            }
            accepted.incrementAndGet();
            if (refusing) {
                reset.incrementAndGet();
                abort(client);
                continue;
            }
            Link link = new Link(client);
            links.add(link);
            daemon(link::connect, "connect").start();
        }
    }

    /** Waits while the link is blackholed; false when the proxy or {@code link} closed meanwhile. */
    private boolean awaitOpen(Link link) {
        synchronized (gate) {
            while (blackholed && !closed && !link.closed) {
                try {
                    gate.wait(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    return false;
                }
            }
        }
        return !closed && !link.closed;
    }

    private Thread daemon(Runnable r, String what) {
        Thread t = new Thread(r, "proxy-" + name + "-" + what);
        t.setDaemon(true);
        return t;
    }

    private static void abort(Socket s) {
        try {
            s.setSoLinger(true, 0); // RST, not a graceful FIN
        } catch (IOException ignored) {
            // closing anyway
        }
        try {
            s.close();
        } catch (IOException ignored) {
            // already closed
        }
    }

    /** A chunk of bytes read in one direction and when it is due to be written. */
    private record Chunk(byte[] bytes, long dueNanos) {}

    /** One proxied connection: the client's socket, the upstream socket, and two pumps per direction. */
    private final class Link {
        private final Socket client;
        private volatile Socket up;
        private volatile boolean closed;

        Link(Socket client) {
            this.client = client;
        }

        void connect() {
            if (!awaitOpen(this)) {
                close(false);
                return;
            }
            Socket s = new Socket();
            try {
                s.setTcpNoDelay(true);
                client.setTcpNoDelay(true);
                s.connect(upstream, 10_000);
            } catch (IOException e) {
                abort(s);
                close(true); // the upstream is away: the client sees its connection reset
                return;
            }
            up = s;
            if (this.closed) { // reset while connecting
                abort(s);
                return;
            }
            try {
                pipe(client.getInputStream(), s.getOutputStream(), Direction.TO_UPSTREAM);
                pipe(s.getInputStream(), client.getOutputStream(), Direction.TO_CLIENT);
            } catch (IOException e) {
                close(true);
            }
        }

        private void pipe(InputStream in, OutputStream out, Direction direction) {
            BlockingQueue<Chunk> queue = new LinkedBlockingQueue<>();
            String dir = direction == Direction.TO_UPSTREAM ? "up" : "down";
            daemon(() -> read(in, queue, direction), "read-" + dir).start();
            daemon(() -> write(queue, out, direction), "write-" + dir).start();
        }

        private void read(InputStream in, BlockingQueue<Chunk> queue, Direction direction) {
            byte[] buf = new byte[64 * 1024];
            long lastDue = 0;
            try {
                while (awaitOpen(this)) {
                    int n = in.read(buf);
                    if (n < 0) {
                        break;
                    }
                    Delay d = direction == Direction.TO_UPSTREAM ? toUpstream : toClient;
                    long now = System.nanoTime();
                    long jitter = d.jitterNanos() == 0 ? 0 : ThreadLocalRandom.current().nextLong(d.jitterNanos() + 1);
                    long due = Math.max(lastDue, now + d.fixedNanos() + jitter); // in order, as TCP delivers
                    lastDue = due;
                    queue.add(new Chunk(java.util.Arrays.copyOf(buf, n), due));
                }
            } catch (IOException e) {
                // reset or closed: the link ends
            }
            // The peer closed: send what is queued, then close (the writer sees the end marker).
            queue.add(new Chunk(null, 0));
        }

        private void write(BlockingQueue<Chunk> queue, OutputStream out, Direction direction) {
            AtomicLong counter = direction == Direction.TO_UPSTREAM ? bytesToUpstream : bytesToClient;
            try {
                while (!closed) {
                    Chunk c = queue.poll(200, TimeUnit.MILLISECONDS);
                    if (c == null) {
                        continue;
                    }
                    if (c.bytes() == null) {
                        break;
                    }
                    long wait = c.dueNanos() - System.nanoTime();
                    if (wait > 0) {
                        TimeUnit.NANOSECONDS.sleep(wait);
                    }
                    if (!awaitOpen(this)) {
                        return;
                    }
                    out.write(c.bytes());
                    out.flush();
                    counter.addAndGet(c.bytes().length);
                }
            } catch (IOException | InterruptedException e) {
                // reset or closed
            }
            close(false);
        }

        void close(boolean rst) {
            synchronized (this) {
                if (closed) {
                    return;
                }
                closed = true;
            }
            links.remove(this);
            if (rst) {
                reset.incrementAndGet();
                abort(client);
                Socket s = up;
                if (s != null) {
                    abort(s);
                }
            } else {
                closeQuietly(client);
                closeQuietly(up);
            }
        }

        private void closeQuietly(Socket s) {
            if (s != null) {
                try {
                    s.close();
                } catch (IOException ignored) {
                    // already closed
                }
            }
        }
    }
}
