package org.shiftformer.core.server.admin;

import io.netty.handler.ssl.SslHandler;
import org.shiftformer.core.server.security.Authenticator;
import org.shiftformer.core.server.security.ServerTls;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpMessage;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.core.server.LingeringClose;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ServerStats;
import org.shiftformer.api.ShiftformerException;

/**
 * The admin HTTP/1.1 server: a Netty bootstrap on its own port (same bind address as the streaming port)
 * with {@code HttpServerCodec} → {@code HttpObjectAggregator} → {@link AdminHandler}. It answers
 *
 * <ul>
 *   <li>{@code GET /metrics}: Prometheus text exposition (format 0.0.4);</li>
 *   <li>{@code GET /health/live}: 200 while the server serves;</li>
 *   <li>{@code GET /health/ready}: 200 with a model loaded on an available backend and not draining (the
 *       body says so when the backend is a fallback), else 503 with the reason;</li>
 *   <li>{@code POST /admin/reload[?path=FILE]}: hot reload, run on its own thread (never on the event
 *       loop), 200 or an error status with the error text; one at a time (409 while another runs), 504
 *       after the reload timeout;</li>
 *   <li>{@code GET /console} and {@code /console/NAME}: the web console's files ({@link ConsoleAssets});</li>
 * </ul>
 *
 * Every request gets a status line and a plain-text body: 404 for other paths, 405 (with {@code Allow})
 * for other methods, 400 for a malformed request or request target, 414 / 431 for a request line over
 * {@value #MAX_REQUEST_LINE_BYTES} bytes / headers over {@value #MAX_HEADER_BYTES} bytes, 413 for a body over
 * {@value AdminHandler#MAX_REQUEST_BYTES} bytes (the rest of it is read and dropped, so the client sees the
 * status instead of a reset), 505 for an HTTP version other than 1.0 and 1.1. A connection that sends
 * nothing for the idle timeout while no answer of its is pending (a reload) is closed: a keep-alive
 * connection left open, or a request (a WebSocket upgrade included) that never finishes. A request must
 * also arrive whole within the idle timeout of its first byte, or it gets 408 ({@link RequestDeadline}):
 * a client trickling a byte at a time would otherwise restart the idle timeout forever.
 */
public final class AdminServer implements AutoCloseable {
    /** What the admin endpoints read and do: implemented by the streaming server. */
    public interface Endpoints {
        /** True while the server serves (until it has closed). */
        boolean live();

        /** Counts a protection limit of the admin port that ended a request or a connection. */
        default void limitHit(ServerStats.Limit limit) {
        }

        /** Null when ready; else why not, in a few words. */
        String notReadyReason();

        /** Shown after {@code ready} (e.g. that the backend is a fallback), or null. */
        default String readyNote() {
            return null;
        }

        /** The Prometheus text exposition, or null when the server's registry is not a Prometheus one. */
        String scrape();

        /**
         * Reloads the model from {@code path}, or from the file the server was started with when null.
         * Blocking. Returns a one-line description of the model now served.
         *
         * @throws ShiftformerException why the reload failed (the old model keeps serving)
         */
        String reload(String path);

        /**
         * Null when a reload with this {@code Authorization} header (null when absent) may go on; otherwise
         * the refusal (401 or 403), answered without reading the request any further.
         */
        default Authenticator.AdminDenied authorizeReload(String authorization) {
            return null;
        }
    }

    /** What the streaming server provides to run its protocol on a WebSocket of this port ({@code GET /ws}). */
    public interface WebSocketProtocol {
        /** Largest protocol frame payload: a WebSocket message may carry it with its 4-byte prefix. */
        int maxFrameBytes();

        /** Whether a page of {@code origin} (not this port's own) may open a protocol WebSocket. */
        boolean originAllowed(String origin);

        /**
         * Adds the protocol codec and the connection handler at the end of {@code pipeline}, whose channel is
         * upgraded and active; or refuses the connection (the connection limits) by writing its Error.
         */
        void install(io.netty.channel.ChannelPipeline pipeline);
    }

    /** Longest request line (method, target, version). */
    static final int MAX_REQUEST_LINE_BYTES = 4096;
    /** Largest header block. */
    static final int MAX_HEADER_BYTES = 8192;

    private final Channel channel;
    private final ChannelGroup clients;
    private final ExecutorService reloads;

    private AdminServer(Channel channel, ChannelGroup clients, ExecutorService reloads) {
        this.channel = channel;
        this.clients = clients;
        this.reloads = reloads;
    }

