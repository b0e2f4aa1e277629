package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Comparator;
import java.util.List;
import org.junit.jupiter.api.Test;

class MissedRecordsTest {
    @Test
    void aBatchLearnedLateGetsEachPartitionReadAgainFromTheEarliestRecordOfItsJobPassedOverAndOnlyOnce() {
        MissedRecords m = new MissedRecords();
        m.note("job-a", "results", 0, 40);
        m.note("job-a", "results", 0, 12);
        m.note("job-a", "job-status", 2, 7);
        m.note("job-b", "results", 1, 3);
        m.note("job-b", "results", 0, 5);
        assertEquals(List.of(), m.takeRewinds(), "nothing to read again while no batch is learned");

        m.learned("job-a");
        m.learned("job-unknown");
        assertEquals(List.of(new MissedRecords.Position("job-status", 2, 7), new MissedRecords.Position("results", 0, 12)),
                sorted(m.takeRewinds()));
        assertEquals(List.of(), m.takeRewinds(), "taken once");
        m.learned("job-a");
        assertEquals(List.of(), m.takeRewinds(), "a job is rewound for once");

        m.learned("job-b");
        assertEquals(List.of(new MissedRecords.Position("results", 0, 5), new MissedRecords.Position("results", 1, 3)),
                sorted(m.takeRewinds()));
    }

    @Test
    void itRemembersOnlyTheJobsNotedLast() {
        MissedRecords m = new MissedRecords();
        for (int i = 0; i <= MissedRecords.MAX_JOBS; i++) {
            m.note("job-" + i, "results", 0, i);
        }
        assertEquals(MissedRecords.MAX_JOBS, m.jobs());
        m.learned("job-0");
        assertEquals(List.of(), m.takeRewinds(), "the oldest was forgotten");
        m.learned("job-1");
        assertEquals(List.of(new MissedRecords.Position("results", 0, 1)), m.takeRewinds());
    }

    private static List<MissedRecords.Position> sorted(List<MissedRecords.Position> p) {
        return p.stream().sorted(Comparator.comparing(MissedRecords.Position::topic).thenComparing(MissedRecords.Position::partition)).toList();
    }

    @Test
    void aJobLearnedBetweenTheTrackersCheckAndItsNoteIsReadAgainAndOneNeverFollowedIsOnlyNoted() {
        MissedRecords m = new MissedRecords();
        // The tracker found job-a not followed; then the feed learned it (nothing noted yet), then the tracker notes.
        m.learned("job-a");
        m.noteUnlessFollowed("job-a", "verdicts", 1, 9, () -> true);
        assertEquals(List.of(new MissedRecords.Position("verdicts", 1, 9)), m.takeRewinds(), "not lost: read again");
        // A finished or unknown job stays noted, and reading it again does not loop.
        m.noteUnlessFollowed("job-b", "results", 0, 4, () -> false);
        assertEquals(List.of(), m.takeRewinds());
        assertEquals(1, m.jobs());
    }
}
