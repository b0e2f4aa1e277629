package io.inferex.local.audit;

import io.inferex.events.Challenge;
import io.inferex.events.JobCancelRequested;
import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.JobSubmitted;
import io.inferex.events.OutcomeKind;
import io.inferex.events.Payment;
import io.inferex.events.PaymentKind;
import io.inferex.events.SamplingEpoch;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.Verdict;
import io.inferex.events.VerdictOutcome;
import io.inferex.events.VerificationOutcome;
import io.inferex.ledger.LedgerConfig;
import io.inferex.ledger.LedgerRules;
import io.inferex.market.Accounts;
import io.inferex.market.VerificationIds;
import io.inferex.topics.Topic;
import io.inferex.topics.Topics;
import io.inferex.verification.SamplingDraw;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.PriorityQueue;
import java.util.TreeMap;
import java.util.TreeSet;
import org.apache.avro.specific.SpecificRecord;

/**
 * The audit of an export: replays the settlement's inputs through the settlement's own rules
 * ({@link ReplayLedger}) into fresh state and compares what comes out with the recorded
 * {@code ledger}, per transfer and per account; checks every recorded transfer against the event
 * behind it, the ledger's invariants, and every sampling decision against its epoch's revealed
 * secret.
 *
 * <p><b>Order.</b> The settlement merges payments, jobs, verdicts and verification outcomes and
 * applies them in the order of its one-partition repartition topic. That topic is not kept: Kafka
 * Streams deletes a repartition topic's records once they are committed. The replay therefore
 * rebuilds the order the way Kafka Streams builds it: every partition in offset order (Streams
 * never reorders a partition), partitions merged by record timestamp (the next record is the one
 * with the smallest timestamp; ties: payments, jobs, verdicts, outcomes, then partition). Each
 * decision uses its event's record timestamp as "now", as the settlement does, so the result
 * depends on the order only where two events touch the same balance or the same job; transfers are
 * compared by their deterministic ids, not by position. Events of one job share its key, hence
 * one partition per topic, and keep their order.
 *
 * <p><b>Punctuations.</b> Job expiry (and its finality grace) and the release of unstaked stake
 * are decided by the settlement's wall clock, not by an event. The replay takes their times from
 * what the ledger recorded (a {@code <job>/expired} refund, a stake release, an EXPIRED or late
 * FINALIZING job status), applies them at those times, and checks that each was due: the job's
 * deadline, or the node's release time, had passed in the replayed state. A deadline or release
 * that passed more than {@link #OVERDUE_MS} before the export's last record without being
 * applied is reported too.
 */
public final class LedgerAudit {
    /** How late a due punctuation may be before the export's end and still not count as missed (the settlement checks every 5 s). */
    static final long OVERDUE_MS = 60_000;
    private static final List<Topic<?, ?>> INPUTS = List.of(Topics.PAYMENTS, Topics.JOBS, Topics.VERDICTS, Topics.VERIFICATION_OUTCOMES,
            Topics.CHALLENGES, Topics.JOB_CANCELS);
    static final List<Topic<?, ?>> REQUIRED = List.of(Topics.PAYMENTS, Topics.JOBS, Topics.VERDICTS, Topics.VERIFICATION_OUTCOMES,
            Topics.LEDGER);

    /** One thing that is off, with the events behind it ({@code topic/partition@offset} and the record). */
    public record Discrepancy(String kind, String subject, String detail, List<String> events) {}

    /** The audit's result. */
    public record Report(String source, long generatedAtMs, Map<String, Object> settings, Map<String, Long> totals,
            List<String> notes, List<Discrepancy> discrepancies) {
        public boolean clean() {
            return discrepancies.isEmpty();
        }
    }

    /** The export cannot be audited (a required topic is missing). */
    public static final class Unavailable extends Exception {
        public Unavailable(String message) {
            super(message);
        }
    }

    /** The settlement's wall-clock decisions: a job's expiry, a node's stake release, a challenge bond returned unanswered. */
    private enum TimerKind {
        EXPIRE("the ledger expired job ", "expiry of job "),
        RELEASE("the ledger released the stake of node ", "stake release of node "),
        BOND("the ledger returned the unanswered bond of challenge ", "bond timeout of challenge ");

        final String flagged;
        final String cause;

        TimerKind(String flagged, String cause) {
            this.flagged = flagged;
            this.cause = cause;
        }
    }

    private record Timer(TimerKind kind, String subject, long at, boolean strict, LogEntry evidence) {}

    /**
     * One transfer id: the ledger's line(s) with it, and the transfer the replay produced with it
     * and what caused that (an input entry, or a punctuation); either side may be missing.
     */
    private static final class Slot {
        /** The first ledger line with this id, or null. */
        LogEntry recorded;
        /** Every ledger line with this id, when there is more than one; else null. */
        List<LogEntry> duplicates;
        /** Whether the replay produced a transfer with this id. */
        boolean replayed;
        /**
         * The transfer the replay produced, kept only when it is not what every recorded line says
         * (or nothing is recorded): a million matching transfers are compared as they are produced
         * and dropped, instead of being held to the end.
         */
        Transfer produced;
        LogEntry producedBy;
        String punctuation;

