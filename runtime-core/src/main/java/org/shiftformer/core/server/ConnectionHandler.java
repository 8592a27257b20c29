package org.shiftformer.core.server;

import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import java.io.IOException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.core.server.security.Authenticator;
import org.shiftformer.protocol.FrameDecoder;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.ProtocolCodec;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * The per-connection protocol state machine (PROTOCOL.md sections 3 to 8), on the channel's event loop:
 * Hello first, then model info, pings, translate requests (validated here, decoded by the
 * {@link Scheduler}) and cancels. Nothing here blocks or decodes.
 *
 * <p>The requests in flight live in {@link #inFlight}, touched only on the event loop: a request enters
 * when accepted and leaves when its terminal frame is written (in the same event-loop task, so that a
 * client that reacts to the terminal frame finds the slot and the id free). Outbound Token frames of a
 * request no longer in flight are dropped in {@link #write}, so nothing follows a terminal frame even
 * when a connection error ends requests that the scheduler is still stepping.
 *
 * <p>Backpressure: while the channel is not writable, auto-read is off (no new requests are read) and the
 * scheduler skips this connection's searches; {@link #stalledNs} tells it for how long (the stall timeout).
 *
 * <p>Connection limits (PROTOCOL.md sections 1 and 3): frames before the Welcome are limited to
 * {@link org.shiftformer.protocol.FrameLayout#PRE_HANDSHAKE_MAX_PAYLOAD_BYTES}; a connection that sends
 * no Hello within {@link ServerConfig#handshakeTimeoutMs()}, or stays silent with nothing in flight for
 * {@link ServerConfig#idleTimeoutMs()}, gets a connection Error and is closed. A client that shuts down its
 * write side (half-close) gets its requests already sent finished, then the connection closes.
 */
final class ConnectionHandler extends ChannelDuplexHandler {
    private final ServerConfig config;
    private final ModelRouter router;
    private final ServerStats stats;
    /** Checks Hello tokens and client certificates; null on a server that identifies nobody. */
    private final Authenticator auth;
    /** Who this connection is after its Hello (null: nobody in particular). */
    private Authenticator.Identity identity;
    private final Map<Long, Request> inFlight = new HashMap<>();
    private ChannelHandlerContext ctx;
    private volatile Channel channel;
    private boolean welcomed;
    /** The protocol version negotiated by Hello (0 before). */
    private int version;
    private boolean closing;
    /** The client shut down its write side: finish what is in flight, then close. */
    private boolean inputShutdown;
    /** When a frame last arrived, or the last request in flight ended (event loop). */
    private long lastActivityNs;
    private ScheduledFuture<?> handshakeTimer;
    private ScheduledFuture<?> idleTimer;
    /** {@link System#nanoTime()} when the channel last became not writable, or 0 while it is writable. */
    private volatile long unwritableSinceNs;
    /** This connection's accepted requests that wait for a decode slot, over every scheduler. */
    final AtomicInteger queued = new AtomicInteger();

    ConnectionHandler(ServerConfig config, ModelRouter router, ServerStats stats, Authenticator auth) {
        this.config = config;
        this.router = router;
        this.stats = stats;
        this.auth = auth;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        this.ctx = ctx;
        this.channel = ctx.channel();
        if (ctx.channel().isActive()) {
            startTimers(); // added to a live connection (a WebSocket upgraded on the admin port)
        }
    }

    // ---- inbound ------------------------------------------------------------------------------------

    @Override
    public void channelActive(ChannelHandlerContext ctx) {
        startTimers();
        ctx.fireChannelActive();
    }

    /** The handshake and idle timers, counted from now (once). */
    private void startTimers() {
        if (handshakeTimer != null) {
            return;
        }
        lastActivityNs = System.nanoTime();
        handshakeTimer = ctx.executor().schedule(this::handshakeTimedOut, config.handshakeTimeoutMs(),
                TimeUnit.MILLISECONDS);
        idleTimer = ctx.executor().schedule(this::checkIdle, config.idleTimeoutMs(), TimeUnit.MILLISECONDS);
    }

    private void handshakeTimedOut() {
        if (!welcomed && !closing && ctx.channel().isActive()) {
            stats.limit(ServerStats.Limit.HANDSHAKE_TIMEOUT);
            connectionError(new ShiftformerException(ErrorCode.PROTOCOL_ERROR, "no Hello within "
                    + config.handshakeTimeoutMs() + " ms of connecting (server limit "
                    + ServerConfig.HANDSHAKE_TIMEOUT_MS_PROP + ")"));
        }
    }

    /** Closes the connection when nothing is in flight and nothing arrived for the idle timeout; else looks again later. */
    private void checkIdle() {
        if (closing || !ctx.channel().isActive()) {
            return;
        }
        long idleNs = TimeUnit.MILLISECONDS.toNanos(config.idleTimeoutMs());
        long quietNs = System.nanoTime() - lastActivityNs;
        if (inFlight.isEmpty() && quietNs >= idleNs) {
            stats.limit(ServerStats.Limit.IDLE_TIMEOUT);
            connectionError(new ShiftformerException(ErrorCode.CANCELLED, "connection idle: no request in flight and "
                    + "nothing received for " + config.idleTimeoutMs() + " ms (server limit "
                    + ServerConfig.IDLE_TIMEOUT_MS_PROP + ")"));
            return;
        }
        long next = inFlight.isEmpty() ? idleNs - quietNs : idleNs;
        idleTimer = ctx.executor().schedule(this::checkIdle, Math.max(1, next), TimeUnit.NANOSECONDS);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof SslHandshakeCompletionEvent tls && !tls.isSuccess()) {
            // A client without an acceptable certificate, or one that speaks no TLS: nothing to tell it.
            stats.limit(ServerStats.Limit.TLS_HANDSHAKE);
            closing = true;
            ctx.close();
            return;
        }
        if (evt instanceof ChannelInputShutdownEvent) {
            // Half-close (PROTOCOL.md 3): the client sent everything; finish the requests already accepted
            // (their terminal frames close the connection when the last one is written), as HTTP/1.1 does.
            inputShutdown = true;
            if (inFlight.isEmpty() && !closing) {
                closeAfterWrites();
            }
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    /** Closes once every frame written so far has gone out (the idle timeout closes it if they never do). */
    private void closeAfterWrites() {
        ctx.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        lastActivityNs = System.nanoTime();
        if (closing) {
            return; // after a connection error nothing more is read (Messages hold no buffers)
        }
        if (!(msg instanceof Message m)) {
            connectionError(new ShiftformerException(ErrorCode.INTERNAL, "unexpected inbound " + msg.getClass()));
            return;
        }
        if (!welcomed) {
            if (m instanceof Message.Hello h) {
                hello(h);
            } else {
                connectionError(protocolError("expected Hello as the first frame, got " + m.typeName()));
            }
            return;
        }
        switch (m) {
            case Message.TranslateRequest r -> translate(r);
            case Message.Cancel c -> cancel(c.requestId());
            case Message.Ping p -> ctx.writeAndFlush(new Message.Pong(p.requestId(), p.nonce()));
            case Message.ModelInfoRequest i -> ctx.writeAndFlush(router.current().served().info(i.requestId()));
            case Message.Hello h -> connectionError(protocolError("second Hello on the connection"));
            default -> connectionError(protocolError("server-to-client message " + m.typeName() + " sent by the client"));
        }
    }

    private void hello(Message.Hello h) {
        int version;
        try {
            if (auth != null) { // first: a client that cannot prove who it is learns nothing about the server
                SslHandler tls = ctx.pipeline().get(SslHandler.class);
                identity = auth.identify(h.token(), tls == null ? null : tls.engine().getSession());
            }
            version = ProtocolVersion.SUPPORTED.negotiate(h.minVersion(), h.maxVersion());
        } catch (ShiftformerException e) {
            connectionError(e);
            return;
        }
        Scheduler current = router.current();
        if (current == null) {
            connectionError(new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE,
                    "no model is loaded yet; retry when /health/ready answers 200"));
            return;
        }
        welcomed = true;
        this.version = version;
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        if (ctx.pipeline().get(ProtocolCodec.FRAME_DECODER) instanceof FrameDecoder frames) {
            frames.limit(config.maxFrameBytes()); // the pre-handshake limit is lifted with the Welcome
        }
        ctx.writeAndFlush(new Message.Welcome(0, version, "shiftformer", ShiftformerServer.VERSION,
                config.maxFrameBytes(), config.maxInFlight(), config.maxBeamWidth(), current.served().summary()));
    }

    private void translate(Message.TranslateRequest m) {
        long id = m.requestId();
        if (id == 0) {
            connectionError(protocolError("TranslateRequest with request id 0"));
            return;
        }
        if (inFlight.containsKey(id)) {
            connectionError(protocolError("TranslateRequest id " + Long.toUnsignedString(id) + " is already in flight"));
            return;
        }
        long received = System.nanoTime();
        if (inFlight.size() >= config.maxInFlight()) {
            reject(new Message.Error(id, ErrorCode.OVERLOADED.value(), "connection has " + inFlight.size()
                    + " requests in flight, the limit is " + config.maxInFlight() + "; retry later"));
            return;
        }
        if (identity != null) {
            ShiftformerException revoked = auth.revoked(identity);
            if (revoked != null) {
                connectionError(revoked);
                return;
            }
        }
        while (true) {
            // Validated against the model that will decode it: after a hot reload, the new one.
            Scheduler scheduler = router.current();
            Request r;
            try {
                r = prepare(m, scheduler, received);
            } catch (ShiftformerException e) {
                reject(Message.Error.of(id, e));
                return;
            }
            if (!track(r)) {
                return;
            }
            Message.Error refused = scheduler.submit(r);
            if (refused == null) {
                return;
            }
            untrack(r);
            if (refused != Scheduler.RETIRED) {
                ctx.writeAndFlush(refused);
                return;
            }
            // A reload retired it between router.current() and submit: the router already has the new one.
        }
    }

    /** Validates a request against the model and the limits (PROTOCOL.md 4) and makes its source ids. */
    private Request prepare(Message.TranslateRequest m, Scheduler scheduler, long receivedNs) {
        ServedModel served = scheduler.served();
        ModelConfig cfg = served.config();
        if (m.usesVersion2() && version < ProtocolVersion.RESUME) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "TranslateRequest.resume_tokens and model_sha256 "
                    + "are protocol version " + ProtocolVersion.RESUME + "; this connection negotiated version " + version);
        }
        if (m.modelSha256() != null && !m.modelSha256().equals(served.sha256())) {
            throw new ShiftformerException(ErrorCode.MODEL_MISMATCH, "the request is for model " + m.modelSha256()
                    + " but this server decodes with model " + served.sha256());
        }
        if ((m.text() == null) == (m.tokens() == null)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "a TranslateRequest needs exactly one of text and tokens, got " + (m.text() == null ? "neither" : "both"));
        }
        int maxSource = cfg.maxPositions() - 1; // the EOS takes one position
        int[] ids;
        if (m.tokens() != null) {
            ids = m.tokens();
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] < 0 || ids[i] >= cfg.vocabSize()) {
                    throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "tokens[" + i + "] = "
                            + Integer.toUnsignedString(ids[i]) + " is outside the vocabulary [0, " + cfg.vocabSize() + ")");
                }
            }
        } else {
            // Every token holds at least one byte and a char at most 3: longer text cannot fit, and
            // rejecting it first bounds the tokenizer's work on the event loop.
            if (m.text().length() > (long) maxSource * served.tokenizer().maxTokenBytes()) {
                throw sourceTooLong(">" + maxSource, cfg);
            }
            ids = served.tokenizer().encode(m.text());
        }
        if (ids.length > maxSource) {
            throw sourceTooLong(Integer.toString(ids.length), cfg);
        }
        int[] source = java.util.Arrays.copyOf(ids, ids.length + 1);
        source[ids.length] = cfg.eosId();

        Message.Params p = m.paramsOrDefaults();
        if (p.maxNewTokens() == 0 && config.defaultMaxNewTokens() > 0) {
            p = new Message.Params(p.beamWidth(), Math.min(config.defaultMaxNewTokens(), cfg.maxPositions() - 1),
                    p.alphaQ8());
        }
        DecodeParams params = p.resolve(cfg.maxPositions(), config.maxBeamWidth());
        int[] resume = m.resumeTokens();
        if (resume != null) {
            if (resume.length > params.maxNewTokens()) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "resume_tokens has " + resume.length
                        + " tokens, more than max_new_tokens " + params.maxNewTokens() + " lets the output have");
            }
            for (int i = 0; i < resume.length; i++) {
                if (resume[i] < 0 || resume[i] >= cfg.vocabSize() || resume[i] == cfg.eosId()) {
                    throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "resume_tokens[" + i + "] = "
                            + Integer.toUnsignedString(resume[i]) + " is not an output token (outside [0, "
                            + cfg.vocabSize() + ") or the EOS " + cfg.eosId() + ")");
                }
            }
        }
        return new Request(this, scheduler, m.requestId(), source, params, m.stream(), receivedNs, m.deadlineMs(), resume,
                stats);
    }

    private static ShiftformerException sourceTooLong(String tokens, ModelConfig cfg) {
        return new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED, "source of " + tokens
                + " tokens plus EOS exceeds the model's max_positions " + cfg.maxPositions() + " (at most "
                + (cfg.maxPositions() - 1) + " source tokens)");
    }

    /**
     * Puts an accepted request in flight, counting it against its client's {@code max_in_flight} over all
     * of the client's connections; false (and the request answered OVERLOADED) when that is reached.
     */
    private boolean track(Request r) {
        if (identity != null && !identity.load().tryAcquire(identity.maxInFlight())) {
            stats.limit(ServerStats.Limit.CLIENT_IN_FLIGHT);
            reject(new Message.Error(r.id, ErrorCode.OVERLOADED.value(), "client '" + identity.name() + "' has "
                    + identity.load().inFlight() + " requests in flight over all its connections, its limit (max_in_flight"
                    + " in the server's tokens file) is " + identity.maxInFlight() + "; retry later"));
            return false;
        }
        inFlight.put(r.id, r);
        return true;
    }

    /** Takes {@code r} out of flight if it still is; true if it was. */
    private boolean untrack(Request r) {
        if (!inFlight.remove(r.id, r)) {
            return false;
        }
        if (identity != null) {
            identity.load().release(1);
        }
        return true;
    }

    private void reject(Message.Error error) {
        stats.reject(error.code());
        ctx.writeAndFlush(error);
    }

    private void cancel(long id) {
        Request r = inFlight.get(id);
        if (r != null) { // unknown or finished: ignored (PROTOCOL.md 6)
            r.signal(Request.CANCEL);
            r.scheduler.wake();
        }
    }

    @Override
    public void channelWritabilityChanged(ChannelHandlerContext ctx) {
        boolean writable = ctx.channel().isWritable();
        if (writable) {
            unwritableSinceNs = 0;
        } else if (unwritableSinceNs == 0) {
            unwritableSinceNs = System.nanoTime() | 1; // never 0: 0 means writable
        }
        if (!closing) {
            ctx.channel().config().setAutoRead(writable);
        }
        if (writable) {
            router.wakeAll();
        }
        ctx.fireChannelWritabilityChanged();
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        if (handshakeTimer != null) {
            handshakeTimer.cancel(false);
        }
        if (idleTimer != null) {
            idleTimer.cancel(false);
        }
        // The client abandoned its requests: the scheduler drops them at its next step boundary.
        for (Request r : inFlight.values()) {
            r.signal(Request.DISCONNECT);
        }
        if (!inFlight.isEmpty()) {
            if (identity != null) {
                identity.load().release(inFlight.size());
            }
            inFlight.clear();
            router.wakeAll();
        }
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable t = ProtocolCodec.unwrap(cause);
        if (t instanceof ShiftformerException e && !welcomed && !closing
                && ctx.pipeline().get(ProtocolCodec.FRAME_DECODER) instanceof FrameDecoder frames
                && frames.failedOnLowerLimit()) {
            stats.limit(ServerStats.Limit.PRE_HANDSHAKE_BYTES);
        }
        if (t instanceof ShiftformerException e) {
            connectionError(e);
        } else if (t instanceof IOException) {
            ctx.close(); // reset by peer and the like: nobody to tell
        } else {
            connectionError(new ShiftformerException(ErrorCode.INTERNAL, "server error: " + t, t));
        }
    }

    /**
     * PROTOCOL.md 8: ends every request in flight with an Error of its own (same code and message), then
     * sends Error for request 0 and closes. Reads nothing more.
     */
    private void connectionError(ShiftformerException e) {
        if (closing) {
            return;
        }
        closing = true;
        stats.connectionErrors.increment();
        ctx.channel().config().setAutoRead(false);
        for (Request r : new ArrayList<>(inFlight.values())) {
            // If the scheduler decided first, its frame is written now (and its queued task finds nothing).
            r.terminate(Message.Error.of(r.id, e));
            writeTerminal(r);
        }
        router.wakeAll();
        ChannelFuture sent = ctx.writeAndFlush(Message.Error.of(0, e));
        if (ctx.channel().isWritable()) {
            LingeringClose.after(sent); // closing with unread input would reset the connection, Error and all
        } else {
            ctx.close(); // its client reads nothing: waiting for the frames to drain could take forever
        }
    }

    private static ShiftformerException protocolError(String message) {
        return new ShiftformerException(ErrorCode.PROTOCOL_ERROR, "frame: " + message);
    }

    // ---- outbound, called by the scheduler thread -----------------------------------------------------

    boolean isWritable() {
        Channel ch = channel;
        return ch != null && ch.isWritable();
    }

    /**
     * How long the channel has been not writable at {@code nowNs} (its client reads nothing while the server
     * has more than the high-water mark for it), or 0 while it is writable. Any thread.
     */
    long stalledNs(long nowNs) {
        long since = unwritableSinceNs;
        return since == 0 ? 0 : Math.max(1, nowNs - since);
    }

    /** Queues a Token frame (any thread; flushed by {@link #flush}). */
    void writeToken(Message.Token token) {
        channel.write(token, channel.voidPromise());
    }

    void flush() {
        channel.flush();
    }

    /** Writes {@code r}'s terminal frame on the event loop, after the Token frames queued before it. */
    void sendTerminal(Request r) {
        if (ctx.executor().inEventLoop()) {
            writeTerminal(r);
        } else {
            ctx.executor().execute(() -> writeTerminal(r));
        }
    }

    private void writeTerminal(Request r) {
        if (untrack(r)) {
            Message frame = r.terminalFrame();
            if (frame != null) {
                ctx.writeAndFlush(frame).addListener(f -> {
                    // A Done too large for the frame limit must still end the request (with a small Error).
                    if (!f.isSuccess() && f.cause() instanceof ShiftformerException e && ctx.channel().isActive()) {
                        ctx.writeAndFlush(new Message.Error(r.id, ErrorCode.INTERNAL.value(),
                                frame.typeName() + " frame could not be sent: " + e.getMessage()));
                    }
                });
            }
            if (inFlight.isEmpty()) {
                lastActivityNs = System.nanoTime();
                if (inputShutdown && !closing) {
                    closeAfterWrites(); // half-closed: the last request it sent has ended
                }
            }
        }
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof Message.Token t && !inFlight.containsKey(t.requestId())) {
            promise.trySuccess(); // its request already ended: nothing may follow the terminal frame
            return;
        }
        ctx.write(msg, promise);
    }
}
