package io.inferex.executor.model;

/** The model files a node would run are not the ones the market's catalogue names; the node must not start. */
public class ModelIntegrityException extends RuntimeException {
    public ModelIntegrityException(String message) {
        super(message);
    }

    public ModelIntegrityException(String message, Throwable cause) {
        super(message, cause);
    }
}
