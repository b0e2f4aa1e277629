package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.executor.TestDirs;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class HeartbeatSequenceTest {
    @Test
    void sequenceStrictlyIncreasesAcrossRestartsEvenWhenTheClockStepsBack() throws Exception {
        Path home = TestDirs.fresh("seq");
        AtomicLong clock = new AtomicLong(1_000_000L);
        long last = Long.MIN_VALUE;
        for (int restart = 0; restart < 4; restart++) {
            HeartbeatSequence seq = new HeartbeatSequence(home, clock::get, 50);
            for (int i = 0; i < 120; i++) {
                long n = seq.next();
                assertTrue(n > last, "restart " + restart + ": " + n + " after " + last);
                last = n;
                clock.addAndGet(i % 3 == 0 ? 1 : 0); // a slow clock: several heartbeats per tick
            }
            clock.addAndGet(-10_000); // the "crash" comes with a clock that went back
        }
    }
}
