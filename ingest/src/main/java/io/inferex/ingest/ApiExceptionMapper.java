package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.ws.rs.WebApplicationException;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import jakarta.ws.rs.core.Request;
import jakarta.ws.rs.core.UriInfo;
import org.jboss.resteasy.reactive.RestResponse;
import org.jboss.resteasy.reactive.server.ServerExceptionMapper;

/**
 * Turns {@link ApiException} into its status and OpenAI-style JSON body, and so every error the
 * HTTP layer raises itself (an unknown URL, a method the URL does not take, a content type or an
 * {@code Accept} it cannot serve): a client always gets {@code {"error": {...}}}, never an empty
 * or HTML body.
 */
public class ApiExceptionMapper {
    @ServerExceptionMapper
    public RestResponse<ObjectNode> map(ApiException e) {
        return RestResponse.ResponseBuilder.<ObjectNode>create(e.status())
                .entity(e.body())
                .type(MediaType.APPLICATION_JSON_TYPE).build();
    }

    @ServerExceptionMapper
    public RestResponse<ObjectNode> map(WebApplicationException e, UriInfo uri, Request request, HttpHeaders headers) {
        int status = e.getResponse() == null ? 500 : e.getResponse().getStatus();
        String where = request.getMethod() + " " + uri.getPath();
        String message;
        String code;
        switch (status) {
            case 404 -> {
                message = "Invalid URL (" + where + ")";
                code = "unknown_url";
            }
            case 405 -> {
                message = "Method not allowed: " + where + " does not accept " + request.getMethod() + ".";
                code = "method_not_allowed";
            }
            case 415 -> {
                String type = headers.getHeaderString(HttpHeaders.CONTENT_TYPE);
                message = "Invalid Content-Type header (" + (type == null ? "none" : type) + ") for " + where
                        + (uri.getPath().startsWith("/v1/files") ? "; upload files as multipart/form-data." : ".");
                code = "unsupported_content_type";
            }
            case 406 -> {
                message = "Cannot answer " + where + " in the media type the Accept header asks for ("
                        + headers.getHeaderString(HttpHeaders.ACCEPT) + "); it answers application/json.";
                code = "not_acceptable";
            }
            default -> {
                message = status >= 500 ? "The server could not answer " + where + "." : "Bad request: " + where + ".";
                code = null;
            }
        }
        String type = status >= 500 ? "server_error" : "invalid_request_error";
        return RestResponse.ResponseBuilder.<ObjectNode>create(status)
                .entity(OpenAiObjects.error(message, type, code, null))
                .type(MediaType.APPLICATION_JSON_TYPE).build();
    }
}