        List<LogEntry> lines() {
            return duplicates != null ? duplicates : List.of(recorded);
        }

        String cause() {
            return producedBy != null ? describe(producedBy) : punctuation;
        }
    }

    private final ExportArchive archive;
    private final LedgerConfig config;
    private final ReplayLedger replay;
    private final List<Discrepancy> found = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();
    private final Map<String, Long> totals = new LinkedHashMap<>();
    /** The input events by id (the first of an id), and the ledger's lines, in log order. */
    private final IdIndex<LogEntry> payments;
    private final IdIndex<LogEntry> jobs;
    private final IdIndex<LogEntry> verdicts;
    private final IdIndex<LogEntry> outcomes;
    private final IdIndex<LogEntry> challenges;
    private final List<LogEntry> ledger;
    /** Why the replay refused an event, by the event's id. */
    private final Map<String, String> refusals = new HashMap<>();
    /** Every transfer id, recorded or produced. */
    private final IdIndex<Slot> transfers;
    /** The slots of the transfers the replay produced that the ledger does not record, in the order it produced them. */
    private final List<Slot> unrecorded = new ArrayList<>();
    private long replayedTransfers;
    /** The slot of each recorded transfer id, in the order of its first ledger line. */
    private final List<Slot> recordedSlots;
    /** Each account's balance by the recorded ledger lines. */
    private final IdIndex<long[]> book;
    /** First ledger lines that a punctuation wrote (stake releases, bond timeouts, expiry refunds). */
    private final List<LogEntry> timerLines = new ArrayList<>();
    /** The last record time of the ledger. */
    private long ledgerEnd = Long.MIN_VALUE;
    private long recordedLines;
    private long punctuations;

    private LedgerAudit(ExportArchive archive, LedgerConfig config) {
        this.archive = archive;
        this.config = config;
        this.replay = new ReplayLedger(config, count(Topics.JOBS));
        payments = new IdIndex<>(count(Topics.PAYMENTS));
        jobs = new IdIndex<>(count(Topics.JOBS));
        verdicts = new IdIndex<>(count(Topics.VERDICTS));
        outcomes = new IdIndex<>(count(Topics.VERIFICATION_OUTCOMES));
        challenges = new IdIndex<>(count(Topics.CHALLENGES));
        ledger = archive.all(Topics.LEDGER);
        transfers = new IdIndex<>(ledger.size() + ledger.size() / 8);
        recordedSlots = new ArrayList<>(ledger.size());
        book = new IdIndex<>(ledger.size());
    }

    private int count(Topic<?, ?> topic) {
        return archive.partitions(topic).stream().mapToInt(List::size).sum();
    }

    /** One account under the settings the log was made with, and under the alternative. */
    public record AccountChange(String account, long actual, long alternative) {
        public long delta() {
            return alternative - actual;
        }
    }

    /**
     * A counterfactual re-settlement: the accounts whose balance differs when the same history is
     * replayed under {@code alternative} instead of {@code actual} (the same rules, the same
     * events in the same order), the net change per kind of account, and how many events the
     * alternative would have refused that the actual settings did not.
     */
    public record WhatIf(List<AccountChange> changed, Map<String, Long> deltaByKind, long refusedActual, long refusedAlternative) {}

    /** Replays the export under both settings and compares every account (see {@link WhatIf}). */
    public static WhatIf whatIf(ExportArchive archive, LedgerConfig actual, LedgerConfig alternative) throws Unavailable {
        requireTopics(archive);
        LedgerAudit a = new LedgerAudit(archive, actual);
        a.index();
        a.replayInOrder();
        LedgerAudit b = new LedgerAudit(archive, alternative);
        b.index();
        b.replayInOrder();
        TreeSet<String> accounts = new TreeSet<>();
        a.replay.forEachBalance((account, balance) -> accounts.add(account));
        b.replay.forEachBalance((account, balance) -> accounts.add(account));
        List<AccountChange> changed = new ArrayList<>();
        Map<String, Long> byKind = new TreeMap<>();
        for (String account : accounts) {
            long before = a.replay.balance(account);
            long after = b.replay.balance(account);
            if (before != after) {
                changed.add(new AccountChange(account, before, after));
                int colon = account.indexOf(':');
                byKind.merge(colon < 0 ? account : account.substring(0, colon), after - before, Long::sum);
            }
        }
        return new WhatIf(changed, byKind, a.refusals.size(), b.refusals.size());
    }

    private static void requireTopics(ExportArchive archive) throws Unavailable {
        for (Topic<?, ?> t : REQUIRED) {
            if (!archive.has(t)) {
                throw new Unavailable("the export holds no " + t.name() + " topic, which the audit needs");
            }
        }
    }

