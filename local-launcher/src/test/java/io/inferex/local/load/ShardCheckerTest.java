package io.inferex.local.load;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.InputRow;
import io.inferex.events.OutcomeKind;
import io.inferex.events.ShardTask;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.TaskIds;
import java.util.ArrayList;
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

    // ---- The same checker fed event logs: the stage topics' records as a run's observer receives them. ----

    /** A job's event log, built record by record and fed to an observer with no consumer. */
    static final class Log {
        final StageObserver observer = new StageObserver();
        final String job;
        final int shards;
        long t = 1;

        Log(String job, int shards) {
            this.job = job;
            this.shards = shards;
        }

        String task(int i) {
            return TaskIds.of(job, i, shards);
        }

        Log published(int i) {
            observer.accept(ShardTask.newBuilder().setTaskId(task(i)).setJobId(job).setShardIndex(i).setShardCount(shards)
                    .setModel("m").setPoolKey("m@c").setMaxPricePerRowMicros(100)
                    .setRows(List.of(new InputRow("r" + i, 0, "x"))).setCreatedAtMs(t).build(), t++);
            return this;
        }

        Log verdict(int i, String lease) {
            observer.accept(Verdict.newBuilder().setVerdictId(lease + "/verdict").setTaskId(task(i)).setJobId(job).setLeaseId(lease)
                    .setNodeId("n").setPoolKey("m@c").setOutcome(VerdictOutcome.ACCEPTED).setReason("ok").setRowCount(1)
                    .setPricePerRowMicros(100).setOutputDigest("d").setDecidedAtMs(t).build(), t++);
            return this;
        }

        Log outcome(int i, String lease, OutcomeKind kind) {
            observer.accept(VerificationOutcome.newBuilder().setOutcomeId(lease + "/" + kind).setKind(kind).setTaskId(task(i))
                    .setJobId(job).setLeaseId(lease).setNodeId("n").setPoolKey("m@c").setRowCount(1).setPricePerRowMicros(100)
                    .setOutputDigest("d").setSampled(false).setSamplingEpoch(0).setSamplingProbability(0).setReason("window closed")
                    .setDecidedAtMs(t).build(), t++);
            return this;
        }

        Log payout(String cause) {
            observer.accept(Transfer.newBuilder().setTransferId(cause + "/payout/" + t).setDebitAccount("escrow:" + job)
                    .setCreditAccount("node:n").setAmountMicros(90).setKind(TransferKind.PAYOUT).setJobId(job).setCause(cause)
                    .setAtMs(t).build(), t++);
            return this;
        }

        /** Shard i published, leased as {@code i-a}, accepted, FINAL, paid once. */
        Log clean(int i) {
            String lease = task(i) + "#1";
            return published(i).verdict(i, lease).outcome(i, lease, OutcomeKind.FINAL).payout(lease + "/" + OutcomeKind.FINAL);
        }

        List<ShardChecker.Anomaly> check(List<ShardChecker.Line> output) {
            List<String> inputs = new ArrayList<>();
            for (int i = 0; i < shards; i++) {
                inputs.add("r" + i);
            }
            return ShardChecker.check(observer.shards(), List.of(new ShardChecker.Job(job, shards, true, 0, inputs, output, 1)),
                    CONSERVED);
        }

        /** The output a correct delivery gives: one correct line per shard, in order. */
        List<ShardChecker.Line> goodOutput() {
            List<ShardChecker.Line> out = new ArrayList<>();
            for (int i = 0; i < shards; i++) {
                out.add(new ShardChecker.Line("r" + i, "final", true));
            }
            return out;
        }
    }

    static List<String> kinds(List<ShardChecker.Anomaly> anomalies) {
        return anomalies.stream().map(ShardChecker.Anomaly::kind).toList();
    }

    @Test
    void aCleanEventLogIsAllAccounted() {
        Log log = new Log("batch_1", 3).clean(0).clean(1).clean(2);
        assertEquals(ShardChecker.ALL_ACCOUNTED, ShardChecker.summary(log.check(log.goodOutput())));
    }

    @Test
    void aShardPublishedButNeverJudgedIsLost() {
        Log log = new Log("batch_1", 2).clean(0).published(1);
        var anomalies = log.check(log.goodOutput());
        assertEquals(List.of("lost"), kinds(anomalies));
        assertEquals(List.of(log.task(1)), anomalies.get(0).ids());
    }

    @Test
    void aShardPublishedTwiceOrResolvedTwiceIsDuplicated() {
        Log log = new Log("batch_1", 3).clean(0).clean(1).published(1).clean(2);
        String lease = log.task(2) + "#1";
        log.outcome(2, lease, OutcomeKind.FINAL);
        var anomalies = log.check(log.goodOutput());
        assertEquals(List.of("duplicated"), kinds(anomalies));
        assertEquals(List.of(log.task(1) + " (published 2x)", log.task(2) + " (resolved 2x)"), anomalies.get(0).ids());
    }

    @Test
    void twoPayoutsForOneShardArePaidTwice() {
        Log log = new Log("batch_1", 2).clean(0).clean(1);
        log.payout(log.task(1) + "#1/" + OutcomeKind.FINAL);
        var anomalies = log.check(log.goodOutput());
        assertEquals(List.of("paid-twice"), kinds(anomalies));
        assertEquals(List.of(log.task(1)), anomalies.get(0).ids());
    }

    @Test
    void aLineMissingFromTheOutputIsNeverDeliveredAndALineTwiceIsDuplicated() {
        Log log = new Log("batch_1", 3).clean(0).clean(1).clean(2);
        List<ShardChecker.Line> out = log.goodOutput();
        out.set(2, out.get(1)); // r1 twice, r2 never
        var anomalies = log.check(out);
        assertEquals(List.of("duplicated", "never-delivered"), kinds(anomalies));
        assertEquals(List.of(log.task(1) + " (r1)"), anomalies.get(0).ids());
        assertEquals(List.of(log.task(2) + " (r2 missing from the output)"), anomalies.get(1).ids());
    }

    @Test
    void aWrongOrMisplacedLineIsDeliveredWrongUnlessTheOutputDisclosesTheFraud() {
        Log log = new Log("batch_1", 4).clean(0).clean(1).clean(2).clean(3);
        List<ShardChecker.Line> out = log.goodOutput();
        out.set(0, new ShardChecker.Line("r0", "final", false)); // wrong vector, presented as final
        out.set(1, new ShardChecker.Line("r1", ShardChecker.FRAUD_UNCORRECTED, false)); // wrong, and the file says so
        ShardChecker.Line two = out.get(2);
        out.set(2, out.get(3));
        out.set(3, two); // r2 and r3 swapped
        var anomalies = log.check(out);
        assertEquals(List.of("delivered-wrong"), kinds(anomalies));
        assertEquals(List.of(log.task(0) + " (r0)", log.task(2) + " (r2) at line 4, input line 3",
                log.task(3) + " (r3) at line 3, input line 4"), anomalies.get(0).ids());
    }

    @Test
    void theOutputCheckComparesEmbeddingsToFloatPrecision() {
        float[] v = {0.6f, 0.8f};
        assertTrue(ShardChecker.matches(v, new float[] {0.6f, 0.8f}));
        assertEquals(false, ShardChecker.matches(v, new float[] {0.6f, 0.81f}));
        assertEquals(false, ShardChecker.matches(v, new float[] {0.6f}));
        assertEquals(false, ShardChecker.matches(v, null));
    }

    @Test
    void aRealModelsLineIsWellFormedOnlyWithItsDimensionFiniteValuesAndUnitLength() {
        assertTrue(ShardChecker.wellFormed(new float[] {0.6f, 0.8f, 0f}, 3));
        assertEquals(false, ShardChecker.wellFormed(new float[] {0.6f, 0.8f}, 3), "another dimension");
        assertEquals(false, ShardChecker.wellFormed(new float[] {0.6f, 0.9f, 0f}, 3), "not unit length");
        assertEquals(false, ShardChecker.wellFormed(new float[] {Float.NaN, 0.8f, 0f}, 3));
        assertEquals(false, ShardChecker.wellFormed(null, 3));
    }
}
