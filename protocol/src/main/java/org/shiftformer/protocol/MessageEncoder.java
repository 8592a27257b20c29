package org.shiftformer.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelOutboundHandlerAdapter;
import io.netty.channel.ChannelPromise;
import io.netty.util.concurrent.FastThreadLocal;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The outbound stage: writes each {@link Message} as one frame ({@link MessageWriter}); anything else
 * passes through. The writer (and its FlatBuffers builder) is reused per thread, so a Token frame costs
 * its outgoing buffer and nothing else. A message that cannot be encoded (too large for the limit, an
 * unpaired surrogate) fails the write's promise with a {@link ShiftformerException}
 * ({@link ErrorCode#INVALID_ARGUMENT}); nothing is written.
 *
 * <p>Stateless apart from the per-thread writers: one instance may serve every channel.
 */
@Sharable
public final class MessageEncoder extends ChannelOutboundHandlerAdapter {
    private static final FastThreadLocal<MessageWriter> WRITERS = new FastThreadLocal<>() {
        @Override
        protected MessageWriter initialValue() {
            return new MessageWriter();
        }
    };

    private final int maxPayloadBytes;

    /** @param maxPayloadBytes the peer's limit on the length prefix (the server announces its own in Welcome) */
    public MessageEncoder(int maxPayloadBytes) {
        this.maxPayloadBytes = FrameLayout.checkMaxPayloadBytes("max frame bytes", maxPayloadBytes);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof Message message) {
            // A failure propagates to Netty, which fails the promise with it unchanged.
            ByteBuf frame = WRITERS.get().write(message, ctx.alloc(), maxPayloadBytes);
            ctx.write(frame, promise);
        } else {
            ctx.write(msg, promise);
        }
    }
}