    /** Audits an export under the settlement settings {@code config}. */
    public static Report run(ExportArchive archive, LedgerConfig config, String source) throws Unavailable {
        requireTopics(archive);
        LedgerAudit a = new LedgerAudit(archive, config);
        a.audit();
        Map<String, Object> settings = new LinkedHashMap<>();
        settings.put("feeBps", config.feeBps());
        settings.put("paymentReplayWindow", config.paymentReplayWindow().toString());
        settings.put("slashRewardBps", config.slashRewardBps());
        settings.put("unstakeCooldown", config.unstakeCooldown().toString());
        settings.put("challengeWindow", config.challengeWindow().toString());
        settings.put("finalityGrace", config.finalityGrace().toString());
        settings.put("cancelGrace", config.cancelGrace().toString());
        return new Report(source, System.currentTimeMillis(), settings, a.totals, a.notes, a.found);
    }

    private void audit() {
        archive.integrityProblems().forEach(p -> flag("EXPORT_INTEGRITY", p.substring(0, p.indexOf(':')), p, List.of()));
        if (archive.manifest().fromMs() != null || archive.manifest().toMs() != null) {
            notes.add("the export is a time window (--from/--to): events before it are missing, so balances and jobs that began"
                    + " earlier cannot be replayed exactly");
        }
        for (Topic<?, ?> t : Topics.ALL) {
            for (List<LogEntry> partition : archive.partitions(t)) {
                checkOffsets(partition);
            }
        }
        index();
        replayInOrder();
        compareTransfers();
        compareAccounts();
        checkCauses();
        checkSampling();
        totals.put("discrepancies", (long) found.size());
    }

    /** Offsets of a partition only grow: a file whose entries go back in offset was reordered. */
    private void checkOffsets(List<LogEntry> partition) {
        for (int i = 1; i < partition.size(); i++) {
            LogEntry before = partition.get(i - 1);
            LogEntry e = partition.get(i);
            if (e.offset() <= before.offset()) {
                flag("LOG_ORDER", e.where(), "offset " + e.offset() + " follows offset " + before.offset() + " in " + e.topic() + "/"
                        + e.partition() + ": the partition's order was changed", List.of(describe(before), describe(e)));
            }
        }
    }

    private void index() {
        long undecodable = 0;
        for (Topic<?, ?> t : INPUTS) {
            for (List<LogEntry> partition : archive.partitions(t)) {
                for (LogEntry e : partition) {
                    SpecificRecord v = e.event();
                    if (v == null) {
                        undecodable++;
                    } else if (v instanceof Payment p) {
                        payments.putIfAbsent(p.getPaymentId(), e);
                    } else if (v instanceof JobSubmitted j) {
                        jobs.putIfAbsent(j.getJobId(), e);
                    } else if (v instanceof Verdict d) {
                        verdicts.putIfAbsent(d.getVerdictId(), e);
                    } else if (v instanceof VerificationOutcome o) {
                        outcomes.putIfAbsent(o.getOutcomeId(), e);
                    } else if (v instanceof Challenge c) {
                        challenges.putIfAbsent(c.getChallengeId(), e);
                    }
                }
            }
        }
        totals.put("inputEvents", (long) (payments.size() + jobs.size() + verdicts.size() + outcomes.size() + challenges.size()));
        totals.put("undecodableInputs", undecodable);
        // One pass over the ledger: index each transfer id, sum the accounts, note the punctuations' lines and the end.
        for (LogEntry e : ledger) {
            ledgerEnd = Math.max(ledgerEnd, e.timestamp());
            if (e.event() instanceof Transfer t) {
                recordedLines++;
                add(book, t.getDebitAccount(), -t.getAmountMicros());
                add(book, t.getCreditAccount(), t.getAmountMicros());
                Slot s = transfers.get(t.getTransferId());
                if (s == null) {
                    s = new Slot();
                    s.recorded = e;
                    transfers.putIfAbsent(t.getTransferId(), s);
                    recordedSlots.add(s);
                    if (t.getKind() == TransferKind.STAKE_RELEASE || t.getKind() == TransferKind.BOND_RELEASE
                            || t.getKind() == TransferKind.REFUND) {
                        timerLines.add(e);
                    }
                } else {
                    if (s.duplicates == null) {
                        s.duplicates = new ArrayList<>(List.of(s.recorded));
                    }
                    s.duplicates.add(e);
                }
            } else {
                flag("UNDECODABLE_LEDGER_LINE", e.where(), "a ledger record that does not decode as a Transfer", List.of(describe(e)));
            }
        }
        totals.put("recordedTransfers", recordedLines);
    }

