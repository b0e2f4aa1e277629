package io.inferex.ingest;

import io.inferex.events.JobState;
import io.inferex.events.JobStatus;
import io.inferex.events.Transfer;
import io.inferex.market.Accounts;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.util.HashMap;
import java.util.Locale;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.SortedMap;
import java.util.TreeMap;

/**
 * Each customer's money, materialized from settlement's {@code ledger} topic: the balance of
 * {@code customer:<id>} (what the customer may still spend) and the money held in escrow for
 * their open jobs. Pure: transfers in, one customer's view out; thread-safe because the tracker
 * applies while HTTP threads read.
 *
 * <p>State is bounded by the number of customers plus the number of jobs whose escrow is not yet
 * drained: an escrow account leaves memory when its balance returns to 0 (the last payout or the
 * refund of the rest). The ledger topic has several partitions and a reader sees them
 * interleaved, so an escrow's payouts may arrive before the escrow transfer that names its
 * customer: the escrow balance is summed by job regardless of order (its customer is attached
 * when the escrow transfer arrives), and since every debit is positive and they sum exactly to
 * the escrowed amount, the balance reaches 0 only once every transfer of that job has been seen.
 *
 * <p><b>Escrow at create.</b> Ingest checks a new batch's escrow against what the customer may
 * spend <em>before</em> it publishes anything: {@link #reserve} holds the escrow of a job ingest is
 * about to publish until the ledger shows that job's escrow transfer (or settlement's FAILED
 * status for it, or the hold runs out), so two creates in flight at once cannot both spend the same
 * money through this instance. Spendable = the ledger's available balance less these holds.
 * Settlement stays the authority: it escrows in its own single sequence and fails a job it cannot
 * fund, whatever ingest decided.
 *
 * <p><b>Budgets.</b> A customer's own cap on what new batches may commit per UTC day or month
 * ({@link Budget}, from the {@code customer-budgets} topic). Committed in a period = the escrows the
 * ledger made in it less what was refunded of those same escrows (so: spent plus still in escrow),
 * plus the holds. Each refund is attributed to the period of its job's escrow, also when it is read
 * first; only the current and the previous period's sums are kept per customer.
 */
public final class CustomerBalances {
    private static final String CUSTOMER = Accounts.customer("");
    private static final String ESCROW = Accounts.escrow("");

    /**
     * One customer's money, in micro-units; {@code escrowByJob} lists their jobs with money still in
     * escrow; {@code spentMicros} is what left their escrows for nodes and the treasury (payouts and
     * fees): escrowed minus refunded minus still in escrow, exact once every partition has been read
     * up to the same point (never shown below 0 while the partitions are read out of step).
     */
    public record View(String customerId, long availableMicros, long escrowMicros, SortedMap<String, Long> escrowByJob,
            long spentMicros, long heldMicros) {}

    private final Map<String, Long> available = new HashMap<>();
    private final Map<String, Long> escrow = new HashMap<>();
    private final Map<String, String> escrowOwner = new HashMap<>();
    private final Map<String, Set<String>> openJobs = new HashMap<>();
    private final Map<String, Long> escrowed = new HashMap<>();
    private final Map<String, Long> refunded = new HashMap<>();
    private long transfersApplied;
    /** Open escrows' escrow time (for budget periods), removed with the escrow. */
    private final Map<String, Long> escrowAt = new HashMap<>();
    /** Refunds read before their job's escrow transfer (the ledger's partitions interleave). */
    private final Map<String, Long> earlyRefunds = new HashMap<>();
    /** Per customer and period bucket ({@link Period#bucket}): escrowed less refunded of those escrows. */
    private final Map<String, Map<Period, SortedMap<Long, Long>>> committed = new HashMap<>();
    private final Map<String, Budget> budgets = new HashMap<>();
    /** Escrows ingest published (or is publishing) that the ledger has not shown yet, by job. Kept across {@link #clear}. */
    private final Map<String, Hold> holds = new HashMap<>();
    private final Map<String, Map<String, Hold>> holdsByCustomer = new HashMap<>();
    /**
     * Jobs whose escrow transfer was applied, with its time, for {@link #RECENT_ESCROW_MS} behind the
     * newest one (insertion order is the ledger's): a restored checkpoint uses it to drop the hold of
     * a batch whose escrow it already covers, even one whose escrow drained since.
     */
    private final java.util.LinkedHashMap<String, Long> recentEscrows = new java.util.LinkedHashMap<>();
    static final long RECENT_ESCROW_MS = 24 * 3600_000L;

    /** The period a budget counts over (UTC calendar day or month). */
    public enum Period {
        DAY, MONTH;

