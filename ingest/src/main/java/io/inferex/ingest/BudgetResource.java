package io.inferex.ingest;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.inferex.events.CustomerBudget;
import io.inferex.topics.Topics;
import jakarta.inject.Inject;
import jakarta.ws.rs.DELETE;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.PUT;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.io.IOException;
import org.jboss.logging.Logger;

/**
 * {@code GET/PUT/DELETE /v1/inferex/budget}: the authenticated customer's own cap on what new
 * batches may commit (escrowed or spent) per UTC day or month. {@code PUT {"limit_micros": N,
 * "period": "day"|"month"}} publishes a {@link CustomerBudget} on the compacted
 * {@code customer-budgets} topic (keyed by the customer; only ingest may write it) and applies it at
 * once; {@code DELETE} publishes one with no limit. A create that would pass it is refused with 403
 * {@code budget_exceeded} and nothing is published. No account parameter: the key names the customer.
 */
@Path("/v1/inferex/budget")
@Produces(MediaType.APPLICATION_JSON)
public class BudgetResource {
    private static final Logger LOG = Logger.getLogger(BudgetResource.class);
    private static final ObjectMapper JSON = new ObjectMapper();

    @Inject
    Caller caller;

    @Inject
    MarketTracker tracker;

    @Inject
    TransactionalProducer producer;

    @GET
    public ObjectNode get() {
        return view(caller.customerId());
    }

    @PUT
    public ObjectNode put(String body) {
        JsonNode req;
        try {
            req = JSON.readTree(body == null ? "" : body);
        } catch (IOException e) {
            throw ApiException.invalid(null, "invalid_json", "The request body is not valid JSON.");
        }
        if (req == null || !req.isObject()) {
            throw ApiException.invalid(null, "invalid_json", "The request body must be a JSON object.");
        }
        JsonNode limit = req.get("limit_micros");
        if (limit == null || !limit.canConvertToLong() || !limit.isIntegralNumber() || limit.asLong() < 0) {
            throw ApiException.invalid("limit_micros", "invalid_value",
                    "'limit_micros' must be a whole number of micro-units, 0 or more.");
        }
        JsonNode period = req.get("period");
        String p = period == null || period.isNull() ? "month" : period.isTextual() ? period.asText() : "";
        if (CustomerBalances.Period.parse(p) == null) {
            throw ApiException.invalid("period", "invalid_value", "'period' must be 'day' or 'month' (UTC calendar).");
        }
        publish(limit.asLong(), p);
        return view(caller.customerId());
    }

    @DELETE
    public ObjectNode delete() {
        publish(null, "month");
        return view(caller.customerId());
    }

    private void publish(Long limitMicros, String period) {
        String customer = caller.customerId();
        CustomerBudget b = CustomerBudget.newBuilder().setCustomerId(customer).setLimitMicros(limitMicros).setPeriod(period)
                .setUpdatedAtMs(System.currentTimeMillis()).build();
        try {
            producer.inTransactionSlot(pr -> {
                JobPublisher.publishOne(pr, Topics.CUSTOMER_BUDGETS, customer, b, "budget of " + customer);
                return null;
            });
        } catch (JobPublisher.PublishFailedException e) {
            LOG.errorf(e, "budget of %s was not published", customer);
            throw ApiException.unavailable(e.outcomeUnknown()
                    ? "The budget was sent but the cluster did not confirm it in time; check GET /v1/inferex/budget."
                    : "The budget could not be saved (nothing was published); retry shortly.");
        }
        tracker.budgetPublished(b);
        LOG.infof("customer %s set their budget to %s per %s", customer, limitMicros, period);
    }

    private ObjectNode view(String customer) {
        long now = System.currentTimeMillis();
        MarketTracker.BudgetView v = tracker.budget(customer, now).orElseThrow(() -> ApiException.unavailable(
                "The budget is not available yet: this ingest instance is still reading the ledger. Retry shortly."));
        ObjectNode o = JsonNodeFactory.instance.objectNode();
        o.put("object", "inferex.budget");
        o.put("customer", customer);
        o.put("currency", "micro-units");
        if (v.budget().isEmpty()) {
            o.putNull("limit_micros");
            o.putNull("period");
            return o;
        }
        CustomerBalances.Budget b = v.budget().get();
        o.put("limit_micros", b.limitMicros());
        o.put("period", b.period().apiName());
        o.put("committed_micros", v.committedMicros());
        o.put("remaining_micros", Math.max(0, b.limitMicros() - v.committedMicros()));
        o.put("period_ends_at", b.period().endOf(now) / 1000);
        o.put("updated_at", b.updatedAtMs() / 1000);
        return o;
    }
}
