package io.inferex.verifier;

import io.inferex.events.AcceptedResult;
import io.inferex.events.Challenge;
import io.inferex.events.NodeReputation;
import io.inferex.events.OutcomeKind;
import io.inferex.events.RefereeVote;
import io.inferex.events.ReputationEvent;
import io.inferex.events.ReputationEventKind;
import io.inferex.events.ShardCase;
import io.inferex.events.ShardCaseStatus;
import io.inferex.events.VerificationOutcome;
import io.inferex.events.VerificationReason;
import io.inferex.events.VerificationTask;
import io.inferex.market.Accounts;
import io.inferex.market.ModelCatalogue;
import io.inferex.market.ModelRegistry;
import io.inferex.market.OutputDigest;
import io.inferex.market.VerificationIds;
import io.inferex.verification.DisputeTally;
import io.inferex.verification.RowComparison;
import io.inferex.verification.SamplingDraw;
import io.inferex.verification.SamplingPolicy;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Optional;

/**
 * The per-shard verification rules: what happens to a shard's first ACCEPTED result from acceptance
 * to FINAL or FRAUD. Pure: a case (the state), an event and the verifier's clock in; the next case
 * (or {@code null} once the case is closed) and outputs, handed to {@link Out}, out.
 *
 * <p>Sampling: p from {@link SamplingPolicy} and the executor's reputation; sampled iff
 * {@link SamplingDraw#sampled} with the secret of the result's epoch. A sampled result is
 * re-executed (round 0); a disagreeing re-execution opens a dispute with {@link DisputeTally#REFEREES}
 * referees (rounds 1..3, replacements up to {@link VerificationIds#MAX_ROUND}); FRAUD closes the case,
 * UPHELD and INCONCLUSIVE (timeout) leave it to become FINAL when its challenge window has closed.
 *
 * <p>Challenges: a customer's challenge reaches the case once settlement has locked its bond
 * ({@link #onChallenge}). Its evidence (the delivered rows, which must hash to the accepted result's
 * digest, and the shard's inputs) lets a dispute run even when the case dropped its rows. A challenge
 * opens a dispute at once when nothing is open, waits for an open sample (or for the epoch secret)
 * and then opens it whatever the sample said, or joins a dispute already open. Every dispute that
 * opens is announced (DISPUTED). The decision carries the challenge id: UPHELD forfeits the bond,
 * FRAUD and INCONCLUSIVE return it; a challenge the case cannot take is CHALLENGE_REFUSED (bond
 * returned). On FRAUD the reward goes to whoever raised the disagreement first: the challenger if
 * the challenge came before the dispute opened, else the sampler.
 */
final class ShardCases {
    /** Where a step's outputs go. */
    interface Out {
        void task(VerificationTask task);

        void outcome(VerificationOutcome outcome);

        void reputation(ReputationEvent event);

        /** The event cannot be applied: dead-letter it with this reason. */
        void refuse(String reason);
    }

    /**
     * The knobs.
     *
     * @param challengeWindow how long after acceptance a result stays provisional
     * @param sampleTimeout how long a sampled re-execution may take before the sample is given up
     * @param disputeTimeout how long a dispute may take before it is INCONCLUSIVE
     * @param sampling the sampling policy
     * @param priceFloorMicros lowest price cap of a re-execution (see {@link #priceCap})
     */
    record Rules(long challengeWindowMs, long sampleTimeoutMs, long disputeTimeoutMs, SamplingPolicy.Config sampling, long priceFloorMicros) {}

    private final Rules rules;
    /** Where a model's tolerance comes from. */
    private final ModelRegistry models;

    ShardCases(Rules rules, ModelRegistry models) {
        this.rules = rules;
        this.models = models;
    }

    /**
     * The highest price per row a re-execution of this result may be leased at: twice the suspect
     * lease's price (room for a pool whose cheapest other node asks more), never below the floor. The
     * verifier does not know the job's max price; the treasury, not the customer, pays re-executions.
     */
    long priceCap(AcceptedResult original) {
        long twice = original.getPricePerRowMicros() > Long.MAX_VALUE / 2 ? Long.MAX_VALUE : 2 * original.getPricePerRowMicros();
        return Math.max(twice, rules.priceFloorMicros());
    }

