package io.inferex.executor.node;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * An exclusive lock on a node home, held for the life of the process. Two processes on one home
 * would be one node id twice: duplicate heartbeat sequence numbers, two consumers committing for
 * one group. The second one refuses to start instead.
 */
public final class NodeHomeLock implements AutoCloseable {
    static final String FILE = "node.lock";
    private final FileChannel channel;
    private final FileLock lock;

    private NodeHomeLock(FileChannel channel, FileLock lock) {
        this.channel = channel;
        this.lock = lock;
    }

    /** @throws IllegalStateException when another process (or this one) holds the home */
    public static NodeHomeLock acquire(Path home) {
        try {
            Files.createDirectories(home);
            FileChannel ch = FileChannel.open(home.resolve(FILE), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
            FileLock l;
            try {
                l = ch.tryLock();
            } catch (OverlappingFileLockException e) {
                l = null;
            }
            if (l == null) {
                ch.close();
                throw new IllegalStateException("node home " + home + " is in use by another executor process; "
                        + "give each executor its own inferex.node.home");
            }
            return new NodeHomeLock(ch, l);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot lock node home " + home + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        try {
            lock.release();
            channel.close();
        } catch (IOException e) {
            // the process is ending; the OS drops the lock anyway
        }
    }
}
