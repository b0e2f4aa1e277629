package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a key names when this instance's create for it is withdrawn while the log says another batch has it. */
class IdempotencyKeysTest {
    private static final long NOW = 1_800_000_000L;

    @TempDir
    Path dir;

    @Test
    void aKeyReadFromTheLogWhileThisInstancesCreateForItIsInFlightNamesTheLogsBatchOnceThatCreateIsWithdrawn() throws Exception {
        IdempotencyKeys keys = new IdempotencyKeys(new FileStore(dir), NOW);
        String hash = IdempotencyKeys.keyHash("c", "k");
        IdempotencyKeys.Entry mine = new IdempotencyKeys.Entry("batch_mine", "aa", NOW);
        IdempotencyKeys.Entry theirs = new IdempotencyKeys.Entry("batch_theirs", "aa", NOW);

        // Read from the log after this instance recorded its own create: hidden, then back on withdraw.
        keys.record("c", "k", mine);
        keys.recordHashed(hash, theirs, NOW);
        assertEquals(mine, keys.find("c", "k", NOW).orElseThrow(), "while the create is in flight, its own entry");
        keys.withdraw("c", "k", "batch_mine");
        assertEquals(theirs, keys.find("c", "k", NOW).orElseThrow(), "withdrawn: the key names the batch in the log");

        // Read from the log before this instance recorded (its check came first): the same.
        IdempotencyKeys other = new IdempotencyKeys(new FileStore(dir.resolve("b")), NOW);
        other.recordHashed(hash, theirs, NOW);
        other.record("c", "k", mine);
        other.withdraw("c", "k", "batch_mine");
        assertEquals(theirs, other.find("c", "k", NOW).orElseThrow());

        // A withdraw of a batch the key does not name changes nothing; of the one it names, frees it.
        other.withdraw("c", "k", "batch_mine");
        assertEquals(theirs, other.find("c", "k", NOW).orElseThrow());
        IdempotencyKeys alone = new IdempotencyKeys(new FileStore(dir.resolve("c")), NOW);
        alone.record("c", "k", mine);
        alone.withdraw("c", "k", "batch_mine");
        assertTrue(alone.find("c", "k", NOW).isEmpty(), "nothing in the log: the key is free again");
    }
}
