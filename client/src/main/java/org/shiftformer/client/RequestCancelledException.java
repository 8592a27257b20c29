package org.shiftformer.client;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The outcome of a request the client cancelled and the server stopped (its Cancelled frame):
 * {@link ErrorCode#CANCELLED}, with the number of tokens the server had sent before it stopped.
 * (A server that stops a request on its own, e.g. while shutting down, sends an Error CANCELLED instead,
 * which surfaces as a plain {@link ShiftformerException}.)
 */
public final class RequestCancelledException extends ShiftformerException {
    private static final long serialVersionUID = 1L;

    private final long requestId;
    private final int tokenCount;

    RequestCancelledException(long requestId, int tokenCount) {
        super(ErrorCode.CANCELLED, "request " + Long.toUnsignedString(requestId) + " cancelled by the client after "
                + tokenCount + " tokens");
        this.requestId = requestId;
        this.tokenCount = tokenCount;
    }

    /** The cancelled request. */
    public long requestId() {
        return requestId;
    }

    /** Token frames the server sent for the request before it stopped. */
    public int tokenCount() {
        return tokenCount;
    }
}
