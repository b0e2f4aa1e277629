package io.inferex.local.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.OutcomeKind;
import java.util.List;
import org.junit.jupiter.api.Test;

class ShardCheckerTest {
    /** A shard with an ACCEPTED verdict ({@code verdict}) and then, if it had one, a FINAL outcome. */
    static StageObserver.Shard shard(String job, int i, boolean verdict, int payouts) {
        return shard(job, i, verdict, verdict ? OutcomeKind.FINAL : null, payouts);
    }

    static StageObserver.Shard shard(String job, int i, boolean verdict, OutcomeKind outcome, int payouts) {
        StageObserver.Shard s = new StageObserver.Shard(job + "/000" + i);
        s.jobId = job;
        s.accepted = 1;
        s.assigned = 2;
        s.verdict = verdict ? 3 : 0;
        s.outcome = outcome;
        s.resolved = outcome == null ? 0 : 4;
        s.payouts = payouts;
        s.paid = payouts > 0 ? 5 : 0;
        return s;
    }

    static final ShardChecker.Ledger CONSERVED = new ShardChecker.Ledger(true, 0);

    @Test
    void everyShardJudgedPaidOnceAndDeliveredIsAllAccounted() {
        var anomalies = ShardChecker.check(List.of(shard("j", 0, true, 1), shard("j", 1, true, 1)),
                List.of(new ShardChecker.Job("j", 2, true, 0)), CONSERVED);
        assertEquals(List.of(), anomalies);
        assertEquals(ShardChecker.ALL_ACCOUNTED, ShardChecker.summary(anomalies));
    }

    @Test
    void eachAnomalyIsReportedWithItsShardIds() {
        var anomalies = ShardChecker.check(List.of(shard("j", 0, false, 0), shard("j", 1, true, 0), shard("j", 2, true, 2),
                shard("k", 0, true, 1)), List.of(new ShardChecker.Job("j", 4, true, 0), new ShardChecker.Job("k", 1, false, 0)),
                new ShardChecker.Ledger(false, 5));
        String summary = ShardChecker.summary(anomalies);
        assertTrue(summary.startsWith("ANOMALIES:"), summary);
        var kinds = anomalies.stream().map(ShardChecker.Anomaly::kind).toList();
        assertEquals(List.of("lost", "unpaid", "paid-twice", "never-delivered", "ledger-not-conserved"), kinds);
        assertEquals(List.of("j/(never published, 1 missing)", "j/0000"), anomalies.get(0).ids());
        assertEquals(List.of("j/0001"), anomalies.get(1).ids());
        assertEquals(List.of("j/0002"), anomalies.get(2).ids());
        assertEquals(List.of("k/0000"), anomalies.get(3).ids());
    }

    @Test
    void escrowLeftOnADeliveredJobAndShardsNeverPublishedAreAnomalies() {
        StageObserver.Shard stray = new StageObserver.Shard("x/0000");
        stray.verdict = 3;
        var anomalies = ShardChecker.check(List.of(shard("j", 0, true, 1), stray), List.of(new ShardChecker.Job("j", 1, true, 7)),
                CONSERVED);
        assertEquals(List.of("unknown-shard", "escrow-not-released"), anomalies.stream().map(ShardChecker.Anomaly::kind).toList());
        assertEquals(List.of("x/0000"), anomalies.get(0).ids());
    }

    @Test
    void anAcceptedShardNeverDeclaredFinalIsUnresolvedAndAPaidFraudIsAnAnomalyButAnUnpaidFraudIsNot() {
        var anomalies = ShardChecker.check(List.of(shard("j", 0, true, null, 0), shard("j", 1, true, OutcomeKind.FRAUD, 1),
                shard("j", 2, true, OutcomeKind.FRAUD, 0), shard("j", 3, true, OutcomeKind.FINAL, 1)),
                List.of(new ShardChecker.Job("j", 4, true, 0)), CONSERVED);
        assertEquals(List.of("unresolved", "fraud-paid"), anomalies.stream().map(ShardChecker.Anomaly::kind).toList());
        assertEquals(List.of("j/0000"), anomalies.get(0).ids());
        assertEquals(List.of("j/0001"), anomalies.get(1).ids());
    }
}
