package io.inferex.ingest;

import static io.inferex.ingest.Results.bytes;
import static io.inferex.ingest.Results.result;
import static io.inferex.ingest.Results.verdict;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.ShardResult;
import io.inferex.events.VerdictOutcome;
import io.inferex.market.OutputDigest;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class JobBookTest {
    private static final String JOB = "batch_book";
    private final Map<Integer, byte[]> spooled = new HashMap<>();
    private JobBook book;

    @BeforeEach
    void init() {
        book = new JobBook(new JobBook.Spool() {
            @Override
            public void put(String jobId, int shardIndex, String leaseId, byte[] raw) {
                spooled.put(shardIndex, raw);
            }

            @Override
            public void remove(String jobId, int shardIndex) {
                spooled.remove(shardIndex);
            }
        });
        book.track(JOB, 2);
    }

    private Optional<JobBook.Ready> feed(ShardResult r) {
        return book.onResult(r.getJobId(), r.getTaskId(), r.getLeaseId(), r.getShardIndex(), OutputDigest.of(r.getRows()), bytes(r));
    }

    private static JobStatus status(JobState state, String error) {
        return JobStatus.newBuilder().setJobId(JOB).setCustomerId("demo").setState(state).setRowCount(4)
                .setCompletedRows(0).setFailedRows(0).setShardCount(2).setShardsDone(0).setSpentMicros(0)
                .setError(error).setUpdatedAtMs(1).build();
    }

    @Test
    void acceptedVerdictPicksItsLeasesResultAndTheJobIsReadyWhenEveryShardIsAccepted() {
        ShardResult s0 = result(JOB, 0, 2, 1, List.of("a", "b"), 0);
        ShardResult s1 = result(JOB, 1, 2, 1, List.of("c", "d"), 0);
        assertTrue(feed(s0).isEmpty());
        assertTrue(feed(s1).isEmpty());
        assertTrue(spooled.isEmpty(), "nothing is used before a verdict");
        assertTrue(book.onVerdict(verdict(s0, VerdictOutcome.ACCEPTED)).isEmpty());
        assertArrayEquals(bytes(s0), spooled.get(0));
        JobBook.Ready ready = book.onVerdict(verdict(s1, VerdictOutcome.ACCEPTED)).orElseThrow();
        assertEquals(new JobBook.Ready(JOB, JobState.COMPLETED, 2, 2, null), ready);
        assertFalse(book.tracks(JOB), "a ready job is forgotten");
        assertEquals(0, book.pendingBytes());
    }

    @Test
    void aForgedResultNamingTheSameLeaseIsNeverDeliveredWhicheverArrivesFirst() {
        ShardResult honest = result(JOB, 0, 2, 1, List.of("a", "b"), 0);
        ShardResult forged = result(JOB, 0, 2, 1, List.of("a", "b"), 7f); // same lease, other rows
        feed(honest);
        feed(forged);
        book.onVerdict(verdict(honest, VerdictOutcome.ACCEPTED));
        assertArrayEquals(bytes(honest), spooled.get(0));

        spooled.clear();
        book.track("batch_other", 1);
        ShardResult honest2 = result("batch_other", 0, 1, 1, List.of("x"), 0);
        ShardResult forged2 = result("batch_other", 0, 1, 1, List.of("x"), 5f);
        book.onVerdict(verdict(honest2, VerdictOutcome.ACCEPTED)); // verdict first
        assertTrue(feed(forged2).isEmpty());
        assertTrue(spooled.isEmpty(), "forged rows delivered for an accepted lease");
        assertTrue(feed(honest2).isPresent());
        assertArrayEquals(bytes(honest2), spooled.get(0));
    }

    @Test
    void verdictBeforeResultStillPicksThatLease() {
        ShardResult s0 = result(JOB, 0, 2, 1, List.of("a", "b"), 0);
        assertTrue(book.onVerdict(verdict(s0, VerdictOutcome.ACCEPTED)).isEmpty());
        assertTrue(feed(s0).isEmpty());
        assertArrayEquals(bytes(s0), spooled.get(0));
    }

    @Test
    void aRejectedResultIsNeverUsedAndALaterAcceptedLeaseIs() {
        ShardResult cheat = result(JOB, 0, 2, 1, List.of("a", "b"), 7f);
        ShardResult honest = result(JOB, 0, 2, 2, List.of("a", "b"), 0);
        feed(cheat);
        book.onVerdict(verdict(cheat, VerdictOutcome.REJECTED));
        assertTrue(spooled.isEmpty());
        assertEquals(0, book.pendingBytes(), "a rejected result is dropped from memory");
        feed(honest);
        book.onVerdict(verdict(honest, VerdictOutcome.ACCEPTED));
        assertArrayEquals(bytes(honest), spooled.get(0));
        // A late duplicate of the rejected lease changes nothing.
        feed(cheat);
        book.onVerdict(verdict(cheat, VerdictOutcome.ACCEPTED));
        assertArrayEquals(bytes(honest), spooled.get(0));
    }

    @Test
    void aFraudVerdictOnAnAcceptedLeaseReopensTheShard() {
        ShardResult first = result(JOB, 0, 2, 1, List.of("a", "b"), 3f);
        feed(first);
        book.onVerdict(verdict(first, VerdictOutcome.ACCEPTED));
        assertEquals(1, book.acceptedShards(JOB));
        book.onVerdict(verdict(first, VerdictOutcome.FRAUD));
        assertEquals(0, book.acceptedShards(JOB));
        assertTrue(spooled.isEmpty());
        ShardResult redo = result(JOB, 0, 2, 2, List.of("a", "b"), 0);
        feed(redo);
        book.onVerdict(verdict(redo, VerdictOutcome.ACCEPTED));
        assertArrayEquals(bytes(redo), spooled.get(0));
    }

    @Test
    void resultsOfUnknownJobsOrWithAForgedTaskIdAreIgnored() {
        ShardResult other = result("batch_other", 0, 1, 1, List.of("a"), 0);
        feed(other);
        book.onVerdict(verdict(other, VerdictOutcome.ACCEPTED));
        ShardResult s0 = result(JOB, 0, 2, 1, List.of("a"), 0);
        book.onResult(JOB, "batch_book/00001", s0.getLeaseId(), 0, OutputDigest.of(s0.getRows()), bytes(s0)); // task id of another shard
        book.onVerdict(verdict(s0, VerdictOutcome.ACCEPTED));
        assertTrue(spooled.isEmpty());
        assertEquals(0, book.pendingBytes());
    }

    @Test
    void completedStatusWaitsForEveryAcceptedResultButFailureEndsTheJobWithWhatItHas() {
        assertTrue(book.onStatus(status(JobState.COMPLETED, null)).isEmpty(), "no accepted result yet");
        assertTrue(book.tracks(JOB));
        ShardResult s0 = result(JOB, 0, 2, 1, List.of("a", "b"), 0);
        feed(s0);
        book.onVerdict(verdict(s0, VerdictOutcome.ACCEPTED));
        JobBook.Ready r = book.onStatus(status(JobState.EXPIRED, "window closed")).orElseThrow();
        assertEquals(JobState.EXPIRED, r.state());
        assertEquals(1, r.acceptedShards());
        assertEquals("window closed", r.error());
        assertFalse(book.tracks(JOB));
    }

    @Test
    void finalizingStatusIsDeliveredLikeCompletedOnlyOnceEveryAcceptedResultIsHere() {
        ShardResult s0 = result(JOB, 0, 2, 1, List.of("a", "b"), 0);
        feed(s0);
        book.onVerdict(verdict(s0, VerdictOutcome.ACCEPTED));
        assertTrue(book.onStatus(status(JobState.FINALIZING, null)).isEmpty(), "one shard's result is still missing");
        assertTrue(book.tracks(JOB));
        ShardResult s1 = result(JOB, 1, 2, 1, List.of("c", "d"), 0);
        book.onVerdict(verdict(s1, VerdictOutcome.ACCEPTED));
        JobBook.Ready r = feed(s1).orElseThrow();
        assertEquals(2, r.acceptedShards());
        assertEquals(null, r.error());
    }

    @Test
    void otherLeasesOfAnAcceptedShardAreDroppedFromMemory() {
        ShardResult l1 = result(JOB, 0, 2, 1, List.of("a", "b"), 0);
        ShardResult l2 = result(JOB, 0, 2, 2, List.of("a", "b"), 0);
        feed(l1);
        feed(l2);
        assertTrue(book.pendingBytes() > 0);
        book.onVerdict(verdict(l2, VerdictOutcome.ACCEPTED));
        assertEquals(0, book.pendingBytes());
        assertArrayEquals(bytes(l2), spooled.get(0));
    }

    @Test
    void aSpoolFailureLeavesTheBookUnchangedSoTheSameRecordCanBeProcessedAgain() {
        boolean[] fail = {true};
        JobBook flaky = new JobBook(new JobBook.Spool() {
            @Override
            public void put(String jobId, int shardIndex, String leaseId, byte[] raw) {
                if (fail[0]) {
                    throw new java.io.UncheckedIOException(new java.io.IOException("disk full"));
                }
                spooled.put(shardIndex, raw);
            }

            @Override
            public void remove(String jobId, int shardIndex) {
                spooled.remove(shardIndex);
            }
        });
        flaky.track(JOB, 1);
        ShardResult r = result(JOB, 0, 1, 1, List.of("a"), 0);
        flaky.onVerdict(verdict(r, VerdictOutcome.ACCEPTED)); // verdict first
        org.junit.jupiter.api.Assertions.assertThrows(java.io.UncheckedIOException.class,
                () -> flaky.onResult(JOB, r.getTaskId(), r.getLeaseId(), 0, OutputDigest.of(r.getRows()), bytes(r)));
        assertEquals(0, flaky.acceptedShards(JOB));
        fail[0] = false;
        JobBook.Ready ready = flaky.onResult(JOB, r.getTaskId(), r.getLeaseId(), 0, OutputDigest.of(r.getRows()), bytes(r)).orElseThrow();
        assertEquals(JobState.COMPLETED, ready.state());
        assertArrayEquals(bytes(r), spooled.get(0));
    }
}
