package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.inject.Inject;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.POST;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.core.MediaType;
import java.util.List;
import org.jboss.resteasy.reactive.RestPath;

/**
 * Inferex extension to the Batches API: a customer challenges the result behind a line of their
 * batch's output, posting a bond (see docs/verification.md, "Customer challenges"):
 * {@code POST /v1/batches/{id}/challenges} with {@code {"custom_id": "...", "reason": "..."}}, and
 * {@code GET /v1/batches/{id}/challenges} (list) or {@code .../challenges/{challenge_id}}.
 */
@Path("/v1/batches/{batchId}/challenges")
@Produces(MediaType.APPLICATION_JSON)
public class ChallengesResource {
    @Inject
    Caller caller;

    @Inject
    ChallengeService challenges;

    @POST
    public ObjectNode file(@RestPath String batchId, String body) {
        return ChallengeService.view(challenges.file(caller.customerId(), batchId, body));
    }

    @GET
    public ObjectNode list(@RestPath String batchId) {
        List<ObjectNode> all = challenges.list(caller.customerId(), batchId).stream().map(ChallengeService::view).toList();
        return OpenAiObjects.list(all, false);
    }

    @GET
    @Path("{challengeId}")
    public ObjectNode get(@RestPath String batchId, @RestPath String challengeId) {
        return ChallengeService.view(challenges.get(caller.customerId(), batchId, challengeId));
    }
}
