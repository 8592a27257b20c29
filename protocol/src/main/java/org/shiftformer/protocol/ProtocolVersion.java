package org.shiftformer.protocol;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * A range of protocol versions one peer speaks, and the negotiation rule of PROTOCOL.md: the highest
 * version both ranges contain.
 *
 * @param min lowest version spoken, at least 1
 * @param max highest version spoken, at least {@code min}, at most 65535 (a {@code ushort} on the wire)
 */
public record ProtocolVersion(int min, int max) {
    /**
     * The version this build defines (stream.fbs as committed). Version 2 adds stream resumption
     * ({@code TranslateRequest.resume_tokens}, {@code model_sha256}, {@code Done.resumed_from}); everything
     * else is version 1, which this build still speaks.
     */
    public static final int CURRENT = 2;
    /** The first version with stream resumption. */
    public static final int RESUME = 2;
    /** What this build speaks. */
    public static final ProtocolVersion SUPPORTED = new ProtocolVersion(1, CURRENT);
    /** Largest version number the wire can carry. */
    public static final int MAX_VERSION = 0xFFFF;

    public ProtocolVersion {
        if (min < 1 || max < min || max > MAX_VERSION) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "protocol version range [" + min + ", " + max + "] must satisfy 1 <= min <= max <= " + MAX_VERSION);
        }
    }

    /**
     * The version to speak with a peer that offers {@code [peerMin, peerMax]} (from its {@code Hello}).
     *
     * @throws ShiftformerException {@link ErrorCode#PROTOCOL_ERROR} if the peer's range is malformed
     *                              (min 0 or min above max), {@link ErrorCode#UNSUPPORTED_VERSION} if the
     *                              ranges do not overlap; the message gives both ranges
     */
    public int negotiate(int peerMin, int peerMax) {
        if (peerMin < 1 || peerMax < peerMin || peerMax > MAX_VERSION) {
            throw new ShiftformerException(ErrorCode.PROTOCOL_ERROR, "Hello offers protocol versions [" + peerMin
                    + ", " + peerMax + "], which is not a range 1 <= min <= max <= " + MAX_VERSION);
        }
        int chosen = Math.min(max, peerMax);
        if (chosen < Math.max(min, peerMin)) {
            throw new ShiftformerException(ErrorCode.UNSUPPORTED_VERSION, "client speaks protocol versions ["
                    + peerMin + ", " + peerMax + "], this server speaks [" + min + ", " + max + "]");
        }
        return chosen;
    }
}
