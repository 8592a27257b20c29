package org.shiftformer.core.server.admin;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.QueryStringDecoder;
import io.netty.handler.codec.http.websocketx.BinaryWebSocketFrame;
import io.netty.handler.codec.http.websocketx.ContinuationWebSocketFrame;
import io.netty.handler.codec.http.websocketx.CorruptedWebSocketFrameException;
import io.netty.handler.codec.http.websocketx.WebSocketCloseStatus;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolConfig;
import io.netty.handler.codec.http.websocketx.WebSocketServerProtocolHandler;
import io.netty.util.ReferenceCountUtil;
import java.net.URI;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.core.server.LingeringClose;
import java.util.Locale;

/**
 * The streaming protocol over WebSocket on the admin port (PROTOCOL.md section 12), for browsers, which
 * cannot open raw TCP: {@code GET /ws} upgrades the connection, and then every binary message carries
 * protocol bytes exactly as on the TCP port (length prefix included). The bytes of the messages are read
 * as one stream, so a frame may even span messages; the server sends one frame per message. After the
 * upgrade the connection runs the same pipeline as a TCP connection (the protocol codec and the
 * connection handler: the same handshake, limits, fairness, cancellation and terminal-frame rule).
 *
 * <p>Cross-site WebSocket hijacking: a browser lets any web page open a WebSocket to any address, and
 * sends the page's {@code Origin}. An upgrade is refused (403) unless it has no {@code Origin} (not a
 * browser), its {@code Origin} is this port's own (the console the admin port serves), or the origin is
 * allowed by {@link AdminServer.WebSocketProtocol#originAllowed}.
 */
final class WebSocketUpgrade extends ChannelInboundHandlerAdapter {
    /** The path that upgrades. */
    static final String PATH = "/ws";

    private final AdminServer.WebSocketProtocol protocol;

    WebSocketUpgrade(AdminServer.WebSocketProtocol protocol) {
        this.protocol = protocol;
    }

    /** The handlers, after the HTTP aggregator and before the admin handler. */
    static void addTo(ChannelPipeline p, String after, AdminServer.WebSocketProtocol protocol) {
        p.addAfter(after, "ws-upgrade", new WebSocketUpgrade(protocol));
        p.addAfter("ws-upgrade", "ws", new WebSocketServerProtocolHandler(WebSocketServerProtocolConfig.newBuilder()
                .websocketPath(PATH).maxFramePayloadLength(protocol.maxFrameBytes() + 4).checkStartsWith(false)
                .handleCloseFrames(true).dropPongFrames(true).handshakeTimeoutMillis(10_000)
                .closeOnProtocolViolation(false).build())); // Violations below reports them, then closes

        // The handshake's completion travels from the WebSocket handler towards the tail: caught after it.
        p.addAfter("ws", "ws-install", new Installer(protocol));
    }

    /** Once the upgrade is complete, turns the connection into a protocol connection. */
    private static final class Installer extends ChannelInboundHandlerAdapter {
        private final AdminServer.WebSocketProtocol protocol;

