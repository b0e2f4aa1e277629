package io.inferex.models;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.ModelChunk;
import io.inferex.topics.Topics;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelChunksTest {
    @TempDir
    Path dir;

    private Path file(int size) throws Exception {
        byte[] b = new byte[size];
        new Random(7).nextBytes(b);
        Path f = dir.resolve("model.onnx");
        Files.write(f, b);
        return f;
    }

    private static List<ModelChunk> chunks(Path f, String sha) {
        List<ModelChunk> out = new ArrayList<>();
        ModelChunks.split(f, sha, out::add);
        return out;
    }

    @Test
    void aFileSplitIntoChunksComesBackByteForByteFromChunksInAnyOrderWithRepeats() throws Exception {
        Path f = file(2 * ModelChunks.CHUNK_BYTES + 123);
        String sha = ModelChunks.sha256(f);
        List<ModelChunk> chunks = chunks(f, sha);
        assertEquals(3, chunks.size());
        for (ModelChunk c : chunks) {
            int encoded = Topics.MODEL_CHUNKS.valueSerde().serializer().serialize("model-chunks", c).length;
            assertTrue(encoded < Topics.MAX_RECORD_BYTES - 16 * 1024, "a chunk fits one record: " + encoded);
        }
        List<ModelChunk> shuffled = new ArrayList<>(chunks);
        shuffled.add(chunks.get(1));
        Collections.shuffle(shuffled, new Random(3));
        Path target = dir.resolve("fetched.onnx");
        try (ModelChunks.Assembly a = new ModelChunks.Assembly(sha, Files.size(f), target)) {
            boolean done = false;
            for (ModelChunk c : shuffled) {
                done = a.accept(c);
            }
            assertTrue(done);
            a.finish();
        }
        assertArrayEquals(Files.readAllBytes(f), Files.readAllBytes(target));
    }

    @Test
    void aTamperedChunkIsRefusedLoudlyAndNothingIsPlaced() throws Exception {
        Path f = file(ModelChunks.CHUNK_BYTES + 10);
        String sha = ModelChunks.sha256(f);
        List<ModelChunk> chunks = chunks(f, sha);
        ByteBuffer data = chunks.get(1).getData();
        byte[] altered = new byte[data.remaining()];
        data.duplicate().get(altered);
        altered[3] ^= 1;
        chunks.get(1).setData(ByteBuffer.wrap(altered));
        Path target = dir.resolve("fetched.onnx");
        try (ModelChunks.Assembly a = new ModelChunks.Assembly(sha, Files.size(f), target)) {
            chunks.forEach(a::accept);
            var e = assertThrows(ModelChunks.DigestMismatchException.class, a::finish);
            assertTrue(e.getMessage().contains("altered"), e.getMessage());
        }
        assertFalse(Files.exists(target), "a file that failed its digest is not served");
        try (var listing = Files.list(dir)) {
            assertEquals(1, listing.count(), "no partial file left behind");
        }
    }

    @Test
    void aMissingChunkOrAChunkOfTheWrongShapeIsRefused() throws Exception {
        Path f = file(ModelChunks.CHUNK_BYTES + 10);
        String sha = ModelChunks.sha256(f);
        List<ModelChunk> chunks = chunks(f, sha);
        try (ModelChunks.Assembly a = new ModelChunks.Assembly(sha, Files.size(f), dir.resolve("t"))) {
            a.accept(chunks.get(0));
            assertEquals(1, a.missing());
            assertThrows(ModelChunks.DigestMismatchException.class, a::finish);
            ModelChunk longer = ModelChunk.newBuilder(chunks.get(1)).setData(ByteBuffer.wrap(new byte[11])).build();
            assertThrows(ModelChunks.DigestMismatchException.class, () -> a.accept(longer));
            ModelChunk foreign = ModelChunk.newBuilder(chunks.get(1)).setFileSha256("0".repeat(64)).build();
            assertFalse(a.accept(foreign), "another file's chunk is not this file's");
        }
    }
}
