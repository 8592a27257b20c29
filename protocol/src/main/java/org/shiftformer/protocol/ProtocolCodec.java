package org.shiftformer.protocol;

import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.CorruptedFrameException;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.TooLongFrameException;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Puts the protocol codec into a pipeline, in this order (the only one in which framing, decoding and
 * encoding see the bytes and messages they expect):
 *
 * <pre>
 *   socket -&gt; {@link FrameDecoder} (per channel) -&gt; {@link MessageDecoder} (shared) -&gt; your handler
 *   socket &lt;- {@link MessageEncoder} (shared) &lt;------------------------------------- your handler
 * </pre>
 *
 * Your handler then reads and writes {@link Message}s; its {@code exceptionCaught} receives malformed
 * input as a {@link ShiftformerException} with {@link ErrorCode#PROTOCOL_ERROR}, to be answered
 * (PROTOCOL.md) with an {@code Error} frame for request 0 and a closed connection.
 */
public final class ProtocolCodec {
    /** Pipeline names of the three handlers. */
    public static final String FRAME_DECODER = "frame-decoder";
    public static final String MESSAGE_DECODER = "message-decoder";
    public static final String MESSAGE_ENCODER = "message-encoder";

    private ProtocolCodec() {
    }

    /**
     * Adds the codec at the end of {@code pipeline}.
     *
     * @param maxPayloadBytes limit on the length prefix of inbound frames (what a server announces in
     *                        Welcome) and of outbound frames (a client should pass the server's announced
     *                        limit; before Welcome, {@link FrameLayout#MIN_MAX_PAYLOAD_BYTES} is safe)
     */
    public static ChannelPipeline addTo(ChannelPipeline pipeline, int maxPayloadBytes) {
        return addTo(pipeline, maxPayloadBytes, maxPayloadBytes);
    }

    /**
     * As {@link #addTo(ChannelPipeline, int)}, with an inbound limit of {@code initialLimit} until the
     * {@link FrameDecoder}'s {@link FrameDecoder#limit(int)} raises it (a server before Welcome).
     */
    public static ChannelPipeline addTo(ChannelPipeline pipeline, int maxPayloadBytes, int initialLimit) {
        return pipeline.addLast(FRAME_DECODER, new FrameDecoder(maxPayloadBytes, initialLimit))
                .addLast(MESSAGE_DECODER, MessageDecoder.INSTANCE)
                .addLast(MESSAGE_ENCODER, new MessageEncoder(maxPayloadBytes));
    }

    /**
     * The {@link ShiftformerException} behind a decoding failure: itself, or the one a Netty
     * {@link DecoderException} wraps; Netty's own framing errors become {@link ErrorCode#PROTOCOL_ERROR}.
     * Anything else (an I/O error, say) is returned unchanged.
     */
    public static Throwable unwrap(Throwable cause) {
        if (cause instanceof DecoderException && cause.getCause() instanceof ShiftformerException e) {
            return e;
        }
        if (cause instanceof TooLongFrameException || cause instanceof CorruptedFrameException) {
            return new ShiftformerException(ErrorCode.PROTOCOL_ERROR, MessageReader.SOURCE + ": " + cause.getMessage(),
                    cause);
        }
        return cause;
    }
}