    private List<Timer> timers() {
        Map<String, Timer> timers = new LinkedHashMap<>();
        for (LogEntry e : timerLines) {
            Transfer t = (Transfer) e.event();
            if (t.getKind() == TransferKind.STAKE_RELEASE && t.getDebitAccount().startsWith("stake:")) {
                String node = t.getDebitAccount().substring("stake:".length());
                timers.putIfAbsent("r/" + node + "/" + t.getAtMs(), new Timer(TimerKind.RELEASE, node, t.getAtMs(), true, e));
            } else if (t.getKind() == TransferKind.BOND_RELEASE && t.getCause().endsWith("/timeout") && t.getDebitAccount().startsWith("bond:")) {
                String challenge = t.getDebitAccount().substring("bond:".length());
                timers.putIfAbsent("b/" + challenge + "/" + t.getAtMs(), new Timer(TimerKind.BOND, challenge, t.getAtMs(), true, e));
            } else if (t.getKind() == TransferKind.REFUND && t.getJobId() != null
                    && (t.getCause().endsWith(LedgerRules.EXPIRED_REFUND) || t.getCause().endsWith(LedgerRules.CANCELLED_REFUND))) {
                timers.putIfAbsent("e/" + t.getJobId() + "/" + t.getAtMs(), new Timer(TimerKind.EXPIRE, t.getJobId(), t.getAtMs(), true, e));
            }
        }
        for (LogEntry e : archive.all(Topics.JOB_STATUS)) {
            if (e.event() instanceof JobStatus s && (s.getState() == JobState.EXPIRED || s.getState() == JobState.CANCELLED
                    || s.getState() == JobState.FINALIZING)) {
                String key = "e/" + s.getJobId() + "/" + s.getUpdatedAtMs();
                boolean strict = s.getState() == JobState.EXPIRED || s.getState() == JobState.CANCELLED;
                Timer known = timers.get(key);
                if (known == null || (strict && !known.strict())) {
                    timers.put(key, new Timer(TimerKind.EXPIRE, s.getJobId(), s.getUpdatedAtMs(), strict, e));
                }
            }
        }
        List<Timer> sorted = new ArrayList<>(timers.values());
        sorted.sort(Comparator.comparingLong(Timer::at));
        return sorted;
    }

    /** A partition being merged: its entries and the next one's index. */
    private static final class Cursor {
        final List<LogEntry> entries;
        final int topicRank;
        int next;

        Cursor(List<LogEntry> entries, int topicRank) {
            this.entries = entries;
            this.topicRank = topicRank;
        }

        LogEntry head() {
            return entries.get(next);
        }
    }

    private void replayInOrder() {
        PriorityQueue<Cursor> heads = new PriorityQueue<>(Comparator.<Cursor>comparingLong(c -> c.head().timestamp())
                .thenComparingInt(c -> c.topicRank).thenComparingInt(c -> c.head().partition()));
        for (int rank = 0; rank < INPUTS.size(); rank++) {
            for (List<LogEntry> p : archive.partitions(INPUTS.get(rank))) {
                if (!p.isEmpty()) {
                    heads.add(new Cursor(p, rank));
                }
            }
        }
        List<Timer> timers = timers();
        int nextTimer = 0;
        long steps = 0;
        long lastTs = Long.MIN_VALUE;
        while (!heads.isEmpty() || nextTimer < timers.size()) {
            if (nextTimer < timers.size() && (heads.isEmpty() || timers.get(nextTimer).at() < heads.peek().head().timestamp())) {
                Timer t = timers.get(nextTimer++);
                punctuate(t);
                lastTs = Math.max(lastTs, t.at());
                steps++;
                continue;
            }
            Cursor c = heads.poll();
            LogEntry e = c.head();
            if (++c.next < c.entries.size()) {
                heads.add(c);
            }
            lastTs = Math.max(lastTs, e.timestamp());
            SpecificRecord event = e.event();
            if (event == null) {
                continue; // the settlement dead-letters what does not decode
            }
            steps++;
            LedgerRules.Decision d = replay.event(event, e.timestamp());
            if (d.refusal() != null) {
                refusals.put(idOf(event), d.refusal());
            }
            for (Transfer t : d.transfers()) {
                produced(t, e, null);
            }
        }
        totals.put("replaySteps", steps);
        totals.put("punctuations", punctuations);
        totals.put("refusedByReplay", (long) refusals.size());
        long end = Math.max(lastTs, ledgerEnd);
        replay.deadlines.forEach((job, at) -> {
            if (at + OVERDUE_MS < end) {
                flag("EXPIRY_MISSED", job, "job " + job + "'s deadline " + at + " passed " + (end - at) / 1000
                        + " s before the export's last record, but the ledger never expired it", evidence(jobs.get(job)));
            }
        });
        replay.unstakes.forEach((node, at) -> {
            if (at + OVERDUE_MS < end) {
                flag("RELEASE_MISSED", node, "node " + node + "'s unstaked stake was due for release at " + at
                        + " but the ledger never released it", List.of());
            }
        });
    }

