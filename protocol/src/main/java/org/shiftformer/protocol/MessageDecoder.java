package org.shiftformer.protocol;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler.Sharable;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Second stage of the inbound pipeline: turns each frame from {@link FrameDecoder} into a
 * {@link Message} ({@link MessageReader}) and releases the frame, whatever happens. A malformed frame
 * raises a {@link ShiftformerException} with {@link ErrorCode#PROTOCOL_ERROR}, which reaches the next
 * handler's {@code exceptionCaught} unwrapped. Anything that is not a {@link ByteBuf} passes through.
 *
 * <p>Stateless: one instance ({@link #INSTANCE}) serves every channel.
 */
@Sharable
public final class MessageDecoder extends ChannelInboundHandlerAdapter {
    /** The shared instance. */
    public static final MessageDecoder INSTANCE = new MessageDecoder();

    private MessageDecoder() {
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof ByteBuf frame)) {
            ctx.fireChannelRead(msg);
            return;
        }
        Message message;
        try {
            message = MessageReader.read(frame);
        } finally {
            frame.release();
        }
        ctx.fireChannelRead(message);
    }
}
