package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ObjectNode;
import jakarta.inject.Inject;
import jakarta.ws.rs.container.ContainerRequestContext;
import jakarta.ws.rs.core.HttpHeaders;
import jakarta.ws.rs.core.MediaType;
import java.util.List;
import java.util.Optional;
import org.jboss.resteasy.reactive.RestResponse;
import org.jboss.resteasy.reactive.server.ServerRequestFilter;

/**
 * Every {@code /v1} request needs {@code Authorization: Bearer <key>}: a key the operator issued
 * ({@code customer-keys}, {@link CustomerKeyFeed}), a static configured one, or the demo key where
 * the deployment enables it.
 */
public class AuthFilter {
    /** The demo customer's key, accepted only with {@code inferex.ingest.demo-key-enabled=true}. */
    public static final String DEMO_KEY = "sk-inferex-demo";
    public static final String DEMO_CUSTOMER = "demo";

    private final ApiKeys keys;

    @Inject
    Caller caller;

    @Inject
    CustomerKeyFeed issued;

    @Inject
    public AuthFilter(IngestConfig config) {
        this.keys = staticKeys(config.apiKeys(), config.demoKeyEnabled());
    }

    /** The configured keys, plus the demo key when {@code demoKeyEnabled}. */
    static ApiKeys staticKeys(Optional<List<String>> configured, boolean demoKeyEnabled) {
        List<String> entries = new java.util.ArrayList<>(configured.orElse(List.of()));
        if (demoKeyEnabled) {
            entries.add(DEMO_CUSTOMER + ":" + ApiKeys.hash(DEMO_KEY));
        }
        return ApiKeys.parse(entries);
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
        Optional<String> customer = keys.customerFor(key).or(() -> issued.customerFor(key));
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
