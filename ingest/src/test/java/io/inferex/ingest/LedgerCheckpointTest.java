package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Challenge;
import io.inferex.events.ChallengeBond;
import io.inferex.events.ChallengeBondStatus;
import io.inferex.events.OutcomeKind;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.VerificationOutcome;
import io.inferex.market.Accounts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The ledger checkpoint (state and offsets in one atomic file) and where the tracker starts reading. */
class LedgerCheckpointTest {
    private static final long DAY = 24 * 3600_000L;
    private static int seq;

    @TempDir
    Path dir;

    private static Transfer t(String from, String to, long micros, TransferKind kind, String job, long atMs) {
        return Transfer.newBuilder().setTransferId("cp" + (seq++)).setDebitAccount(from).setCreditAccount(to)
                .setAmountMicros(micros).setKind(kind).setJobId(job).setCause("c").setAtMs(atMs).build();
    }

    /** Jobs of three customers over several days, spread on two ledger partitions (by job). */
    private static List<List<Transfer>> ledger() {
        List<List<Transfer>> parts = List.of(new ArrayList<>(), new ArrayList<>());
        for (int i = 0; i < 12; i++) {
            String customer = "c" + (i % 3);
            String job = "batch_" + i;
            String c = Accounts.customer(customer);
            String e = Accounts.escrow(job);
            long at = i * DAY / 3;
            List<Transfer> p = parts.get(i % 2);
            p.add(t(Accounts.EXTERNAL, c, 10_000, TransferKind.DEPOSIT, null, at));
            p.add(t(c, e, 4_000, TransferKind.ESCROW, job, at));
            p.add(t(e, Accounts.node("n"), 1_900, TransferKind.PAYOUT, job, at + 1));
            p.add(t(e, Accounts.TREASURY, 100, TransferKind.FEE, job, at + 1));
            if (i % 4 != 3) { // every fourth job is still open
                p.add(t(e, c, 2_000, TransferKind.REFUND, job, at + 2));
            }
        }
        return parts;
    }

    private static void assertSameMoney(CustomerBalances expected, CustomerBalances actual, long nowMs) {
        for (String customer : List.of("c0", "c1", "c2", "nobody")) {
            assertEquals(expected.of(customer), actual.of(customer), customer + "'s balance, escrows and spend");
            for (CustomerBalances.Period p : CustomerBalances.Period.values()) {
                assertEquals(expected.committed(customer, p, nowMs), actual.committed(customer, p, nowMs),
                        customer + "'s committed " + p);
            }
        }
        assertEquals(expected.openEscrows(), actual.openEscrows());
        assertEquals(expected.customers(), actual.customers());
        assertEquals(expected.transfersApplied(), actual.transfersApplied());
    }

    @Test
    void aStartResumedFromACheckpointWrittenMidLedgerShowsTheSameMoneyAsAReadFromTheBeginning() throws Exception {
        List<List<Transfer>> parts = ledger();
        CustomerBalances full = new CustomerBalances();
        parts.forEach(p -> p.forEach(full::apply));

        // Before the restart: partition 0 read to 7, partition 1 to 11 (read out of step), then checkpointed.
        int[] at = {7, 11};
        CustomerBalances before = new CustomerBalances();
        before.apply(parts.get(1).get(0)); // partitions interleave
        parts.get(0).subList(0, at[0]).forEach(before::apply);
        parts.get(1).subList(1, at[1]).forEach(before::apply);
        Path file = dir.resolve("ledger-checkpoint");
        new LedgerCheckpoint(Map.of(0, (long) at[0], 1, (long) at[1]), before.snapshot()).write(file, dir.resolve("tmp/x"));

        // After it: state from the file, then each partition from its checkpointed offset.
        LedgerCheckpoint read = LedgerCheckpoint.read(file).orElseThrow();
        assertEquals(Map.of(0, 7L, 1, 11L), read.offsets());
        CustomerBalances after = new CustomerBalances();
        after.apply(parts.get(0).get(0)); // whatever was there is replaced
        after.restore(read.balances());
        for (int p = 0; p < 2; p++) {
            parts.get(p).subList(read.offsets().get(p).intValue(), parts.get(p).size()).forEach(after::apply);
        }
        assertSameMoney(full, after, 11 * DAY / 3);
    }

