package org.shiftformer.core.server;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.protocol.Message;

/**
 * {@link ServerConfig#maxConnections()} and {@link ServerConfig#maxConnectionsPerAddress()}: counts the open
 * client connections, overall and per remote IP address, from any event loop. A connection over a limit is
 * refused ({@link RefuseConnection}) and counted in {@link ServerStats.Limit}; it never reaches the protocol
 * handler.
 */
final class ConnectionLimits {
    private final ServerConfig config;
    private final ServerStats stats;
    private final AtomicInteger open = new AtomicInteger();
    private final ConcurrentHashMap<InetAddress, Integer> perAddress = new ConcurrentHashMap<>();

    ConnectionLimits(ServerConfig config, ServerStats stats) {
        this.config = config;
        this.stats = stats;
    }

    /**
     * Counts {@code ch} until it closes.
     *
     * @return null if it may stay, else why it is refused (the Error message)
     */
    String admit(Channel ch) {
        int all = open.incrementAndGet();
        InetAddress address = ch.remoteAddress() instanceof InetSocketAddress a ? a.getAddress() : null;
        int fromAddress = address == null ? 0 : perAddress.merge(address, 1, Integer::sum);
        ch.closeFuture().addListener(f -> {
            open.decrementAndGet();
            if (address != null) {
                perAddress.computeIfPresent(address, (k, v) -> v == 1 ? null : v - 1);
            }
        });
        if (all > config.maxConnections()) {
            stats.limit(ServerStats.Limit.MAX_CONNECTIONS);
            return "the server has " + config.maxConnections() + " connections open, its limit (server limit "
                    + ServerConfig.MAX_CONNECTIONS_PROP + "); retry later";
        }
        if (fromAddress > config.maxConnectionsPerAddress()) {
            stats.limit(ServerStats.Limit.MAX_CONNECTIONS_PER_ADDRESS);
            return "address " + address.getHostAddress() + " has " + config.maxConnectionsPerAddress()
                    + " connections open, the limit per address (server limit "
                    + ServerConfig.MAX_CONNECTIONS_PER_ADDRESS_PROP + "); retry later";
        }
        return null;
    }

    /** Answers a refused connection with Error OVERLOADED for request 0 and closes it, reading nothing. */
    static final class RefuseConnection extends ChannelInboundHandlerAdapter {
        private final String why;

        RefuseConnection(String why) {
            this.why = why;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.writeAndFlush(new Message.Error(0, ErrorCode.OVERLOADED.value(), why))
                    .addListener(ChannelFutureListener.CLOSE);
        }
    }
}
