package io.inferex.wire;

/** The bytes of a record are not an event this build can read; the message says why. */
public class UndecodableRecordException extends RuntimeException {
    public UndecodableRecordException(String message, Throwable cause) {
        super(message, cause);
    }
}