    /**
     * A shard's first accepted result: a new case. {@code secret} is its epoch's secret, or null when
     * it has not reached this task yet (the case then waits for it, {@link #withSecret}).
     */
    ShardCase open(AcceptedResult original, NodeReputation reputation, long epoch, String secret, long now, Out out) {
        double p = SamplingPolicy.probability(rules.sampling(), reputation);
        ShardCase c = ShardCase.newBuilder().setOriginal(AcceptedResult.newBuilder(original).build())
                .setStatus(ShardCaseStatus.AWAITING_SECRET).setSampled(false).setSamplingEpoch(epoch).setSamplingProbability(p)
                .setWindowClosesAtMs(saturatedAdd(original.getAcceptedAtMs(), rules.challengeWindowMs())).setDeadlineMs(0)
                .setVotes(new ArrayList<>()).setOpenRounds(new ArrayList<>()).setNextRound(1).setRefusedNodes(new ArrayList<>())
                .setNote("").build();
        return secret == null ? c : withSecret(c, secret, now, out);
    }

    /** The sampling decision, once the case's epoch secret is known. */
    ShardCase withSecret(ShardCase c, String secret, long now, Out out) {
        editable(c);
        if (c.getStatus() != ShardCaseStatus.AWAITING_SECRET) {
            return c;
        }
        AcceptedResult o = c.getOriginal();
        double draw = SamplingDraw.fraction(secret, o.getLeaseId());
        boolean sampled = draw < c.getSamplingProbability();
        c.setSampled(sampled);
        if (!sampled) {
            c.setStatus(ShardCaseStatus.WATCHING);
            c.setNote(String.format(Locale.ROOT, "not sampled (draw %.6f >= p %.4f)", draw, c.getSamplingProbability()));
            if (c.getChallenge() != null) {
                return openDispute(c, "challenge " + c.getChallenge().getChallengeId() + " was waiting for the sampling decision", now, out);
            }
            if (c.getSamplingProbability() <= rules.sampling().floor()) {
                forgetRows(c); // a trusted executor: its rows are not kept for a re-check
            }
            return finalIfDue(c, now, out);
        }
        c.setStatus(ShardCaseStatus.SAMPLING);
        c.setDeadlineMs(saturatedAdd(now, rules.sampleTimeoutMs()));
        c.setNote(String.format(Locale.ROOT, "sampled (draw %.6f < p %.4f)", draw, c.getSamplingProbability()));
        out.task(task(c, 0, List.of(o.getNodeId()), now));
        return c;
    }

