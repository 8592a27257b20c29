package org.shiftformer.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import java.nio.ByteOrder;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * First stage of the inbound pipeline: cuts the byte stream into frames (FrameLayout) and emits each as
 * a {@link ByteBuf} holding exactly one frame, length prefix included: a retained slice of the
 * cumulation, never a copy. Whoever reads it ({@link MessageDecoder}) releases it.
 *
 * <p>A length prefix above the limit or below {@link FrameLayout#MIN_PAYLOAD_BYTES} fails as soon as the
 * prefix has arrived, before any of the frame is buffered, with a {@link ShiftformerException}
 * ({@link ErrorCode#PROTOCOL_ERROR}) passed down the pipeline as is (not wrapped in Netty's
 * {@code DecoderException}). After the first error the stream cannot be resynchronised: every further
 * byte is discarded, and the connection should be closed. Once it is closed (say by the handler that
 * received a malformed frame's error), frames still buffered are discarded too. A frame that has not
 * fully arrived stays buffered and produces nothing.
 *
 * <p>Stateful: one per channel.
 */
public final class FrameDecoder extends LengthFieldBasedFrameDecoder {
    private final int maxPayloadBytes;
    /** The limit in force, at most {@link #maxPayloadBytes}: lower before a handshake completes. */
    private int limit;
    private boolean failed;
    private boolean failedOnLimit;

    /**
     * @param maxPayloadBytes largest length prefix accepted, in
     *                        [{@link FrameLayout#MIN_MAX_PAYLOAD_BYTES}, {@link FrameLayout#MAX_MAX_PAYLOAD_BYTES}]
     */
    public FrameDecoder(int maxPayloadBytes) {
        this(maxPayloadBytes, maxPayloadBytes);
    }

    /**
     * A decoder whose limit starts lower, as a server's before {@code Welcome} (PROTOCOL.md section 1:
     * 65,536 bytes), and is raised by {@link #limit(int)}.
     *
     * @param initialLimit the limit until {@link #limit(int)} raises it, in
     *                     [{@link FrameLayout#MIN_MAX_PAYLOAD_BYTES}, {@code maxPayloadBytes}]
     */
    public FrameDecoder(int maxPayloadBytes, int initialLimit) {
        super(FrameLayout.BYTE_ORDER,
                FrameLayout.frameBytes(FrameLayout.checkMaxPayloadBytes("max frame bytes", maxPayloadBytes)),
                FrameLayout.LENGTH_OFFSET, FrameLayout.LENGTH_BYTES,
                0, // the prefix counts the payload only, and the frame is the prefix plus the payload
                0, // keep the prefix: alignment inside the FlatBuffer is counted from it
                true);
        this.maxPayloadBytes = maxPayloadBytes;
        this.limit = checkLimit(initialLimit);
    }

    private int checkLimit(int payloadBytes) {
        if (payloadBytes < FrameLayout.MIN_MAX_PAYLOAD_BYTES || payloadBytes > maxPayloadBytes) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "frame limit " + payloadBytes + " must be in ["
                    + FrameLayout.MIN_MAX_PAYLOAD_BYTES + ", " + maxPayloadBytes + "] bytes");
        }
        return payloadBytes;
    }

    /** Sets the limit in force (event loop), e.g. to {@link #maxPayloadBytes()} once the handshake is done. */
    public void limit(int payloadBytes) {
        this.limit = checkLimit(payloadBytes);
    }

    /** True if decoding failed on a length prefix above a limit lower than {@link #maxPayloadBytes()}. */
    public boolean failedOnLowerLimit() {
        return failedOnLimit;
    }

    /** The limit on the length prefix. */
    public int maxPayloadBytes() {
        return maxPayloadBytes;
    }

    @Override
    protected long getUnadjustedFrameLength(ByteBuf buf, int offset, int length, ByteOrder order) {
        long payload = buf.getUnsignedIntLE(offset);
        if (payload > limit) {
            failedOnLimit = limit < maxPayloadBytes;
            throw MessageReader.protocolError("length prefix " + payload + " exceeds the limit of " + limit + " bytes"
                    + (failedOnLimit ? " before the handshake" : ""));
        }
        if (payload < FrameLayout.MIN_PAYLOAD_BYTES) {
            throw MessageReader.protocolError("length prefix " + payload + " is below the minimum of "
                    + FrameLayout.MIN_PAYLOAD_BYTES + " bytes");
        }
        return payload;
    }

    @Override
    protected Object decode(ChannelHandlerContext ctx, ByteBuf in) throws Exception {
        // Once the stream is broken, or the connection closed because of a bad frame (possibly by a later
        // handler, while frames cut from the same read are still pending), nothing more is decoded.
        if (failed || !ctx.channel().isActive()) {
            in.skipBytes(in.readableBytes());
            return null;
        }
        try {
            return super.decode(ctx, in);
        } catch (Exception e) {
            failed = true;
            in.skipBytes(in.readableBytes());
            throw e;
        }
    }

    /** Passes decoding errors on as the {@link ShiftformerException} they are (see {@link ProtocolCodec#unwrap}). */
    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        ctx.fireExceptionCaught(ProtocolCodec.unwrap(cause));
    }
}
