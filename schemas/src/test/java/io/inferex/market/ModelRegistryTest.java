package io.inferex.market;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.ModelRegistered;
import io.inferex.market.ModelRegistry.Decision;
import org.junit.jupiter.api.Test;

class ModelRegistryTest {

    static ModelRegistered registration(String id, String onnxSha256) {
        return ModelRegistered.newBuilder().setModelId(id).setTask("embedding").setOnnxSha256(onnxSha256).setOnnxBytes(1000)
                .setTokenizerSha256("b".repeat(64)).setTokenizerBytes(500).setDimension(8).setMaxTokens(64).setPooling("mean")
                .setMinCosine(0.999).setMaxAbs(0.01).setRegisteredAtMs(1_000).build();
    }

    @Test
    void theBuiltInModelsAreEntriesOfTheRegistryWithTheirDigestsAndTolerances() {
        ModelRegistry builtIns = ModelRegistry.builtIns();
        assertEquals(ModelCatalogue.ALL_MINILM_L6_V2, builtIns.byId("all-MiniLM-L6-v2").orElseThrow());
        assertEquals("afdb6f1a0e45b715d0bb9b11772f032c399babd23bfc31fed1c170afc848bdb1",
                builtIns.byId("all-MiniLM-L6-v2-int8").orElseThrow().weightsSha256());
        assertEquals(ModelCatalogue.SYNTHETIC_HASH_V1, builtIns.byId(SyntheticHashModel.ID).orElseThrow());
        assertTrue(builtIns.entry("all-MiniLM-L6-v2").orElseThrow().builtIn());
        assertTrue(builtIns.byId("my-model").isEmpty());
    }

    @Test
    void aRegisteredModelIsLookedUpByIdWithItsDigestDimensionAndTolerance() {
        ModelRegistry.Book book = new ModelRegistry.Book();
        ModelRegistered r = registration("tiny-embed", "a".repeat(64));
        assertInstanceOf(Decision.Accept.class, book.apply(ModelRegistry.recordKey(r), r));
        ModelRegistry.Entry e = book.registry().entry("tiny-embed").orElseThrow();
        assertEquals("a".repeat(64), e.spec().weightsSha256());
        assertEquals(8, e.spec().dimension());
        assertEquals(new ModelCatalogue.Tolerance(0.999, 0.01), e.spec().tolerance());
        assertEquals(64, e.maxTokens());
        assertTrue(!e.builtIn());
        assertEquals(4, book.entries().size(), "three built-ins and the registration");
    }

    @Test
    void aSecondRegistrationOfAnIdWithOtherDigestsIsRefusedAndTheFirstModelStays() {
        ModelRegistry.Book book = new ModelRegistry.Book();
        ModelRegistered first = registration("tiny-embed", "a".repeat(64));
        book.apply(ModelRegistry.recordKey(first), first);
        ModelRegistered swap = registration("tiny-embed", "c".repeat(64));
        swap.setRegisteredAtMs(500); // even claiming to be older
        Decision d = book.apply(ModelRegistry.recordKey(swap), swap);
        assertInstanceOf(Decision.Refuse.class, d);
        assertTrue(((Decision.Refuse) d).reason().contains("already registered"), d.toString());
        assertEquals("a".repeat(64), book.registry().byId("tiny-embed").orElseThrow().weightsSha256());
        ModelRegistered looser = registration("tiny-embed", "a".repeat(64));
        looser.setMinCosine(0.5); // same files, a looser tolerance: another model as far as verification goes
        assertInstanceOf(Decision.Refuse.class, book.apply(ModelRegistry.recordKey(looser), looser));
        assertNotEquals(ModelRegistry.recordKey(first), ModelRegistry.recordKey(swap),
                "a refused registration has another key, so compaction cannot make it replace the first");
    }

    @Test
    void theSameRegistrationAgainChangesNothing() {
        ModelRegistry.Book book = new ModelRegistry.Book();
        ModelRegistered r = registration("tiny-embed", "a".repeat(64));
        book.apply(ModelRegistry.recordKey(r), r);
        ModelRegistered again = registration("tiny-embed", "a".repeat(64));
        again.setRegisteredAtMs(9_999);
        again.setOnnxChunksOffset(42);
        assertEquals(ModelRegistry.recordKey(r), ModelRegistry.recordKey(again), "when and where the chunks are is not the model");
        assertInstanceOf(Decision.Same.class, book.apply(ModelRegistry.recordKey(again), again));
        assertEquals(1_000, book.registry().entry("tiny-embed").orElseThrow().registeredAtMs());
    }

    @Test
    void builtInIdsMalformedRecordsWrongKeysAndWithdrawalsAreRefused() {
        ModelRegistered builtIn = registration("all-MiniLM-L6-v2", "a".repeat(64));
        assertInstanceOf(Decision.Refuse.class, ModelRegistry.decide(ModelRegistry.recordKey(builtIn), builtIn, null));
        ModelRegistered atSign = registration("m@cell", "a".repeat(64));
        assertInstanceOf(Decision.Refuse.class, ModelRegistry.decide(ModelRegistry.recordKey(atSign), atSign, null), "'@' splits pool keys");
        ModelRegistered badDigest = registration("m", "A".repeat(64));
        assertInstanceOf(Decision.Refuse.class, ModelRegistry.decide(ModelRegistry.recordKey(badDigest), badDigest, null));
        ModelRegistered dim = registration("m", "a".repeat(64));
        dim.setDimension(0);
        assertInstanceOf(Decision.Refuse.class, ModelRegistry.decide(ModelRegistry.recordKey(dim), dim, null));
        ModelRegistered tol = registration("m", "a".repeat(64));
        tol.setMaxAbs(Double.NaN);
        assertInstanceOf(Decision.Refuse.class, ModelRegistry.decide(ModelRegistry.recordKey(tol), tol, null));
        ModelRegistered task = registration("m", "a".repeat(64));
        task.setTask("generation");
        assertInstanceOf(Decision.Refuse.class, ModelRegistry.decide(ModelRegistry.recordKey(task), task, null));
        ModelRegistered ok = registration("m", "a".repeat(64));
        assertInstanceOf(Decision.Refuse.class, ModelRegistry.decide("m", ok, null), "key is not the registration's");
        assertInstanceOf(Decision.Refuse.class, ModelRegistry.decide("m/0123456789abcdef", null, ok), "a model cannot be withdrawn");
        assertInstanceOf(Decision.Accept.class, ModelRegistry.decide(ModelRegistry.recordKey(ok), ok, null));
    }
}