    @Test
    void aCorruptTruncatedForeignOrAbsentCheckpointReadsAsNoneSoTheLedgerIsReadFromItsBeginning() throws Exception {
        Path file = dir.resolve("ledger-checkpoint");
        assertEquals(Optional.empty(), LedgerCheckpoint.read(file), "absent");
        CustomerBalances b = new CustomerBalances();
        ledger().get(0).forEach(b::apply);
        new LedgerCheckpoint(Map.of(0, 30L), b.snapshot()).write(file, dir.resolve("tmp/x"));
        byte[] good = Files.readAllBytes(file);
        assertTrue(LedgerCheckpoint.read(file).isPresent());

        byte[] flipped = good.clone();
        String text = new String(good, java.nio.charset.StandardCharsets.US_ASCII);
        int digit = text.indexOf(":", text.indexOf("\"available\":{")+ "\"available\":{".length()) + 1;
        flipped[digit] = (byte) (good[digit] == '9' ? '1' : good[digit] + 1); // a balance changed on disk: the checksum no longer matches
        Files.write(file, flipped);
        assertEquals(Optional.empty(), LedgerCheckpoint.read(file), "a changed balance");
        Files.write(file, java.util.Arrays.copyOf(good, good.length / 2));
        assertEquals(Optional.empty(), LedgerCheckpoint.read(file), "truncated");
        Files.writeString(file, "{\"offsets\":{\"0\":3}}");
        assertEquals(Optional.empty(), LedgerCheckpoint.read(file), "no header");
        Files.write(file, (LedgerCheckpoint.HEADER.replace(" 1 ", " 2 ") + "0\n{}").getBytes());
        assertEquals(Optional.empty(), LedgerCheckpoint.read(file), "another version");
    }

    @Test
    void aRestoredCheckpointDropsTheHoldsOfJobsWhoseEscrowItCoversEvenDrainedOnesAndKeepsTheOthers() {
        List<List<Transfer>> parts = ledger(); // partition 0: batch_0, 2, ... 10, each escrowed and drained
        CustomerBalances before = new CustomerBalances();
        parts.get(0).forEach(before::apply);
        parts.get(1).subList(0, 7).forEach(before::apply); // batch_1's life, then batch_3's deposit and escrow
        CustomerBalances.Snapshot s = before.snapshot();
        assertEquals(Map.of("batch_3", 4_000L), before.of("c0").escrowByJob());

        CustomerBalances after = new CustomerBalances();
        after.hold("c1", "batch_10", 4_000, Long.MAX_VALUE); // escrowed and drained in the checkpoint
        after.hold("c0", "batch_3", 4_000, Long.MAX_VALUE); // escrowed, still open, in the checkpoint
        after.hold("c0", "batch_new", 4_000, Long.MAX_VALUE); // not in the ledger yet
        after.restore(s);
        assertEquals(1, after.holds(), "only the hold the ledger does not show yet stays");
        assertEquals(4_000, after.of("c0").heldMicros());
    }

    private static StoredBatch batch(String id, long createdAtSeconds) {
        return new StoredBatch(id, "c", "file-x", "/v1/embeddings", "24h", createdAtSeconds, Map.of(), "m", 1, 1, 16,
                1 << 19, 200, 200, "d", null, null, null, null, 0, 0, null);
    }

    @Test
    void jobTopicsAreReadFromTheEarliestRunningOrProvisionalBatchLessTheMarginElseFromNowLessTheMargin() {
        long now = 10_000_000L;
        StoredBatch running = batch("batch_r", 9_000);
        StoredBatch provisional = batch("batch_p", 8_000).finalize("completed", 9_500, "o", null, 1, 0, null)
                .withVerification(OutputFileWriter.PROVISIONAL, 0, 0);
        StoredBatch done = batch("batch_d", 1_000).finalize("completed", 2_000, "o", null, 1, 0, null)
                .withVerification(OutputFileWriter.FINAL, 0, 0);
        StoredBatch failed = batch("batch_f", 500).finalize("failed", 600, null, null, 0, 1, "x");
        assertEquals(9_000_000 - 60_000, ReplayStart.jobTopicsFromMs(List.of(running, done, failed), now, 60_000));
        assertEquals(8_000_000 - 60_000, ReplayStart.jobTopicsFromMs(List.of(running, provisional, done), now, 60_000));
        assertEquals(now - 60_000, ReplayStart.jobTopicsFromMs(List.of(done, failed), now, 60_000),
                "following nothing: only what a batch created while the reader starts may need");
    }

