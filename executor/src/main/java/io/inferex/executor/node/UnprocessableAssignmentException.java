package io.inferex.executor.node;

/** An assignment that decoded but that this node cannot or must not run; it is dead-lettered with this reason. */
public class UnprocessableAssignmentException extends RuntimeException {
    public UnprocessableAssignmentException(String message) {
        super(message);
    }

    public UnprocessableAssignmentException(String message, Throwable cause) {
        super(message, cause);
    }
}