        /** The bucket of an instant: the epoch day, or year × 12 + month. */
        long bucket(long epochMs) {
            ZonedDateTime t = Instant.ofEpochMilli(epochMs).atZone(ZoneOffset.UTC);
            return this == DAY ? t.toLocalDate().toEpochDay() : t.getYear() * 12L + t.getMonthValue() - 1;
        }

        /** Epoch ms at which the period holding {@code epochMs} ends. */
        public long endOf(long epochMs) {
            ZonedDateTime t = Instant.ofEpochMilli(epochMs).atZone(ZoneOffset.UTC).toLocalDate().atStartOfDay(ZoneOffset.UTC);
            return (this == DAY ? t.plusDays(1) : t.withDayOfMonth(1).plusMonths(1)).toInstant().toEpochMilli();
        }

        public String apiName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** "day" or "month"; null for anything else. */
        public static Period parse(String s) {
            return "day".equals(s) ? DAY : "month".equals(s) ? MONTH : null;
        }
    }

    /**
     * A customer's budget: at most {@code limitMicros} committed per {@code period}; the newest
     * {@code updatedAtMs} wins. A null limit records that the customer removed their budget.
     */
    public record Budget(Long limitMicros, Period period, long updatedAtMs) {}

    private record Hold(String customerId, String jobId, long micros, long untilMs) {}

    /** What {@link #reserve} decided. */
    public sealed interface Reservation {}

    /** Held: the job may be published. */
    public record Reserved(long micros) implements Reservation {}

    /** The customer cannot pay: {@code availableMicros} is the ledger's, {@code heldMicros} what other creates hold. */
    public record Insufficient(long neededMicros, long availableMicros, long heldMicros) implements Reservation {}

    /** Over the customer's budget: {@code committedMicros} already committed in the period. */
    public record OverBudget(long neededMicros, Budget budget, long committedMicros) implements Reservation {}

    /** Applies one ledger line; a customer→escrow transfer also records whose job the escrow is. */
    public synchronized void apply(Transfer t) {
        long amount = t.getAmountMicros();
        String from = t.getDebitAccount();
        String to = t.getCreditAccount();
        if (from.startsWith(ESCROW) && to.startsWith(CUSTOMER)) {
            String job = from.substring(ESCROW.length());
            Long at = escrowAt.get(job);
            if (at == null) {
                earlyRefunds.merge(job, amount, Math::addExact);
            } else {
                commit(to.substring(CUSTOMER.length()), at, -amount);
            }
        }
        if (from.startsWith(CUSTOMER) && to.startsWith(ESCROW)) {
            String job = to.substring(ESCROW.length());
            Long early = earlyRefunds.remove(job);
            commit(from.substring(CUSTOMER.length()), t.getAtMs(), amount - (early == null ? 0 : early));
            escrowAt.put(job, t.getAtMs());
            noteRecentEscrow(job, t.getAtMs());
            release(job); // the ledger shows it now: no longer held
        }
        move(from, -amount);
        move(to, amount);
        if (from.startsWith(ESCROW) && to.startsWith(CUSTOMER)) {
            refunded.merge(to.substring(CUSTOMER.length()), amount, Math::addExact);
        }
        if (from.startsWith(CUSTOMER) && to.startsWith(ESCROW)) {
            String job = to.substring(ESCROW.length());
            String customer = from.substring(CUSTOMER.length());
            escrowed.merge(customer, amount, Math::addExact);
            if (escrow.containsKey(job) && escrowOwner.putIfAbsent(job, customer) == null) {
                openJobs.computeIfAbsent(customer, c -> new HashSet<>()).add(job);
            }
        }
        transfersApplied++;
    }

    private void move(String account, long delta) {
        if (account.startsWith(CUSTOMER)) {
            available.merge(account.substring(CUSTOMER.length()), delta, Math::addExact);
        } else if (account.startsWith(ESCROW)) {
            String job = account.substring(ESCROW.length());
            long left = Math.addExact(escrow.getOrDefault(job, 0L), delta);
            if (left == 0) {
                escrow.remove(job);
                escrowAt.remove(job);
                String owner = escrowOwner.remove(job);
                Set<String> jobs = owner == null ? null : openJobs.get(owner);
                if (jobs != null && jobs.remove(job) && jobs.isEmpty()) {
                    openJobs.remove(owner);
                }
            } else {
                escrow.put(job, left);
            }
        }
    }

    private void noteRecentEscrow(String job, long atMs) {
        recentEscrows.remove(job);
        recentEscrows.put(job, atMs);
        for (var it = recentEscrows.entrySet().iterator(); it.hasNext(); ) {
            if (it.next().getValue() >= atMs - RECENT_ESCROW_MS) {
                break;
            }
            it.remove();
        }
    }