    private void punctuate(Timer t) {
        Long due = switch (t.kind()) {
            case EXPIRE -> replay.deadline(t.subject());
            case RELEASE -> replay.releaseAt(t.subject());
            case BOND -> replay.bondTimeout(t.subject());
        };
        if (due == null || due > t.at()) {
            if (t.strict()) {
                flag("PUNCTUATION_NOT_DUE", t.subject(), t.kind().flagged + t.subject() + " at " + t.at() + ", when " + (due == null ? "nothing was pending" : "it was due only at " + due),
                        List.of(describe(t.evidence())));
            }
            return;
        }
        punctuations++;
        LedgerRules.Decision d = switch (t.kind()) {
            case EXPIRE -> replay.expire(t.subject(), t.at());
            case RELEASE -> replay.release(t.subject(), t.at());
            case BOND -> replay.releaseBond(t.subject(), t.at());
        };
        String cause = "punctuation at " + t.at() + ": " + t.kind().cause + t.subject();
        for (Transfer x : d.transfers()) {
            produced(x, null, cause);
        }
    }

    /** Notes a transfer the replay produced (the first with its id counts), and what caused it. */
    private void produced(Transfer t, LogEntry entry, String punctuation) {
        Slot s = transfers.get(t.getTransferId());
        if (s == null) {
            s = new Slot();
            transfers.putIfAbsent(t.getTransferId(), s);
        } else if (s.replayed) {
            return;
        }
        s.replayed = true;
        s.producedBy = entry;
        s.punctuation = punctuation;
        replayedTransfers++;
        if (s.recorded == null) {
            s.produced = t;
            unrecorded.add(s);
        } else if (!s.lines().stream().allMatch(line -> same((Transfer) line.event(), t))) {
            s.produced = t;
        }
    }

    private void compareTransfers() {
        totals.put("replayedTransfers", replayedTransfers);
        for (Slot s : recordedSlots) {
            Transfer t = (Transfer) s.recorded.event();
            String id = t.getTransferId();
            List<LogEntry> lines = s.lines();
            if (lines.size() > 1) {
                flag("DUPLICATE_TRANSFER", id, "transfer " + id + " is recorded " + lines.size() + " times",
                        lines.stream().map(LedgerAudit::describe).toList());
            }
            if (!s.replayed) {
                String why = refusals.get(t.getCause());
                flag("UNEXPLAINED_TRANSFER", id, "the ledger records " + line(t) + ", which replaying the log does not produce"
                        + (why != null ? "; the replay refuses its cause " + t.getCause() + ": " + why : ""), evidence(s.recorded, t.getCause()));
                continue;
            }
            for (LogEntry e : s.produced == null ? List.<LogEntry>of() : lines) {
                Transfer x = (Transfer) e.event();
                if (!same(x, s.produced)) {
                    flag("TRANSFER_MISMATCH", id, "the ledger records " + line(x) + " where the replay of " + s.cause()
                            + " gives " + line(s.produced), List.of(describe(e), s.cause()));
                }
            }
        }
        for (Slot s : unrecorded) {
            flag("MISSING_TRANSFER", s.produced.getTransferId(), "replaying " + s.cause() + " gives " + line(s.produced)
                    + ", which the ledger does not record", List.of(s.cause()));
        }
    }

    private static boolean same(Transfer a, Transfer b) {
        return a.getAmountMicros() == b.getAmountMicros() && a.getKind() == b.getKind()
                && a.getDebitAccount().equals(b.getDebitAccount()) && a.getCreditAccount().equals(b.getCreditAccount())
                && Objects.equals(a.getJobId(), b.getJobId()) && Objects.equals(a.getCause(), b.getCause());
    }

    private void compareAccounts() {
        long[] sum = {0};
        long[] count = {book.size()};
        List<String> off = new ArrayList<>();
        List<String> openEscrows = new ArrayList<>();
        book.forEach((a, balance) -> {
            sum[0] += balance[0];
            if (balance[0] != 0 && a.startsWith("escrow:")) {
                openEscrows.add(a);
            }
            if (balance[0] != replay.balance(a) || (balance[0] < 0 && !a.equals(Accounts.EXTERNAL) && !a.equals(Accounts.TREASURY))) {
                off.add(a);
            }
        });
        replay.forEachBalance((a, replayed) -> {
            if (book.get(a) == null) {
                count[0]++;
                if (replayed != 0) {
                    off.add(a);
                }
            }
        });
        off.sort(null);
        for (String a : off) {
            long[] held = book.get(a);
            long recordedBalance = held == null ? 0 : held[0];
            long replayed = replay.balance(a);
            if (recordedBalance != replayed) {
                flag("ACCOUNT_MISMATCH", a, "account " + a + ": the ledger's transfers sum to " + recordedBalance
                        + " micros, the replay to " + replayed, List.of());
            }
            if (recordedBalance < 0 && !a.equals(Accounts.EXTERNAL) && !a.equals(Accounts.TREASURY)) {
                flag("NEGATIVE_BALANCE", a, "account " + a + " ends at " + recordedBalance
                        + " micros; only external and treasury may go below zero", List.of());
            }
        }
        if (sum[0] != 0) {
            flag("CONSERVATION", "all accounts", "the recorded balances sum to " + sum[0] + " micros, not 0", List.of());
        }
        openEscrows.sort(null);
        for (String account : openEscrows) {
            String job = account.substring("escrow:".length());
            LogEntry e = jobs.get(job);
            JobStatus s = replay.job(job);
            long escrow = book.get(account)[0];
            if (e != null && s != null && (s.getState() == JobState.COMPLETED || s.getState() == JobState.EXPIRED
                    || s.getState() == JobState.CANCELLED)) {
                flag("CONSERVATION", account, "job " + job + " is " + s.getState() + " but its escrow still holds "
                        + escrow + " micros", List.of(describe(e)));
            }
        }
        totals.put("accounts", count[0]);
    }

