package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import org.jboss.resteasy.reactive.RestHeader;
import org.jboss.resteasy.reactive.RestPath;
import org.jboss.resteasy.reactive.RestResponse;
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

    /**
     * Creates a batch. With an {@code Idempotency-Key} header, a retry of the same request returns
     * the batch the first one created (header {@code Idempotent-Replayed: true}), and the key used
     * for a different request is 422.
     */
    @POST
    public RestResponse<ObjectNode> create(String body, @RestHeader("Idempotency-Key") String idempotencyKey) {
        BatchService.Created c = batches.create(caller.customerId(), body, idempotencyKey);
        RestResponse.ResponseBuilder<ObjectNode> r = RestResponse.ResponseBuilder.ok(view(c.batch()), MediaType.APPLICATION_JSON_TYPE);
        if (idempotencyKey != null) {
            r.header("Idempotent-Replayed", Boolean.toString(c.replayed()));
        }
        return r.build();
    }

    @GET
    public ObjectNode list(@RestQuery Integer limit, @RestQuery String after) {
        int n = CursorPage.limit(limit, 20, 100);
        CursorPage<StoredBatch> page = CursorPage.of(stores.batches(caller.customerId()), StoredBatch::id, n, after);
        return OpenAiObjects.list(page.items().stream().map(this::view).toList(), page.hasMore());
    }

    @GET
    @Path("{id}")
    public ObjectNode get(@RestPath String id) {
        String customer = caller.customerId();
        StoredBatch b = stores.batch(id).filter(x -> x.customerId().equals(customer))
                .orElseThrow(() -> ApiException.notFound("Batch", id));
        return view(b);
    }

    @POST
    @Path("{id}/cancel")
    public ObjectNode cancel(@RestPath String id) {
        return view(batches.cancel(caller.customerId(), id));
    }

    private ObjectNode view(StoredBatch b) {
        if (b.finalized()) {
            return OpenAiObjects.batch(b, null);
        }
        return OpenAiObjects.batch(b, tracker.latestStatus(b.id()).orElse(null),
                b.shardLines() == null ? null : tracker.acceptedShards(b.id()).orElse(null));
    }
}
