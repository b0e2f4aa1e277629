package io.inferex.settlement;

import io.inferex.events.JobStatus;
import io.inferex.market.Accounts;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.NotFoundException;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.PathParam;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;

/** Balances and job accounts by interactive query on the ledger's state stores. */
@Path("/ledger")
@Produces(MediaType.APPLICATION_JSON)
public class LedgerResource {
    @Inject
    KafkaStreams streams;

    /** Every account's balance in micro-units, their sum (always 0: money is conserved) and the money inside the market. */
    @GET
    @Path("/balances")
    public Map<String, Object> balances() {
        Map<String, Long> all = new TreeMap<>();
        try (var it = balancesStore().all()) {
            it.forEachRemaining(kv -> all.put(kv.key, kv.value));
        }
        long sum = all.values().stream().mapToLong(Long::longValue).sum();
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("balances", all);
        body.put("sumMicros", sum);
        body.put("depositedMicros", -all.getOrDefault(Accounts.EXTERNAL, 0L));
        body.put("conserved", sum == 0);
        return body;
    }

    @GET
    @Path("/balances/{account}")
    public Map<String, Object> balance(@PathParam("account") String account) {
        Long b = balancesStore().get(account);
        return Map.of("account", account, "balanceMicros", b == null ? 0L : b);
    }

    @GET
    @Path("/jobs/{jobId}")
    public Map<String, Object> job(@PathParam("jobId") String jobId) {
        JobStatus s = streams.store(StoreQueryParameters.fromNameAndType(SettlementTopology.JOBS_STORE,
                QueryableStoreTypes.<String, JobStatus>keyValueStore())).get(jobId);
        if (s == null) {
            throw new NotFoundException("no job " + jobId);
        }
        Map<String, Object> body = new LinkedHashMap<>();
        body.put("jobId", s.getJobId());
        body.put("customerId", s.getCustomerId());
        body.put("state", s.getState().name());
        body.put("rowCount", s.getRowCount());
        body.put("completedRows", s.getCompletedRows());
        body.put("shardCount", s.getShardCount());
        body.put("shardsDone", s.getShardsDone());
        body.put("spentMicros", s.getSpentMicros());
        body.put("escrowLeftMicros", balance(Accounts.escrow(jobId)).get("balanceMicros"));
        body.put("error", s.getError());
        return body;
    }

    private ReadOnlyKeyValueStore<String, Long> balancesStore() {
        return streams.store(StoreQueryParameters.fromNameAndType(SettlementTopology.BALANCES_STORE,
                QueryableStoreTypes.keyValueStore()));
    }
}