    @Test
    void aCheckpointFitsOnlyTheSamePartitionsWithOffsetsWithinTheirEnds() {
        assertTrue(ReplayStart.checkpointFits(Map.of(0, 5L, 1, 0L), Map.of(0, 5L, 1, 9L)));
        assertFalse(ReplayStart.checkpointFits(Map.of(0, 6L, 1, 0L), Map.of(0, 5L, 1, 9L)), "past an end: a recreated ledger");
        assertFalse(ReplayStart.checkpointFits(Map.of(0, 5L), Map.of(0, 5L, 1, 9L)), "a partition added since");
        assertFalse(ReplayStart.checkpointFits(Map.of(0, 5L, 1, 0L, 2, 0L), Map.of(0, 5L, 1, 9L)));
    }
    // ---- challenges: challenge-bonds and verification-outcomes resumed from the checkpoint ----

    private static ChallengeBond bond(String id, String job, ChallengeBondStatus status, long atMs) {
        Challenge c = Challenge.newBuilder().setChallengeId(id).setTaskId(job + "/0").setJobId(job).setChallengerId("customer:c")
                .setBondMicros(5_000).setReason("looks wrong").setCreatedAtMs(atMs - 10).build();
        return ChallengeBond.newBuilder().setChallenge(c).setStatus(status).setReason(status + " " + id).setAtMs(atMs).build();
    }

    private static VerificationOutcome outcome(String challengeId, String job, OutcomeKind kind, long atMs) {
        return VerificationOutcome.newBuilder().setOutcomeId(kind + ":" + job + ":" + challengeId).setKind(kind)
                .setTaskId(job + "/0").setJobId(job).setLeaseId("lease-" + job).setNodeId("n").setPoolKey("p").setRowCount(1)
                .setPricePerRowMicros(100).setOutputDigest("d").setSampled(challengeId == null).setSamplingEpoch(1)
                .setSamplingProbability(0.1).setChallengeId(challengeId).setReason(kind + " at " + atMs).setDecidedAtMs(atMs).build();
    }

    /** A record of one of the two challenge topics, in the order the market wrote them. */
    private record Rec(boolean isBond, int partition, Object value) {}

    /**
     * Ten challenges in time order: each bond, then its dispute and decision (some twice, as a
     * verifier restarted mid-way may publish), with sampling outcomes naming no challenge in between;
     * two partitions per topic.
     */
    private static List<Rec> challengeLog() {
        List<Rec> log = new ArrayList<>();
        OutcomeKind[] ends = {OutcomeKind.UPHELD, OutcomeKind.FRAUD, OutcomeKind.INCONCLUSIVE, OutcomeKind.CHALLENGE_REFUSED, null};
        for (int i = 0; i < 10; i++) {
            String id = "ch" + i;
            String job = "batch_" + (i / 2);
            long at = 1_000L * i;
            boolean refused = i == 7;
            log.add(new Rec(true, i % 2, bond(id, job, refused ? ChallengeBondStatus.REFUSED : ChallengeBondStatus.LOCKED, at)));
            log.add(new Rec(false, (i + 1) % 2, outcome(null, job, OutcomeKind.FINAL, at + 1)));
            if (refused || i == 9) {
                continue; // 7: refused by settlement; 9: bond locked, not disputed yet
            }
            log.add(new Rec(false, i % 2, outcome(id, job, OutcomeKind.DISPUTED, at + 2)));
            if (i % 3 == 0 || i == 4) { // 4 stays disputed
                log.add(new Rec(false, i % 2, outcome(id, job, OutcomeKind.DISPUTED, at + 3))); // published again
            }
            OutcomeKind end = ends[i % ends.length];
            if (end != null) {
                log.add(new Rec(false, i % 2, outcome(id, job, end, at + 4)));
            }
        }
        return log;
    }

    private static void apply(ChallengeBook book, Rec r) {
        if (r.isBond()) {
            book.onBond((ChallengeBond) r.value());
        } else {
            book.onOutcome((VerificationOutcome) r.value());
        }
    }

    private static ChallengeBook.View filedHere() {
        return new ChallengeBook.View("ch4", "batch_2", "batch_2/0", "line-17", "customer:c", 5_000,
                ChallengeBook.Status.SUBMITTED, "looks wrong", "", 3_990, 3_990);
    }

