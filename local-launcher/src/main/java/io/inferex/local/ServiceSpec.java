package io.inferex.local;

import java.nio.file.Path;
import java.util.List;

/**
 * One Inferex service as the launcher runs it: a module's packaged Quarkus app, started as its
 * own JVM. {@code instance} tells executors apart (executor-1, executor-2, ...).
 */
public record ServiceSpec(String name, String module, String role) {
    /** The five services and how many executor nodes; the order is the start order. */
    public static List<ServiceSpec> market(int executors) {
        var list = new java.util.ArrayList<ServiceSpec>();
        list.add(new ServiceSpec("ingest", "ingest", "ingest"));
        list.add(new ServiceSpec("matcher", "matcher-stream", "matcher"));
        list.add(new ServiceSpec("verifier", "verifier-stream", "verifier"));
        list.add(new ServiceSpec("settlement", "settlement-stream", "settlement"));
        for (int i = 1; i <= executors; i++) {
            list.add(new ServiceSpec("executor-" + i, "executor", "executor"));
        }
        return List.copyOf(list);
    }

    public Path jar(Path home) {
        return home.resolve(module).resolve("target/quarkus-app/quarkus-run.jar");
    }
}
