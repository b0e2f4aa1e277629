package io.inferex.ingest;

import io.inferex.events.Transfer;
import io.inferex.market.Accounts;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
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
            long spentMicros) {}

    private final Map<String, Long> available = new HashMap<>();
    private final Map<String, Long> escrow = new HashMap<>();
    private final Map<String, String> escrowOwner = new HashMap<>();
    private final Map<String, Set<String>> openJobs = new HashMap<>();
    private final Map<String, Long> escrowed = new HashMap<>();
    private final Map<String, Long> refunded = new HashMap<>();
    private long transfersApplied;

    /** Applies one ledger line; a customer→escrow transfer also records whose job the escrow is. */
    public synchronized void apply(Transfer t) {
        long amount = t.getAmountMicros();
        String from = t.getDebitAccount();
        String to = t.getCreditAccount();
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
        return new View(customerId, available.getOrDefault(customerId, 0L), inEscrow, jobs, Math.max(0, spent));
    }

    /** Forgets everything: the tracker reads the ledger again from its beginning. */
    public synchronized void clear() {
        available.clear();
        escrow.clear();
        escrowOwner.clear();
        openJobs.clear();
        escrowed.clear();
        refunded.clear();
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
