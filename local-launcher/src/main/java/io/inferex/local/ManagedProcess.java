package io.inferex.local;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;

/**
 * A child process of the launcher: its output goes to a log file (and can be watched for a
 * line), and {@link #stop} ends it and everything it started: SIGTERM, then SIGKILL after a grace
 * period. So one crash is one crash, and Ctrl-C leaves no process behind.
 */
public final class ManagedProcess implements AutoCloseable {
    private final String name;
    private final Process process;
    private final Path logFile;
    private final List<String> command;
    private final Path workDir;
    private final Predicate<String> watch;
    private final CompletableFuture<String> watchedLine = new CompletableFuture<>();
    private final Thread pump;

    private ManagedProcess(String name, Process process, List<String> command, Path workDir, Path logFile, Predicate<String> watch,
            boolean appendLog) {
        this.name = name;
        this.process = process;
        this.command = List.copyOf(command);
        this.workDir = workDir;
        this.logFile = logFile;
        this.watch = watch;
        this.pump = new Thread(() -> pump(watch, appendLog), name + "-output");
        pump.setDaemon(true);
        pump.start();
    }

    /** Starts {@code command}; {@code watch} picks the line {@link #awaitLine} returns (e.g. READY). */
    public static ManagedProcess start(String name, List<String> command, Path workDir, Path logFile,
            Predicate<String> watch) {
        return start(name, command, workDir, logFile, watch, false);
    }

    private static ManagedProcess start(String name, List<String> command, Path workDir, Path logFile, Predicate<String> watch,
            boolean appendLog) {
        try {
            Files.createDirectories(logFile.getParent());
            ProcessBuilder pb = new ProcessBuilder(command).directory(workDir.toFile()).redirectErrorStream(true);
            return new ManagedProcess(name, pb.start(), command, workDir, logFile, watch, appendLog);
        } catch (IOException e) {
            throw new IllegalStateException("cannot start " + name + ": " + e.getMessage(), e);
        }
    }

    private void pump(Predicate<String> watch, boolean appendLog) {
        java.nio.file.OpenOption[] open = appendLog
                ? new java.nio.file.OpenOption[] {java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.APPEND}
                : new java.nio.file.OpenOption[0];
        try (BufferedReader in = new BufferedReader(new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8));
                PrintWriter log = new PrintWriter(Files.newBufferedWriter(logFile, StandardCharsets.UTF_8, open), true)) {
            String line;
            while ((line = in.readLine()) != null) {
                log.println(line);
                if (!watchedLine.isDone() && watch.test(line)) {
                    watchedLine.complete(line);
                }
            }
        } catch (IOException e) {
            // the process went away; exit status tells the rest
        } finally {
            watchedLine.completeExceptionally(new IllegalStateException(name + " exited before it was ready"));
        }
    }

    /** The first watched line, or an error naming the process and its log if it died or timed out. */
    public String awaitLine(Duration timeout) {
        try {
            return watchedLine.get(timeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            throw new IllegalStateException(name + " was not ready within " + timeout.toSeconds() + " s; see " + logFile);
        } catch (java.util.concurrent.ExecutionException e) {
            throw new IllegalStateException(e.getCause().getMessage() + " (exit " + exitCode() + "); see " + logFile);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted");
        }
    }

    public String name() {
        return name;
    }

    public Path logFile() {
        return logFile;
    }

    public boolean isAlive() {
        return process.isAlive();
    }

    public long pid() {
        return process.pid();
    }

    public String exitCode() {
        return process.isAlive() ? "still running" : Integer.toString(process.exitValue());
    }

    /** SIGTERM to the process and its descendants, then SIGKILL to whatever is left after {@code grace}. */
    public void stop(Duration grace) {
        List<ProcessHandle> tree = process.descendants().toList();
        process.destroy();
        tree.forEach(ProcessHandle::destroy);
        try {
            if (!process.waitFor(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                process.destroyForcibly();
                process.waitFor(5, TimeUnit.SECONDS);
            }
        } catch (InterruptedException e) {
            process.destroyForcibly();
            Thread.currentThread().interrupt();
        }
        tree.stream().filter(ProcessHandle::isAlive).forEach(ProcessHandle::destroyForcibly);
        try {
            pump.join(2_000); // the last lines a process prints on its way out belong in its log
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * A crash: SIGKILL to the process and its descendants at once (no grace, no shutdown hook),
     * and returns once it has exited.
     */
    public void kill() {
        List<ProcessHandle> tree = process.descendants().toList();
        process.destroyForcibly();
        tree.forEach(ProcessHandle::destroyForcibly);
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) {
                throw new IllegalStateException(name + " (pid " + pid() + ") still alive 10 s after SIGKILL");
            }
            pump.join(2_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** Starts this process's command again, same working directory, appending to the same log; this one must have exited. */
    public ManagedProcess restart() {
        if (process.isAlive()) {
            throw new IllegalStateException(name + " (pid " + pid() + ") is still running");
        }
        return start(name, command, workDir, logFile, watch, true);
    }

    @Override
    public void close() {
        stop(Duration.ofSeconds(15));
    }
}
