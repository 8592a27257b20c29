package org.shiftformer.core.server.admin;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.handler.codec.http.HttpObjectAggregator;
import io.netty.handler.codec.http.HttpServerCodec;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import org.shiftformer.api.ErrorCode;
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
 *       loop), 200 or an error status with the error text;</li>
 * </ul>
 *
 * 404 for other paths, 405 (with {@code Allow}) for other methods.
 */
public final class AdminServer implements AutoCloseable {
    /** What the admin endpoints read and do: implemented by the streaming server. */
    public interface Endpoints {
        /** True while the server serves (until it has closed). */
        boolean live();

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
    }

    private final Channel channel;
    private final ChannelGroup clients;
    private final ExecutorService reloads;

    private AdminServer(Channel channel, ChannelGroup clients, ExecutorService reloads) {
        this.channel = channel;
        this.clients = clients;
        this.reloads = reloads;
    }

    /**
     * Binds the admin server on {@code group}.
     *
     * @throws ShiftformerException {@link ErrorCode#IO_ERROR} if the address cannot be bound
     */
    public static AdminServer start(EventLoopGroup group, Class<? extends ServerChannel> channelClass, String bindAddress,
                                    int port, Endpoints endpoints) {
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
                            c.pipeline().addLast("http", new HttpServerCodec())
                                    .addLast("aggregate", new HttpObjectAggregator(AdminHandler.MAX_REQUEST_BYTES))
                                    .addLast("admin", new AdminHandler(endpoints, reloads));
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
}
