package io.inferex.executor.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.executor.TestDirs;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.ModelCatalogue.ModelSpec;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** Uses the small tokenizer file as both "files" so no test copies the 90 MB weights. */
class ModelFilesTest {
    static final String TOKENIZER = ModelFiles.ALL_MINILM_L6_V2.tokenizer();
    static final String TOKENIZER_SHA = ModelCatalogue.ALL_MINILM_L6_V2.tokenizerSha256();
    static final ModelFiles.Resources SMALL = new ModelFiles.Resources(TOKENIZER, TOKENIZER);

    @Test
    void fileAlteredOnDiskIsReplacedByTheVerifiedCopy() throws Exception {
        Path dir = TestDirs.fresh("model");
        ModelSpec spec = new ModelSpec("probe", 384, TOKENIZER_SHA, TOKENIZER_SHA);
        ModelFiles files = ModelFiles.prepare(spec, SMALL, dir, getClass().getClassLoader());
        assertEquals(TOKENIZER_SHA, ModelFiles.sha256(files.tokenizer()));
        Files.writeString(files.tokenizer(), "{\"tampered\": true}");
        ModelFiles again = ModelFiles.prepare(spec, SMALL, dir, getClass().getClassLoader());
        assertEquals(TOKENIZER_SHA, ModelFiles.sha256(again.tokenizer()));
    }

    @Test
    void aVerifiedFileIsMarkedAndAnyWriteToItVoidsTheMarkSoItIsVerifiedAndReplacedAgain() throws Exception {
        Path dir = TestDirs.fresh("model-marked");
        ModelSpec spec = new ModelSpec("probe", 384, TOKENIZER_SHA, TOKENIZER_SHA);
        Path file = ModelFiles.prepare(spec, SMALL, dir, getClass().getClassLoader()).tokenizer();
        assertEquals(TOKENIZER_SHA, ModelFiles.markedDigest(file), "verified once, marked");
        assertEquals(file, ModelFiles.prepare(spec, SMALL, dir, getClass().getClassLoader()).tokenizer());
        assertEquals(TOKENIZER_SHA, ModelFiles.markedDigest(file), "still marked after a start that trusted the mark");

        // Same size, other bytes, a later time: the mark no longer describes the file.
        byte[] bytes = Files.readAllBytes(file);
        bytes[0] ^= 0x01;
        Files.write(file, bytes);
        Files.setLastModifiedTime(file, java.nio.file.attribute.FileTime.fromMillis(Files.getLastModifiedTime(file).toMillis() + 2_000));
        assertEquals(null, ModelFiles.markedDigest(file));
        ModelFiles.prepare(spec, SMALL, dir, getClass().getClassLoader());
        assertEquals(TOKENIZER_SHA, ModelFiles.sha256(file), "altered file replaced by the verified copy");
        assertEquals(TOKENIZER_SHA, ModelFiles.markedDigest(file));
    }

    @Test
    void modelWhoseDigestIsNotTheCataloguesRefusesToStart() throws Exception {
        Path dir = TestDirs.fresh("model-bad");
        ModelSpec wrong = new ModelSpec("probe", 384, "00".repeat(32), TOKENIZER_SHA);
        ModelIntegrityException e = assertThrows(ModelIntegrityException.class,
                () -> ModelFiles.prepare(wrong, SMALL, dir, getClass().getClassLoader()));
        assertTrue(e.getMessage().contains("00".repeat(32)) && e.getMessage().contains(TOKENIZER_SHA), e.getMessage());
        try (var left = Files.list(dir)) {
            assertEquals(0, left.count(), "no unverified file is left behind");
        }
    }

    @Test
    void missingResourceRefusesToStart() throws Exception {
        Path dir = TestDirs.fresh("model-missing");
        ModelSpec spec = new ModelSpec("probe", 384, TOKENIZER_SHA, TOKENIZER_SHA);
        assertThrows(ModelIntegrityException.class, () -> ModelFiles.prepare(spec,
                new ModelFiles.Resources("no-such-model.onnx", TOKENIZER), dir, getClass().getClassLoader()));
    }
}
