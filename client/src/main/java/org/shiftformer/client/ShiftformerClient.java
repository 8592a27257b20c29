package org.shiftformer.client;

import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.protocol.FrameDecoder;
import org.shiftformer.protocol.FrameLayout;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.MessageEncoder;
import org.shiftformer.protocol.ProtocolCodec;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * A connection to a shiftformer server (PROTOCOL.md): Netty (native epoll where available, NIO
 * otherwise), Hello / Welcome version negotiation and the server's ModelInfo on {@link #connect}, then any
 * number of concurrent requests multiplexed on the one connection, each under a request id the client
 * picks. Three ways to run a request, all thread-safe:
 *
 * <ul>
 *   <li>{@link #translate(TranslationRequest, TranslationListener)}: asynchronous; tokens go to the
 *       listener as they arrive, the returned {@link TranslationFuture} completes with the result;</li>
 *   <li>{@link #stream(TranslationRequest)}: a {@link java.util.concurrent.Flow.Publisher} of tokens that
 *       honours {@code request(n)}; a subscriber that falls behind stops the connection reading from its
 *       socket, so backpressure reaches the server (and, through TCP, its decode loop);</li>
 *   <li>{@link #translateBlocking(TranslationRequest)}: an iterator of tokens that ends with the result
 *       and throws the request's error.</li>
 * </ul>
 *
 * Every request ends exactly once: with its result, or with a {@link ShiftformerException} carrying the
 * server's {@link ErrorCode} ({@link RequestCancelledException} after a cancel). A lost connection fails
 * every request still in flight once, with {@link ErrorCode#IO_ERROR} (or the code of the server's
 * connection error), naming the request and how many tokens had arrived.
 *
 * <p>Protocol version 1 has no per-request flow control: when one {@link TokenPublisher} subscriber stops
 * the connection reading, every request on the connection waits. Put independent slow consumers on
 * separate connections.
 */
public final class ShiftformerClient implements AutoCloseable {
    private final ClientOptions options;
    private final String peer;
    private final EventLoopGroup group;
    private final String transport;
    private final Channel channel;
    private final Message.Welcome welcome;
    private final Message.ModelInfo modelInfo;
    private final Map<Long, Call> calls = new ConcurrentHashMap<>();
    private final Map<Long, PendingPing> pings = new ConcurrentHashMap<>();
    private final java.util.concurrent.atomic.LongAdder keepAlivePings = new java.util.concurrent.atomic.LongAdder();
    private final AtomicLong nextRequestId = new AtomicLong(1);
    private final AtomicLong nextNonce = new AtomicLong(1);
    /** Why the connection is (about to be) gone; null while it is usable. */
    private final AtomicReference<ShiftformerException> closedBy = new AtomicReference<>();
    private final AtomicBoolean closeCalled = new AtomicBoolean();
    private final CompletableFuture<Void> closeFuture = new CompletableFuture<>();
    private final CompletableFuture<Message.ModelInfo> handshake = new CompletableFuture<>();
    /** Event loop only: publishers whose subscriber is behind; auto-read is off while this is above 0. */
    private int stalledStreams;

    private ShiftformerClient(String host, int port, ClientOptions options) {
        this.options = Objects.requireNonNull(options, "options");
        this.peer = host + ":" + port;
        if (port < 1 || port > 65535) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "port " + port + " must be in [1, 65535]");
        }
        boolean epoll = options.nativeTransport() && Epoll.isAvailable();
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        this.transport = epoll ? "epoll" : "nio";
        this.group = new MultiThreadIoEventLoopGroup(1, io);
        long timeoutMs = options.connectTimeout().toMillis();
        long start = System.nanoTime();
        Handler handler = new Handler();
        SslContext tls = options.tls() == null ? null : options.tls().context();
        String serverName = options.tls() != null && options.tls().serverName() != null ? options.tls().serverName() : host;
        Bootstrap b = new Bootstrap()
                .group(group)
                .channel(epoll ? EpollSocketChannel.class : NioSocketChannel.class)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) timeoutMs)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        if (tls != null) {
                            // The server's certificate is checked for serverName (SNI too), as HTTPS does.
                            SslHandler ssl = tls.newHandler(ch.alloc(), serverName, port);
                            ssl.setHandshakeTimeoutMillis(timeoutMs);
                            ch.pipeline().addLast("tls", ssl);
                        }
                        // Until Welcome announces the server's limit, 64 KiB is what PROTOCOL.md allows.
                        if (!options.keepAlive().isZero()) {
                            ch.pipeline().addLast("keep-alive", new IdleStateHandler(0, 0,
                                    options.keepAlive().toMillis(), TimeUnit.MILLISECONDS));
                        }
                        ProtocolCodec.addTo(ch.pipeline(), FrameLayout.MIN_MAX_PAYLOAD_BYTES).addLast("client", handler);
                    }
                });
        ChannelFuture cf = b.connect(host, port);
        if (!cf.awaitUninterruptibly(timeoutMs) || !cf.isSuccess()) {
            cf.cancel(false);
            shutdownGroup();
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot connect to " + peer + ": "
                    + (cf.cause() != null ? cf.cause().getMessage() : "timed out after " + timeoutMs + " ms"), cf.cause());
        }
        this.channel = cf.channel();
        Message.ModelInfo info;
        try {
            long left = Math.max(1, timeoutMs - TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
            info = handshake.get(left, TimeUnit.MILLISECONDS);
        } catch (InterruptedException | ExecutionException | TimeoutException e) {
            channel.close().awaitUninterruptibly(timeoutMs);
            shutdownGroup();
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            if (e.getCause() instanceof ShiftformerException se) {
                throw se;
            }
            throw new ShiftformerException(ErrorCode.IO_ERROR, e instanceof TimeoutException
                    ? "no Welcome and ModelInfo from " + peer + " within " + timeoutMs + " ms"
                    : "interrupted while connecting to " + peer, e);
        }
        this.welcome = handler.welcome;
        this.modelInfo = info;
    }

    /** Connects with {@link ClientOptions#defaults()}; see {@link #connect(String, int, ClientOptions)}. */
    public static ShiftformerClient connect(String host, int port) {
        return connect(host, port, ClientOptions.defaults());
    }

    /**
     * Opens a connection, negotiates the protocol version and fetches the server's ModelInfo, within
     * {@link ClientOptions#connectTimeout()}.
     *
     * @throws ShiftformerException {@link ErrorCode#IO_ERROR} if the server cannot be reached or does not
     *                              answer in time, {@link ErrorCode#UNSUPPORTED_VERSION} (or another code)
     *                              if the server refuses the connection
     */
    public static ShiftformerClient connect(String host, int port, ClientOptions options) {
        return new ShiftformerClient(Objects.requireNonNull(host, "host"), port, options);
    }

    // ---- what the server said -------------------------------------------------------------------------

    /** The server's Welcome: negotiated version, server name and version, limits, model summary. */
    public Message.Welcome welcome() {
        return welcome;
    }

    /** The negotiated protocol version. */
    public int protocolVersion() {
        return welcome.version();
    }

    /** The served model (hyper-parameters, SHA-256, backend, tokenizer, provenance), fetched on connect. */
    public Message.ModelInfo modelInfo() {
        return modelInfo;
    }

    /** {@code "epoll"} or {@code "nio"}. */
    public String transport() {
        return transport;
    }

    /** The server's address. */
    public InetSocketAddress remoteAddress() {
        return (InetSocketAddress) channel.remoteAddress();
    }

    /** Requests sent and not yet ended. */
    public int inFlight() {
        return calls.size();
    }

    /** True until the connection is closed (by either side) or failed. */
    public boolean isOpen() {
        return closedBy.get() == null && channel.isActive();
    }

    /** Completes once the connection is closed and every request in flight has been failed. */
    public CompletableFuture<Void> closeFuture() {
        return closeFuture.copy();
    }

    // ---- requests ---------------------------------------------------------------------------------------

    /** {@link #translate(TranslationRequest, TranslationListener)} without a listener. */
    public TranslationFuture translate(TranslationRequest request) {
        return translate(request, TranslationListener.NONE);
    }

    /**
     * Sends {@code request} and returns at once. The listener receives every token and then exactly one
     * of {@code onDone} / {@code onError}, on the connection's event loop; the future completes right
     * after, with the {@link Translation} or the request's {@link ShiftformerException}.
     */
    public TranslationFuture translate(TranslationRequest request, TranslationListener listener) {
        Objects.requireNonNull(request, "request");
        ListenerCall call = new ListenerCall(Objects.requireNonNull(listener, "listener"));
        register(call);
        call.future = new TranslationFuture(this, call.id);
        send(call, request);
        return call.future;
    }

    /**
     * A cold, single-subscriber publisher of {@code request}'s tokens: subscribing sends the request. It
     * delivers no more tokens than requested; while its subscriber has no demand and
     * {@link ClientOptions#streamBufferTokens()} tokens are buffered, the connection stops reading (auto-read
     * off) until the subscriber catches up. Completes after the last token (its result is
     * {@link TokenPublisher#result()}), fails with the request's error; cancelling the subscription
     * cancels the request on the server.
     */
    public TokenPublisher stream(TranslationRequest request) {
        return new TokenPublisher(this, Objects.requireNonNull(request, "request"));
    }

    /**
     * Sends {@code request} and returns an iterator of its tokens that blocks for the next one, ends after
     * the last (then {@link TokenIterator#result()} is the Done frame's result) and throws the request's
     * {@link ShiftformerException} if it fails. Close it (or its {@link TokenIterator#stream()}) to cancel
     * a request you stop reading. Built on {@link #stream}: a consumer that stops iterating also stops
     * the connection reading.
     */
    public TokenIterator translateBlocking(TranslationRequest request) {
        return new TokenIterator(stream(request), options.streamBufferTokens());
    }

    /**
     * Asks the server to stop the request {@code requestId} (a Cancel frame). Its outcome is still the
     * server's terminal frame: {@link RequestCancelledException}, or its result or error if it ended
     * first. An id not in flight is ignored.
     */
    public void cancel(long requestId) {
        if (calls.containsKey(requestId) && closedBy.get() == null) {
            // If the connection is going, the write fails and the loss fails the request: nothing to add.
            channel.writeAndFlush(new Message.Cancel(requestId));
        }
    }

    /** Pings this client sent by itself to keep an idle connection open ({@link ClientOptions#keepAlive()}). */
    public long keepAlivePings() {
        return keepAlivePings.sum();
    }

    /** Sends a Ping; completes with the round-trip time when the Pong arrives, or fails if the connection is lost. */
    public CompletableFuture<Duration> ping() {
        long nonce = nextNonce.getAndIncrement();
        PendingPing p = new PendingPing(System.nanoTime());
        pings.put(nonce, p);
        ShiftformerException closed = closedBy.get();
        if (closed != null && pings.remove(nonce) != null) {
            p.future.completeExceptionally(closed);
            return p.future;
        }
        channel.writeAndFlush(new Message.Ping(0, nonce)).addListener(f -> {
            if (!f.isSuccess() && pings.remove(nonce) != null) {
                p.future.completeExceptionally(writeFailure("Ping", f.cause()));
            }
        });
        return p.future;
    }

    /**
     * Closes the connection and fails every request still in flight with {@link ErrorCode#CANCELLED}
     * (the server cancels them). Idempotent; waits up to a few seconds for the event loop to stop.
     */
    @Override
    public void close() {
        if (!closeCalled.compareAndSet(false, true)) {
            return;
        }
        closedBy.compareAndSet(null, new ShiftformerException(ErrorCode.CANCELLED,
                "the client closed its connection to " + peer));
        channel.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        shutdownGroup();
    }

    private void shutdownGroup() {
        group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    // ---- machinery shared with the publisher ------------------------------------------------------------

    /**
     * One request in flight. Its methods run on the event loop; once {@link #close()} has stopped the loop,
     * on the caller's thread while holding the call's monitor ({@link #onLoop}).
     */
    abstract static class Call {
        long id;
        int tokenCount;

        abstract void token(TokenEvent token);

        abstract void done(Translation result);

        abstract void failed(ShiftformerException error);
    }

    private record PendingPing(long sentNs, CompletableFuture<Duration> future) {
        PendingPing(long sentNs) {
            this(sentNs, new CompletableFuture<>());
        }
    }

    /**
     * Runs {@code task} of {@code call} on the event loop, or, once {@link #close()} has stopped the loop
     * (no frame can arrive then), here while holding {@code call}'s monitor, as every such late task does.
     */
    void onLoop(Call call, Runnable task) {
        try {
            channel.eventLoop().execute(task);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            synchronized (call) {
                task.run();
            }
        }
    }

    EventLoop eventLoop() {
        return channel.eventLoop();
    }

    ClientOptions options() {
        return options;
    }

    /** Gives {@code call} a request id not in flight and puts it in flight. */
    void register(Call call) {
        while (true) {
            long id = nextRequestId.getAndIncrement();
            if (id == 0) {
                continue; // request id 0 is the connection's
            }
            call.id = id;
            if (calls.putIfAbsent(id, call) == null) {
                return;
            }
        }
    }

    /** Writes {@code call}'s request; a request that cannot be written fails once. */
    void send(Call call, TranslationRequest request) {
        Message.TranslateRequest msg = request.toMessage(call.id, options.defaultDeadline());
        if (request.usesVersion2() && welcome.version() < ProtocolVersion.RESUME) {
            if (calls.remove(call.id, call)) {
                ShiftformerException old = new ShiftformerException(ErrorCode.INVALID_ARGUMENT, peer + " speaks protocol "
                        + "version " + welcome.version() + ": it cannot resume a stream or check the model (version "
                        + ProtocolVersion.RESUME + ")");
                onLoop(call, () -> call.failed(old));
            }
            return;
        }
        if (request.resumeTokens() != null) {
            call.tokenCount = request.resumeTokens().length; // Token frames start at this index
        }
        // Either this sees closedBy, or channelInactive (which sets closedBy first) sees the call.
        ShiftformerException closed = closedBy.get();
        if (closed != null) {
            if (calls.remove(call.id, call)) {
                // On the event loop like every other signal of the call: a publisher's subscription may have a
                // request(n) queued there, and two threads draining it could signal its subscriber twice
                // (Reactive Streams 1.3 and 1.7).
                ShiftformerException lost = lost(closed, call);
                onLoop(call, () -> call.failed(lost));
            }
            return;
        }
        channel.writeAndFlush(msg).addListener(f -> {
            if (!f.isSuccess() && calls.remove(call.id, call)) {
                call.failed(writeFailure("request " + Long.toUnsignedString(call.id), f.cause()));
            }
        });
    }

    private ShiftformerException writeFailure(String what, Throwable cause) {
        if (cause instanceof ShiftformerException se) {
            return new ShiftformerException(se.code(), "cannot send " + what + ": " + se.getMessage(), se);
        }
        ShiftformerException closed = closedBy.get();
        if (closed != null) {
            return new ShiftformerException(closed.code(), closed.getMessage() + " before " + what + " was sent", cause);
        }
        return new ShiftformerException(ErrorCode.IO_ERROR, "cannot send " + what + " to " + peer + ": " + cause, cause);
    }

    private static ShiftformerException lost(ShiftformerException why, Call call) {
        return new ShiftformerException(why.code(), why.getMessage() + " before request "
                + Long.toUnsignedString(call.id) + " ended (" + call.tokenCount + " tokens received)", why);
    }

    /** Whether the connection reads from its socket (false while a publisher's subscriber is behind). */
    boolean isReading() {
        return channel.config().isAutoRead();
    }

    /** Event loop only: a publisher's subscriber fell behind; stop reading the socket. */
    void stall() {
        if (stalledStreams++ == 0) {
            channel.config().setAutoRead(false);
        }
    }

    /** Event loop only: a stalled publisher's subscriber caught up; read again when no one is behind. */
    void unstall() {
        if (stalledStreams > 0 && --stalledStreams == 0) {
            channel.config().setAutoRead(true);
        }
    }

    /** Sends a Cancel for {@code call} if it is still in flight (the publisher, on the event loop). */
    void cancel(Call call) {
        if (calls.get(call.id) == call) {
            cancel(call.id);
        }
    }

    /** The listener API's call. */
    private final class ListenerCall extends Call {
        private final TranslationListener listener;
        private TranslationFuture future;
        /** The listener threw: the caller has its outcome; the server's terminal frame is awaited silently. */
        private boolean abandoned;

        ListenerCall(TranslationListener listener) {
            this.listener = listener;
        }

        @Override
        void token(TokenEvent token) {
            if (abandoned) {
                return;
            }
            try {
                listener.onToken(token);
            } catch (Throwable t) {
                abandoned = true;
                cancel(id);
                future.completeExceptionally(new ShiftformerException(ErrorCode.INTERNAL, "the listener of request "
                        + Long.toUnsignedString(id) + " threw on token " + token.index() + ": " + t, t));
            }
        }

        @Override
        void done(Translation result) {
            if (abandoned) {
                return;
            }
            try {
                listener.onDone(result);
            } catch (Throwable t) {
                future.completeExceptionally(new ShiftformerException(ErrorCode.INTERNAL, "the listener of request "
                        + Long.toUnsignedString(id) + " threw in onDone: " + t, t));
                return;
            }
            future.complete(result);
        }

        @Override
        void failed(ShiftformerException error) {
            if (abandoned) {
                return;
            }
            try {
                listener.onError(error);
            } catch (Throwable t) {
                error.addSuppressed(t);
            }
            future.completeExceptionally(error);
        }
    }

    /** The pipeline's last stage, on the event loop: handshake, then frames routed to their calls. */
    private final class Handler extends ChannelInboundHandlerAdapter {
        /** Nothing sent or received for {@link ClientOptions#keepAlive()}: a Ping keeps the server's idle timeout away. */
        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) throws Exception {
            if (evt instanceof SslHandshakeCompletionEvent tls && !tls.isSuccess()) {
                Throwable t = tls.cause();
                closeWith(ctx, new ShiftformerException(ErrorCode.IO_ERROR, "TLS handshake with " + peer + " failed: "
                        + (t.getMessage() != null ? t.getMessage() : t.toString()), t));
                return;
            }
            if (evt instanceof IdleStateEvent) {
                if (handshake.isDone() && closedBy.get() == null) {
                    keepAlivePings.increment();
                    ping(); // its answer (or the connection's failure) completes a future nobody waits for
                }
                return;
            }
            super.userEventTriggered(ctx, evt);
        }

        private Message.Welcome welcome;

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ProtocolVersion v = ProtocolVersion.SUPPORTED;
            // Over TLS, the SslHandler holds this until its handshake has verified the server.
            ctx.writeAndFlush(new Message.Hello(0, v.min(), v.max(), options.clientName(), options.token()));
            ctx.fireChannelActive();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (closedBy.get() != null) {
                return; // failing or closing: nothing more is delivered (Messages hold no buffers)
            }
            if (!(msg instanceof Message m)) {
                violation(ctx, "unexpected inbound " + msg.getClass().getName());
                return;
            }
            if (!handshake.isDone()) {
                handshake(ctx, m);
                return;
            }
            switch (m) {
                case Message.Token t -> token(ctx, t);
                case Message.Done d -> terminal(ctx, d);
                case Message.Cancelled c -> terminal(ctx, c);
                case Message.Error e when e.requestId() == 0 -> closeWith(ctx, new ShiftformerException(e.errorCode(),
                        "the server closed the connection: [" + e.errorCode() + "] " + e.message()));
                case Message.Error e -> terminal(ctx, e);
                case Message.Pong p -> {
                    PendingPing ping = pings.remove(p.nonce());
                    if (ping == null) {
                        violation(ctx, "Pong with nonce " + Long.toUnsignedString(p.nonce()) + ", which was not sent");
                    } else {
                        ping.future.complete(Duration.ofNanos(System.nanoTime() - ping.sentNs));
                    }
                }
                default -> violation(ctx, "unexpected " + m.typeName() + " frame");
            }
        }

        private void handshake(ChannelHandlerContext ctx, Message m) {
            if (m instanceof Message.Error e) {
                closeWith(ctx, new ShiftformerException(e.errorCode(), peer + " refused the connection: " + e.message()));
            } else if (welcome == null && m instanceof Message.Welcome w) {
                if (w.version() < ProtocolVersion.SUPPORTED.min() || w.version() > ProtocolVersion.SUPPORTED.max()) {
                    violation(ctx, "Welcome chose protocol version " + w.version() + ", outside the offered "
                            + ProtocolVersion.SUPPORTED);
                    return;
                }
                welcome = w;
                // The server sends nothing more until asked, so the frame decoder holds no bytes to lose.
                int limit = Math.clamp(w.maxFrameBytes(), FrameLayout.MIN_MAX_PAYLOAD_BYTES,
                        FrameLayout.MAX_MAX_PAYLOAD_BYTES);
                ctx.pipeline().replace(ProtocolCodec.FRAME_DECODER, ProtocolCodec.FRAME_DECODER, new FrameDecoder(limit));
                ctx.pipeline().replace(ProtocolCodec.MESSAGE_ENCODER, ProtocolCodec.MESSAGE_ENCODER,
                        new MessageEncoder(limit));
                ctx.writeAndFlush(new Message.ModelInfoRequest(0));
            } else if (welcome != null && m instanceof Message.ModelInfo info) {
                handshake.complete(info);
            } else {
                violation(ctx, "unexpected " + m.typeName() + " frame while connecting");
            }
        }

        private void token(ChannelHandlerContext ctx, Message.Token t) {
            Call call = calls.get(t.requestId());
            if (call == null) {
                violation(ctx, "Token for request " + Long.toUnsignedString(t.requestId()) + ", which is not in flight");
                return;
            }
            if (t.index() != call.tokenCount) {
                violation(ctx, "Token " + t.index() + " of request " + Long.toUnsignedString(t.requestId())
                        + " where token " + call.tokenCount + " was due");
                return;
            }
            call.tokenCount++;
            call.token(new TokenEvent(t.requestId(), t.token(), t.text(), t.index(), t.deviceCycles()));
        }

        private void terminal(ChannelHandlerContext ctx, Message m) {
            Call call = calls.remove(m.requestId());
            if (call == null) {
                violation(ctx, m.typeName() + " for request " + Long.toUnsignedString(m.requestId())
                        + ", which is not in flight");
                return;
            }
            switch (m) {
                case Message.Done d -> call.done(Translation.of(d));
                case Message.Cancelled c -> call.failed(new RequestCancelledException(c.requestId(), c.tokenCount()));
                case Message.Error e -> call.failed(new ShiftformerException(e.errorCode(), e.message()));
                default -> throw new IllegalStateException(m.typeName());
            }
        }

        private void violation(ChannelHandlerContext ctx, String what) {
            closeWith(ctx, new ShiftformerException(ErrorCode.PROTOCOL_ERROR, "the server at " + peer
                    + " broke the protocol: " + what));
        }

        private void closeWith(ChannelHandlerContext ctx, ShiftformerException why) {
            closedBy.compareAndSet(null, why);
            ctx.close();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            Throwable t = ProtocolCodec.unwrap(cause);
            closeWith(ctx, t instanceof ShiftformerException se
                    ? new ShiftformerException(se.code(), "connection to " + peer + " failed: " + se.getMessage(), se)
                    : new ShiftformerException(ErrorCode.IO_ERROR, "connection to " + peer + " failed: "
                    + (t instanceof IOException ? t.getMessage() : t.toString()), t));
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            closedBy.compareAndSet(null, new ShiftformerException(ErrorCode.IO_ERROR,
                    "the connection to " + peer + " was closed by the server"));
            ShiftformerException why = closedBy.get();
            handshake.completeExceptionally(why);
            for (Long id : calls.keySet()) {
                Call call = calls.remove(id);
                if (call != null) {
                    call.failed(lost(why, call));
                }
            }
            for (Long nonce : pings.keySet()) {
                PendingPing p = pings.remove(nonce);
                if (p != null) {
                    p.future.completeExceptionally(why);
                }
            }
            stalledStreams = 0;
            closeFuture.complete(null);
            ctx.fireChannelInactive();
        }
    }
}
