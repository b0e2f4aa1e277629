package io.inferex.executor.model;

import java.util.Locale;
import org.jboss.logging.Logger;

/**
 * Which DJL engine runs the model ({@code inferex.node.engine}): {@code onnxruntime} (CPU),
 * {@code tensorrt} (GPU, the same ONNX graph), or {@code auto} — TensorRT when it loads here,
 * else ONNX Runtime with one log line saying why. TensorRT's absence shows as an {@link Error}
 * ({@code ExceptionInInitializerError}, {@code UnsatisfiedLinkError}, later
 * {@code NoClassDefFoundError}) from the real load, and DJL's {@code Engine.hasEngine} answers
 * true regardless, so the only availability check is loading the model and catching
 * {@link Throwable}. An explicit {@code tensorrt} that cannot load refuses to start the node.
 */
public final class EngineSelection {
    private static final Logger LOG = Logger.getLogger(EngineSelection.class);

    /** The configured choice. */
    public enum Choice {
        AUTO, TENSORRT, ONNXRUNTIME;

        public static Choice parse(String value) {
            try {
                return valueOf(value.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException | NullPointerException e) {
                throw new IllegalArgumentException("inferex.node.engine must be auto, tensorrt or onnxruntime, was " + value);
            }
        }
    }

    /** Loads the model on one DJL engine ({@link SentenceEmbedder#ENGINE} or {@link SentenceEmbedder#TENSORRT}). */
    @FunctionalInterface
    public interface Loader {
        SentenceEmbedder load(String engineName);
    }

    /**
     * The loaded model and why that engine: {@code fallbackReason} is null unless {@code auto} fell
     * back to ONNX Runtime, then it says what TensorRT lacked.
     */
    public record Selected(SentenceEmbedder embedder, Choice choice, String fallbackReason) {}

    private EngineSelection() {}

    /**
     * @throws IllegalStateException when {@code tensorrt} was asked for and does not load, naming
     *     what is missing
     */
    public static Selected select(Choice choice, Loader loader) {
        return switch (choice) {
            case ONNXRUNTIME -> new Selected(loader.load(SentenceEmbedder.ENGINE), choice, null);
            case TENSORRT -> {
                try {
                    yield new Selected(loader.load(SentenceEmbedder.TENSORRT), choice, null);
                } catch (Throwable t) {
                    rethrowIfFatal(t);
                    throw new IllegalStateException("inferex.node.engine=tensorrt, but DJL's TensorRT engine cannot run the model "
                            + "here: " + why(t) + ". It needs an NVIDIA GPU with its driver and the TensorRT, CUDA and cuDNN "
                            + "libraries (libnvinfer, libcudart, libcudnn) on the library path; or set inferex.node.engine=auto "
                            + "or onnxruntime", t);
                }
            }
            case AUTO -> {
                String reason;
                try {
                    yield new Selected(loader.load(SentenceEmbedder.TENSORRT), choice, null);
                } catch (Throwable t) {
                    rethrowIfFatal(t);
                    reason = why(t);
                }
                LOG.infof("engine auto: TensorRT is not usable here (%s); running on ONNX Runtime (CPU)", reason);
                yield new Selected(loader.load(SentenceEmbedder.ENGINE), choice, reason);
            }
        };
    }

    /** Out of memory or a dying thread is no missing engine. */
    private static void rethrowIfFatal(Throwable t) {
        if (t instanceof VirtualMachineError) {
            throw (Error) t;
        }
    }

    /** The innermost cause, as "Type: message" (what the native loader could not find). */
    static String why(Throwable t) {
        Throwable root = t;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String msg = root.getMessage();
        return root.getClass().getSimpleName() + (msg == null ? "" : ": " + msg.strip());
    }
}
