package io.inferex.matcher;

import io.inferex.events.Assignment;
import io.inferex.events.NodeRegistered;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * What the matcher knows about nodes, read from its state stores (interactive query, this
 * instance's partitions): why a node gets work or not is visible to its operator.
 */
@Path("/pools")
@Produces(MediaType.APPLICATION_JSON)
public class PoolResource {
    @Inject
    KafkaStreams streams;

    @ConfigProperty(name = "inferex.matcher.missed-heartbeats", defaultValue = "3")
    int missedHeartbeats;

    /** Every registered node: its ask, slots, open leases, last heartbeat and whether it counts as alive. */
    @GET
    @Path("/nodes")
    public List<Map<String, Object>> nodes() {
        ReadOnlyKeyValueStore<String, NodeRegistered> nodes = store(MatcherTopology.NODES_STORE);
        ReadOnlyKeyValueStore<String, Long> lastSeen = store(MatcherTopology.LAST_SEEN_STORE);
        ReadOnlyKeyValueStore<String, Assignment> leases = store(MatcherTopology.LEASES_STORE);
        Map<String, Integer> open = new HashMap<>();
        try (var it = leases.all()) {
            it.forEachRemaining(kv -> open.merge(kv.value.getNodeId(), 1, Integer::sum));
        }
        long now = System.currentTimeMillis();
        List<Map<String, Object>> out = new ArrayList<>();
        try (var it = nodes.all()) {
            it.forEachRemaining(kv -> {
                NodeRegistered n = kv.value;
                Long seen = lastSeen.get(n.getNodeId());
                Map<String, Object> row = new LinkedHashMap<>();
                row.put("nodeId", n.getNodeId());
                row.put("models", n.getModels());
                row.put("cell", n.getCell());
                row.put("pricePerRowMicros", n.getPricePerRowMicros());
                row.put("stakeMicros", n.getStakeMicros());
                row.put("slots", n.getSlots());
                row.put("openLeases", open.getOrDefault(n.getNodeId(), 0));
                row.put("lastHeartbeatAgoMs", seen == null ? null : now - seen);
                row.put("alive", seen != null && now - seen <= missedHeartbeats * n.getHeartbeatIntervalMs());
                out.add(row);
            });
        }
        return out;
    }

    private <V> ReadOnlyKeyValueStore<String, V> store(String name) {
        return streams.store(StoreQueryParameters.fromNameAndType(name, QueryableStoreTypes.keyValueStore()));
    }
}