    private static void add(IdIndex<long[]> book, String account, long micros) {
        long[] b = book.get(account);
        if (b == null) {
            book.putIfAbsent(account, new long[] {micros});
        } else {
            b[0] += micros;
        }
    }

    /** Each input event of the topic that its index holds (the first of its id), in log order. */
    private <T> void forEachFirst(Topic<?, ?> topic, IdIndex<LogEntry> index, Class<T> type, java.util.function.Function<T, String> id,
            java.util.function.BiConsumer<LogEntry, T> action) {
        for (List<LogEntry> partition : archive.partitions(topic)) {
            for (LogEntry e : partition) {
                if (type.isInstance(e.event())) {
                    T v = type.cast(e.event());
                    if (index.get(id.apply(v)) == e) {
                        action.accept(e, v);
                    }
                }
            }
        }
    }

    private void checkCauses() {
        // Per shard: its first payout line, then (paid twice or more) the list of them.
        IdIndex<Object> payoutsPerShard = new IdIndex<>(outcomes.size());
        IdIndex<Object> otherShards = new IdIndex<>(8);
        Map<String, List<LogEntry>> paidTwice = new LinkedHashMap<>();
        long payouts = 0;
        long refunds = 0;
        long slashes = 0;
        for (LogEntry e : ledger) {
            if (!(e.event() instanceof Transfer t)) {
                continue;
            }
            String cause = t.getCause();
            switch (t.getKind()) {
                case PAYOUT, FEE -> {
                    payouts += t.getKind() == TransferKind.PAYOUT ? 1 : 0;
                    if (t.getDebitAccount().equals(Accounts.TREASURY)) {
                        Verdict v = event(verdicts.get(cause), Verdict.class);
                        if (v == null || v.getOutcome() != VerdictOutcome.ACCEPTED || !VerificationIds.isVerification(v.getTaskId())
                                || !t.getCreditAccount().equals(Accounts.node(v.getNodeId()))) {
                            flag("PAYOUT_WITHOUT_VERDICT", t.getTransferId(), line(t) + " is not backed by an accepted verification"
                                    + " verdict " + cause + " of that node", evidence(e, cause));
                        }
                        continue;
                    }
                    VerificationOutcome o = event(outcomes.get(cause), VerificationOutcome.class);
                    boolean toNode = t.getKind() == TransferKind.FEE ? t.getCreditAccount().equals(Accounts.TREASURY)
                            : o != null && t.getCreditAccount().equals(Accounts.node(o.getNodeId()));
                    if (o == null || o.getKind() != OutcomeKind.FINAL || !Objects.equals(t.getJobId(), o.getJobId()) || !toNode
                            || !t.getDebitAccount().equals(Accounts.escrow(o.getJobId()))) {
                        flag("PAYOUT_WITHOUT_FINAL", t.getTransferId(), line(t) + " is not backed by a FINAL outcome " + cause
                                + " of that job and node", evidence(e, cause));
                    } else if (t.getKind() == TransferKind.PAYOUT) {
                        // A task id of its job (jobId/index, the job id without '/') names the shard alone: no key to build.
                        String task = o.getTaskId();
                        String job = o.getJobId();
                        boolean plain = job.indexOf('/') < 0 && task.length() > job.length() && task.startsWith(job)
                                && task.charAt(job.length()) == '/';
                        IdIndex<Object> shards = plain ? payoutsPerShard : otherShards;
                        String shard = plain ? task : job + "/" + task;
                        Object before = shards.putIfAbsent(shard, e);
                        if (before instanceof LogEntry first) {
                            List<LogEntry> lines = new ArrayList<>(List.of(first, e));
                            shards.put(shard, lines);
                            paidTwice.put(job + "/" + task, lines);
                        } else if (before != null) {
                            @SuppressWarnings("unchecked")
                            List<LogEntry> lines = (List<LogEntry>) before;
                            lines.add(e);
                        }
                    }
                }
                case REFUND -> {
                    refunds++;
                    JobSubmitted j = event(jobs.get(t.getJobId()), JobSubmitted.class);
                    boolean known = j != null && (cause.equals(j.getJobId() + "/release") || cause.equals(j.getJobId() + LedgerRules.EXPIRED_REFUND)
                            || cause.equals(j.getJobId() + LedgerRules.CANCELLED_REFUND))
                            && t.getDebitAccount().equals(Accounts.escrow(j.getJobId()))
                            && t.getCreditAccount().equals(Accounts.customer(j.getCustomerId()));
                    if (!known) {
                        flag("REFUND_WITHOUT_JOB", t.getTransferId(), line(t) + " does not return a job's escrow to its customer",
                                evidence(e, t.getJobId()));
                    }
                }
                case SLASH -> {
                    slashes++;
                    VerificationOutcome o = event(outcomes.get(cause), VerificationOutcome.class);
                    if (o == null || o.getKind() != OutcomeKind.FRAUD || !t.getDebitAccount().equals(Accounts.stake(o.getNodeId()))) {
                        flag("SLASH_WITHOUT_FRAUD", t.getTransferId(), line(t) + " is not backed by a FRAUD outcome " + cause
                                + " against that node", evidence(e, cause));
                    }
                }
                case ESCROW -> {
                    JobSubmitted j = event(jobs.get(cause), JobSubmitted.class);
                    if (j == null || j.getEscrowMicros() != t.getAmountMicros()
                            || !t.getDebitAccount().equals(Accounts.customer(j.getCustomerId()))) {
                        flag("ESCROW_WITHOUT_JOB", t.getTransferId(), line(t) + " is not the escrow of an accepted job " + cause,
                                evidence(e, cause));
                    }
                }
                case DEPOSIT, WITHDRAWAL, STAKE_LOCK -> {
                    Payment p = event(payments.get(cause), Payment.class);
                    PaymentKind kind = t.getKind() == TransferKind.DEPOSIT ? PaymentKind.DEPOSIT
                            : t.getKind() == TransferKind.WITHDRAWAL ? PaymentKind.WITHDRAWAL : PaymentKind.STAKE;
                    if (p == null || p.getKind() != kind || p.getAmountMicros() != t.getAmountMicros()) {
                        flag("PAYMENT_WITHOUT_EVENT", t.getTransferId(), line(t) + " is not backed by a " + kind + " payment "
                                + cause + " of that amount", evidence(e, cause));
                    }
                }
                case BOND_LOCK -> {
                    Challenge c = event(challenges.get(cause), Challenge.class);
                    if (c == null || c.getBondMicros() != t.getAmountMicros() || !t.getDebitAccount().equals(c.getChallengerId())
                            || !t.getCreditAccount().equals(Accounts.bond(c.getChallengeId()))) {
                        flag("BOND_WITHOUT_CHALLENGE", t.getTransferId(), line(t) + " is not the bond of a challenge " + cause
                                + " by that account", evidence(e, cause));
                    }
                }
                case BOND_FORFEIT, BOND_RELEASE -> {
                    if (t.getKind() == TransferKind.BOND_RELEASE && cause.endsWith("/timeout")) {
                        continue; // checked as a punctuation
                    }
                    VerificationOutcome o = event(outcomes.get(cause), VerificationOutcome.class);
                    boolean forfeit = t.getKind() == TransferKind.BOND_FORFEIT;
                    boolean backed = o != null && o.getChallengeId() != null
                            && t.getDebitAccount().equals(Accounts.bond(o.getChallengeId()))
                            && (forfeit ? o.getKind() == OutcomeKind.UPHELD
                                    : o.getKind() == OutcomeKind.FRAUD || o.getKind() == OutcomeKind.INCONCLUSIVE
                                            || o.getKind() == OutcomeKind.CHALLENGE_REFUSED);
                    if (!backed) {
                        flag(forfeit ? "FORFEIT_WITHOUT_UPHELD" : "BOND_RETURN_WITHOUT_DECISION", t.getTransferId(), line(t)
                                + " is not backed by a " + (forfeit ? "UPHELD" : "FRAUD, INCONCLUSIVE or CHALLENGE_REFUSED")
                                + " outcome " + cause + " naming that challenge", evidence(e, cause));
                    }
                }
                default -> {
                    // stake releases are checked as punctuations
                }
            }
        }
        for (var paid : paidTwice.entrySet()) {
            String shard = paid.getKey();
            List<LogEntry> lines = paid.getValue();
            flag("DOUBLE_PAYOUT", shard, "shard " + shard + " is paid " + lines.size() + " times",
                    lines.stream().map(LedgerAudit::describe).toList());
        }
        totals.put("payouts", payouts);
        totals.put("refunds", refunds);
        totals.put("slashes", slashes);
    }

