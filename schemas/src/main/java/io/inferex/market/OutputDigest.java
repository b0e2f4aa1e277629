package io.inferex.market;

import io.inferex.events.EmbeddingRow;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;

/** Hex SHA-256 over the canonical bytes of a result's rows (custom ids and exact float bits, in order). */
public final class OutputDigest {
    private OutputDigest() {}

    public static String of(List<EmbeddingRow> rows) {
        CanonicalBytes b = new CanonicalBytes("inferex/EmbeddingRows/v1").number(rows.size());
        for (EmbeddingRow row : rows) {
            b.text(row.getCustomId()).floats(row.getEmbedding());
        }
        return sha256Hex(b.toByteArray());
    }

    public static String sha256Hex(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
