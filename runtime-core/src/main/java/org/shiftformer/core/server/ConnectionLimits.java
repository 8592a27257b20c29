package org.shiftformer.core.server;

import io.netty.channel.Channel;
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
     * Counts {@code ch} until it closes, if it may stay. A refused connection is not counted: it is closing
     * (after a short linger, {@link RefuseConnection}), and must not keep the next client out.
     *
     * @return null if it may stay, else why it is refused (the Error message)
     */
    String admit(Channel ch) {
        int all = open.incrementAndGet();
        InetAddress address = ch.remoteAddress() instanceof InetSocketAddress a ? a.getAddress() : null;
        int fromAddress = address == null ? 0 : perAddress.merge(address, 1, Integer::sum);
        String refused = null;
        if (all > config.maxConnections()) {
            stats.limit(ServerStats.Limit.MAX_CONNECTIONS);
            refused = "the server has " + config.maxConnections() + " connections open, its limit (server limit "
                    + ServerConfig.MAX_CONNECTIONS_PROP + "); retry later";
        } else if (fromAddress > config.maxConnectionsPerAddress()) {
            stats.limit(ServerStats.Limit.MAX_CONNECTIONS_PER_ADDRESS);
            refused = "address " + address.getHostAddress() + " has " + config.maxConnectionsPerAddress()
                    + " connections open, the limit per address (server limit "
                    + ServerConfig.MAX_CONNECTIONS_PER_ADDRESS_PROP + "); retry later";
        }
        if (refused != null) {
            release(address);
        } else {
            ch.closeFuture().addListener(f -> release(address));
        }
        return refused;
    }

    private void release(InetAddress address) {
        open.decrementAndGet();
        if (address != null) {
            perAddress.computeIfPresent(address, (k, v) -> v == 1 ? null : v - 1);
        }
    }

    /** Answers a refused connection with Error OVERLOADED for request 0 and closes it, processing nothing it sends. */
    static final class RefuseConnection extends ChannelInboundHandlerAdapter {
        private final String why;

        RefuseConnection(String why) {
            this.why = why;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            // Its Hello may be on the way: a plain close would reset the connection before the Error is read.
            LingeringClose.after(ctx.writeAndFlush(new Message.Error(0, ErrorCode.OVERLOADED.value(), why)),
                    LingeringClose.REFUSED_LINGER_MS);
        }
    }
}