    /** A form-ACCEPTED result of one of this open case's verification leases. */
    ShardCase onVerification(ShardCase c, AcceptedResult v, long now, Out out) {
        int round = VerificationIds.round(v.getTaskId()).orElse(-1);
        editable(c);
        AcceptedResult o = c.getOriginal();
        if (!v.getJobId().equals(o.getJobId()) || !v.getModel().equals(o.getModel())) {
            out.refuse("verification result " + v.getLeaseId() + " is for job " + v.getJobId() + " / model " + v.getModel()
                    + ", not the shard's " + o.getJobId() + " / " + o.getModel());
            return c;
        }
        if (round == 0) {
            return onSample(c, v, now, out);
        }
        if (c.getStatus() != ShardCaseStatus.DISPUTE || !c.getOpenRounds().contains(round)) {
            out.refuse("verification result " + v.getLeaseId() + ": referee round " + round + " of " + v.getShardTaskId() + " is not open");
            return c;
        }
        c.getOpenRounds().remove(Integer.valueOf(round));
        List<String> voted = c.getVotes().stream().map(RefereeVote::getNodeId).toList();
        Optional<String> refusal = DisputeTally.refusal(v.getNodeId(), o.getNodeId(), c.getSamplerNodeId(), challengerNode(c), voted);
        if (refusal.isPresent()) {
            c.getRefusedNodes().add(v.getNodeId());
            out.refuse("verification result " + v.getLeaseId() + " does not count: " + refusal.get());
            replaceRound(c, now, out);
            return undecidable(c, now, out);
        }
        RowComparison.Result cmp = compare(o, v);
        RefereeVote.Builder vote = RefereeVote.newBuilder().setRound(round).setNodeId(v.getNodeId()).setLeaseId(v.getLeaseId())
                .setOutputDigest(v.getOutputDigest()).setGroup(DisputeTally.AGREES).setRows(new ArrayList<>());
        if (!cmp.agree()) {
            alternative(c, o.getModel(), v, vote);
        }
        c.getVotes().add(vote.build());
        List<DisputeTally.Vote> votes = c.getVotes().stream()
                .map(x -> new DisputeTally.Vote(x.getNodeId(), x.getLeaseId(), x.getOutputDigest(), x.getGroup())).toList();
        DisputeTally.Decision decision = DisputeTally.decide(votes);
        if (decision == DisputeTally.Decision.OPEN) {
            if (c.getOpenRounds().isEmpty()) {
                // Every referee answered and none of the answers has a majority (e.g. two referees that
                // disagree with the executor and with each other): ask one more.
                replaceRound(c, now, out);
            }
            return undecidable(c, now, out);
        }
        String tally = tally(c);
        int deciding = DisputeTally.majorityVote(votes, decision).orElseThrow().group();
        for (DisputeTally.Vote x : votes) {
            boolean inMajority = x.group() == deciding;
            out.reputation(rep(x.nodeId(), inMajority ? ReputationEventKind.REFEREE_MAJORITY : ReputationEventKind.REFEREE_OUTVOTED,
                    x.leaseId(), tally, now));
        }
        if (decision == DisputeTally.Decision.FRAUD) {
            DisputeTally.Vote correction = DisputeTally.majorityVote(votes, decision).orElseThrow();
            boolean challengerFirst = c.getChallenge() != null && c.getChallengeFirst();
            String first = challengerFirst
                    ? "the challenger " + c.getChallenge().getChallengerId() + " (" + c.getChallenge().getChallengeId() + ") disagreed first"
                    : "the sampler " + c.getSamplerNodeId() + " (" + c.getSamplerLeaseId() + ") disagreed first";
            String reason = "FRAUD: " + tally + "; " + first + "; referee " + correction.leaseId() + ": " + cmp.reason();
            out.reputation(rep(o.getNodeId(), ReputationEventKind.FRAUD, o.getLeaseId(), reason, now));
            String reward = challengerFirst ? c.getChallenge().getChallengerId() : Accounts.node(c.getSamplerNodeId());
            out.outcome(outcome(c, OutcomeKind.FRAUD, reason, now).setRewardAccount(reward)
                    .setCorrectionLeaseId(correction.leaseId()).setCorrectionDigest(correction.outputDigest()).build());
            return null;
        }
        String reason;
        if (c.getSamplerNodeId() != null) {
            reason = "UPHELD: " + tally + "; the sampler " + c.getSamplerNodeId() + " (" + c.getSamplerLeaseId() + ") was outvoted";
            out.reputation(rep(c.getSamplerNodeId(), ReputationEventKind.SAMPLER_OUTVOTED, c.getSamplerLeaseId(), reason, now));
        } else {
            reason = "UPHELD: " + tally;
        }
        if (c.getChallenge() != null) {
            reason += "; challenge " + c.getChallenge().getChallengeId() + " by " + c.getChallenge().getChallengerId()
                    + " was unfounded: its bond is forfeited";
        }
        out.outcome(outcome(c, OutcomeKind.UPHELD, reason, now).build());
        return settle(c, reason, now, out);
    }

