package io.inferex.matcher;

import io.inferex.events.NodeRegistered;
import io.inferex.events.NodeReputation;
import io.inferex.events.NodeStake;
import io.inferex.events.ShardTask;
import io.inferex.market.Money;
import io.inferex.market.Pools;
import java.util.Comparator;
import java.util.Optional;
import java.util.Set;

/**
 * Whether a node may take work and which eligible node is preferred: pure (a node's facts in, a
 * reason or an order out), so the matcher's processor and its operator endpoint give the same answer.
 *
 * <p>Stake is the ledger's, never the registration's claim: eligible stake = {@code lockedMicros -
 * unlockingMicros} of the node's {@link NodeStake} (0 without a record, never anything once
 * {@code slashed}). A node is eligible for a task only when its eligible stake is at least
 * {@code max(minStake, pools x inFlight' x coverageBps / 10000)}, where {@code inFlight'} is the
 * value (rows x price) of its open, unanswered leases this matcher task holds plus the candidate,
 * and {@code pools} is the number of pools the node registered: each pool's partition sees only its
 * own leases, so the stake is shared out between them and the sum over all pools is still covered.
 *
 * <p>Reputation is the verifier's {@link NodeReputation}: banned never gets work; a score below
 * {@code minReputation} gets none; a node with no record yet is {@link #UNRATED_SCORE}, above the
 * default minimum, so a new node gets work.
 */
final class NodeEligibility {
    /**
     * Score of a node the verifier has not scored yet (a new node): the neutral middle of [0, 1].
     * Should equal the initial score of the verifier's ReputationRules (not on this branch yet).
     */
    static final double UNRATED_SCORE = 0.5;
    /** Reputation is compared in bands of this width, so small EWMA differences do not starve equally good nodes of work. */
    static final double REPUTATION_BAND = 0.1;

    /**
     * @param minStakeMicros eligible stake a node needs to take any work
     * @param stakeCoverageBps the share (basis points) of its in-flight value a node's eligible stake must cover
     * @param minReputation lowest reputation score that still gets work
     */
    record Rules(long minStakeMicros, int stakeCoverageBps, double minReputation) {
        Rules {
            if (minStakeMicros < 0 || stakeCoverageBps < 0) {
                throw new IllegalArgumentException("min stake " + minStakeMicros + " and stake coverage " + stakeCoverageBps
                        + " bps must not be negative");
            }
        }
    }

    /**
     * What the matcher knows of one node now.
     *
     * @param stake the ledger's record of its stake, or null when there is none
     * @param reputation the verifier's score, or null when the node has none yet
     * @param openLeases its unanswered leases in this matcher task
     * @param inFlightMicros value (rows x price) of those leases
     */
    record Node(NodeRegistered registration, boolean alive, NodeStake stake, NodeReputation reputation, int openLeases,
            long inFlightMicros) {
        String nodeId() {
            return registration.getNodeId();
        }

        long eligibleStakeMicros() {
            return eligibleStake(stake);
        }

        double score() {
            return reputation == null ? UNRATED_SCORE : reputation.getScore();
        }

        boolean banned() {
            return reputation != null && reputation.getBanned();
        }

        /** Distinct pools its registration names (1 for a node serving one model). */
        int pools() {
            return (int) registration.getModels().stream().map(m -> Pools.poolKey(m, registration.getCell())).distinct().count();
        }
    }

    private final Rules rules;

    NodeEligibility(Rules rules) {
        this.rules = rules;
    }

    Rules rules() {
        return rules;
    }

    /** Locked minus unlocking stake; 0 without a record, for a slashed node, or when nothing is left. */
    static long eligibleStake(NodeStake stake) {
        if (stake == null || stake.getSlashed()) {
            return 0;
        }
        return Math.max(0, stake.getLockedMicros() - stake.getUnlockingMicros());
    }

    /** Slashed or banned: never any work again (and its unanswered leases are taken back). */
    static boolean barred(NodeStake stake, NodeReputation reputation) {
        return (stake != null && stake.getSlashed()) || (reputation != null && reputation.getBanned());
    }

