package org.shiftformer.core.server;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;

/**
 * First in every client pipeline: counts the bytes read from and written to the socket into
 * {@link ServerStats} ({@code shiftformer.bytes.in} / {@code .out}). Stateless, one instance per server.
 */
@ChannelHandler.Sharable
final class ByteCounter extends ChannelDuplexHandler {
    private final ServerStats stats;

    ByteCounter(ServerStats stats) {
        this.stats = stats;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof ByteBuf b) {
            stats.bytesIn.add(b.readableBytes());
        }
        ctx.fireChannelRead(msg);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof ByteBuf b) {
            stats.bytesOut.add(b.readableBytes());
        }
        ctx.write(msg, promise);
    }
}
