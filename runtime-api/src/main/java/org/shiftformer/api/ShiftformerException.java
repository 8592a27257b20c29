package org.shiftformer.api;

import java.util.Objects;

/**
 * The root of every error shiftformer reports. It always carries a stable {@link ErrorCode} and a
 * message that names what is wrong (which file, field, setting or limit).
 */
public class ShiftformerException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final ErrorCode code;

    public ShiftformerException(ErrorCode code, String message) {
        super(message);
        this.code = Objects.requireNonNull(code, "code");
    }

    public ShiftformerException(ErrorCode code, String message, Throwable cause) {
        super(message, cause);
        this.code = Objects.requireNonNull(code, "code");
    }

    /** The stable code of this error. */
    public ErrorCode code() {
        return code;
    }

    @Override
    public String toString() {
        return "ShiftformerException[" + code + "]: " + getMessage();
    }
}