    /**
     * The admin port's limits: a reload that takes longer than {@code reloadTimeout} is answered 504 and
     * interrupted ({@code ServerConfig.adminReloadTimeoutMs()}); a connection that sends nothing for
     * {@code idleTimeout} while no answer of its is pending is closed, a request must arrive whole within
     * it of its first byte, and a TLS handshake must be done within it ({@code adminIdleTimeoutMs()}); at
     * most {@code maxConnections} HTTP connections are open, one more gets 503 ({@code adminMaxConnections()}).
     */
    public record Limits(Duration reloadTimeout, Duration idleTimeout, int maxConnections) {
        public Limits {
            if (reloadTimeout.isNegative() || reloadTimeout.isZero()) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "admin reload timeout must be positive, not "
                        + reloadTimeout);
            }
            if (idleTimeout.isNegative() || idleTimeout.isZero()) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "admin idle timeout must be positive, not "
                        + idleTimeout);
            }
            if (maxConnections < 1) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "admin max connections must be >= 1, not "
                        + maxConnections);
            }
        }
    }

    /**
     * Binds the admin server on {@code group}, within {@code limits}. With {@code tls} (null: plaintext
     * HTTP) it speaks HTTPS only.
     *
     * @throws ShiftformerException {@link ErrorCode#IO_ERROR} if the address cannot be bound
     */
    public static AdminServer start(EventLoopGroup group, Class<? extends ServerChannel> channelClass, String bindAddress,
                                    int port, Endpoints endpoints, Limits limits, ServerTls tls,
                                    WebSocketProtocol webSocket) {
        Duration idleTimeout = limits.idleTimeout();
        AtomicInteger open = new AtomicInteger();
        AtomicBoolean reloading = new AtomicBoolean();
        ExecutorService reloads = Executors.newSingleThreadExecutor(
                Thread.ofPlatform().name("shiftformer-admin-reload").daemon(true).factory());
        ChannelGroup clients = new DefaultChannelGroup("shiftformer-admin", GlobalEventExecutor.INSTANCE);
        try {
            Channel ch = new ServerBootstrap()
                    .group(group)
                    .channel(channelClass)
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel c) {
                            clients.add(c);
                            ConnectionSlot slot = new ConnectionSlot(open);
                            if (tls != null) {
                                SslHandler ssl = tls.newHandler(c.alloc());
                                ssl.setHandshakeTimeoutMillis(idleTimeout.toMillis());
                                c.pipeline().addLast("tls", ssl);
                            }
                            c.pipeline().addLast("idle", new IdleStateHandler(idleTimeout.toMillis(), 0, 0,
                                            TimeUnit.MILLISECONDS))
                                    .addLast("http", new HttpServerCodec(MAX_REQUEST_LINE_BYTES, MAX_HEADER_BYTES,
                                            AdminHandler.MAX_REQUEST_BYTES))
                                    .addLast("aggregate", new BoundedAggregator())
                                    .addLast("admin", new AdminHandler(endpoints, reloads, reloading,
                                            limits.reloadTimeout()));
                            if (webSocket != null) {
                                WebSocketUpgrade.addTo(c.pipeline(), "aggregate", webSocket);
                            }
                            RequestDeadline.addTo(c.pipeline(), "http", "aggregate", idleTimeout.toMillis(),
                                    () -> endpoints.limitHit(ServerStats.Limit.ADMIN_REQUEST_TIMEOUT));
                            c.pipeline().addFirst(ConnectionSlot.NAME, slot);
                            if (!slot.take(limits.maxConnections())) {
                                endpoints.limitHit(ServerStats.Limit.ADMIN_MAX_CONNECTIONS);
                                c.pipeline().addBefore("http", "refuse", new Refuse(limits.maxConnections()));
                            }
                        }
                    })
                    .bind(bindAddress, port).syncUninterruptibly().channel();
            return new AdminServer(ch, clients, reloads);
        } catch (RuntimeException e) {
            reloads.shutdownNow();
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot listen (admin) on " + bindAddress + ":" + port
                    + ": " + e, e);
        }
    }

    /**
     * A connection over the limit: 503 as soon as it is active (after the TLS handshake, where there is
     * one), and nothing it sends reaches the HTTP decoder.
     */
    private static final class Refuse extends io.netty.channel.ChannelInboundHandlerAdapter {
        private final int max;

        Refuse(int max) {
            this.max = max;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            FullHttpResponse res = AdminHandler.closing(HttpResponseStatus.SERVICE_UNAVAILABLE, "the admin port has " + max
                    + " connections open, its limit (server limit " + ServerConfig.ADMIN_MAX_CONNECTIONS_PROP + "); retry later");
            res.headers().set(HttpHeaderNames.RETRY_AFTER, 1);
            ctx.fireChannelActive();
            LingeringClose.after(ctx.channel().writeAndFlush(res), LingeringClose.REFUSED_LINGER_MS);
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            io.netty.util.ReferenceCountUtil.release(msg);
        }
    }

    /**
     * Counts an HTTP connection of the admin port while it is open: first in the pipeline, it gives its slot
     * back when removed, at close or when a WebSocket upgrade makes the connection a protocol connection
     * (counted by the protocol port's limits from then on).
     */
    static final class ConnectionSlot extends io.netty.channel.ChannelHandlerAdapter {
        static final String NAME = "admin-slot";
        private final AtomicInteger open;
        private boolean held;

        ConnectionSlot(AtomicInteger open) {
            this.open = open;
        }

        boolean take(int max) {
            if (open.incrementAndGet() > max) {
                open.decrementAndGet();
                return false;
            }
            held = true;
            return true;
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            if (held) {
                held = false;
                open.decrementAndGet();
            }
        }
    }

    /** The bound address (with the actual port when the configured one was 0). */
    public InetSocketAddress localAddress() {
        return (InetSocketAddress) channel.localAddress();
    }

    /** Stops listening, closes the open admin connections (keep-alive ones too) and stops the reload thread. */
    @Override
    public void close() {
        channel.close().syncUninterruptibly();
        clients.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        reloads.shutdown();
        try {
            reloads.awaitTermination(5, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * {@link HttpObjectAggregator} whose 413 names the limit and reaches the client: closing a socket with
     * unread request bytes resets the connection, and the client then sees no status line. So the answer is
     * written, the rest of the request is read and dropped, and the connection closes when the client
     * closes or after {@link LingeringClose#LINGER_MS} ms.
     */
    static final class BoundedAggregator extends HttpObjectAggregator {
        BoundedAggregator() {
            super(AdminHandler.MAX_REQUEST_BYTES);
        }

        @Override
        protected void handleOversizedMessage(ChannelHandlerContext ctx, HttpMessage oversized) {
            FullHttpResponse res = AdminHandler.closing(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE,
                    "request too large: the admin port takes at most " + AdminHandler.MAX_REQUEST_BYTES + " bytes of body");
            LingeringClose.after(ctx.writeAndFlush(res));
        }
    }
}
