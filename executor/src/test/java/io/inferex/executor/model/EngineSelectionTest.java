package io.inferex.executor.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The engine choice with stand-in loaders (no model): which engines are tried, in which order, and what a failure means. */
class EngineSelectionTest {
    final List<String> tried = new ArrayList<>();

    /** Loads nothing: records the engine and fails TensorRT the way DJL does without its native libraries. */
    EngineSelection.Loader withoutTensorRt(SentenceEmbedder onnx) {
        return engine -> {
            tried.add(engine);
            if (engine.equals(SentenceEmbedder.TENSORRT)) {
                throw new ExceptionInInitializerError(new UnsatisfiedLinkError("libnvinfer.so.10: cannot open shared object file"));
            }
            return onnx;
        };
    }

    @Test
    void autoTriesTensorRtFirstAndFallsBackToOnnxRuntimeWithTheRootCauseAsTheReason() {
        EngineSelection.Selected s = EngineSelection.select(EngineSelection.Choice.AUTO, withoutTensorRt(null));
        assertEquals(List.of("TensorRT", "OnnxRuntime"), tried);
        assertEquals("UnsatisfiedLinkError: libnvinfer.so.10: cannot open shared object file", s.fallbackReason());
    }

    @Test
    void autoKeepsTensorRtWhenItLoads() {
        EngineSelection.Selected s = EngineSelection.select(EngineSelection.Choice.AUTO, engine -> {
            tried.add(engine);
            return null;
        });
        assertEquals(List.of("TensorRT"), tried);
        assertNull(s.fallbackReason());
    }

    @Test
    void anExplicitTensorRtThatDoesNotLoadRefusesNamingWhatIsMissingAndNeverFallsBack() {
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> EngineSelection.select(EngineSelection.Choice.TENSORRT, withoutTensorRt(null)));
        assertEquals(List.of("TensorRT"), tried);
        assertTrue(e.getMessage().contains("libnvinfer.so.10: cannot open shared object file"), e.getMessage());
        assertTrue(e.getMessage().contains("inferex.node.engine=auto or onnxruntime"), e.getMessage());
    }

    @Test
    void onnxRuntimeNeverTriesTensorRtAndAnOutOfMemoryIsNoFallback() {
        EngineSelection.select(EngineSelection.Choice.ONNXRUNTIME, withoutTensorRt(null));
        assertEquals(List.of("OnnxRuntime"), tried);
        OutOfMemoryError oom = new OutOfMemoryError("heap");
        assertSame(oom, assertThrows(OutOfMemoryError.class, () -> EngineSelection.select(EngineSelection.Choice.AUTO, engine -> {
            throw oom;
        })));
    }

    @Test
    void theSettingParsesItsThreeValuesAndRefusesOthers() {
        assertEquals(EngineSelection.Choice.AUTO, EngineSelection.Choice.parse(" Auto "));
        assertEquals(EngineSelection.Choice.TENSORRT, EngineSelection.Choice.parse("tensorrt"));
        assertEquals(EngineSelection.Choice.ONNXRUNTIME, EngineSelection.Choice.parse("onnxruntime"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> EngineSelection.Choice.parse("cuda"));
        assertTrue(e.getMessage().contains("auto, tensorrt or onnxruntime"), e.getMessage());
    }
}