    private void checkSampling() {
        Map<Long, String> commitments = new HashMap<>();
        Map<Long, String> secrets = new HashMap<>();
        Map<Long, LogEntry> reveals = new HashMap<>();
        for (LogEntry e : archive.all(Topics.SAMPLING_EPOCHS)) {
            if (e.event() instanceof SamplingEpoch s) {
                String first = commitments.putIfAbsent(s.getEpoch(), s.getCommitment());
                if (first != null && !first.equals(s.getCommitment())) {
                    flag("SAMPLING_COMMITMENT_CHANGED", "epoch " + s.getEpoch(), "epoch " + s.getEpoch()
                            + " was committed to " + first + " and later to " + s.getCommitment(), List.of(describe(e)));
                }
                if (s.getSecret() != null) {
                    if (!SamplingDraw.opens(commitments.get(s.getEpoch()), s.getSecret())) {
                        flag("SAMPLING_SECRET_MISMATCH", "epoch " + s.getEpoch(), "the secret revealed for epoch " + s.getEpoch()
                                + " does not open its commitment " + commitments.get(s.getEpoch()), List.of(describe(e)));
                    } else {
                        secrets.put(s.getEpoch(), s.getSecret());
                        reveals.put(s.getEpoch(), e);
                    }
                }
            }
        }
        long[] counts = {0, 0};
        if (secrets.isEmpty()) {
            counts[1] = outcomes.size(); // nothing revealed: every decision awaits its secret
        } else {
            forEachFirst(Topics.VERIFICATION_OUTCOMES, outcomes, VerificationOutcome.class, VerificationOutcome::getOutcomeId, (e, o) -> {
                String secret = secrets.get(o.getSamplingEpoch());
                if (secret == null) {
                    counts[1]++;
                    return;
                }
                counts[0]++;
                double draw = SamplingDraw.fraction(secret, o.getLeaseId());
                boolean drawn = draw < o.getSamplingProbability();
                if (o.getSampled() && !drawn) {
                    flag("SAMPLING_FORGED", o.getOutcomeId(), String.format(java.util.Locale.ROOT,
                            "outcome %s says lease %s was sampled, but its draw %.6f is not below p %.4f in epoch %d",
                            o.getOutcomeId(), o.getLeaseId(), draw, o.getSamplingProbability(), o.getSamplingEpoch()),
                            List.of(describe(e), describe(reveals.get(o.getSamplingEpoch()))));
                } else if (!o.getSampled() && drawn && o.getChallengeId() == null) {
                    flag("SAMPLING_SKIPPED", o.getOutcomeId(), String.format(java.util.Locale.ROOT,
                            "outcome %s says lease %s was not sampled, but its draw %.6f is below p %.4f in epoch %d",
                            o.getOutcomeId(), o.getLeaseId(), draw, o.getSamplingProbability(), o.getSamplingEpoch()),
                            List.of(describe(e), describe(reveals.get(o.getSamplingEpoch()))));
                }
            });
        }
        totals.put("samplingDecisionsChecked", counts[0]);
        totals.put("samplingDecisionsAwaitingSecret", counts[1]);
    }