    private ShardCase onSample(ShardCase c, AcceptedResult v, long now, Out out) {
        AcceptedResult o = c.getOriginal();
        if (c.getStatus() != ShardCaseStatus.SAMPLING) {
            out.refuse("verification result " + v.getLeaseId() + ": no sample of " + v.getShardTaskId() + " is open");
            return c;
        }
        if (v.getNodeId().equals(o.getNodeId())) {
            // The matcher never leases a sample to the executor; if it did, the answer proves nothing.
            out.refuse("verification result " + v.getLeaseId() + " does not count: the sampler " + v.getNodeId()
                    + " is the executor of the sampled result");
            return c;
        }
        RowComparison.Result cmp = compare(o, v);
        if (cmp.agree()) {
            String note = c.getNote() + "; re-execution " + v.getLeaseId() + " by " + v.getNodeId() + " agreed ("
                    + String.format(Locale.ROOT, "worst cosine %.6f, max-abs %.6f", cmp.worstCosine(), cmp.worstMaxAbs()) + ")";
            out.reputation(rep(o.getNodeId(), ReputationEventKind.SAMPLE_AGREED, o.getLeaseId(), note, now));
            if (c.getChallenge() != null) {
                // The challenger paid for referees: the sample's agreement does not decide the challenge.
                c.setNote(note);
                return openDispute(c, "challenge " + c.getChallenge().getChallengeId() + " stands although the sample agreed", now, out);
            }
            return settle(c, note, now, out);
        }
        c.setSamplerNodeId(v.getNodeId());
        c.setSamplerLeaseId(v.getLeaseId());
        c.setNote(c.getNote() + "; re-execution " + v.getLeaseId() + " by " + v.getNodeId() + " disagreed (" + cmp.reason() + ")");
        return openDispute(c, "the sampled re-execution " + v.getLeaseId() + " disagreed", now, out);
    }

    /** Opens a dispute: {@link DisputeTally#REFEREES} referee rounds, announced as DISPUTED. */
    private ShardCase openDispute(ShardCase c, String why, long now, Out out) {
        if (c.getStatus() != ShardCaseStatus.SAMPLING && c.getSamplerNodeId() != null) {
            // A new dispute after an earlier one was settled: the earlier sampler stays excluded
            // but is not this dispute's sampler, and the earlier votes were already decided on.
            c.getRefusedNodes().add(c.getSamplerNodeId());
            c.setSamplerNodeId(null);
            c.setSamplerLeaseId(null);
        }
        c.setVotes(new ArrayList<>());
        c.setStatus(ShardCaseStatus.DISPUTE);
        c.setDeadlineMs(saturatedAdd(now, rules.disputeTimeoutMs()));
        c.getOpenRounds().clear();
        for (int i = 0; i < DisputeTally.REFEREES; i++) {
            replaceRound(c, now, out);
        }
        out.outcome(outcome(c, OutcomeKind.DISPUTED, "dispute opened: " + why, now).build());
        return c;
    }

    /**
     * A challenge whose bond settlement has locked. Refused (CHALLENGE_REFUSED, bond returned) when it
     * names another job, the case already has a challenge, the challenger is the executor's own
     * account, the window has closed, or its evidence does not match the accepted result; otherwise
     * attached (see the class comment).
     */
    ShardCase onChallenge(ShardCase c, Challenge ch, long now, Out out) {
        editable(c);
        AcceptedResult o = c.getOriginal();
        String problem = null;
        if (!ch.getJobId().equals(o.getJobId())) {
            problem = "it names job " + ch.getJobId() + ", the shard's is " + o.getJobId();
        } else if (c.getChallenge() != null) {
            problem = "the result is already challenged (" + c.getChallenge().getChallengeId() + "); that challenge's decision applies";
        } else if (ch.getChallengerId().equals(Accounts.node(o.getNodeId()))) {
            problem = "the challenger is the executor of the result";
        } else if (c.getStatus() == ShardCaseStatus.WATCHING && now >= c.getWindowClosesAtMs()) {
            problem = "the challenge window closed at " + c.getWindowClosesAtMs();
        } else if (!ch.getOutputDigest().equals(o.getOutputDigest())) {
            problem = "it challenges output " + ch.getOutputDigest() + ", the accepted result is " + o.getOutputDigest();
        } else if (ch.getRows().size() != o.getRowCount() || ch.getInputRows().size() != o.getRowCount()
                || !OutputDigest.of(ch.getRows()).equals(o.getOutputDigest())) {
            problem = "its evidence (" + ch.getInputRows().size() + " inputs, " + ch.getRows().size()
                    + " rows) is not the accepted result's " + o.getRowCount() + " rows with digest " + o.getOutputDigest();
        }
        if (problem != null) {
            out.outcome(refusedChallenge(ch, o, "challenge refused: " + problem, now));
            return c;
        }
        c.setChallenge(Challenge.newBuilder(ch).build());
        if (o.getRows().isEmpty()) {
            o.setRows(new ArrayList<>(ch.getRows()));
        }
        if (o.getInputRows().isEmpty()) {
            o.setInputRows(new ArrayList<>(ch.getInputRows()));
        }
        String note = "challenged by " + ch.getChallengerId() + " (" + ch.getChallengeId() + ")";
        switch (c.getStatus()) {
            case DISPUTE -> {
                c.setChallengeFirst(false);
                c.setNote(c.getNote() + "; " + note + " during the dispute");
                return c;
            }
            case AWAITING_SECRET, SAMPLING -> {
                c.setChallengeFirst(true);
                c.setNote(c.getNote() + (c.getNote().isEmpty() ? "" : "; ") + note + "; waiting for the sampling decision");
                return c;
            }
            default -> {
                c.setChallengeFirst(true);
                c.setNote(c.getNote() + (c.getNote().isEmpty() ? "" : "; ") + note);
                return openDispute(c, note, now, out);
            }
        }
    }

