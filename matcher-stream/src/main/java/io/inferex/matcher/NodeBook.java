package io.inferex.matcher;

import io.inferex.events.NodeRegistered;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.TreeMap;

/**
 * One matcher task's nodes in memory: each registered node's hot facts (its registration, when it
 * was last seen alive, the count and value of its unanswered leases), deserialized, and the
 * free-node order built from them ({@link MatchIndex#freeKeys}: per pool, by price and by
 * reputation band). A lease reads a node's facts here once instead of decoding them from three
 * stores, and re-keys the node here instead of in a changelogged store.
 *
 * <p>Never the truth: the registration, last-seen and load stores are, and every change is written
 * to them first. The book is cleared and rebuilt from them on every init of the processor (a
 * start, a restore, a task migrated by a rebalance, a task revived after an aborted transaction),
 * and the free-node order is recomputed from the facts and the global stake and reputation tables.
 * State stays bounded by the fleet: one entry per registered node, up to two keys per pool it serves.
 */
final class NodeBook {
    private final Map<String, NodeRegistered> registrations = new HashMap<>();
    private final Map<String, Long> lastSeen = new HashMap<>();
    private final Map<String, LeaseMatcher.Load> loads = new HashMap<>();
    /** The {@code p|} and {@code r|} keys of every node that may take work now, in key order, to its node id. */
    private final TreeMap<String, String> freeOrder = new TreeMap<>();
    /** Each indexed node's current keys: its free keys, or its parked marker ({@link MatchIndex#parked}). */
    private final Map<String, List<String>> keysOf = new HashMap<>();

    void clear() {
        registrations.clear();
        lastSeen.clear();
        loads.clear();
        freeOrder.clear();
        keysOf.clear();
    }

    NodeRegistered registration(String nodeId) {
        return registrations.get(nodeId);
    }

    void registration(NodeRegistered reg) {
        registrations.put(reg.getNodeId(), reg);
    }

    Collection<String> registered() {
        return List.copyOf(registrations.keySet());
    }

    Long lastSeen(String nodeId) {
        return lastSeen.get(nodeId);
    }

    void lastSeen(String nodeId, long at) {
        lastSeen.put(nodeId, at);
    }

    LeaseMatcher.Load load(String nodeId) {
        return loads.getOrDefault(nodeId, LeaseMatcher.Load.NONE);
    }

    void load(String nodeId, LeaseMatcher.Load load) {
        if (load.count() == 0 && load.valueMicros() == 0) {
            loads.remove(nodeId);
        } else {
            loads.put(nodeId, load);
        }
    }

    /** Nodes holding unanswered leases (at most the fleet). */
    List<String> holders() {
        List<String> out = new ArrayList<>();
        loads.forEach((nodeId, load) -> {
            if (load.count() > 0) {
                out.add(nodeId);
            }
        });
        return out;
    }

    /** Nodes with free-node keys or parked (at most the fleet). */
    List<String> indexed() {
        return List.copyOf(keysOf.keySet());
    }

    /** Some node may take work now. */
    boolean anyFree() {
        String first = freeOrder.ceilingKey(MatchIndex.ANY_FREE);
        return first != null && first.startsWith(MatchIndex.ANY_FREE);
    }

    /** The node ids under one order's prefix ({@link MatchIndex#byPricePrefix}, {@link MatchIndex#byReputationPrefix}), best first. */
    Collection<String> free(String prefix) {
        return freeOrder.subMap(prefix, prefix + MatchIndex.END).values();
    }

    /** Puts the node's keys to {@code want} (free keys, a parked marker, or none). */
    void index(String nodeId, List<String> want) {
        List<String> had = want.isEmpty() ? keysOf.remove(nodeId) : keysOf.put(nodeId, want);
        if (Objects.equals(had, want)) {
            return;
        }
        if (had != null) {
            had.forEach(freeOrder::remove);
        }
        for (String key : want) {
            if (!key.startsWith("k|")) {
                freeOrder.put(key, nodeId);
            }
        }
    }

    /** The keys the node is indexed under now (empty when none). */
    List<String> keys(String nodeId) {
        return keysOf.getOrDefault(nodeId, List.of());
    }
}