    private static <T> T event(LogEntry e, Class<T> type) {
        return e != null && type.isInstance(e.event()) ? type.cast(e.event()) : null;
    }

    private List<String> evidence(LogEntry e, String causeId) {
        List<String> out = new ArrayList<>();
        out.add(describe(e));
        for (IdIndex<LogEntry> index : List.of(payments, jobs, verdicts, outcomes)) {
            LogEntry c = index.get(causeId);
            if (c != null && c != e) {
                out.add(describe(c));
            }
        }
        return out;
    }

    private static List<String> evidence(LogEntry e) {
        return e == null ? List.of() : List.of(describe(e));
    }

    private static String idOf(SpecificRecord event) {
        if (event instanceof Payment p) {
            return p.getPaymentId();
        } else if (event instanceof JobSubmitted j) {
            return j.getJobId();
        } else if (event instanceof Verdict v) {
            return v.getVerdictId();
        } else if (event instanceof VerificationOutcome o) {
            return o.getOutcomeId();
        } else if (event instanceof Challenge c) {
            return c.getChallengeId();
        } else if (event instanceof JobCancelRequested c) {
            return c.getJobId() + "/cancel";
        }
        return String.valueOf(event);
    }

    static String line(Transfer t) {
        return t.getKind() + " " + t.getAmountMicros() + " micros " + t.getDebitAccount() + " -> " + t.getCreditAccount()
                + " (transfer " + t.getTransferId() + ")";
    }

    /** {@code topic/partition@offset ts=... <record as JSON>}. */
    static String describe(LogEntry e) {
        if (e == null) {
            return "(none)";
        }
        String v = e.event() != null ? e.event().toString() : e.value() == null ? "null" : "<" + ((byte[]) e.value()).length + " undecodable bytes>";
        return e.where() + " ts=" + e.timestamp() + " key=" + e.keyText() + " " + v;
    }

    private void flag(String kind, String subject, String detail, List<String> events) {
        found.add(new Discrepancy(kind, subject, detail, events));
    }
}
