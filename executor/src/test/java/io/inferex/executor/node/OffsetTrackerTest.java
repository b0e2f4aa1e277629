package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class OffsetTrackerTest {
    @Test
    void neverCommitsPastARecordThatIsStillRunning() {
        OffsetTracker t = new OffsetTracker();
        t.register(10);
        t.register(11);
        t.register(12);
        t.done(11);
        t.done(12);
        assertTrue(t.toCommit().isEmpty(), "10 still running");
        t.done(10);
        assertEquals(13, t.toCommit().getAsLong());
        t.committed(13);
        assertTrue(t.toCommit().isEmpty());
        t.register(13);
        t.register(14);
        t.done(13);
        assertEquals(14, t.toCommit().getAsLong());
        assertEquals(1, t.inFlight());
    }
}