    /**
     * The CHALLENGE_REFUSED outcome of a challenge; {@code original} is the result it named, or null
     * when the verifier no longer holds it (the result fields are then empty).
     */
    static VerificationOutcome refusedChallenge(Challenge ch, AcceptedResult original, String reason, long now) {
        boolean known = original != null;
        return VerificationOutcome.newBuilder()
                .setOutcomeId(OutcomeKind.CHALLENGE_REFUSED + ":" + (known ? original.getLeaseId() : ch.getTaskId()) + ":" + ch.getChallengeId())
                .setKind(OutcomeKind.CHALLENGE_REFUSED).setTaskId(ch.getTaskId()).setJobId(ch.getJobId())
                .setLeaseId(known ? original.getLeaseId() : "").setNodeId(known ? original.getNodeId() : "")
                .setPoolKey(known ? original.getPoolKey() : "").setRowCount(known ? original.getRowCount() : 0)
                .setPricePerRowMicros(known ? original.getPricePerRowMicros() : 0).setOutputDigest(known ? original.getOutputDigest() : "")
                .setSampled(false).setSamplingEpoch(0).setSamplingProbability(0).setChallengeId(ch.getChallengeId())
                .setRewardAccount(null).setCorrectionLeaseId(null).setCorrectionDigest(null).setReason(reason).setDecidedAtMs(now).build();
    }

    private static String challengerNode(ShardCase c) {
        return c.getChallenge() == null ? null : Accounts.nodeOf(c.getChallenge().getChallengerId());
    }

    /**
     * The alternative answer a referee that disagrees with the executor gives: the group of the first
     * earlier disagreeing vote whose rows it agrees with (within the model's tolerance), else a new
     * group, whose first vote keeps its rows for the comparisons to come.
     */
    private void alternative(ShardCase c, String model, AcceptedResult v, RefereeVote.Builder vote) {
        var tolerance = models.byId(model).map(ModelCatalogue.ModelSpec::tolerance).orElse(ModelCatalogue.Tolerance.EXACT);
        int next = 0;
        for (RefereeVote earlier : c.getVotes()) {
            if (earlier.getGroup() == DisputeTally.AGREES) {
                continue;
            }
            next = Math.max(next, earlier.getGroup() + 1);
            if (!earlier.getRows().isEmpty() && RowComparison.compare(earlier.getRows(), v.getRows(), tolerance).agree()) {
                vote.setGroup(earlier.getGroup());
                return;
            }
        }
        vote.setGroup(next).setRows(new ArrayList<>(v.getRows()));
    }

    /** The open sample or dispute ran out of time. */
    ShardCase onDeadline(ShardCase c, long now, Out out) {
        editable(c);
        if (c.getStatus() == ShardCaseStatus.SAMPLING) {
            String note = c.getNote() + "; no re-execution within " + rules.sampleTimeoutMs() / 1000 + " s";
            if (c.getChallenge() != null) {
                c.setNote(note);
                return openDispute(c, "challenge " + c.getChallenge().getChallengeId() + " was waiting for the sample", now, out);
            }
            return settle(c, note, now, out);
        }
        if (c.getStatus() == ShardCaseStatus.DISPUTE) {
            String reason = "INCONCLUSIVE: " + tally(c) + " within " + rules.disputeTimeoutMs() / 1000 + " s";
            out.outcome(outcome(c, OutcomeKind.INCONCLUSIVE, reason, now).build());
            return settle(c, c.getNote() + "; " + reason, now, out);
        }
        return c;
    }

