package org.shiftformer.core.server;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.net.InetSocketAddress;
import java.util.concurrent.TimeUnit;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.core.protocol.ProtocolCodec;

/**
 * The streaming server: a Netty {@link ServerBootstrap} (native epoll where {@link Epoll#isAvailable()},
 * NIO otherwise) whose pipeline per connection is the protocol codec ({@link ProtocolCodec}) followed by
 * a {@link ConnectionHandler}; one {@link Scheduler} thread decodes for every connection. Inference never
 * runs on an event loop.
 *
 * <p>Later parts of issue 4 attach here: the admin HTTP port (another bootstrap on its own port, reading
 * {@link #stats()} and {@link #scheduler()}), Micrometer (a {@code MeterBinder} over {@link ServerStats}
 * and the scheduler's gauges) and hot reload (a second {@link ServedModel} with its own scheduler, new
 * connections' requests routed to it while the old one drains).
 */
public final class ShiftformerServer implements AutoCloseable {
    /** The server version announced in Welcome. */
    public static final String VERSION = "0.1.0";

    private final ServerConfig config;
    private final ServedModel served;
    private final ServerStats stats = new ServerStats();
    private final Scheduler scheduler;
    private final EventLoopGroup bossGroup;
    private final EventLoopGroup workerGroup;
    private final ChannelGroup connections = new DefaultChannelGroup("shiftformer-connections",
            GlobalEventExecutor.INSTANCE);
    private final Channel serverChannel;
    private final String transport;
    private boolean closed;

    private ShiftformerServer(ServerConfig config, ServedModel served) {
        this.config = config;
        this.served = served;
        if (served.tokenizer().vocabSize() != served.config().vocabSize()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "tokenizer has " + served.tokenizer().vocabSize()
                    + " ids but the model's vocabulary is " + served.config().vocabSize());
        }
        this.scheduler = new Scheduler(served, config, stats);
        boolean epoll = config.nativeTransport() && Epoll.isAvailable();
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        Class<? extends ServerChannel> channelClass = epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        this.transport = epoll ? "epoll" : "nio";
        this.bossGroup = new MultiThreadIoEventLoopGroup(1, io);
        this.workerGroup = new MultiThreadIoEventLoopGroup(0, io);
        scheduler.start();
        try {
            ServerBootstrap b = new ServerBootstrap()
                    .group(bossGroup, workerGroup)
                    .channel(channelClass)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(
                            config.writeBufferHighWaterMark() / 2, config.writeBufferHighWaterMark()))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            connections.add(ch);
                            ProtocolCodec.addTo(ch.pipeline(), config.maxFrameBytes())
                                    .addLast("connection", new ConnectionHandler(config, scheduler, stats));
                        }
                    });
            if (config.socketSendBufferBytes() > 0) {
                b.childOption(ChannelOption.SO_SNDBUF, config.socketSendBufferBytes());
            }
            this.serverChannel = b.bind(config.bindAddress(), config.port()).syncUninterruptibly().channel();
        } catch (RuntimeException e) {
            try {
                scheduler.shutdown(0);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
            shutdownQuietly();
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot listen on " + config.bindAddress() + ":"
                    + config.port() + ": " + e, e);
        }
    }

    /**
     * Starts serving {@code served} as {@code config} says. The server owns the model from now on and
     * closes it in {@link #close()}.
     *
     * @throws ShiftformerException {@link ErrorCode#IO_ERROR} if the address cannot be bound
     */
    public static ShiftformerServer start(ServerConfig config, ServedModel served) {
        return new ShiftformerServer(config, served);
    }

    /** The bound address (with the actual port when the configured one was 0). */
    public InetSocketAddress localAddress() {
        return (InetSocketAddress) serverChannel.localAddress();
    }

    /** {@code "epoll"} or {@code "nio"}. */
    public String transport() {
        return transport;
    }

    public ServerConfig config() {
        return config;
    }

    public ServerStats stats() {
        return stats;
    }

    public Scheduler scheduler() {
        return scheduler;
    }

    /** Open client connections. */
    public int connectionCount() {
        return connections.size();
    }

    /**
     * Graceful shutdown: stops accepting connections and requests (new requests are answered with Error
     * CANCELLED), lets live streams finish within {@link ServerConfig#drainTimeoutMs()}, ends the rest
     * with Error CANCELLED, closes the model and then the connections. Idempotent.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        serverChannel.close().syncUninterruptibly();
        try {
            scheduler.shutdown(config.drainTimeoutMs());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        // Terminal frames are queued on the event loops before the close tasks, so they are written first.
        connections.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        shutdownQuietly();
    }

    private void shutdownQuietly() {
        workerGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        bossGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        if (!scheduler.isAlive()) {
            served.model().close();
        }
    }
}
