package io.inferex.matcher;

import io.inferex.events.NodeRegistered;
import io.inferex.events.NodeReputation;
import io.inferex.events.NodeStake;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/**
 * What the matcher knows about nodes, read from its state stores (interactive query, this
 * instance's partitions): why a node gets work or not is visible to its operator.
 */
@Path("/pools")
@Produces(MediaType.APPLICATION_JSON)
public class PoolResource {
    @Inject
    KafkaStreams streams;

    @Inject
    TopologyProducer settings;

    /**
     * Every registered node: its ask, slots, open leases, last heartbeat and whether it counts as
     * alive; its eligible stake (the ledger's), in-flight value, reputation and banned flag; and
     * why it can take no work now ({@code notEligible}, null when it can take some).
     */
    @GET
    @Path("/nodes")
    public List<Map<String, Object>> nodes() {
        ReadOnlyKeyValueStore<String, NodeRegistered> nodes = store(MatcherTopology.NODES_STORE);
        ReadOnlyKeyValueStore<String, Long> lastSeen = store(MatcherTopology.LAST_SEEN_STORE);
        ReadOnlyKeyValueStore<String, Object> stakes = store(MatcherTopology.NODE_STAKE_STORE);
        ReadOnlyKeyValueStore<String, Object> reputations = store(MatcherTopology.NODE_REPUTATION_STORE);
        ReadOnlyKeyValueStore<String, String> load = store(MatcherTopology.NODE_LOAD_STORE);
        MatcherTopology.Config config = settings.config();
        NodeEligibility eligibility = new NodeEligibility(config.eligibility());
        long now = System.currentTimeMillis();
        List<Map<String, Object>> out = new ArrayList<>();
        try (var it = nodes.all()) {
            it.forEachRemaining(kv -> {
                NodeRegistered n = kv.value;
                Long seen = lastSeen.get(n.getNodeId());
                boolean alive = seen != null && now - seen <= config.missedHeartbeats() * n.getHeartbeatIntervalMs();
                LeaseMatcher.Load l = LeaseMatcher.Load.parse(load.get(n.getNodeId()));
                NodeStake stake = LeaseMatcher.stakeOf(stakes, n.getNodeId());
                NodeReputation reputation = LeaseMatcher.reputationOf(reputations, n.getNodeId());
                NodeEligibility.Node view = new NodeEligibility.Node(n, alive, stake, reputation, l.count(), l.valueMicros());
                Map<String, Object> row = row(eligibility, view);
                row.put("lastHeartbeatAgoMs", seen == null ? null : now - seen);
                out.add(row);
            });
        }
        return out;
    }

    /** One node's row: what it asks and holds, its standing (stake, reputation) and why it is idle (null when it is not). */
    static Map<String, Object> row(NodeEligibility eligibility, NodeEligibility.Node view) {
        NodeRegistered n = view.registration();
        NodeStake stake = view.stake();
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("nodeId", n.getNodeId());
        row.put("models", n.getModels());
        row.put("cell", n.getCell());
        row.put("pricePerRowMicros", n.getPricePerRowMicros());
        row.put("slots", n.getSlots());
        row.put("openLeases", view.openLeases());
        row.put("inFlightMicros", view.inFlightMicros());
        row.put("eligibleStakeMicros", view.eligibleStakeMicros());
        row.put("lockedStakeMicros", stake == null ? 0 : stake.getLockedMicros());
        row.put("unlockingStakeMicros", stake == null ? 0 : stake.getUnlockingMicros());
        row.put("slashed", stake != null && stake.getSlashed());
        row.put("reputation", view.score());
        row.put("rated", view.reputation() != null);
        row.put("banned", view.banned());
        row.put("alive", view.alive());
        row.put("notEligible", eligibility.whyIdle(view).orElse(null));
        return row;
    }

    private <V> ReadOnlyKeyValueStore<String, V> store(String name) {
        return streams.store(StoreQueryParameters.fromNameAndType(name, QueryableStoreTypes.keyValueStore()));
    }
}
