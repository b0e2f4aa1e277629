package io.inferex.executor.node;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.executor.calibration.ToleranceCalibration;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.Test;

/** The adversary modes as a plain class: what each does to a lease's rows and to whether and when it is answered. */
class AdversaryTest {
    static final int DIM = 384;

    /** n honest-looking unit vectors. */
    static List<float[]> unitRows(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<float[]> rows = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            rows.add(Adversary.randomUnit(rnd, DIM));
        }
        return rows;
    }

    static double norm(float[] v) {
        return ToleranceCalibration.norm(v);
    }

    static double cosine(float[] a, float[] b) {
        return ToleranceCalibration.cosine(a, b);
    }

    static List<float[]> copy(List<float[]> rows) {
        List<float[]> out = new ArrayList<>();
        rows.forEach(r -> out.add(r.clone()));
        return out;
    }

    @Test
    void everyModeParsesAndPrintsBackAsItsConfigValue() {
        for (String s : List.of("none", "substitute-model", "random-vectors", "corrupt-fraction:0.1", "drop", "delay:1500ms",
                "crash-after:3")) {
            assertEquals(s, Adversary.Mode.parse(s).toString());
        }
        assertEquals(Duration.ofSeconds(30), Adversary.Mode.parse("delay:30s").delay());
        assertEquals(Duration.ofMinutes(2), Adversary.Mode.parse("delay:2m").delay());
        assertEquals(Duration.ofSeconds(45), Adversary.Mode.parse("delay:PT45S").delay());
        assertEquals(Adversary.Kind.CORRUPT_FRACTION, Adversary.Mode.parse(" Corrupt-Fraction:0.25 ").kind());
        assertEquals(0.25, Adversary.Mode.parse("corrupt-fraction:0.25").fraction());
        assertEquals(7, Adversary.Mode.parse("crash-after:7").crashAfter());
    }

    @Test
    void malformedModesAreRefusedWithTheReason() {
        for (String bad : List.of("", "cheat", "corrupt-fraction", "corrupt-fraction:0", "corrupt-fraction:1.5",
                "corrupt-fraction:x", "delay", "delay:0ms", "delay:5h", "crash-after:0", "crash-after:-1", "drop:3",
                "none:1", "random-vectors:2")) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Adversary.Mode.parse(bad), bad);
            assertTrue(e.getMessage().contains("adversary") || e.getMessage().contains("needs"), e.getMessage());
        }
    }

    @Test
    void honestNodeChangesNothingAndCountsNothing() throws Exception {
        Adversary honest = Adversary.none();
        List<float[]> rows = unitRows(8, 1);
        assertSame(rows, honest.tamper("j/00000#0", rows));
        assertTrue(honest.answers("j/00000#0"));
        honest.beforeAnswer("j/00000#0");
        honest.answered("j/00000#0");
        assertFalse(honest.active());
        assertEquals(0, honest.cheats());
    }

    @Test
    void randomVectorsAreUnitNormOfTheRightDimensionUnrelatedToTheHonestRowsAndReproducibleFromTheSeed() {
        Adversary a = new Adversary(Adversary.Mode.parse("random-vectors"), 42, () -> {});
        List<float[]> honest = unitRows(20, 2);
        List<float[]> before = copy(honest);
        List<float[]> out = a.tamper("j/00001#0", honest);
        assertEquals(20, out.size());
        for (int i = 0; i < out.size(); i++) {
            assertEquals(DIM, out.get(i).length);
            assertEquals(1.0, norm(out.get(i)), 1e-5);
            assertTrue(Math.abs(cosine(out.get(i), honest.get(i))) < 0.3, "row " + i + " cosine " + cosine(out.get(i), honest.get(i)));
            assertArrayEquals(before.get(i), honest.get(i), "the computed rows are not modified");
        }
        List<float[]> again = new Adversary(Adversary.Mode.parse("random-vectors"), 42, () -> {}).tamper("j/00001#0", honest);
        for (int i = 0; i < out.size(); i++) {
            assertArrayEquals(out.get(i), again.get(i), "same seed and lease, same vectors");
        }
        assertFalse(java.util.Arrays.equals(out.get(0), a.tamper("j/00002#0", honest).get(0)), "another lease, other vectors");
        assertEquals(2, a.cheats());
    }

    @Test
    void corruptFractionChangesRoundFTimesRowsOfEachShardToUnitVectorsAtTheFixedCosineAndLeavesTheRestBitIdentical() {
        Adversary a = new Adversary(Adversary.Mode.parse("corrupt-fraction:0.1"), 7, () -> {});
        Set<Integer> everCorrupted = new HashSet<>();
        for (int lease = 0; lease < 30; lease++) {
            List<float[]> honest = unitRows(40, 100 + lease);
            List<float[]> out = a.tamper("j/" + lease + "#0", honest);
            int changed = 0;
            for (int i = 0; i < 40; i++) {
                if (java.util.Arrays.equals(out.get(i), honest.get(i))) {
                    continue;
                }
                changed++;
                everCorrupted.add(i);
                assertEquals(1.0, norm(out.get(i)), 1e-5, "still unit-norm");
                assertEquals(Adversary.CORRUPT_COSINE, cosine(out.get(i), honest.get(i)), 1e-5, "wrong but close");
            }
            assertEquals(4, changed, "lease " + lease + ": 10% of 40 rows");
        }
        assertTrue(everCorrupted.size() > 20, "the corrupted rows move from shard to shard: " + everCorrupted);
        assertEquals(30, a.cheats());
    }

    @Test
    void corruptFractionAlwaysCorruptsAtLeastOneRowAndAtMostAll() {
        assertEquals(1, Adversary.corruptedRows(5, 0.1));
        assertEquals(1, Adversary.corruptedRows(1, 0.01));
        assertEquals(3, Adversary.corruptedRows(10, 0.25)); // round(2.5) = 3
        assertEquals(50, Adversary.corruptedRows(100, 0.5));
        assertEquals(7, Adversary.corruptedRows(7, 1.0));
        assertEquals(0, Adversary.corruptedRows(0, 0.5));
        Adversary a = new Adversary(Adversary.Mode.parse("corrupt-fraction:0.1"), 3, () -> {});
        List<float[]> honest = unitRows(5, 9);
        List<float[]> out = a.tamper("j/00009#1", honest);
        int changed = 0;
        for (int i = 0; i < 5; i++) {
            changed += java.util.Arrays.equals(out.get(i), honest.get(i)) ? 0 : 1;
        }
        assertEquals(1, changed);
    }

    @Test
    void dropTakesEveryLeaseAndAnswersNone() {
        Adversary a = new Adversary(Adversary.Mode.parse("drop"), 1, () -> {});
        for (int i = 0; i < 5; i++) {
            assertFalse(a.answers("j/0000" + i + "#0"));
        }
        assertEquals(5, a.cheats());
    }

    @Test
    void delayHoldsTheAnswerAtLeastTheDelayAndGivesWayToAnInterrupt() throws Exception {
        Adversary a = new Adversary(Adversary.Mode.parse("delay:60ms"), 1, () -> {});
        long t0 = System.nanoTime();
        a.beforeAnswer("j/00000#0");
        assertTrue(System.nanoTime() - t0 >= Duration.ofMillis(60).toNanos(), "held back at least the delay");
        assertTrue(a.answers("j/00000#0"), "a late answer is still an answer");
        assertEquals(1, a.cheats());

        Adversary slow = new Adversary(Adversary.Mode.parse("delay:10m"), 1, () -> {});
        AtomicReference<Throwable> thrown = new AtomicReference<>();
        Thread t = new Thread(() -> {
            try {
                slow.beforeAnswer("j/00001#0");
            } catch (Throwable e) {
                thrown.set(e);
            }
        });
        t.start();
        t.interrupt(); // a stopping node's shutdownNow()
        t.join(Duration.ofSeconds(30).toMillis());
        assertFalse(t.isAlive(), "the delay gives way to the interrupt");
        assertTrue(thrown.get() instanceof InterruptedException, String.valueOf(thrown.get()));
    }

    @Test
    void crashAfterRunsTheCrashOnceAtTheNthAnswerAndAnswersNothingAfterwards() {
        AtomicInteger crashes = new AtomicInteger();
        Adversary a = new Adversary(Adversary.Mode.parse("crash-after:3"), 1, crashes::incrementAndGet);
        for (int i = 1; i <= 2; i++) {
            assertTrue(a.answers("j/0000" + i + "#0"));
            a.answered("j/0000" + i + "#0");
        }
        assertEquals(0, crashes.get(), "two answers out: still running");
        assertTrue(a.answers("j/00003#0"));
        a.answered("j/00003#0");
        assertEquals(1, crashes.get(), "the third answer crashes the process");
        assertFalse(a.answers("j/00004#0"), "a crashed node answers nothing more");
        a.answered("j/00005#0");
        assertEquals(1, crashes.get(), "one crash");
        assertEquals(1, a.cheats());
    }

    @Test
    void substituteModelLeavesTheRowsToTheOtherModelButCountsEveryLease() {
        Adversary a = new Adversary(Adversary.Mode.parse("substitute-model"), 1, () -> {});
        List<float[]> rows = unitRows(3, 5);
        assertSame(rows, a.tamper("j/00000#0", rows));
        assertTrue(a.answers("j/00000#0"));
        assertTrue(a.active());
        assertEquals(1, a.cheats());
        assertNotEquals(Adversary.Mode.NONE, a.mode());
    }
}
