package io.inferex.local;

import io.inferex.security.OperatorToken;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermissions;

/**
 * The operator's HTTP credential for one run: a fresh random token, kept only in a file readable
 * by its owner ({@value #FILE_NAME} in the run dir, mode 0600). Services receive its SHA-256
 * ({@link OperatorToken#CONFIG_KEY}); the token itself never appears on a command line.
 */
public record OperatorCredential(String token, Path file) {
    public static final String FILE_NAME = "operator-http-token";

    /** A new token, written to {@code runDir/operator-http-token} (replacing an older one). */
    public static OperatorCredential create(Path runDir) {
        String token = OperatorToken.generate();
        Path file = runDir.resolve(FILE_NAME);
        try {
            Files.deleteIfExists(file);
            if (FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
                Files.createFile(file, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
            } else {
                Files.createFile(file);
            }
            Files.writeString(file, token + "\n", StandardCharsets.UTF_8, StandardOpenOption.TRUNCATE_EXISTING);
        } catch (IOException e) {
            throw new UncheckedIOException("could not write the operator token to " + file, e);
        }
        return new OperatorCredential(token, file);
    }

    /** The token of a run, read back from its file (e.g. by a test of {@code ./inferex up}). */
    public static OperatorCredential read(Path runDir) {
        Path file = runDir.resolve(FILE_NAME);
        try {
            return new OperatorCredential(Files.readString(file, StandardCharsets.UTF_8).trim(), file);
        } catch (IOException e) {
            throw new UncheckedIOException("could not read the operator token " + file, e);
        }
    }

    /** What a service is configured with. */
    public String sha256() {
        return OperatorToken.sha256Hex(token);
    }

    /** The value of the {@code Authorization} header for an operator endpoint. */
    public String authorization() {
        return "Bearer " + token;
    }

    @Override
    public String toString() {
        return "OperatorCredential[file=" + file + "]"; // never the token
    }
}