    @Test
    void aStartFromACheckpointWrittenMidStreamShowsTheSameChallengesAsAReadOfBothTopicsFromTheirBeginning() throws Exception {
        List<Rec> log = challengeLog();
        ChallengeBook full = new ChallengeBook();
        full.filed(filedHere());
        log.forEach(r -> apply(full, r));
        assertEquals(10, full.views().size());

        // Before the restart: the first 24 records in order, except outcomes partition 1, which lags after its 5th.
        ChallengeBook before = new ChallengeBook();
        before.filed(filedHere());
        Map<String, Long> read = new HashMap<>(); // "b0", "o1": records read per topic partition
        for (Rec r : log.subList(0, 24)) {
            String tp = (r.isBond() ? "b" : "o") + r.partition();
            if (tp.equals("o1") && read.getOrDefault(tp, 0L) == 5) {
                continue;
            }
            apply(before, r);
            read.merge(tp, 1L, Long::sum);
        }
        Map<Integer, Long> bondsAt = Map.of(0, read.getOrDefault("b0", 0L), 1, read.getOrDefault("b1", 0L));
        Map<Integer, Long> outcomesAt = Map.of(0, read.getOrDefault("o0", 0L), 1, read.getOrDefault("o1", 0L));
        assertTrue(before.views().stream().anyMatch(v -> !v.status().terminal()) && !before.views().equals(full.views()),
                "the checkpoint is taken mid-stream");
        Path file = dir.resolve("ledger-checkpoint");
        new LedgerCheckpoint(Map.of(0, 0L), new CustomerBalances().snapshot(),
                new LedgerCheckpoint.Challenges(bondsAt, outcomesAt, before.views())).write(file, dir.resolve("tmp/x"));

        // After it: the followed batches start at outcomes offset 2 of partition 0 (before the checkpoint's) and past partition 1's.
        LedgerCheckpoint cp = LedgerCheckpoint.read(file).orElseThrow();
        Map<Integer, Long> bondEnds = Map.of(0, count(log, true, 0), 1, count(log, true, 1));
        Map<Integer, Long> outcomeEnds = Map.of(0, count(log, false, 0), 1, count(log, false, 1));
        ReplayStart.ChallengeStart start = ReplayStart.challengesFrom(cp.challenges(), bondEnds, outcomeEnds,
                Map.of(0, 2L, 1, outcomeEnds.get(1))).orElseThrow();
        assertEquals(bondsAt, start.bonds());
        assertEquals(Map.of(0, 2L, 1, outcomesAt.get(1)), start.outcomes());
        ChallengeBook after = new ChallengeBook();
        after.restore(cp.challenges().views());
        assertEquals(before.views(), after.views(), "the views read back as written");
        Map<String, Long> seen = new HashMap<>();
        for (Rec r : log) { // each partition from its start, in the order the market wrote them
            String tp = (r.isBond() ? "b" : "o") + r.partition();
            long offset = seen.getOrDefault(tp, 0L);
            seen.put(tp, offset + 1);
            long from = (r.isBond() ? start.bonds() : start.outcomes()).get(r.partition());
            if (offset >= from) {
                apply(after, r);
            }
        }
        assertEquals(full.views(), after.views());
        assertEquals("line-17", after.get("ch4").orElseThrow().customId(), "what only this instance knew survives the restart");
    }

    private static long count(List<Rec> log, boolean bonds, int partition) {
        return log.stream().filter(r -> r.isBond() == bonds && r.partition() == partition).count();
    }

    @Test
    void aBondOrAnOutcomeReadAgainChangesNothingInABookThatAlreadyReflectsIt() {
        List<Rec> log = challengeLog();
        ChallengeBook full = new ChallengeBook();
        log.forEach(r -> apply(full, r));
        List<ChallengeBook.View> once = full.views();
        assertTrue(once.stream().map(ChallengeBook.View::status).distinct().count() >= 6, "every stage is represented: " + once);
        for (int k = 0; k < log.size(); k++) { // any prefix read again, and everything again in reverse
            ChallengeBook again = new ChallengeBook();
            again.restore(once);
            log.subList(0, k).forEach(r -> apply(again, r));
            assertEquals(once, again.views(), "the first " + k + " records read again");
        }
        List<Rec> reversed = new ArrayList<>(log);
        java.util.Collections.reverse(reversed);
        reversed.forEach(r -> apply(full, r));
        assertEquals(once, full.views());
    }

    @Test
    void theChallengesDoNotDependOnHowTheTwoTopicsInterleaveEvenOutcomesReadBeforeTheirBond() {
        List<Rec> log = challengeLog();
        ChallengeBook inOrder = new ChallengeBook();
        log.forEach(r -> apply(inOrder, r));
        ChallengeBook outcomesFirst = new ChallengeBook();
        log.stream().filter(r -> !r.isBond()).forEach(r -> apply(outcomesFirst, r));
        log.stream().filter(Rec::isBond).forEach(r -> apply(outcomesFirst, r));
        assertEquals(inOrder.views(), outcomesFirst.views());
        ChallengeBook reversed = new ChallengeBook();
        List<Rec> backwards = new ArrayList<>(log);
        java.util.Collections.reverse(backwards);
        backwards.forEach(r -> apply(reversed, r));
        assertEquals(inOrder.views().stream().map(v -> v.id() + " " + v.status()).toList(),
                reversed.views().stream().map(v -> v.id() + " " + v.status()).toList(),
                "read backwards (a decision before its dispute) each still ends decided");
    }

