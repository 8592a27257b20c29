package org.shiftformer.core.server.admin;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.shiftformer.core.server.LingeringClose;
import org.shiftformer.core.server.ServerConfig;

/**
 * A request must arrive whole within the timeout of its first byte, or it gets 408 and the connection
 * closes. The idle timeout alone does not bound a request: it starts again at every byte, so a client
 * sending a header byte every few seconds (slowloris) would hold its connection, and a reload's slot of
 * the aggregator, for as long as it liked. Two handlers share the clock: {@link #START} sees the bytes
 * (after TLS, before HTTP decoding) and starts it at the first byte of a request; {@link #END} sees the
 * aggregated request and stops it. The idle timeout firing in the middle of a request gets the same 408.
 * A WebSocket upgrade removes both ({@link WebSocketUpgrade}).
 */
final class RequestDeadline {
    static final String START = "request-start";
    static final String END = "request-end";

    private final long timeoutMs;
    private final Runnable onExpiry;
    private ScheduledFuture<?> timer; // on the channel's event loop only

    private RequestDeadline(long timeoutMs, Runnable onExpiry) {
        this.timeoutMs = timeoutMs;
        this.onExpiry = onExpiry;
    }

    /**
     * Adds the two handlers: before {@code http} (the codec) and right after {@code aggregate};
     * {@code onExpiry} runs at each 408 (it counts them).
     */
    static void addTo(ChannelPipeline p, String http, String aggregate, long timeoutMs, Runnable onExpiry) {
        RequestDeadline d = new RequestDeadline(timeoutMs, onExpiry);
        p.addBefore(http, START, d.new Start());
        p.addAfter(aggregate, END, d.new End());
    }

    /** Removes both handlers (after a WebSocket upgrade), stopping the clock. */
    static void removeFrom(ChannelPipeline p) {
        for (String name : new String[] {START, END}) {
            if (p.get(name) != null) {
                p.remove(name);
            }
        }
    }

    private void stop() {
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }

    private void expire(ChannelHandlerContext ctx) {
        timer = null;
        if (!ctx.channel().isActive()) {
            return;
        }
        onExpiry.run();
        FullHttpResponse res = AdminHandler.closing(HttpResponseStatus.REQUEST_TIMEOUT, "request timeout: a request must "
                + "arrive whole within " + timeoutMs + " ms of its first byte (" + ServerConfig.ADMIN_IDLE_TIMEOUT_MS_PROP + ")");
        // From the tail, through the HTTP encoder; the partial request stays in the decoder, and the linger
        // drops whatever more arrives.
        LingeringClose.after(ctx.channel().writeAndFlush(res));
    }

    private final class Start extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (timer == null && msg instanceof ByteBuf b && b.isReadable()) {
                timer = ctx.executor().schedule(() -> expire(ctx), timeoutMs, TimeUnit.MILLISECONDS);
            }
            ctx.fireChannelRead(msg);
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof IdleStateEvent && timer != null) {
                // Silent in the middle of a request: the same answer as a request too slow as a whole.
                timer.cancel(false);
                expire(ctx);
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            stop();
            ctx.fireChannelInactive();
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            stop();
        }
    }

    private final class End extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof FullHttpRequest) {
                stop();
            }
            ctx.fireChannelRead(msg);
        }
    }
}