    /** FINAL when nothing is open and the window has closed: emits it and returns null (case closed), else the case. */
    ShardCase finalIfDue(ShardCase c, long now, Out out) {
        return finalIfDue(c, now, out, false);
    }

    /**
     * As above, at the window's close. When the executor has been banned (caught cheating on another
     * shard) meanwhile and this result was never re-executed, it is not made FINAL on trust: it is
     * re-executed now, as a sample, and goes the sample's way (FINAL if it agrees, a dispute if not).
     * Possible only while its rows are kept: for an executor not yet trusted (p above the floor),
     * whose unsampled results keep their rows until the window closes; a trusted executor's
     * unsampled rows are dropped to bound the state.
     */
    ShardCase finalIfDue(ShardCase c, long now, Out out, boolean executorBanned) {
        if (c.getStatus() != ShardCaseStatus.WATCHING || now < c.getWindowClosesAtMs()) {
            return c;
        }
        if (executorBanned && !c.getOriginal().getRows().isEmpty() && !c.getOriginal().getInputRows().isEmpty()) {
            editable(c);
            c.setStatus(ShardCaseStatus.SAMPLING);
            c.setDeadlineMs(saturatedAdd(now, rules.sampleTimeoutMs()));
            c.setNote(c.getNote() + "; its executor was banned before the window closed: re-executed");
            out.task(task(c, 0, List.of(c.getOriginal().getNodeId()), now));
            return c;
        }
        String note = c.getNote().isEmpty() ? "" : "; " + c.getNote();
        out.outcome(outcome(c, OutcomeKind.FINAL, "challenge window closed with no fraud found" + note, now).build());
        return null;
    }

    /** Nothing open any more: the case waits for its window (or is FINAL at once when the window has closed). */
    private ShardCase settle(ShardCase c, String note, long now, Out out) {
        c.setStatus(ShardCaseStatus.WATCHING);
        c.setDeadlineMs(0);
        c.setNote(note);
        c.getOpenRounds().clear();
        forgetRows(c);
        return finalIfDue(c, now, out);
    }

    /** A dispute with no round left to answer and no decision is INCONCLUSIVE at once. */
    private ShardCase undecidable(ShardCase c, long now, Out out) {
        if (c.getStatus() == ShardCaseStatus.DISPUTE && c.getOpenRounds().isEmpty()) {
            String reason = "INCONCLUSIVE: " + tally(c) + " and no referee round left (max " + VerificationIds.MAX_ROUND + ")";
            out.outcome(outcome(c, OutcomeKind.INCONCLUSIVE, reason, now).build());
            return settle(c, c.getNote() + "; " + reason, now, out);
        }
        return c;
    }

    /** Asks for the next referee round, excluding every node involved so far; none past MAX_ROUND. */
    private void replaceRound(ShardCase c, long now, Out out) {
        int round = c.getNextRound();
        if (round > VerificationIds.MAX_ROUND) {
            return;
        }
        c.setNextRound(round + 1);
        c.getOpenRounds().add(round);
        LinkedHashSet<String> excluded = new LinkedHashSet<>();
        excluded.add(c.getOriginal().getNodeId());
        if (c.getSamplerNodeId() != null) {
            excluded.add(c.getSamplerNodeId());
        }
        if (challengerNode(c) != null) {
            excluded.add(challengerNode(c));
        }
        c.getVotes().forEach(v -> excluded.add(v.getNodeId()));
        excluded.addAll(c.getRefusedNodes());
        out.task(task(c, round, List.copyOf(excluded), now));
    }