    @Test
    void anOldCheckpointWithoutChallengesStillGivesTheLedgerAndReadsTheChallengeTopicsFromTheirBeginning() throws Exception {
        CustomerBalances b = new CustomerBalances();
        ledger().get(0).forEach(b::apply);
        // A file as the build before challenges were checkpointed wrote it: no "challenges" in the body.
        byte[] body = new com.fasterxml.jackson.databind.ObjectMapper().writeValueAsBytes(
                Map.of("offsets", Map.of(0, 30L), "balances", b.snapshot()));
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(body);
        Path file = dir.resolve("ledger-checkpoint");
        Files.write(file, (LedgerCheckpoint.HEADER + crc.getValue() + "\n").getBytes());
        Files.write(file, body, java.nio.file.StandardOpenOption.APPEND);
        LedgerCheckpoint cp = LedgerCheckpoint.read(file).orElseThrow();
        assertEquals(Map.of(0, 30L), cp.offsets());
        CustomerBalances restored = new CustomerBalances();
        restored.restore(cp.balances());
        assertSameMoney(b, restored, DAY);
        assertEquals(null, cp.challenges());
        assertEquals(Optional.empty(), ReplayStart.challengesFrom(cp.challenges(), Map.of(0, 5L), Map.of(0, 5L), Map.of(0, 0L)));
    }

    @Test
    void outcomesStartAtTheEarlierOfTheCheckpointAndTheJobTopicsStartAndNothingIsRestoredFromChallengesThatDoNotFit() {
        List<ChallengeBook.View> views = List.of(filedHere());
        LedgerCheckpoint.Challenges cp = new LedgerCheckpoint.Challenges(Map.of(0, 3L), Map.of(0, 10L, 1, 4L), views);
        Map<Integer, Long> bondEnds = Map.of(0, 5L);
        Map<Integer, Long> outcomeEnds = Map.of(0, 12L, 1, 9L);
        ReplayStart.ChallengeStart s = ReplayStart.challengesFrom(cp, bondEnds, outcomeEnds, Map.of(0, 7L, 1, 9L)).orElseThrow();
        assertEquals(Map.of(0, 3L), s.bonds(), "bonds from the checkpoint");
        assertEquals(Map.of(0, 7L, 1, 4L), s.outcomes(), "outcomes from the earlier of the checkpoint and the followed batches' start");
        assertEquals(Optional.empty(), ReplayStart.challengesFrom(cp, Map.of(0, 2L), outcomeEnds, Map.of(0, 0L, 1, 0L)),
                "a bond offset past its end: challenge-bonds recreated");
        assertEquals(Optional.empty(), ReplayStart.challengesFrom(cp, bondEnds, Map.of(0, 12L, 1, 9L, 2, 0L), Map.of(0, 0L, 1, 0L, 2, 0L)),
                "an outcomes partition added since");
        assertEquals(Optional.empty(), ReplayStart.challengesFrom(new LedgerCheckpoint.Challenges(Map.of(0, 3L), null, views),
                bondEnds, outcomeEnds, Map.of(0, 0L, 1, 0L)), "no outcome offsets");
    }

    @Test
    void aDecidedChallengeIsDroppedOnlyOnceItAndItsBatchAreOverForLongerThanTheRetention() {
        long now = 100 * DAY;
        long old = now - ChallengeBook.RETENTION_MS - 1;
        ChallengeBook book = new ChallengeBook();
        book.filed(new ChallengeBook.View("old-decided", "batch_old", "t", null, "customer:c", 1, ChallengeBook.Status.UPHELD, "r", "",
                old, old));
        book.filed(new ChallengeBook.View("old-decided-batch-on", "batch_on", "t", null, "customer:c", 1, ChallengeBook.Status.FRAUD,
                "r", "", old, old));
        book.filed(new ChallengeBook.View("old-open", "batch_old", "t", null, "customer:c", 1, ChallengeBook.Status.DISPUTED, "r", "",
                old, old));
        book.filed(new ChallengeBook.View("recent-decided", "batch_old", "t", null, "customer:c", 1, ChallengeBook.Status.INCONCLUSIVE,
                "r", "", old, now - 1000));
        assertEquals(1, book.prune(now, (batch, before) -> batch.equals("batch_old")));
        assertEquals(List.of("old-decided-batch-on", "old-open", "recent-decided"),
                book.views().stream().map(ChallengeBook.View::id).toList());
    }
}
