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
    /** Results the book holds for their verdict (the disk, in production), by key. */
    private final Map<String, byte[]> held = new HashMap<>();
    private long offset;
    private JobBook book;

    /** A spool in maps: accepted results by shard, held results by key. */
    private JobBook.Spool spool(boolean[] failPut) {
        return new JobBook.Spool() {
            @Override
            public void put(String jobId, int shardIndex, String leaseId, byte[] raw) {
                if (failPut[0]) {
                    throw new java.io.UncheckedIOException(new java.io.IOException("disk full"));
                }
                spooled.put(shardIndex, raw);
            }

            @Override
            public void remove(String jobId, int shardIndex) {
                spooled.remove(shardIndex);
            }

            @Override
            public void hold(String jobId, String key, byte[] raw) {
                held.put(key, raw);
            }

            @Override
            public void promote(String jobId, String key, int shardIndex, String leaseId) {
                put(jobId, shardIndex, leaseId, java.util.Objects.requireNonNull(held.remove(key), key));
            }

            @Override
            public void release(String jobId, String key) {
                held.remove(key);
            }
        };
    }

    @BeforeEach
    void init() {
        book = new JobBook(spool(new boolean[] {false}));
        book.track(JOB, 2);
    }

    /** Reads {@code r} as the next record of results partition 0. */
    private Optional<JobBook.Ready> feed(ShardResult r) {
        return feed(book, r, offset++);
    }

    private static Optional<JobBook.Ready> feed(JobBook b, ShardResult r, long at) {
        return b.onResult(r.getJobId(), r.getTaskId(), r.getLeaseId(), r.getShardIndex(), OutputDigest.of(r.getRows()), bytes(r),
                new JobBook.Position(0, at));
    }

    /** Nothing is held, in the book's count or in the spool. */
    private void assertNothingHeld() {
        assertEquals(0, book.heldResults());
        assertTrue(held.isEmpty(), "held results left in the spool: " + held.keySet());
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
        assertEquals(2, held.size(), "undecided results wait in the spool (on disk), not in the book");
        assertTrue(book.onVerdict(verdict(s0, VerdictOutcome.ACCEPTED)).isEmpty());
        assertArrayEquals(bytes(s0), spooled.get(0));
        io.inferex.events.Verdict last = verdict(s1, VerdictOutcome.ACCEPTED);
        last.setDecidedAtMs(last.getDecidedAtMs() + 5_000);
        JobBook.Ready ready = book.onVerdict(last).orElseThrow();
        assertEquals(new JobBook.Ready(JOB, JobState.COMPLETED, 2, 2, null, last.getDecidedAtMs()), ready,
                "ready when the last ACCEPTED verdict was decided, by the log");
        assertFalse(book.tracks(JOB), "a ready job is forgotten");
        assertNothingHeld();
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
        assertTrue(held.isEmpty(), "a result its lease's verdict does not name is dropped, not held");
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
        assertNothingHeld(); // a rejected result is dropped
        feed(honest);
        book.onVerdict(verdict(honest, VerdictOutcome.ACCEPTED));
        assertArrayEquals(bytes(honest), spooled.get(0));
        // A late duplicate of the rejected lease changes nothing.
        feed(cheat);
        book.onVerdict(verdict(cheat, VerdictOutcome.ACCEPTED));
        assertArrayEquals(bytes(honest), spooled.get(0));
        feed(result(JOB, 0, 2, 3, List.of("a", "b"), 1f)); // a later lease of the accepted shard
        assertNothingHeld();
    }

    /** Feeds {@code count} forged results for shard 0 (half with the honest lease, half with made-up ones); returns the first offset. */
    private long forge(ShardResult honest, int count) {
        byte[] forgedBytes = bytes(result(JOB, 0, 2, 1, List.of("a", "b"), 9f));
        long first = offset;
        for (int i = 0; i < count; i++) {
            long at = offset++; // the record at an offset is the same when read again
            String lease = at % 2 == 0 ? honest.getLeaseId() : honest.getTaskId() + "#" + (100 + at);
            book.onResult(JOB, honest.getTaskId(), lease, 0, "forged-digest-" + at, forgedBytes, new JobBook.Position(0, at));
        }
        return first;
    }

    @Test
    void thousandsOfForgedResultsBeforeTheHonestOneStayWithinTheShardsCapsAndAReReadStillDeliversTheHonestResult() {
        int cap = JobBook.MAX_LEASES_PER_SHARD * JobBook.MAX_DIGESTS_PER_LEASE;
        ShardResult honest = result(JOB, 0, 2, 1, List.of("a", "b"), 0);
        long first = forge(honest, 5_000);
        long honestAt = offset;
        feed(honest);
        forge(honest, 2_000);
        assertTrue(book.heldResults() <= cap, "held " + book.heldResults() + " > cap " + cap);
        assertTrue(held.size() <= cap, "spool holds " + held.size());
        assertEquals(7_001 - book.heldResults(), book.refusedResults());

        assertTrue(book.onVerdict(verdict(honest, VerdictOutcome.ACCEPTED)).isEmpty());
        assertTrue(spooled.isEmpty(), "the honest result was crowded out, so not delivered yet");
        List<JobBook.Position> rereads = book.takeRereads();
        assertEquals(1, rereads.size());
        JobBook.Position from = rereads.get(0);
        assertTrue(from.offset() <= honestAt && from.offset() >= first, "re-read from " + from);
        assertTrue(book.takeRereads().isEmpty(), "a re-read is asked once");

        // The caller reads partition 0 again from there: forgeries, then the honest record.
        offset = from.offset();
        forge(honest, (int) (honestAt - from.offset()));
        assertTrue(spooled.isEmpty(), "no forgery is delivered");
        feed(honest);
        assertArrayEquals(bytes(honest), spooled.get(0));
        forge(honest, 2_000);
        assertArrayEquals(bytes(honest), spooled.get(0));
        assertEquals(0, book.heldResults(), "nothing is held for a shard with its accepted result");
        assertTrue(held.isEmpty());
    }

    @Test
    void forgeriesAfterTheHonestResultNeitherEvictItNorCostAReRead() {
        ShardResult honest = result(JOB, 0, 2, 1, List.of("a", "b"), 0);
        feed(honest);
        forge(honest, 3_000);
        assertTrue(book.heldResults() <= JobBook.MAX_LEASES_PER_SHARD * JobBook.MAX_DIGESTS_PER_LEASE);
        book.onVerdict(verdict(honest, VerdictOutcome.ACCEPTED));
        assertArrayEquals(bytes(honest), spooled.get(0));
        assertTrue(book.takeRereads().isEmpty());
        assertNothingHeld();
    }

    @Test
    void aForgottenJobReleasesWhatItHeld() {
        feed(result(JOB, 0, 2, 1, List.of("a", "b"), 0));
        feed(result(JOB, 1, 2, 1, List.of("c"), 0));
        book.forget(JOB);
        assertNothingHeld();
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
        book.onResult(JOB, "batch_book/00001", s0.getLeaseId(), 0, OutputDigest.of(s0.getRows()), bytes(s0),
                new JobBook.Position(0, 9)); // task id of another shard
        book.onVerdict(verdict(s0, VerdictOutcome.ACCEPTED));
        assertTrue(spooled.isEmpty());
        assertNothingHeld();
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
    void otherLeasesOfAnAcceptedShardAreDroppedFromTheSpool() {
        ShardResult l1 = result(JOB, 0, 2, 1, List.of("a", "b"), 0);
        ShardResult l2 = result(JOB, 0, 2, 2, List.of("a", "b"), 0);
        feed(l1);
        feed(l2);
        assertEquals(2, book.heldResults());
        assertEquals(2, held.size());
        book.onVerdict(verdict(l2, VerdictOutcome.ACCEPTED));
        assertNothingHeld();
        assertArrayEquals(bytes(l2), spooled.get(0));
    }

    @Test
    void aSpoolFailureLeavesTheBookUnchangedSoTheSameRecordCanBeProcessedAgain() {
        boolean[] fail = {true};
        JobBook flaky = new JobBook(spool(fail));
        flaky.track(JOB, 1);
        ShardResult r = result(JOB, 0, 1, 1, List.of("a"), 0);
        flaky.onVerdict(verdict(r, VerdictOutcome.ACCEPTED)); // verdict first
        org.junit.jupiter.api.Assertions.assertThrows(java.io.UncheckedIOException.class,
                () -> feed(flaky, r, 0));
        assertEquals(0, flaky.acceptedShards(JOB));
        fail[0] = false;
        JobBook.Ready ready = feed(flaky, r, 0).orElseThrow();
        assertEquals(JobState.COMPLETED, ready.state());
        assertArrayEquals(bytes(r), spooled.get(0));
    }
}