        Installer(AdminServer.WebSocketProtocol protocol) {
            this.protocol = protocol;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof WebSocketServerProtocolHandler.HandshakeComplete) {
                ChannelPipeline p = ctx.pipeline();
                // From now on this is a protocol connection: no HTTP idle timeout, no admin handler.
                for (String name : new String[] {"idle", "admin", "ws-upgrade"}) {
                    if (p.get(name) != null) {
                        p.remove(name);
                    }
                }
                RequestDeadline.removeFrom(p); // the protocol's own timeouts hold from now on
                if (p.get(AdminServer.ConnectionSlot.NAME) != null) {
                    p.remove(AdminServer.ConnectionSlot.NAME); // counted by the protocol's connection limits instead
                }
                p.addLast("ws-frames", new Frames());
                p.addBefore("ws", "ws-violations", new Violations()); // after the frame decoder and UTF-8 check
                protocol.install(p);
                p.remove(this);
                return;
            }
            super.userEventTriggered(ctx, evt);
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof FullHttpRequest req && isUpgradePath(req)) {
            String origin = req.headers().get(HttpHeaderNames.ORIGIN);
            String host = req.headers().get(HttpHeaderNames.HOST);
            if (origin != null && !sameOrigin(origin, host) && !protocol.originAllowed(origin)) {
                FullHttpResponse res = AdminHandler.closing(HttpResponseStatus.FORBIDDEN, "forbidden: a page of origin "
                        + origin + " may not open the protocol WebSocket here (allowed: this port's own pages, and "
                        + "shiftformer.server.webSocketOrigins)");
                ReferenceCountUtil.release(req);
                ctx.writeAndFlush(res).addListener(ChannelFutureListener.CLOSE);
                return;
            }
        }
        ctx.fireChannelRead(msg);
    }

    private static boolean isUpgradePath(FullHttpRequest req) {
        try {
            return new QueryStringDecoder(req.uri()).path().equals(PATH);
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /** An Origin naming the same host and port the request was sent to: a page of this admin port. */
    static boolean sameOrigin(String origin, String host) {
        if (host == null) {
            return false;
        }
        try {
            URI o = URI.create(origin);
            if (o.getHost() == null) {
                return false;
            }
            int port = o.getPort() != -1 ? o.getPort() : "https".equalsIgnoreCase(o.getScheme()) ? 443 : 80;
            String h = host.toLowerCase(Locale.ROOT);
            String want = o.getHost().toLowerCase(Locale.ROOT) + ":" + port;
            String wantBracketed = o.getHost().contains(":") ? "[" + want.substring(0, want.lastIndexOf(':')) + "]"
                    + want.substring(want.lastIndexOf(':')) : want;
            return h.equals(want) || h.equals(wantBracketed) || (!h.contains(":") && port == ("https".equalsIgnoreCase(
                    o.getScheme()) ? 443 : 80) && h.equals(o.getHost().toLowerCase(Locale.ROOT)));
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    /**
     * A message the WebSocket layer refuses (over the size limit, a reserved opcode, an unmasked frame...)
     * is a connection error of the protocol: the client gets {@code Error} PROTOCOL_ERROR naming it, every
     * request in flight ends, and the Close frame carries the WebSocket status (1009 for a message too big).
     * Netty's own handling would close the TCP connection at once, and a client still sending its big
     * message would then see a reset instead of either (see {@link LingeringClose}).
     */
    static final class Violations extends ChannelInboundHandlerAdapter {
        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (cause instanceof CorruptedWebSocketFrameException e) {
                LingeringClose.webSocketStatus(ctx.channel(), new WebSocketCloseStatus(e.closeStatus().code(),
                        e.closeStatus().reasonText()));
                ChannelHandlerContext frames = ctx.pipeline().context("ws-frames");
                if (frames != null) { // past the WebSocket handler, which would close at once
                    frames.fireExceptionCaught(new ShiftformerException(ErrorCode.PROTOCOL_ERROR,
                            "websocket: " + e.getMessage()));
                    return;
                }
            }
            ctx.fireExceptionCaught(cause);
        }
    }

    /**
     * Binary messages in, their bytes passed on as the TCP stream's would be; the protocol codec's frames
     * out, one binary message each. A text message is not the protocol: the connection is closed (1003).
     */
    static final class Frames extends ChannelDuplexHandler {
        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof BinaryWebSocketFrame || msg instanceof ContinuationWebSocketFrame) {
                ByteBuf content = ((io.netty.buffer.ByteBufHolder) msg).content();
                ctx.fireChannelRead(content); // the frame's buffer: its ownership passes on
                return;
            }
            ReferenceCountUtil.release(msg);
            LingeringClose.webSocketStatus(ctx.channel(), new WebSocketCloseStatus(
                    WebSocketCloseStatus.INVALID_MESSAGE_TYPE.code(), "the shiftformer protocol is binary messages only"));
            ctx.fireExceptionCaught(new ShiftformerException(ErrorCode.PROTOCOL_ERROR,
                    "websocket: a text message; the shiftformer protocol is binary messages only"));
        }

        @Override
        public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
            ctx.write(msg instanceof ByteBuf b ? new BinaryWebSocketFrame(b) : msg, promise);
        }
    }
}
