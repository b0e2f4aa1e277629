package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.ws.rs.core.MediaType;
import org.jboss.resteasy.reactive.RestResponse;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

/** Turns {@link ApiException} into its status and OpenAI-style JSON body. */
public class ApiExceptionMapper {
    @ServerExceptionMapper
    public RestResponse<ObjectNode> map(ApiException e) {
        return RestResponse.ResponseBuilder.<ObjectNode>create(e.status())
                .entity(e.body())
                .type(MediaType.APPLICATION_JSON_TYPE).build();
    }
}
