package io.inferex.executor.gpu;

import ai.djl.Device;
import io.inferex.executor.calibration.CalibrationCorpus;
import io.inferex.executor.model.ModelFiles;
import io.inferex.executor.model.SentenceEmbedder;
import io.inferex.market.ModelCatalogue;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * The Java side of {@code executor/gpu-check.sh}: what GPU path this machine has, its speed, and
 * how far its outputs are from the reference (ONNX Runtime fp32 on the CPU, the verifier's
 * reference) for the same inputs. Paths, best first: DJL TensorRT on the ONNX graph; ONNX
 * Runtime's CUDA execution provider (needs the {@code onnxruntime_gpu} jar instead of
 * {@code onnxruntime} on the class path); else it says what is missing. The CPU figures are
 * always printed. A program, not a test: {@code -Dgpucheck.sentences=N} (default 1024),
 * {@code -Dgpucheck.home=DIR} (model files and DJL caches).
 */
public final class GpuCheck {
    static final int[] BATCHES = {32, 128, 512};

    private GpuCheck() {}

    /** One engine's run over the inputs. */
    record Run(String label, List<float[]> vectors, Map<Integer, Double> sentencesPerSecond) {}

    public static void main(String[] args) throws Exception {
        int n = Integer.getInteger("gpucheck.sentences", 1024);
        Path home = Path.of(System.getProperty("gpucheck.home", "target/gpu-check-home")).toAbsolutePath();
        List<String> inputs = CalibrationCorpus.sentences(n, 20261128L);
        ModelFiles files = ModelFiles.prepare(ModelCatalogue.ALL_MINILM_L6_V2, ModelFiles.ALL_MINILM_L6_V2, home.resolve("models"),
                GpuCheck.class.getClassLoader());
        Path cache = home.resolve("djl-cache");

        // The reference first: DJL's engine must exist before anything else touches ONNX Runtime.
        Run cpu = measure("ONNX Runtime fp32, CPU", files, cache, SentenceEmbedder.ENGINE, Device.cpu(), inputs);
        report(cpu, null);

        List<String> missing = new ArrayList<>();
        Run gpuRun = tryPath("DJL TensorRT, GPU", files, cache, SentenceEmbedder.TENSORRT, Device.gpu(), inputs, missing);
        if (gpuRun == null) {
            gpuRun = tryPath("ONNX Runtime CUDA provider, GPU", files, cache, SentenceEmbedder.ENGINE, Device.gpu(), inputs, missing);
        }
        if (gpuRun == null) {
            System.out.println("GPU path: none ran here. Missing:");
            missing.forEach(m -> System.out.println("  - " + m));
            System.out.println("RESULT: no GPU figures; CPU figures above");
            return;
        }
        report(gpuRun, cpu);
        System.out.println("RESULT: GPU path " + gpuRun.label());
    }

    private static Run tryPath(String label, ModelFiles files, Path cache, String engine, Device device, List<String> inputs,
            List<String> missing) {
        try {
            return measure(label, files, cache, engine, device, inputs);
        } catch (Throwable t) { // a missing native library is an Error
            if (t instanceof VirtualMachineError e) {
                throw e;
            }
            Throwable root = t;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            missing.add(label + ": " + root.getClass().getSimpleName() + ": " + root.getMessage()
                    + (SentenceEmbedder.ENGINE.equals(engine)
                            ? " (needs com.microsoft.onnxruntime:onnxruntime_gpu in place of onnxruntime on the class path: "
                                    + "gpu-check.sh takes it from target/gpu-check/ort-gpu/*.jar, with CUDA and cuDNN)"
                            : " (needs TensorRT, CUDA and cuDNN libraries on the library path, and an NVIDIA GPU)"));
            return null;
        }
    }

    private static Run measure(String label, ModelFiles files, Path cache, String engine, Device device, List<String> inputs) {
        Map<Integer, Double> speed = new java.util.LinkedHashMap<>();
        List<float[]> vectors = null;
        for (int batch : BATCHES) {
            try (SentenceEmbedder e = SentenceEmbedder.load(files, cache,
                    SentenceEmbedder.Options.defaults().withMicroBatchSize(batch), engine, device)) {
                e.embed(inputs.subList(0, Math.min(inputs.size(), batch))); // warm-up at this batch shape
                long t0 = System.nanoTime();
                List<float[]> out = e.embed(inputs);
                double seconds = (System.nanoTime() - t0) / 1e9;
                speed.put(batch, inputs.size() / seconds);
                if (vectors == null) {
                    vectors = out;
                }
            }
        }
        return new Run(label, vectors, speed);
    }

    private static void report(Run run, Run reference) {
        System.out.println(run.label() + ":");
        run.sentencesPerSecond().forEach((batch, s) -> System.out.printf("  batch %4d: %8.1f sentences/s%n", batch, s));
        if (reference == null) {
            return;
        }
        double minCosine = 1.0;
        double maxAbs = 0.0;
        for (int i = 0; i < run.vectors().size(); i++) {
            float[] a = run.vectors().get(i);
            float[] b = reference.vectors().get(i);
            double dot = 0, na = 0, nb = 0;
            for (int d = 0; d < a.length; d++) {
                dot += (double) a[d] * b[d];
                na += (double) a[d] * a[d];
                nb += (double) b[d] * b[d];
                maxAbs = Math.max(maxAbs, Math.abs((double) a[d] - b[d]));
            }
            minCosine = Math.min(minCosine, dot / Math.sqrt(na * nb));
        }
        System.out.printf("  against %s, %d sentences: lowest cosine %.7f (largest deviation %.3e), max |difference| %.3e%n",
                reference.label(), run.vectors().size(), minCosine, 1 - minCosine, maxAbs);
    }
}
