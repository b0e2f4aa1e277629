package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;

/**
 * {@code GET /v1/inferex/balance} and {@code /v1/inferex/usage}: the authenticated customer's own money (available, in
 * escrow, spent), read from the ledger
 * topic (never from settlement's HTTP). There is no account parameter: the API key names the
 * customer, so no other customer's balance is reachable. Under {@code /v1/inferex/}, a prefix
 * OpenAI's API does not use.
 */
@Path("/v1/inferex")
@Produces(MediaType.APPLICATION_JSON)
public class BalanceResource {
    @Inject
    Caller caller;

    @Inject
    MarketTracker tracker;

    @GET
    @Path("balance")
    public ObjectNode balance() {
        String customer = caller.customerId();
        return tracker.balance(customer).map(OpenAiObjects::balance).orElseThrow(() -> ApiException.unavailable(
                "The balance is not available yet: this ingest instance is still reading the ledger. Retry shortly."));
    }

    /**
     * {@code GET /v1/inferex/usage}: the caller's spend (payouts and fees out of their escrows) with
     * their balance; the same object as the balance, named {@code inferex.usage}.
     */
    @GET
    @Path("usage")
    public ObjectNode usage() {
        ObjectNode o = balance();
        o.put("object", "inferex.usage");
        return o;
    }
}
