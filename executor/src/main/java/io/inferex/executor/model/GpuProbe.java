package io.inferex.executor.model;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * What this machine has for a GPU path, asked the way an operator would: {@code nvidia-smi} and
 * the dynamic linker's cache ({@code ldconfig -p}) for the TensorRT, CUDA runtime and cuDNN
 * libraries. Nothing is loaded; a missing command counts as absent.
 */
public final class GpuProbe {
    /** The libraries a GPU engine needs, by what they are. */
    public static final Map<String, String> LIBRARIES = Map.of("TensorRT", "libnvinfer", "CUDA runtime", "libcudart",
            "cuDNN", "libcudnn");

    private GpuProbe() {}

    /** First line of {@code nvidia-smi -L} (the GPUs), or null when there is no usable nvidia-smi. */
    public static String nvidiaSmi() {
        String out = run(List.of("nvidia-smi", "-L"));
        return out == null || out.isBlank() ? null : out.strip().lines().findFirst().orElse(null);
    }

    /** For each of {@link #LIBRARIES}: whether {@code ldconfig -p} lists it. */
    public static Map<String, Boolean> libraries() {
        String cache = run(List.of("ldconfig", "-p"));
        if (cache == null) {
            cache = run(List.of("/sbin/ldconfig", "-p"));
        }
        Map<String, Boolean> found = new TreeMap<>();
        for (var e : LIBRARIES.entrySet()) {
            found.put(e.getKey(), cache != null && cache.contains(e.getValue() + "."));
        }
        return found;
    }

    /** Whether the TensorRT library is in the linker cache (no load is tried). */
    public static boolean tensorRtLibraryPresent() {
        return libraries().get("TensorRT");
    }

    private static String run(List<String> command) {
        try {
            Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
            byte[] out = p.getInputStream().readAllBytes();
            if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
                return null;
            }
            return new String(out, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return null;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return null;
        }
    }
}
