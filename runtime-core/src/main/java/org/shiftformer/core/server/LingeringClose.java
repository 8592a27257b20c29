package org.shiftformer.core.server;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.websocketx.CloseWebSocketFrame;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.netty.handler.codec.http.websocketx.WebSocketFrameEncoder;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.AttributeKey;
import io.netty.util.ReferenceCountUtil;
import java.util.concurrent.TimeUnit;

/**
 * Closes a connection so that the client can still read the last frames: the frames go out, then the
 * close handshake of the layers underneath (a WebSocket Close frame, TLS {@code close_notify}), then TCP
 * {@code FIN}; the input is read and thrown away until the client closes too, or {@link #LINGER_MS} pass.
 *
 * <p>Why not simply close: a socket closed with unread input makes the kernel answer with {@code RST},
 * and a client that receives {@code RST} loses whatever it had not read yet, the server's last
 * {@code Error} frame included: it sees "connection reset" instead of the reason. That happens whenever
 * the server stops reading a client that is still sending: a frame over the limit, a client that
 * pipelined requests after a bad one, a refused connection whose {@code Hello} was on its way. This is
 * the "lingering close" of HTTP servers (Apache httpd, nginx {@code lingering_close}).
 */
public final class LingeringClose {
    /** How long a closing connection's input is still read (and thrown away) at most. */
    public static final long LINGER_MS = 2_000;

    /**
     * The linger of a connection refused at once (over a connection limit, or the server shutting down):
     * long enough to read the {@code Hello} a client sends right after connecting, short enough that a
     * flood of refused connections holds few sockets.
     */
    public static final long REFUSED_LINGER_MS = 250;

    /** The pipeline name of the handler that throws the input away. */
    static final String NAME = "linger";

    private static final AttributeKey<WebSocketCloseStatus> WEB_SOCKET_STATUS =
            AttributeKey.valueOf("shiftformer.webSocketCloseStatus");

    private LingeringClose() {
    }

    /**
     * The status the WebSocket Close frame will carry when this WebSocket connection closes (the first one
     * set wins; without one, 1000).
     */
    public static void webSocketStatus(Channel ch, WebSocketCloseStatus status) {
        ch.attr(WEB_SOCKET_STATUS).setIfAbsent(status);
    }

    /** Closes {@code last}'s channel as described above once {@code last} (its last write) has completed. */
    public static void after(ChannelFuture last) {
        after(last, LINGER_MS);
    }

    /** {@link #after(ChannelFuture)}, reading for at most {@code lingerMs}. */
    public static void after(ChannelFuture last, long lingerMs) {
        Channel ch = last.channel();
        last.addListener(f -> {
            if (!f.isSuccess() || !ch.isActive()) {
                ch.close();
                return;
            }
            if (ch.pipeline().get(NAME) != null) {
                return; // already closing
            }
            ch.pipeline().addFirst(NAME, new Discard());
            var timer = ch.eventLoop().schedule(() -> {
                ch.close();
            }, lingerMs, TimeUnit.MILLISECONDS);
            ch.closeFuture().addListener(c -> timer.cancel(false));
            ch.config().setAutoRead(true);
            farewell(ch).addListener(g -> {
                SslHandler tls = ch.pipeline().get(SslHandler.class);
                if (tls != null) {
                    tls.closeOutbound().addListener(t -> shutdownOutput(ch));
                } else {
                    shutdownOutput(ch);
                }
            });
        });
    }

    /** A WebSocket connection's Close frame (RFC 6455 5.5.1: the server sends one, then closes TCP). */
    private static ChannelFuture farewell(Channel ch) {
        if (ch.pipeline().get(WebSocketFrameEncoder.class) == null) { // not (yet) upgraded: HTTP, or the protocol
            return ch.newSucceededFuture();
        }
        WebSocketCloseStatus status = ch.attr(WEB_SOCKET_STATUS).get();
        return ch.writeAndFlush(new CloseWebSocketFrame(status != null ? status : WebSocketCloseStatus.NORMAL_CLOSURE));
    }

    private static void shutdownOutput(Channel ch) {
        if (ch instanceof DuplexChannel d && ch.isActive()) {
            d.shutdownOutput().addListener(s -> {
                if (!s.isSuccess()) {
                    ch.close();
                }
            });
        } else {
            ch.close();
        }
    }

    /** First in the pipeline: every byte read is dropped; the client's own close ends the connection. */
    private static final class Discard extends ChannelInboundHandlerAdapter {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ReferenceCountUtil.release(msg);
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                ctx.close(); // the client has sent everything: nothing more to wait for
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close(); // reset by the client and the like: it has gone
        }
    }
}
