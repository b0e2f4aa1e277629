package io.inferex.executor.node;

import io.inferex.market.NodeIdentity;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Base64;
import org.jboss.logging.Logger;

/**
 * The node's Ed25519 key pair on disk, in its home directory: {@code node-key.pkcs8} (private,
 * owner-only where the file system has POSIX permissions) and {@code node-key.x509} (public),
 * both base64 text. Created on first start; loaded on every later start so the node id (a hash of
 * the public key) and everything the market knows about the node survive restarts.
 */
public final class NodeKeyStore {
    private static final Logger LOG = Logger.getLogger(NodeKeyStore.class);
    static final String PRIVATE_FILE = "node-key.pkcs8";
    static final String PUBLIC_FILE = "node-key.x509";

    private NodeKeyStore() {}

    /**
     * Loads the identity under {@code home}, or creates and stores a new one if there is none.
     *
     * @throws IllegalStateException when only one of the two files exists or they do not form a
     *     key pair: a node must not silently take a new id (its stake and reputation are bound to
     *     the old one)
     */
    public static NodeIdentity loadOrCreate(Path home) {
        Path priv = home.resolve(PRIVATE_FILE);
        Path pub = home.resolve(PUBLIC_FILE);
        try {
            Files.createDirectories(home);
            boolean hasPriv = Files.exists(priv);
            boolean hasPub = Files.exists(pub);
            if (hasPriv && hasPub) {
                NodeIdentity id;
                try {
                    id = NodeIdentity.fromEncoded(read(priv), read(pub));
                } catch (IllegalArgumentException e) {
                    throw new IllegalStateException("node key in " + home + " is unreadable (" + e.getMessage()
                            + "); restore it or remove both " + PRIVATE_FILE + " and " + PUBLIC_FILE + " to start as a new node", e);
                }
                byte[] probe = "inferex/key-check".getBytes();
                if (!NodeIdentity.verify(id.publicKey(), probe, id.sign(probe))) {
                    throw new IllegalStateException("node key files in " + home + " do not form one key pair");
                }
                LOG.infof("node %s: loaded key from %s", id.nodeId(), home);
                return id;
            }
            if (hasPriv || hasPub) {
                throw new IllegalStateException("node home " + home + " has " + (hasPriv ? PRIVATE_FILE : PUBLIC_FILE)
                        + " but not " + (hasPriv ? PUBLIC_FILE : PRIVATE_FILE)
                        + "; restore the missing file or remove the other to start as a new node");
            }
            NodeIdentity id = NodeIdentity.generate();
            write(priv, id.privateKey(), true);
            write(pub, id.publicKey(), false);
            LOG.infof("node %s: created a new Ed25519 key in %s", id.nodeId(), home);
            return id;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read or write the node key in " + home + ": " + e.getMessage(), e);
        }
    }

    private static byte[] read(Path file) throws IOException {
        return Base64.getMimeDecoder().decode(Files.readString(file).trim());
    }

    private static void write(Path file, byte[] der, boolean secret) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        Files.deleteIfExists(tmp);
        if (secret && FileSystems.getDefault().supportedFileAttributeViews().contains("posix")) {
            Files.createFile(tmp, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
        } else {
            Files.createFile(tmp);
        }
        Files.writeString(tmp, Base64.getEncoder().encodeToString(der) + "\n");
        try {
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, file);
        }
    }
}
