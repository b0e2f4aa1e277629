package io.inferex.ingest;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.zip.CRC32;

/**
 * The customers' balances as of given ledger offsets, and the customers' challenges as of given
 * {@code challenge-bonds} and {@code verification-outcomes} offsets, on ingest's data dir, so a
 * start reads those topics from there instead of from their beginning. State and offsets are one file, written to a
 * temp file, forced to disk and moved into place atomically: a reader sees the previous checkpoint
 * or the new one, never a mix. The file is a header line ({@code inferex-ledger-checkpoint 1
 * <crc32 of the body>}) then the JSON body; one that is absent, unreadable, of another version or
 * whose checksum does not match reads as empty, and the tracker then reads the ledger from its
 * beginning.
 *
 * @param offsets per ledger partition number: the next offset to read (everything before it is in
 *     {@code balances})
 * @param challenges null in a file written before challenges were checkpointed: those two topics
 *     are then read from their beginning
 */
public record LedgerCheckpoint(Map<Integer, Long> offsets, CustomerBalances.Snapshot balances, Challenges challenges) {
    static final String HEADER = "inferex-ledger-checkpoint 1 ";
    private static final ObjectMapper JSON = new ObjectMapper();

    public LedgerCheckpoint {
        offsets = Map.copyOf(new TreeMap<>(offsets));
    }

    /** A checkpoint without challenges (as written before they were checkpointed). */
    public LedgerCheckpoint(Map<Integer, Long> offsets, CustomerBalances.Snapshot balances) {
        this(offsets, balances, null);
    }

    /**
     * The challenges as of the given positions (per partition number: the next offset to read) of
     * {@code challenge-bonds} and {@code verification-outcomes}, taken together with the balances.
     */
    public record Challenges(Map<Integer, Long> bonds, Map<Integer, Long> outcomes, List<ChallengeBook.View> views) {
        public Challenges {
            bonds = bonds == null ? null : Map.copyOf(new TreeMap<>(bonds));
            outcomes = outcomes == null ? null : Map.copyOf(new TreeMap<>(outcomes));
            views = views == null ? null : List.copyOf(views);
        }
    }

    /** Writes this checkpoint to {@code target} atomically, through {@code temp} (same file system). */
    public void write(Path target, Path temp) throws IOException {
        byte[] body = JSON.writeValueAsBytes(this);
        byte[] header = (HEADER + crc(body) + "\n").getBytes(StandardCharsets.US_ASCII);
        Files.createDirectories(temp.getParent());
        try (var ch = java.nio.channels.FileChannel.open(temp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(new java.nio.ByteBuffer[] {java.nio.ByteBuffer.wrap(header), java.nio.ByteBuffer.wrap(body)});
            ch.force(true);
        }
        FileStore.move(temp, target);
    }

    /** The checkpoint at {@code path}; empty if there is none or it is not one this build wrote intact. */
    public static Optional<LedgerCheckpoint> read(Path path) {
        byte[] all;
        try {
            all = Files.readAllBytes(path);
        } catch (NoSuchFileException e) {
            return Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
        int nl = indexOf(all, (byte) '\n');
        if (nl < 0) {
            return Optional.empty();
        }
        String header = new String(all, 0, nl, StandardCharsets.US_ASCII);
        byte[] body = java.util.Arrays.copyOfRange(all, nl + 1, all.length);
        if (!header.equals(HEADER + crc(body))) {
            return Optional.empty();
        }
        try {
            LedgerCheckpoint c = JSON.readValue(body, LedgerCheckpoint.class);
            return c.offsets() == null || c.balances() == null ? Optional.empty() : Optional.of(c);
        } catch (IOException | RuntimeException e) {
            return Optional.empty();
        }
    }

    private static long crc(byte[] body) {
        CRC32 c = new CRC32();
        c.update(body);
        return c.getValue();
    }

    private static int indexOf(byte[] a, byte b) {
        for (int i = 0; i < a.length; i++) {
            if (a[i] == b) {
                return i;
            }
        }
        return -1;
    }
}
