package io.inferex.market;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Optional;
import java.util.OptionalInt;
import org.junit.jupiter.api.Test;

class VerificationIdsTest {
    private final String shard = TaskIds.of("job-1", 3, 10);

    @Test
    void sampleAndRefereeIdsNameTheirShardAndRound() {
        assertEquals(Optional.of(shard), VerificationIds.shardOf(VerificationIds.sample(shard)));
        assertEquals(OptionalInt.of(0), VerificationIds.round(VerificationIds.sample(shard)));
        assertEquals(Optional.of(shard), VerificationIds.shardOf(VerificationIds.referee(shard, 2)));
        assertEquals(OptionalInt.of(2), VerificationIds.round(VerificationIds.referee(shard, 2)));
    }

    @Test
    void shardTaskIdsAndMalformedSuffixesAreNotVerificationIds() {
        assertFalse(VerificationIds.isVerification(shard));
        for (String bad : new String[] {shard + "~", shard + "~x", shard + "~r0", shard + "~r10", shard + "~s~s", "~s", null}) {
            assertFalse(VerificationIds.isVerification(bad), String.valueOf(bad));
            assertTrue(VerificationIds.shardOf(bad).isEmpty(), String.valueOf(bad));
        }
    }

    @Test
    void aVerificationIdCannotBeVerifiedAgainNorRoundsLeaveTheirRange() {
        assertThrows(IllegalArgumentException.class, () -> VerificationIds.sample(VerificationIds.sample(shard)));
        assertThrows(IllegalArgumentException.class, () -> VerificationIds.referee(shard, 0));
        assertThrows(IllegalArgumentException.class, () -> VerificationIds.referee(shard, VerificationIds.MAX_ROUND + 1));
    }
}
