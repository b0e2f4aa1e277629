package io.inferex.local.audit;

import io.inferex.events.JobSubmitted;
import io.inferex.events.OutcomeKind;
import io.inferex.events.SamplingEpoch;
import io.inferex.events.Transfer;
import io.inferex.events.TransferKind;
import io.inferex.events.VerificationOutcome;
import io.inferex.ledger.LedgerConfig;
import io.inferex.topics.Topics;
import io.inferex.verification.SamplingDraw;
import io.inferex.verification.SamplingPolicy;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A counterfactual of the sampling rule: which results would have been re-executed under another
 * floor (and new-node p) than the verifier used, from the log alone. Pure: an export and two
 * policies in, a {@link Result} out.
 *
 * <p><b>How.</b> The verifier samples a lease iff {@code SamplingDraw.fraction(secret, leaseId) < p}
 * with {@code p = floor + (newNodeP - floor) * m} ({@link SamplingPolicy}), {@code m} the node's
 * max(newness, distrust) at that moment, and records p on the outcome. With the epoch's revealed
 * secret the draw is recomputed; {@code m} is recovered from the recorded p under the actual policy
 * (p = 1: a banned node, sampled under any policy), and p' follows under the alternative. The
 * node's reputation is kept as it was: under another floor more (or fewer) samples would have
 * moved reputations and so later p's, which the log cannot tell; that second-order effect is not
 * modelled, and the report says so.
 *
 * <p><b>What it can know, and what not.</b> A result that would have been sampled and was not: its
 * re-execution never ran, so what it would have found is <i>unknown</i>; its extra cost is estimated
 * at the shard's own recorded price per row (what the verifier would have paid a sampler is not on
 * the log), and when its node was convicted of fraud on any shard of this log it is marked so
 * ("would have been checked; outcome unknown"). A result that was sampled and would not have been:
 * its recorded re-execution cost is saved (same estimate); when that sample convicted fraud
 * (a FRAUD outcome of the lease without a customer's challenge), the slash recorded for it would
 * not have happened and, unless a customer's challenge caught it (unknown), the result would have
 * become final and paid: its payout (rows x price, less the fee) is what would have been paid
 * instead, and the customer would have paid for a wrong result. Decisions whose epoch secret is not
 * revealed, or whose recorded p the actual policy cannot have produced, are counted as unknown.
 */
public final class SamplingWhatIf {
    /** What the alternative changes for one lease's sampling decision. */
    public enum Change {
        /** Would have been sampled, was not: a re-execution that never ran, outcome unknown. */
        WOULD_SAMPLE,
        /** Was sampled, would not have been: its re-execution and what it decided would not have happened. */
        WOULD_SKIP
    }

    /**
     * One lease whose decision differs. {@code estimatedCostMicros}: rows x the shard's price
     * (extra for WOULD_SAMPLE, saved for WOULD_SKIP). {@code finding}: for WOULD_SAMPLE
     * "unknown" or "unknown; node later convicted of fraud"; for WOULD_SKIP what the sample found
     * ("fraud", "no fraud", "disputed, undecided"). For a skipped sample that convicted fraud,
     * {@code slashMicros} (the slash recorded for it, not made) and {@code payoutInsteadMicros}
     * (the node's payout that would have been made unless a challenge caught it); else 0.
     */
    public record Decision(String leaseId, String node, String customer, String jobId, Change change, double draw, double actualP,
            double alternativeP, long estimatedCostMicros, String finding, long slashMicros, long payoutInsteadMicros,
            long customerPaysInsteadMicros) {}

    /** Sums per node or per customer. */
    public record Tally(long wouldSample, long wouldSkip, long extraCostMicros, long savedCostMicros, long unknownFindings,
            long frauds, long fraudsUncaught, long slashNotMadeMicros, long payoutInsteadMicros, long customerPaysInsteadMicros) {
        static final Tally ZERO = new Tally(0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

        Tally plus(Decision d) {
            boolean sample = d.change() == Change.WOULD_SAMPLE;
            boolean fraudSkipped = !sample && d.slashMicros() + d.payoutInsteadMicros() > 0;
            return new Tally(wouldSample + (sample ? 1 : 0), wouldSkip + (sample ? 0 : 1), extraCostMicros + (sample ? d.estimatedCostMicros() : 0),
                    savedCostMicros + (sample ? 0 : d.estimatedCostMicros()), unknownFindings + (sample ? 1 : 0),
                    frauds + (sample && d.finding().contains("convicted") ? 1 : 0), fraudsUncaught + (fraudSkipped ? 1 : 0),
                    slashNotMadeMicros + d.slashMicros(), payoutInsteadMicros + d.payoutInsteadMicros(),
                    customerPaysInsteadMicros + d.customerPaysInsteadMicros());
        }
    }

    /**
     * The counterfactual: every differing decision, sums per node and per customer and in total,
     * how many decisions were recomputed, and how many could not be (secret not revealed, or a
     * recorded p the actual policy cannot give).
     */
    public record Result(SamplingPolicy.Config actual, SamplingPolicy.Config alternative, List<Decision> changed, Map<String, Tally> byNode,
            Map<String, Tally> byCustomer, Tally total, long recomputed, long unknownNoSecret, long unknownPolicy, List<String> notes) {}

    private SamplingWhatIf() {}

    /** The same draws under {@code alternative} instead of {@code actual}; fees as in {@code ledger}. */
    public static Result run(ExportArchive archive, SamplingPolicy.Config actual, SamplingPolicy.Config alternative, LedgerConfig ledger) {
        Map<Long, String> secrets = new HashMap<>();
        Map<Long, String> commitments = new HashMap<>();
        for (LogEntry e : archive.all(Topics.SAMPLING_EPOCHS)) {
            if (e.event() instanceof SamplingEpoch s) {
                commitments.putIfAbsent(s.getEpoch(), s.getCommitment());
                if (s.getSecret() != null && SamplingDraw.opens(commitments.get(s.getEpoch()), s.getSecret())) {
                    secrets.putIfAbsent(s.getEpoch(), s.getSecret());
                }
            }
        }
        Map<String, String> customers = new HashMap<>();
        for (LogEntry e : archive.all(Topics.JOBS)) {
            if (e.event() instanceof JobSubmitted j) {
                customers.putIfAbsent(j.getJobId(), j.getCustomerId());
            }
        }
        Map<String, Long> slashes = new HashMap<>();
        for (LogEntry e : archive.all(Topics.LEDGER)) {
            if (e.event() instanceof Transfer t && t.getKind() == TransferKind.SLASH) {
                slashes.merge(t.getCause(), t.getAmountMicros(), Long::sum);
            }
        }
        // Per lease: the first outcome carries its sampling decision; a FRAUD of the lease without a challenge is what its sample found.
        Map<String, VerificationOutcome> decision = new LinkedHashMap<>();
        Map<String, VerificationOutcome> fraudBySample = new HashMap<>();
        Map<String, VerificationOutcome> finalOf = new HashMap<>();
        Set<String> convicted = new HashSet<>();
        for (LogEntry e : archive.all(Topics.VERIFICATION_OUTCOMES)) {
            if (!(e.event() instanceof VerificationOutcome o) || o.getKind() == OutcomeKind.CHALLENGE_REFUSED) {
                continue;
            }
            decision.putIfAbsent(o.getLeaseId(), o);
            if (o.getKind() == OutcomeKind.FRAUD) {
                convicted.add(o.getNodeId());
                if (o.getChallengeId() == null) {
                    fraudBySample.putIfAbsent(o.getLeaseId(), o);
                }
            } else if (o.getKind() == OutcomeKind.FINAL) {
                finalOf.putIfAbsent(o.getLeaseId(), o);
            }
        }
        List<Decision> changed = new ArrayList<>();
        long recomputed = 0;
        long noSecret = 0;
        long badPolicy = 0;
        for (VerificationOutcome o : decision.values()) {
            String secret = secrets.get(o.getSamplingEpoch());
            if (secret == null) {
                noSecret++;
                continue;
            }
            double p = o.getSamplingProbability();
            double pAlt = alternativeP(actual, alternative, p);
            if (Double.isNaN(pAlt)) {
                badPolicy++;
                continue;
            }
            recomputed++;
            double draw = SamplingDraw.fraction(secret, o.getLeaseId());
            boolean would = draw < pAlt;
            if (would == o.getSampled()) {
                continue;
            }
            long cost = (long) o.getRowCount() * o.getPricePerRowMicros();
            String customer = customers.getOrDefault(o.getJobId(), "unknown");
            if (would) {
                String finding = convicted.contains(o.getNodeId()) ? "unknown; node later convicted of fraud" : "unknown";
                changed.add(new Decision(o.getLeaseId(), o.getNodeId(), customer, o.getJobId(), Change.WOULD_SAMPLE, draw, p, pAlt, cost,
                        finding, 0, 0, 0));
            } else {
                VerificationOutcome fraud = fraudBySample.get(o.getLeaseId());
                if (fraud != null) {
                    long fee = io.inferex.market.Money.basisPoints(cost, ledger.feeBps()); // as LedgerRules takes it at finality
                    changed.add(new Decision(o.getLeaseId(), o.getNodeId(), customer, o.getJobId(), Change.WOULD_SKIP, draw, p, pAlt, cost,
                            "fraud", slashes.getOrDefault(fraud.getOutcomeId(), 0L), cost - fee, cost));
                } else {
                    String finding = finalOf.containsKey(o.getLeaseId()) ? "no fraud" : "undecided in this log";
                    changed.add(new Decision(o.getLeaseId(), o.getNodeId(), customer, o.getJobId(), Change.WOULD_SKIP, draw, p, pAlt, cost,
                            finding, 0, 0, 0));
                }
            }
        }
        Map<String, Tally> byNode = new TreeMap<>();
        Map<String, Tally> byCustomer = new TreeMap<>();
        Tally total = Tally.ZERO;
        for (Decision d : changed) {
            byNode.merge(d.node(), Tally.ZERO.plus(d), (a, b) -> a.plus(d));
            byCustomer.merge(d.customer(), Tally.ZERO.plus(d), (a, b) -> a.plus(d));
            total = total.plus(d);
        }
        List<String> notes = List.of(
                "reputations are kept as recorded: more or fewer samples would have moved them, and so later p's; not modelled",
                "what a sample that never ran would have found is unknown; its cost is estimated at the shard's own price per row",
                "a fraud whose sample is skipped might still have been caught by a customer's challenge: unknown; its payout is what"
                        + " would have been paid if not");
        return new Result(actual, alternative, changed, byNode, byCustomer, total, recomputed, noSecret, badPolicy, notes);
    }

    /**
     * p under {@code alternative} for a decision recorded with p under {@code actual}: the node's
     * m recovered from p, then applied to the alternative; 1 stays 1 (a banned node). NaN when p
     * is not one the actual policy can give (outside [floor, newNodeP] and not 1).
     */
    static double alternativeP(SamplingPolicy.Config actual, SamplingPolicy.Config alternative, double p) {
        if (p >= 1.0) {
            return 1.0;
        }
        double eps = 1e-9;
        if (p < actual.floor() - eps || p > actual.newNodeP() + eps) {
            return Double.NaN;
        }
        double span = actual.newNodeP() - actual.floor();
        double m = span <= 0 ? 0 : Math.min(1, Math.max(0, (p - actual.floor()) / span));
        return alternative.floor() + (alternative.newNodeP() - alternative.floor()) * m;
    }
}
