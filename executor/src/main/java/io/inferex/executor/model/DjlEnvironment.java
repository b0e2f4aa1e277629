package io.inferex.executor.model;

import java.nio.file.Path;

/**
 * Puts DJL in offline mode with its caches under a directory the node owns. Must run before any
 * DJL class is initialised (DJL reads these properties when its engines and native libraries
 * load), which is why this class has no DJL import. DJL reads each setting from an environment
 * variable first, then the system property of the same name, so an operator's environment wins.
 */
public final class DjlEnvironment {
    private DjlEnvironment() {}

    /**
     * Sets the offline and no-tracking switches, and points {@code DJL_CACHE_DIR} /
     * {@code ENGINE_CACHE_DIR} (where DJL copies the tokenizer's JNI library) at
     * {@code cacheDir} unless the operator already chose one. Idempotent; JVM-wide.
     */
    public static synchronized void configureOffline(Path cacheDir) {
        System.setProperty("ai.djl.offline", "true");
        System.setProperty("OPT_OUT_TRACKING", "true"); // DJL's Ec2Utils.callHome checks it
        String dir = cacheDir.toAbsolutePath().toString();
        setIfUnset("DJL_CACHE_DIR", dir);
        setIfUnset("ENGINE_CACHE_DIR", dir);
    }

    private static void setIfUnset(String name, String value) {
        if (System.getenv(name) == null && System.getProperty(name) == null) {
            System.setProperty(name, value);
        }
    }
}
