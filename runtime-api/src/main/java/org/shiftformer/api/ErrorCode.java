package org.shiftformer.api;

/**
 * Stable error codes. The numeric value is part of the public contract: the wire protocol carries it
 * in error frames and clients switch on it, so a value is never reused or renumbered; new codes are
 * appended.
 */
public enum ErrorCode {
    /** A caller passed a value outside what the operation accepts (the message names it). */
    INVALID_ARGUMENT(1),
    /** A model artifact is malformed, truncated, corrupt or inconsistent (the message names the part). */
    INVALID_ARTIFACT(2),
    /** An artifact or a peer speaks a format or protocol version this build does not. */
    UNSUPPORTED_VERSION(3),
    /** The requested backend is present but cannot run here (the message carries the reason). */
    BACKEND_UNAVAILABLE(4),
    /** A backend failed while running (device error, timeout, lost device). */
    BACKEND_FAILURE(5),
    /** A request exceeds a limit of the loaded model (length, vocabulary, batch). */
    MODEL_LIMIT_EXCEEDED(6),
    /** A request's deadline passed before it completed. */
    DEADLINE_EXCEEDED(7),
    /** A request was cancelled by its client or by a disconnect. */
    CANCELLED(8),
    /** Admission limits are full; retry later. */
    OVERLOADED(9),
    /** A peer sent bytes that are not a valid protocol frame. */
    PROTOCOL_ERROR(10),
    /** No backend of the requested name is installed. */
    UNKNOWN_BACKEND(11),
    /** A bug: an invariant of shiftformer itself did not hold. */
    INTERNAL(12),
    /** An I/O operation (reading or writing a file, a socket) failed. */
    IO_ERROR(13),
    /** A peer did not prove who it is: a missing, unknown or revoked bearer token. */
    UNAUTHENTICATED(14),
    /** A request names a model (by its SHA-256) other than the one the server decodes with. */
    MODEL_MISMATCH(15);

    private final int value;

    ErrorCode(int value) {
        this.value = value;
    }

    /** The stable numeric value carried on the wire. */
    public int value() {
        return value;
    }

    /** The code with this wire value, or {@link #INTERNAL} for a value this build does not know. */
    public static ErrorCode fromValue(int value) {
        for (ErrorCode c : values()) {
            if (c.value == value) {
                return c;
            }
        }
        return INTERNAL;
    }
}
