package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.executor.TestDirs;
import io.inferex.market.NodeIdentity;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import org.junit.jupiter.api.Test;

class NodeKeyStoreTest {
    @Test
    void restartKeepsTheNodeId() throws Exception {
        Path home = TestDirs.fresh("keys");
        NodeIdentity first = NodeKeyStore.loadOrCreate(home);
        NodeIdentity again = NodeKeyStore.loadOrCreate(home);
        assertEquals(first.nodeId(), again.nodeId());
        assertArrayEquals(first.publicKey(), again.publicKey());
        assertEquals(NodeIdentity.nodeIdOf(again.publicKey()), again.nodeId());
        byte[] msg = "x".getBytes();
        assertTrue(NodeIdentity.verify(first.publicKey(), msg, again.sign(msg)));
        assertEquals("rw-------", PosixFilePermissions.toString(Files.getPosixFilePermissions(home.resolve(NodeKeyStore.PRIVATE_FILE))));
        assertNotEquals(first.nodeId(), NodeKeyStore.loadOrCreate(TestDirs.fresh("other")).nodeId());
    }

    @Test
    void halfAKeyPairRefusesToStartInsteadOfTakingANewId() throws Exception {
        Path home = TestDirs.fresh("half");
        NodeKeyStore.loadOrCreate(home);
        Files.delete(home.resolve(NodeKeyStore.PUBLIC_FILE));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> NodeKeyStore.loadOrCreate(home));
        assertTrue(e.getMessage().contains(NodeKeyStore.PUBLIC_FILE), e.getMessage());
    }

    @Test
    void secondProcessOnTheSameHomeIsRefused() throws Exception {
        Path home = TestDirs.fresh("lock");
        try (NodeHomeLock first = NodeHomeLock.acquire(home)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> NodeHomeLock.acquire(home));
            assertTrue(e.getMessage().contains("in use"), e.getMessage());
        }
        NodeHomeLock.acquire(home).close(); // free again once released
    }
}
