package io.inferex.local;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.security.OperatorToken;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class OperatorCredentialTest {
    @TempDir
    Path runDir;

    @Test
    void theTokenLivesOnlyInAnOwnerOnlyFileAndServicesGetItsHash() throws Exception {
        OperatorCredential c = OperatorCredential.create(runDir);
        Path file = runDir.resolve(OperatorCredential.FILE_NAME);
        assertEquals(file, c.file());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(file)));
        assertEquals(c.token(), OperatorCredential.read(runDir).token());
        assertTrue(OperatorToken.fromConfig(Optional.of(c.sha256())).accepts(c.authorization()),
                "a service configured with the hash accepts the launcher's header");
        assertFalse(c.toString().contains(c.token()), "the token is never printed");
    }

    @Test
    void eachRunGetsANewTokenThatReplacesTheOldFile() throws Exception {
        OperatorCredential first = OperatorCredential.create(runDir);
        Files.setPosixFilePermissions(first.file(), PosixFilePermissions.fromString("rw-r--r--"));
        OperatorCredential second = OperatorCredential.create(runDir);
        assertNotEquals(first.token(), second.token());
        assertEquals(second.token(), OperatorCredential.read(runDir).token());
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(second.file())));
    }
}