    /** Why the node can take no work at all now (whatever the task), or empty when it may take some. */
    Optional<String> whyIdle(Node n) {
        if (!n.alive()) {
            return Optional.of("not alive (no valid heartbeat within its missed-heartbeat window)");
        }
        if (n.stake() != null && n.stake().getSlashed()) {
            return Optional.of("slashed");
        }
        if (n.banned()) {
            return Optional.of("banned" + (n.reputation().getReason() == null ? "" : ": " + n.reputation().getReason()));
        }
        if (!(n.score() >= rules.minReputation())) { // NaN is below everything
            return Optional.of("reputation " + n.score() + " below the minimum " + rules.minReputation());
        }
        if (n.openLeases() >= n.registration().getSlots()) {
            return Optional.of("all " + n.registration().getSlots() + " slots leased");
        }
        return stakeShortfall(n, 0);
    }

    /** Why the node cannot take this task (the shard or re-execution {@code task}, with the nodes excluded from it), or empty. */
    Optional<String> whyNot(Node n, ShardTask task, Set<String> excluded) {
        Optional<String> idle = whyIdle(n);
        if (idle.isPresent()) {
            return idle;
        }
        NodeRegistered reg = n.registration();
        if (!reg.getModels().contains(task.getModel()) || !Pools.poolKey(task.getModel(), reg.getCell()).equals(task.getPoolKey())) {
            return Optional.of("does not serve pool " + task.getPoolKey());
        }
        if (reg.getPricePerRowMicros() > task.getMaxPricePerRowMicros()) {
            return Optional.of("asks " + reg.getPricePerRowMicros() + " > max " + task.getMaxPricePerRowMicros() + " per row");
        }
        if (excluded.contains(n.nodeId())) {
            return Optional.of("excluded from " + task.getTaskId());
        }
        long candidate;
        try {
            candidate = Math.multiplyExact((long) task.getRows().size(), reg.getPricePerRowMicros());
        } catch (ArithmeticException e) {
            return Optional.of("the task's value overflows");
        }
        return stakeShortfall(n, candidate);
    }

    /** Empty when eligible stake covers max(min stake, pools x (in flight + extra) x coverage), else why not. */
    private Optional<String> stakeShortfall(Node n, long extraMicros) {
        long stake = n.eligibleStakeMicros();
        long required;
        try {
            long value = Math.addExact(n.inFlightMicros(), extraMicros);
            required = Math.max(rules.minStakeMicros(),
                    Math.multiplyExact((long) n.pools(), Money.basisPoints(value, rules.stakeCoverageBps())));
        } catch (ArithmeticException e) {
            return Optional.of("in-flight value overflows");
        }
        if (stake >= required) {
            return Optional.empty();
        }
        String of = n.stake() == null ? " (no stake record)"
                : n.stake().getUnlockingMicros() > 0 ? " (" + n.stake().getUnlockingMicros() + " of " + n.stake().getLockedMicros()
                        + " locked is unlocking)" : "";
        return Optional.of("eligible stake " + stake + of + " below the " + required + " required (min " + rules.minStakeMicros()
                + ", " + rules.stakeCoverageBps() + " bps of " + (n.inFlightMicros() + extraMicros) + " in flight"
                + (n.pools() > 1 ? " in each of " + n.pools() + " pools" : "") + ")");
    }

    /** Cheapest first, then the better reputation band, then the least loaded, then the node id (stable). */
    static final Comparator<Node> PREFERENCE = Comparator.<Node>comparingLong(n -> n.registration().getPricePerRowMicros())
            .thenComparing(Comparator.comparingLong((Node n) -> band(n.score())).reversed())
            .thenComparingInt(Node::openLeases)
            .thenComparing(Node::nodeId);

    /**
     * For a re-execution (a sample or a referee): the better reputation band first, then cheapest,
     * least loaded, node id. Price comes second because the treasury pays verification and a node
     * that undercuts everyone (what a cheater does to win work) must not also become everyone's
     * judge; a vote only counts with a second, agreeing one (DisputeTally), and this makes the two
     * most likely to be established nodes.
     */
    static final Comparator<Node> VERIFIER_PREFERENCE = Comparator.comparingLong((Node n) -> band(n.score())).reversed()
            .thenComparingLong(n -> n.registration().getPricePerRowMicros())
            .thenComparingInt(Node::openLeases)
            .thenComparing(Node::nodeId);

    /** The reputation band of a score: floor(score / band width). */
    static long band(double score) {
        return (long) Math.floor(score / REPUTATION_BAND + 1e-9);
    }
}
