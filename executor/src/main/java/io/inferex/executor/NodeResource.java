package io.inferex.executor;

import io.inferex.executor.node.NodeRuntime;
import jakarta.ws.rs.GET;
import jakarta.ws.rs.Path;
import jakarta.ws.rs.Produces;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Response;

/** {@code GET /node}: who this node is, what it serves and what it has done. */
@Path("/node")
public class NodeResource {
    private final ExecutorNode node;

    public NodeResource(ExecutorNode node) {
        this.node = node;
    }

    @GET
    @Produces(MediaType.APPLICATION_JSON)
    public NodeRuntime.Info info() {
        NodeRuntime runtime = node.runtime();
        if (runtime == null) {
            throw new WebApplicationException("node is starting", Response.Status.SERVICE_UNAVAILABLE);
        }
        return runtime.info();
    }
}