    /** This customer's money; a customer the ledger never named has 0 and nothing in escrow. */
    public synchronized View of(String customerId) {
        SortedMap<String, Long> jobs = new TreeMap<>();
        long inEscrow = 0;
        for (String job : openJobs.getOrDefault(customerId, Set.of())) {
            long micros = escrow.get(job);
            jobs.put(job, micros);
            inEscrow = Math.addExact(inEscrow, micros);
        }
        long spent = escrowed.getOrDefault(customerId, 0L) - refunded.getOrDefault(customerId, 0L) - inEscrow;
        return new View(customerId, available.getOrDefault(customerId, 0L), inEscrow, jobs, Math.max(0, spent),
                held(customerId));
    }

    /**
     * Holds {@code micros} for {@code jobId} if the customer can pay it and it fits their budget:
     * spendable = available − holds ≥ micros, and committed in the budget's period + holds + micros ≤
     * the limit. Holds past {@code untilMs} are dropped first (a job the ledger never showed: an
     * aborted or refused publish). Check and hold are one step under this object's lock.
     */
    public synchronized Reservation reserve(String customerId, String jobId, long micros, long nowMs, long holdMs) {
        expireHolds(customerId, nowMs);
        long held = held(customerId);
        long available = this.available.getOrDefault(customerId, 0L);
        if (micros > available - held) {
            return new Insufficient(micros, available, held);
        }
        Budget b = budgets.get(customerId);
        if (b != null && b.limitMicros() != null) {
            long used = Math.addExact(committedIn(customerId, b.period(), nowMs), held);
            if (Math.addExact(used, micros) > b.limitMicros()) {
                return new OverBudget(micros, b, used);
            }
        }
        hold(customerId, jobId, micros, Math.addExact(nowMs, holdMs));
        return new Reserved(micros);
    }

    /** Holds an escrow the ledger has not shown yet without checking it (a batch recorded before a restart). */
    public synchronized void hold(String customerId, String jobId, long micros, long untilMs) {
        Hold h = new Hold(customerId, jobId, micros, untilMs);
        holds.put(jobId, h);
        holdsByCustomer.computeIfAbsent(customerId, c -> new HashMap<>()).put(jobId, h);
    }

    /** {@link #hold}, unless the ledger has already shown the job's escrow (a batch another instance created). */
    public synchronized void holdUnlessEscrowed(String customerId, String jobId, long micros, long untilMs) {
        if (!escrowAt.containsKey(jobId) && !recentEscrows.containsKey(jobId)) {
            hold(customerId, jobId, micros, untilMs);
        }
    }

    /** Drops the hold of a job: nothing was published, or the ledger decided it. */
    public synchronized void release(String jobId) {
        Hold h = holds.remove(jobId);
        if (h != null) {
            Map<String, Hold> mine = holdsByCustomer.get(h.customerId());
            if (mine != null && mine.remove(jobId) != null && mine.isEmpty()) {
                holdsByCustomer.remove(h.customerId());
            }
        }
    }

    /** Settlement's status of a job: FAILED at acceptance means it escrowed nothing, so its hold goes. */
    public synchronized void onStatus(JobStatus s) {
        if (s.getState() == JobState.FAILED) {
            release(s.getJobId());
        }
    }

    /**
     * A budget record read from the log or just published; one older than what is known changes
     * nothing (the tracker reads again what this instance applied at once). A null limit: no budget.
     */
    public synchronized void applyBudget(String customerId, Long limitMicros, Period period, long updatedAtMs) {
        Budget known = budgets.get(customerId);
        if (known == null || known.updatedAtMs() <= updatedAtMs) {
            budgets.put(customerId, new Budget(limitMicros, period, updatedAtMs));
        }
    }

    /** The customer's budget, if they set one (and did not remove it since). */
    public synchronized Optional<Budget> budget(String customerId) {
        return Optional.ofNullable(budgets.get(customerId)).filter(b -> b.limitMicros() != null);
    }

    /** Committed in the period holding {@code nowMs}: escrowed then less refunded of those escrows, plus the holds. */
    public synchronized long committed(String customerId, Period period, long nowMs) {
        expireHolds(customerId, nowMs);
        return Math.addExact(committedIn(customerId, period, nowMs), held(customerId));
    }

    private long committedIn(String customerId, Period period, long nowMs) {
        SortedMap<Long, Long> buckets = committed.getOrDefault(customerId, Map.of()).get(period);
        return buckets == null ? 0 : Math.max(0, buckets.getOrDefault(period.bucket(nowMs), 0L));
    }

