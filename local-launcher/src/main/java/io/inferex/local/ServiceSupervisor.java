package io.inferex.local;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * Keeps a {@link LocalStack}'s processes (the broker, every service and executor) running while
 * the stack is up: a process that exits, for any reason, is restarted as it was started (same
 * command, port, credential and state dir) after the {@link RestartPolicy}'s backoff, until the
 * policy gives up on a crash loop. Every crash, restart and give-up is a line on {@code out}, and
 * the status of each process is in {@value #STATUS_FILE} in the run dir (rewritten on each change).
 */
public final class ServiceSupervisor implements AutoCloseable {
    /** The stack's status, as JSON: per process its state, pid, restarts and last exit. */
    public static final String STATUS_FILE = "status.json";

    /** One process as the supervisor sees it. */
    public record Status(String state, long pid, int restarts, String lastExit) {}

    public static final String RUNNING = "running";
    public static final String RESTARTING = "restarting";
    public static final String GAVE_UP = "gave-up";

    private final LocalStack stack;
    private final RestartPolicy policy;
    private final PrintStream out;
    private final LongSupplier clock;
    private final Map<String, Status> status = new ConcurrentHashMap<>();
    private final ScheduledExecutorService timer = Executors.newScheduledThreadPool(2, r -> {
        Thread t = new Thread(r, "supervisor");
        t.setDaemon(true);
        return t;
    });
    private volatile boolean stopped;

    ServiceSupervisor(LocalStack stack, RestartPolicy policy, PrintStream out, LongSupplier clock) {
        this.stack = stack;
        this.policy = policy;
        this.out = out;
        this.clock = clock;
        long now = clock.getAsLong();
        for (ManagedProcess p : stack.processes()) {
            policy.started(p.name(), now);
            status.put(p.name(), new Status(RUNNING, p.pid(), 0, null));
        }
        writeStatus();
        timer.scheduleWithFixedDelay(this::poll, 250, 250, TimeUnit.MILLISECONDS);
    }

    private void poll() {
        if (stopped) {
            return;
        }
        try {
            for (ManagedProcess p : stack.processes()) {
                Status s = status.get(p.name());
                if (s == null) { // started later (LocalStack.startExecutors)
                    policy.started(p.name(), clock.getAsLong());
                    status.put(p.name(), new Status(RUNNING, p.pid(), 0, null));
                    writeStatus();
                } else if (s.state().equals(RUNNING) && s.pid() == p.pid() && !p.isAlive() && !stopped) {
                    exited(p, s);
                }
            }
        } catch (RuntimeException e) {
            out.println("supervisor: " + e); // never let the schedule die
        }
    }

    private void exited(ManagedProcess p, Status s) {
        String code = p.exitCode();
        RestartPolicy.Decision d = policy.exited(p.name(), code, clock.getAsLong());
        out.println(d.message() + "; log " + p.logFile());
        if (!d.restart()) {
            status.put(p.name(), new Status(GAVE_UP, p.pid(), s.restarts(), code));
            writeStatus();
            return;
        }
        status.put(p.name(), new Status(RESTARTING, p.pid(), s.restarts(), code));
        writeStatus();
        long crashedAt = clock.getAsLong();
        timer.schedule(() -> restart(p.name(), s.restarts() + 1, code, crashedAt), d.delay().toMillis(), TimeUnit.MILLISECONDS);
    }

    private void restart(String name, int restarts, String code, long crashedAt) {
        if (stopped) {
            return;
        }
        ManagedProcess fresh;
        try {
            fresh = stack.restart(name);
        } catch (RuntimeException e) {
            // It died again before it was ready: that is the next crash, decided by the policy on the next poll.
            ManagedProcess current = stack.processes().stream().filter(p -> p.name().equals(name)).findFirst().orElse(null);
            out.println("restart of " + name + " failed: " + e.getMessage());
            if (current != null) {
                status.put(name, new Status(RUNNING, current.pid(), restarts, code));
            }
            return;
        }
        policy.started(name, clock.getAsLong());
        status.put(name, new Status(RUNNING, fresh.pid(), restarts, code));
        writeStatus();
        out.printf("RESTARTED %s (pid %d, restart %d), ready %.1f s after the crash%n", name, fresh.pid(), restarts,
                (clock.getAsLong() - crashedAt) / 1000.0);
    }

    /** Each process's status, by name. */
    public Map<String, Status> status() {
        return new TreeMap<>(status);
    }

    private synchronized void writeStatus() {
        StringBuilder json = new StringBuilder("{\n");
        var entries = status().entrySet().iterator();
        while (entries.hasNext()) {
            var e = entries.next();
            Status s = e.getValue();
            json.append("  \"").append(e.getKey()).append("\": {\"state\": \"").append(s.state()).append("\", \"pid\": ")
                    .append(s.pid()).append(", \"restarts\": ").append(s.restarts()).append(", \"lastExit\": ")
                    .append(s.lastExit() == null ? "null" : "\"" + s.lastExit() + "\"").append('}')
                    .append(entries.hasNext() ? ",\n" : "\n");
        }
        json.append("}\n");
        Path file = stack.runDir().resolve(STATUS_FILE);
        try {
            Path tmp = file.resolveSibling(STATUS_FILE + ".tmp");
            Files.writeString(tmp, json);
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            out.println("supervisor: cannot write " + file + ": " + e.getMessage());
        }
    }

    /** Stops supervising (before the stack stops its processes, so a stop is not taken for a crash). */
    @Override
    public void close() {
        stopped = true;
        timer.shutdownNow();
        try {
            timer.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
