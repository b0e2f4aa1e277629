package io.inferex.models;

import io.inferex.events.ModelChunk;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.BitSet;
import java.util.HexFormat;
import java.util.function.Consumer;

/**
 * The content-addressed model store's unit: a file cut into {@link #CHUNK_BYTES} pieces, each a
 * {@link ModelChunk} keyed {@code <fileSha256>/<index>} on the compacted {@code model-chunks}
 * topic. {@link #split} cuts a file; an {@link Assembly} puts one back together from chunks in any
 * order (duplicates ignored) and accepts it only if the whole file has the SHA-256 it was asked
 * for: a tampered, missing or foreign chunk is refused with {@link DigestMismatchException}, and
 * nothing is left at the target.
 */
public final class ModelChunks {
    /** Bytes per chunk: half the largest record ({@code Topics.MAX_RECORD_BYTES}), room for the framing. */
    public static final int CHUNK_BYTES = 512 * 1024;

    private ModelChunks() {}

    /** A file whose bytes do not have the digest it was fetched by, or chunks that cannot make it. */
    public static final class DigestMismatchException extends RuntimeException {
        public DigestMismatchException(String message) {
            super(message);
        }
    }

    /** The record key of a chunk. */
    public static String key(String fileSha256, int index) {
        return fileSha256 + "/" + index;
    }

    /** How many chunks a file of {@code bytes} bytes has (an empty file has none; the registry refuses empty files). */
    public static int count(long bytes) {
        return (int) ((bytes + CHUNK_BYTES - 1) / CHUNK_BYTES);
    }

    /** Hex SHA-256 of a file's bytes. */
    public static String sha256(Path file) {
        MessageDigest md = newSha256();
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), md)) {
            in.transferTo(OutputStream.nullOutputStream());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** Cuts {@code file} (whose digest is {@code sha256}) into chunks, in order. */
    public static void split(Path file, String sha256, Consumer<ModelChunk> out) {
        try (InputStream in = Files.newInputStream(file)) {
            long size = Files.size(file);
            int count = count(size);
            for (int i = 0; i < count; i++) {
                byte[] data = in.readNBytes((int) Math.min(CHUNK_BYTES, size - (long) i * CHUNK_BYTES));
                out.accept(ModelChunk.newBuilder().setFileSha256(sha256).setIndex(i).setCount(count).setFileBytes(size)
                        .setData(ByteBuffer.wrap(data)).build());
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file + ": " + e.getMessage(), e);
        }
    }

    /**
     * One file being fetched by digest: chunks are written at their place in a partial file beside
     * {@code target}; {@link #finish} checks the whole file's SHA-256 and only then moves it to
     * {@code target}. Not thread-safe.
     */
    public static final class Assembly implements AutoCloseable {
        private final String sha256;
        private final long bytes;
        private final int count;
        private final Path target;
        private final Path partial;
        private final FileChannel channel;
        private final BitSet have = new BitSet();

        public Assembly(String sha256, long bytes, Path target) {
            this.sha256 = sha256;
            this.bytes = bytes;
            this.count = count(bytes);
            this.target = target;
            try {
                Files.createDirectories(target.toAbsolutePath().getParent());
                this.partial = Files.createTempFile(target.toAbsolutePath().getParent(), target.getFileName() + ".", ".partial");
                this.channel = FileChannel.open(partial, StandardOpenOption.WRITE);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot write beside " + target + ": " + e.getMessage(), e);
            }
        }

        /**
         * Takes a chunk of this file (one of another file is ignored; so is a repeat of an index
         * already taken). A chunk claiming this file but with another shape (count, size, length
         * of its data) is refused: it cannot belong to a file with this digest and size.
         *
         * @return true when every chunk is there
         */
        public boolean accept(ModelChunk c) {
            if (!sha256.equals(c.getFileSha256())) {
                return complete();
            }
            int i = c.getIndex();
            long expectedLength = i < 0 || i >= count ? -1 : Math.min(CHUNK_BYTES, bytes - (long) i * CHUNK_BYTES);
            if (c.getCount() != count || c.getFileBytes() != bytes || expectedLength < 0 || c.getData().remaining() != expectedLength) {
                throw new DigestMismatchException("chunk " + key(c.getFileSha256(), i) + " (count " + c.getCount() + ", file "
                        + c.getFileBytes() + " bytes, " + c.getData().remaining() + " bytes of data) cannot be part of a "
                        + bytes + "-byte file in " + count + " chunks; refusing it");
            }
            if (!have.get(i)) {
                try {
                    ByteBuffer data = c.getData().duplicate();
                    long at = (long) i * CHUNK_BYTES;
                    while (data.hasRemaining()) {
                        at += channel.write(data, at);
                    }
                } catch (IOException e) {
                    throw new UncheckedIOException("cannot write " + partial + ": " + e.getMessage(), e);
                }
                have.set(i);
            }
            return complete();
        }

        public boolean complete() {
            return have.cardinality() == count;
        }

        /** Chunks still missing. */
        public int missing() {
            return count - have.cardinality();
        }

        /**
         * Checks the assembled bytes against the digest and moves them to the target.
         *
         * @throws DigestMismatchException when chunks are missing or the bytes have another SHA-256 (nothing is left at the target)
         */
        public Path finish() {
            if (!complete()) {
                throw new DigestMismatchException("file " + sha256 + ": " + missing() + " of " + count + " chunks missing from the model store");
            }
            try {
                channel.force(false);
                channel.close();
                String actual = sha256(partial);
                if (!actual.equals(sha256)) {
                    throw new DigestMismatchException("file fetched as sha256 " + sha256 + " has sha256 " + actual
                            + ": a chunk in the model store was altered; refusing to serve it");
                }
                try {
                    Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException e) {
                    Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING);
                }
                return target;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot place " + target + ": " + e.getMessage(), e);
            }
        }

        @Override
        public void close() {
            try {
                channel.close();
                Files.deleteIfExists(partial);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }
    }

    static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
