package io.inferex.ingest;

import jakarta.enterprise.context.RequestScoped;

/** The authenticated customer of the current request, set by {@link AuthFilter}. */
@RequestScoped
public class Caller {
    private String customerId;

    void set(String customerId) {
        this.customerId = customerId;
    }

    /** The customer id; throws 401 if the request was not authenticated (a filter bug, not a client error). */
    public String customerId() {
        if (customerId == null) {
            throw new ApiException(401, OpenAiObjects.error("This request is not authenticated.",
                    "invalid_request_error", "invalid_api_key", null));
        }
        return customerId;
    }
}
