package io.inferex.ingest;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** An HTTP error with an OpenAI-style body; mapped by {@link ApiExceptionMapper}. */
public final class ApiException extends RuntimeException {
    private final int status;
    private final ObjectNode body;

    public ApiException(int status, ObjectNode body) {
        super(body.path("error").path("message").asText(), null, false, false);
        this.status = status;
        this.body = body;
    }

    public int status() {
        return status;
    }

    public ObjectNode body() {
        return body;
    }

    public static ApiException invalid(String param, String code, String message) {
        return new ApiException(400, OpenAiObjects.error(message, "invalid_request_error", code, param));
    }

    public static ApiException notFound(String what, String id) {
        return new ApiException(404, OpenAiObjects.error("No such " + what + " object: " + id, "invalid_request_error",
                null, "id"));
    }

    /** 409: the request conflicts with the object's state. */
    public static ApiException conflict(String code, String message) {
        return new ApiException(409, OpenAiObjects.error(message, "invalid_request_error", code, null));
    }

    public static ApiException unavailable(String message) {
        return new ApiException(503, OpenAiObjects.error(message, "server_error", "service_unavailable", null));
    }
}
