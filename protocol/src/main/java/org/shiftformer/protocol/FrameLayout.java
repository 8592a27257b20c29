package org.shiftformer.protocol;

import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The byte layout of one frame on the wire (PROTOCOL.md, "Framing"): the only place that knows its
 * offsets.
 *
 * <pre>
 *  frame byte   0         1         2         3
 *            +---------+---------+---------+---------+
 *          0 |  payload length L: uint32, little-endian |  length prefix (not counted in L)
 *            +---------+---------+---------+---------+
 *          4 |  root uoffset: uint32 LE, from byte 4    |  payload byte 0: FlatBuffers size-prefixed
 *            +---------+---------+---------+---------+     buffer whose root table is Frame
 *          8 |   'S'   |   'F'   |   'T'   |   'S'   |  file identifier
 *            +---------+---------+---------+---------+
 *         12 |  vtables, the Frame table, its body,     |
 *            :  vectors and strings ...                 :
 *      4 + L +-----------------------------------------+  next frame
 * </pre>
 *
 * <p>The frame is exactly what a stock FlatBuffers runtime produces with {@code FinishSizePrefixed}
 * (Java: {@code finishSizePrefixed}), so FlatBuffers alignment is counted from frame byte 0, and every
 * FlatBuffers position in this package is a frame position (prefix included).
 *
 * <p>Little-endian, unlike the network-order habit, because then the prefix is the FlatBuffers size
 * prefix: every integer of a frame has one byte order, and any FlatBuffers runtime reads and writes the
 * whole frame, prefix included, without code of our own.
 */
public final class FrameLayout {
    /** Byte order of the length prefix (and of everything else in a frame). */
    public static final ByteOrder BYTE_ORDER = ByteOrder.LITTLE_ENDIAN;
    /** Frame position of the length prefix. */
    public static final int LENGTH_OFFSET = 0;
    /** Size of the length prefix. */
    public static final int LENGTH_BYTES = 4;
    /** Frame position of the payload, the first byte counted by the length prefix. */
    public static final int PAYLOAD_OFFSET = LENGTH_OFFSET + LENGTH_BYTES;
    /** Frame position of the uoffset to the root table {@code Frame} (relative to this position). */
    public static final int ROOT_OFFSET = PAYLOAD_OFFSET;
    /** Frame position of the 4-byte file identifier. */
    public static final int IDENTIFIER_OFFSET = ROOT_OFFSET + 4;
    /** The file identifier of stream.fbs. */
    public static final String IDENTIFIER = "SFTS";
    /** Its length in bytes. */
    public static final int IDENTIFIER_BYTES = 4;
    private static final byte[] IDENTIFIER_ASCII = IDENTIFIER.getBytes(StandardCharsets.US_ASCII);

    /**
     * The shortest payload that can hold a frame: root uoffset, identifier and the root table's soffset.
     * Shorter length prefixes are rejected before any byte of the payload is read.
     */
    public static final int MIN_PAYLOAD_BYTES = IDENTIFIER_OFFSET + IDENTIFIER_BYTES + 4 - PAYLOAD_OFFSET;
    /** Default limit of the payload length a peer accepts (and announces in {@code Welcome}): 1 MiB. */
    public static final int DEFAULT_MAX_PAYLOAD_BYTES = 1 << 20;
    /** Every peer accepts payloads of at least this many bytes, so a limit may not be set lower. */
    public static final int MIN_MAX_PAYLOAD_BYTES = 1 << 16;
    /**
     * The most payload a client may send in one frame before it has the {@code Welcome} (PROTOCOL.md
     * section 1), whatever limit the server announces then.
     */
    public static final int PRE_HANDSHAKE_MAX_PAYLOAD_BYTES = MIN_MAX_PAYLOAD_BYTES;
    /** No limit may be set higher (it keeps the whole frame, prefix included, an {@code int}). */
    public static final int MAX_MAX_PAYLOAD_BYTES = 1 << 30;

    private FrameLayout() {
    }

    /** Frame length (prefix included) of a frame whose length prefix says {@code payloadBytes}. */
    public static int frameBytes(int payloadBytes) {
        return LENGTH_BYTES + payloadBytes;
    }

    /** Payload length (the prefix value) of a frame of {@code frameBytes} bytes, prefix included. */
    public static int payloadBytes(int frameBytes) {
        return frameBytes - LENGTH_BYTES;
    }

    /** The identifier byte at {@code i} (0..3). */
    static byte identifierByte(int i) {
        return IDENTIFIER_ASCII[i];
    }

    /**
     * Checks a payload limit.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} naming the setting
     */
    public static int checkMaxPayloadBytes(String setting, int maxPayloadBytes) {
        if (maxPayloadBytes < MIN_MAX_PAYLOAD_BYTES || maxPayloadBytes > MAX_MAX_PAYLOAD_BYTES) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, setting + " " + maxPayloadBytes
                    + " must be in [" + MIN_MAX_PAYLOAD_BYTES + ", " + MAX_MAX_PAYLOAD_BYTES + "] bytes");
        }
        return maxPayloadBytes;
    }
}