    private VerificationTask task(ShardCase c, int round, List<String> excluded, long now) {
        AcceptedResult o = c.getOriginal();
        String id = round == 0 ? VerificationIds.sample(o.getShardTaskId()) : VerificationIds.referee(o.getShardTaskId(), round);
        return VerificationTask.newBuilder().setVerificationId(id).setTaskId(o.getShardTaskId()).setJobId(o.getJobId())
                .setLeaseId(o.getLeaseId()).setSuspectNodeId(o.getNodeId())
                .setReason(c.getChallenge() != null && round > 0 ? VerificationReason.CHALLENGED : VerificationReason.SAMPLED)
                .setChallengeId(c.getChallenge() != null && round > 0 ? c.getChallenge().getChallengeId() : null)
                .setModel(o.getModel()).setRows(new ArrayList<>(o.getInputRows())).setPoolKey(o.getPoolKey())
                .setShardIndex(o.getShardIndex()).setMaxPricePerRowMicros(priceCap(o)).setRound(round)
                .setExcludedNodes(new ArrayList<>(excluded)).setCreatedAtMs(now).build();
    }

    private RowComparison.Result compare(AcceptedResult original, AcceptedResult reexecution) {
        var spec = models.byId(original.getModel());
        if (spec.isEmpty()) {
            return new RowComparison.Result(false, Double.NaN, Double.NaN, -1, "model " + original.getModel() + " is not in the model registry");
        }
        return RowComparison.compare(original.getRows(), reexecution.getRows(), spec.get().tolerance());
    }

    private static String tally(ShardCase c) {
        long agree = c.getVotes().stream().filter(v -> v.getGroup() == DisputeTally.AGREES).count();
        long alternatives = c.getVotes().stream().filter(v -> v.getGroup() != DisputeTally.AGREES).map(RefereeVote::getGroup).distinct().count();
        return "referees " + agree + " agree / " + (c.getVotes().size() - agree) + " disagree with the executor"
                + (alternatives > 1 ? " (" + alternatives + " different answers)" : "");
    }

    private static VerificationOutcome.Builder outcome(ShardCase c, OutcomeKind kind, String reason, long now) {
        AcceptedResult o = c.getOriginal();
        return VerificationOutcome.newBuilder().setOutcomeId(kind + ":" + o.getLeaseId()).setKind(kind).setTaskId(o.getShardTaskId())
                .setJobId(o.getJobId()).setLeaseId(o.getLeaseId()).setNodeId(o.getNodeId()).setPoolKey(o.getPoolKey())
                .setRowCount(o.getRowCount()).setPricePerRowMicros(o.getPricePerRowMicros()).setOutputDigest(o.getOutputDigest())
                .setSampled(c.getSampled()).setSamplingEpoch(c.getSamplingEpoch()).setSamplingProbability(c.getSamplingProbability())
                .setChallengeId(kind == OutcomeKind.FINAL || c.getChallenge() == null ? null : c.getChallenge().getChallengeId())
                .setRewardAccount(null).setCorrectionLeaseId(null).setCorrectionDigest(null)
                .setReason(reason).setDecidedAtMs(now);
    }

    static ReputationEvent rep(String nodeId, ReputationEventKind kind, String leaseId, String reason, long now) {
        return ReputationEvent.newBuilder().setNodeId(nodeId).setKind(kind).setLeaseId(leaseId).setReason(reason).setAtMs(now).build();
    }

    /**
     * Rows are needed only while a re-execution may still be asked for or compared (for an untrusted
     * executor's unsampled result, until its window closes: see {@link #finalIfDue(ShardCase, long, Out, boolean)}).
     */
    private static void forgetRows(ShardCase c) {
        c.getOriginal().setRows(new ArrayList<>());
        c.getOriginal().setInputRows(new ArrayList<>());
        if (c.getChallenge() != null) {
            c.setChallenge(Challenge.newBuilder(c.getChallenge()).setRows(new ArrayList<>()).setInputRows(new ArrayList<>()).build());
        }
        c.setVotes(new ArrayList<>(c.getVotes().stream()
                .map(v -> RefereeVote.newBuilder(v).setRows(new ArrayList<>()).build()).toList()));
    }

    /** Lists decoded from the store may not support removal; the rules edit plain lists. */
    private static void editable(ShardCase c) {
        c.setVotes(new ArrayList<>(c.getVotes()));
        c.setOpenRounds(new ArrayList<>(c.getOpenRounds()));
        c.setRefusedNodes(new ArrayList<>(c.getRefusedNodes()));
    }

    static long saturatedAdd(long a, long b) {
        long r = a + b;
        return ((a ^ r) & (b ^ r)) < 0 ? Long.MAX_VALUE : r;
    }
}