    private void commit(String customerId, long atMs, long delta) {
        Map<Period, SortedMap<Long, Long>> mine = committed.computeIfAbsent(customerId, c -> new HashMap<>());
        for (Period p : Period.values()) {
            SortedMap<Long, Long> buckets = mine.computeIfAbsent(p, x -> new TreeMap<>());
            long bucket = p.bucket(atMs);
            buckets.merge(bucket, delta, Math::addExact);
            long newest = buckets.lastKey();
            buckets.headMap(newest - 1).clear(); // the current and the previous period are enough
        }
    }

    private long held(String customerId) {
        long sum = 0;
        for (Hold h : holdsByCustomer.getOrDefault(customerId, Map.of()).values()) {
            sum = Math.addExact(sum, h.micros());
        }
        return sum;
    }

    private void expireHolds(String customerId, long nowMs) {
        Map<String, Hold> mine = holdsByCustomer.get(customerId);
        if (mine != null) {
            List<String> gone = mine.values().stream().filter(h -> h.untilMs() < nowMs).map(Hold::jobId).toList();
            gone.forEach(this::release);
        }
    }

    public synchronized int holds() {
        return holds.size();
    }

    /**
     * Everything this object read from the ledger (not the budgets, which come from their own
     * compacted topic and are read again in full, nor this instance's holds): what a checkpoint
     * stores next to the ledger offsets it covers.
     */
    public record Snapshot(Map<String, Long> available, Map<String, Long> escrow, Map<String, String> escrowOwner,
            Map<String, Long> escrowed, Map<String, Long> refunded, Map<String, Long> escrowAt,
            Map<String, Long> earlyRefunds, Map<String, Map<Period, Map<Long, Long>>> committed,
            Map<String, Long> recentEscrows, long transfersApplied) {}

    /** A copy of the ledger-derived state (take it on the thread that applies, with the offsets it covers). */
    public synchronized Snapshot snapshot() {
        Map<String, Map<Period, Map<Long, Long>>> c = new HashMap<>();
        committed.forEach((customer, byPeriod) -> {
            Map<Period, Map<Long, Long>> m = new HashMap<>();
            byPeriod.forEach((p, buckets) -> m.put(p, new TreeMap<>(buckets)));
            c.put(customer, m);
        });
        return new Snapshot(new HashMap<>(available), new HashMap<>(escrow), new HashMap<>(escrowOwner),
                new HashMap<>(escrowed), new HashMap<>(refunded), new HashMap<>(escrowAt), new HashMap<>(earlyRefunds),
                c, new java.util.LinkedHashMap<>(recentEscrows), transfersApplied);
    }

    /**
     * Replaces the ledger-derived state by a checkpoint's (budgets are cleared too: they are read
     * again from their topic), then drops the holds of jobs whose escrow the checkpoint already shows.
     */
    public synchronized void restore(Snapshot s) {
        clear();
        available.putAll(s.available());
        escrow.putAll(s.escrow());
        escrowOwner.putAll(s.escrowOwner());
        escrowOwner.forEach((job, customer) -> openJobs.computeIfAbsent(customer, c -> new HashSet<>()).add(job));
        escrowed.putAll(s.escrowed());
        refunded.putAll(s.refunded());
        escrowAt.putAll(s.escrowAt());
        earlyRefunds.putAll(s.earlyRefunds());
        s.committed().forEach((customer, byPeriod) -> {
            Map<Period, SortedMap<Long, Long>> m = new HashMap<>();
            byPeriod.forEach((p, buckets) -> m.put(p, new TreeMap<>(buckets)));
            committed.put(customer, m);
        });
        s.recentEscrows().entrySet().stream().sorted(Map.Entry.comparingByValue())
                .forEach(e -> recentEscrows.put(e.getKey(), e.getValue()));
        transfersApplied = s.transfersApplied();
        for (String job : List.copyOf(holds.keySet())) {
            if (escrowAt.containsKey(job) || recentEscrows.containsKey(job)) {
                release(job);
            }
        }
    }

    /** Forgets everything read from the log (not the holds of this instance's own creates): the tracker reads it again from its beginning. */
    public synchronized void clear() {
        available.clear();
        escrow.clear();
        escrowOwner.clear();
        openJobs.clear();
        escrowed.clear();
        refunded.clear();
        escrowAt.clear();
        earlyRefunds.clear();
        committed.clear();
        budgets.clear();
        recentEscrows.clear();
        transfersApplied = 0;
    }

    public synchronized int customers() {
        return available.size();
    }

    public synchronized int openEscrows() {
        return escrow.size();
    }

    public synchronized long transfersApplied() {
        return transfersApplied;
    }
}
