package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.util.ArrayList;
import java.util.List;
import org.jboss.resteasy.reactive.RestPath;
import org.jboss.resteasy.reactive.RestQuery;

/** OpenAI Batches API for {@code /v1/embeddings}. */
@Path("/v1/batches")
@Produces(MediaType.APPLICATION_JSON)
public class BatchesResource {
    @Inject
    Caller caller;

    @Inject
    BatchService batches;

    @Inject
    IngestStore stores;

    @Inject
    MarketTracker tracker;

    @POST
    public ObjectNode create(String body) {
        return view(batches.create(caller.customerId(), body));
    }

    @GET
    public ObjectNode list(@RestQuery Integer limit, @RestQuery String after) {
        int n = limit == null ? 20 : limit;
        if (n < 1 || n > 100) {
            throw ApiException.invalid("limit", "invalid_value", "'limit' must be between 1 and 100.");
        }
        List<StoredBatch> all = stores.store().batches(caller.customerId());
        int start = 0;
        if (after != null) {
            start = all.size();
            for (int i = 0; i < all.size(); i++) {
                if (all.get(i).id().equals(after)) {
                    start = i + 1;
                    break;
                }
            }
        }
        List<ObjectNode> page = new ArrayList<>();
        for (int i = start; i < Math.min(all.size(), start + n); i++) {
            page.add(view(all.get(i)));
        }
        return OpenAiObjects.list(page, start + n < all.size());
    }

    @GET
    @Path("{id}")
    public ObjectNode get(@RestPath String id) {
        String customer = caller.customerId();
        StoredBatch b = stores.store().batch(id).filter(x -> x.customerId().equals(customer))
                .orElseThrow(() -> ApiException.notFound("Batch", id));
        return view(b);
    }

    @POST
    @Path("{id}/cancel")
    public ObjectNode cancel(@RestPath String id) {
        get(id);
        throw ApiException.invalid("id", "unsupported", "Cancelling a batch is not supported by Inferex yet.");
    }

    private ObjectNode view(StoredBatch b) {
        if (b.finalized()) {
            return OpenAiObjects.batch(b, null);
        }
        return OpenAiObjects.batch(b, tracker.latestStatus(b.id()).orElse(null),
                b.shardLines() == null ? null : tracker.acceptedShards(b.id()).orElse(null));
    }
}
