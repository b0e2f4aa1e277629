package io.inferex.ingest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.market.Accounts;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
}
