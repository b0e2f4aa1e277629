package io.inferex.testing;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;

/**
 * A tiny but real sentence-embedding graph, written as ONNX protobuf bytes for tests of the model
 * registry: the BERT-style interface the executor feeds ({@code input_ids}, {@code attention_mask},
 * {@code token_type_ids}, int64 [batch, seq]; output {@code last_hidden_state}, float
 * [batch, seq, dim]) computed as {@code (Gather(words, input_ids) + Gather(types, token_type_ids)) *
 * attention_mask}: an embedding table over the all-MiniLM-L6-v2 tokenizer's vocabulary, so ONNX
 * Runtime really runs it and the node's mean pooling makes sentence vectors of it. The weights are
 * drawn from {@code seed}; the same seed gives the same bytes.
 */
public final class TinyEmbeddingModel {
    /** Vocabulary of the all-MiniLM-L6-v2 (BERT uncased) tokenizer. */
    public static final int VOCAB = 30522;

    private TinyEmbeddingModel() {}

    /** Writes the graph with output dimension {@code dim} to {@code file}. */
    public static Path write(Path file, int dim, long seed) throws IOException {
        Files.write(file, bytes(dim, seed));
        return file;
    }

    public static byte[] bytes(int dim, long seed) {
        Random random = new Random(seed);
        Proto graph = new Proto()
                .message(1, node("Gather", "gather_words", new String[] {"words", "input_ids"}, "tokens"))
                .message(1, node("Gather", "gather_types", new String[] {"types", "token_type_ids"}, "types_out"))
                .message(1, node("Add", "add", new String[] {"tokens", "types_out"}, "hidden"))
                .message(1, node("Cast", "cast_mask", new String[] {"attention_mask"}, "mask_f")
                        .message(5, new Proto().string(1, "to").varint(3, 1).varint(20, 2))) // to=FLOAT, type INT
                .message(1, node("Unsqueeze", "unsqueeze_mask", new String[] {"mask_f", "axis2"}, "mask3"))
                .message(1, node("Mul", "mask", new String[] {"hidden", "mask3"}, "last_hidden_state"))
                .string(2, "tiny-embedding")
                .message(5, floats("words", VOCAB, dim, random))
                .message(5, floats("types", 2, dim, random))
                .message(5, new Proto().varint(1, 1).varint(2, 7).string(8, "axis2").bytes(9, longLe(2)))
                .message(11, valueInfo("input_ids", 7, "batch", "seq"))
                .message(11, valueInfo("attention_mask", 7, "batch", "seq"))
                .message(11, valueInfo("token_type_ids", 7, "batch", "seq"))
                .message(12, valueInfo("last_hidden_state", 1, "batch", "seq", Integer.toString(dim)));
        return new Proto().varint(1, 8).string(2, "inferex-test").message(7, graph)
                .message(8, new Proto().string(1, "").varint(2, 13)).toByteArray();
    }

    private static Proto node(String op, String name, String[] inputs, String output) {
        Proto n = new Proto();
        for (String in : inputs) {
            n.string(1, in);
        }
        return n.string(2, output).string(3, name).string(4, op);
    }

    private static Proto floats(String name, int rows, int cols, Random random) {
        ByteBuffer b = ByteBuffer.allocate(rows * cols * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < rows * cols; i++) {
            b.putFloat((float) random.nextGaussian());
        }
        return new Proto().varint(1, rows).varint(1, cols).varint(2, 1).string(8, name).bytes(9, b.array());
    }

    private static byte[] longLe(long v) {
        return ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(v).array();
    }

    /** A value of tensor type {@code elemType} (1 float, 7 int64) with named (symbolic) or numeric dimensions. */
    private static Proto valueInfo(String name, int elemType, String... dims) {
        Proto shape = new Proto();
        for (String d : dims) {
            shape.message(1, d.chars().allMatch(Character::isDigit) ? new Proto().varint(1, Long.parseLong(d)) : new Proto().string(2, d));
        }
        return new Proto().string(1, name).message(2, new Proto().message(1, new Proto().varint(1, elemType).message(2, shape)));
    }

    /** Just enough of the protobuf wire format: varints and length-delimited fields. */
    private static final class Proto {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        Proto varint(int field, long value) {
            raw((long) field << 3);
            raw(value);
            return this;
        }

        Proto bytes(int field, byte[] value) {
            raw(((long) field << 3) | 2);
            raw(value.length);
            out.writeBytes(value);
            return this;
        }

        Proto string(int field, String value) {
            return bytes(field, value.getBytes(StandardCharsets.UTF_8));
        }

        Proto message(int field, Proto value) {
            return bytes(field, value.toByteArray());
        }

        byte[] toByteArray() {
            return out.toByteArray();
        }

        private void raw(long v) {
            while ((v & ~0x7FL) != 0) {
                out.write((int) ((v & 0x7F) | 0x80));
                v >>>= 7;
            }
            out.write((int) v);
        }
    }
}
