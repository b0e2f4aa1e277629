package io.inferex.matcher;

import io.inferex.events.ShardTask;
import io.inferex.market.Pools;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * Key layouts of the matcher's secondary indexes (the queue store and the in-memory free-node order),
 * so that the next piece of work is the first entries of a range or prefix scan instead of a scan
 * of a whole store. Every key sorts
 * byte-wise (RocksDB's order) as the matcher wants to visit it: numbers are fixed-width hex of
 * the value with its sign bit flipped, and a variable-length part (a pool key, a node id) is
 * written as {@code length:text|}, so one pool's prefix never matches another pool's keys.
 *
 * <ul>
 * <li>{@link MatcherTopology#PENDING_QUEUE_STORE}: one key per pending task,
 * {@code createdAtMs | taskId}: oldest first, the order the matcher leases in.
 * <li>The free-node order ({@link NodeBook}, in memory only, rebuilt from the node stores on
 * every init): for each node that may take work now (alive, staked, not banned, a free slot:
 * {@link NodeEligibility#whyIdle} empty), one key per pool it registered in each of two orders,
 * {@code p|pool|price|-band|openLeases|nodeId} (exactly {@link NodeEligibility#PREFERENCE}) and
 * {@code r|pool|-band|price|openLeases|nodeId} (exactly {@link NodeEligibility#VERIFIER_PREFERENCE});
 * {@code k|nodeId} for a live node with a free slot that its stake or reputation keeps idle.
 * Stake and reputation come from global tables, whose changes reach no processor: every indexed
 * node is re-indexed per tick, and a chosen node is re-checked on what is known at that moment,
 * so a stale entry can delay or reorder a choice by one tick but never give work to a node that
 * may not take it.
 * </ul>
 * The lease index (by deadline, by node, by verdict deadline) is in memory only: {@link LeaseIndex}.
 */
final class MatchIndex {
    /** Sorts after every key the indexes write (hex digits, '|', ':', ids): the open upper end of a range. */
    static final String END = "\uffff";

    private MatchIndex() {}

    /** Fixed-width hex whose byte order is the signed order of {@code v}. */
    static String ordered(long v) {
        String hex = Long.toHexString(v ^ Long.MIN_VALUE);
        return "0".repeat(16 - hex.length()) + hex;
    }

    /** A variable-length part that cannot run into the next: {@code length:text|}. */
    static String part(String text) {
        return text.length() + ":" + text + "|";
    }

    static String queueKey(ShardTask task) {
        return ordered(task.getCreatedAtMs()) + "|" + task.getTaskId();
    }

    /** The task id a queue key holds. */
    static String taskOf(String queueKey) {
        return queueKey.substring(17);
    }

    static String byPricePrefix(String pool) {
        return "p|" + part(pool);
    }

    static String byReputationPrefix(String pool) {
        return "r|" + part(pool);
    }

    static final String ANY_FREE = "p|";
    static String parked(String nodeId) {
        return "k|" + nodeId;
    }

    /**
     * The free-node keys of a node that may take work: two per distinct pool it registered. Band is
     * negated (the better band first), open leases ascending, the node id last, as the comparators.
     */
    static List<String> freeKeys(NodeEligibility.Node n) {
        var reg = n.registration();
        long band = NodeEligibility.band(n.score());
        String price = ordered(reg.getPricePerRowMicros());
        String better = ordered(~band);
        String load = ordered(n.openLeases());
        Set<String> pools = new LinkedHashSet<>();
        reg.getModels().forEach(model -> pools.add(Pools.poolKey(model, reg.getCell())));
        List<String> keys = new ArrayList<>();
        for (String pool : pools) {
            keys.add(byPricePrefix(pool) + price + better + load + n.nodeId());
            keys.add(byReputationPrefix(pool) + better + price + load + n.nodeId());
        }
        return keys;
    }
}
