package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.inject.Inject;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import java.util.List;
import java.util.Optional;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.jboss.resteasy.reactive.RestResponse;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/** Every {@code /v1} request needs {@code Authorization: Bearer <key>} of a configured customer. */
public class AuthFilter {
    private final ApiKeys keys;

    @Inject
    Caller caller;

    @Inject
    public AuthFilter(@ConfigProperty(name = "inferex.ingest.api-keys") List<String> entries) {
        this.keys = ApiKeys.parse(entries);
    }

    @ServerRequestFilter
    public Optional<RestResponse<ObjectNode>> authenticate(ContainerRequestContext ctx) {
        String path = ctx.getUriInfo().getPath();
        if (!path.startsWith("/v1/") && !path.equals("/v1")) {
            return Optional.empty();
        }
        String key = ApiKeys.bearer(ctx.getHeaderString(HttpHeaders.AUTHORIZATION));
        if (key == null) {
            return Optional.of(unauthorized("You didn't provide an API key. You need to provide your API key in an "
                    + "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).", "missing_api_key"));
        }
        Optional<String> customer = keys.customerFor(key);
        if (customer.isEmpty()) {
            return Optional.of(unauthorized("Incorrect API key provided: " + redact(key) + ".", "invalid_api_key"));
        }
        caller.set(customer.get());
        return Optional.empty();
    }

    private static RestResponse<ObjectNode> unauthorized(String message, String code) {
        return RestResponse.ResponseBuilder
                .create(RestResponse.Status.UNAUTHORIZED, OpenAiObjects.error(message, "invalid_request_error", code, null))
                .type(MediaType.APPLICATION_JSON_TYPE)
                .header(HttpHeaders.WWW_AUTHENTICATE, "Bearer")
                .build();
    }

    /** Like OpenAI: the first and last few characters only. */
    static String redact(String key) {
        if (key.length() <= 8) {
            return "****";
        }
        return key.substring(0, 3) + "*".repeat(Math.min(key.length() - 7, 20)) + key.substring(key.length() - 4);
    }
}
