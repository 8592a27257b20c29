package org.shiftformer.core.server;

import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.jvm.JvmGcMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmMemoryMetrics;
import io.micrometer.core.instrument.binder.jvm.JvmThreadMetrics;
import io.micrometer.core.instrument.binder.netty4.NettyAllocatorMetrics;
import io.micrometer.core.instrument.binder.netty4.NettyEventExecutorMetrics;
import io.micrometer.core.instrument.binder.system.ProcessorMetrics;
import io.micrometer.core.instrument.binder.system.UptimeMetrics;
import io.micrometer.prometheusmetrics.PrometheusConfig;
import io.micrometer.prometheusmetrics.PrometheusMeterRegistry;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufAllocatorMetricProvider;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ChannelOutboundBuffer;
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
import io.netty.handler.ssl.SslHandler;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Availability;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.core.engine.ShadowModel;
import org.shiftformer.core.server.admin.AdminServer;
import org.shiftformer.core.server.security.Authenticator;
import org.shiftformer.core.server.security.ServerTls;
import org.shiftformer.core.server.metrics.ModelMeterSets;
import org.shiftformer.core.server.metrics.ModelMetrics;
import org.shiftformer.core.server.metrics.ServerMeters;
import org.shiftformer.core.server.metrics.ServerMetrics;
import org.shiftformer.protocol.FrameLayout;
import org.shiftformer.protocol.ProtocolCodec;

/**
 * The streaming server: a Netty {@link ServerBootstrap} (native epoll where {@link Epoll#isAvailable()},
 * NIO otherwise) whose pipeline per connection is a byte counter, the protocol codec
 * ({@link ProtocolCodec}) and a {@link ConnectionHandler}; one {@link Scheduler} thread decodes for every
 * connection. Inference never runs on an event loop.
 *
 * <p>Operations: Micrometer meters ({@link ServerMeters}) on the registry given, or on a Prometheus
 * registry of its own; the admin HTTP port ({@link AdminServer}: metrics, liveness, readiness, reload);
 * hot reload ({@link #reload(ServedModel)}: a new scheduler for the new model takes new requests while the
 * old one finishes its live streams, then closes its model).
 */
public final class ShiftformerServer implements AutoCloseable {
    /** The server version announced in Welcome. */
    public static final String VERSION = "0.1.0";
    private static final Logger LOG = System.getLogger(ShiftformerServer.class.getName());

    private final ServerConfig config;
    private final ModelLoader loader;
    private final ServerStats stats = new ServerStats();
    private final ModelRouter router = new ModelRouter();
    private final MeterRegistry registry;
    /** Each scheduler's model meters; a retired scheduler releases its sets when it exits. */
    private final ModelMeterSets meterSets;
    private final PrometheusMeterRegistry prometheus;
    private final Counter reloadsDone;
    private final Counter reloadsFailed;
    private final JvmGcMetrics gcMetrics;
    private final EventLoopGroup bossGroup;
    private final EventLoopGroup workerGroup;
    /**
     * The admin port's own loop (null when admin is off): a slow {@code /metrics} scrape or readiness probe
     * must not delay the accepts of protocol connections on {@link #bossGroup}.
     */
    private final EventLoopGroup adminGroup;
    private final ChannelGroup connections = new DefaultChannelGroup("shiftformer-connections",
            GlobalEventExecutor.INSTANCE);
    private final Channel serverChannel;
    private final ConnectionLimits limits;
    /** Counts protocol bytes in and out (shared by every connection, TCP and WebSocket). */
    private final ByteCounter bytes;
    /** TLS of the protocol port, or null for plaintext. */
    private final ServerTls tls;
    /** Tokens and client certificates; null when the server identifies nobody. */
    private final Authenticator auth;
    private final AdminServer admin;
    /** Shadow execution's backend (null: none), opened at start and closed with the server. */
    private final Backend shadowBackend;
    private final ShadowModel.Counters shadowCounters = new ShadowModel.Counters();
    private final String transport;
    private final Object reloadLock = new Object();
    private Gauge modelInfo; // guarded by this
    private List<Gauge> modelScores = List.of(); // guarded by this
    /** Backends opened by a failover; closed with the server. Guarded by this. */
    private final List<Backend> failoverBackends = new ArrayList<>();
    /** What the last failover did, for {@code /health/ready}; null before any. */
    private volatile String failoverNote;
    private volatile boolean draining;
    private volatile boolean closed;

    private ShiftformerServer(ServerConfig config, ServedModel served, ModelLoader loader, MeterRegistry registry) {
        this.config = config;
        this.loader = loader;
        this.registry = registry != null ? registry : new PrometheusMeterRegistry(PrometheusConfig.DEFAULT);
        this.prometheus = this.registry instanceof PrometheusMeterRegistry p ? p : null;
        this.meterSets = new ModelMeterSets(this.registry);
        if (registry == null) {
            // Its own registry is the process's /metrics: add the usual JVM and process meters. A caller's
            // registry gets only the server's (the caller decides what else it binds).
            new JvmMemoryMetrics().bindTo(this.registry);
            new JvmThreadMetrics().bindTo(this.registry);
            new ProcessorMetrics().bindTo(this.registry);
            new UptimeMetrics().bindTo(this.registry);
            this.gcMetrics = new JvmGcMetrics();
            gcMetrics.bindTo(this.registry);
        } else {
            this.gcMetrics = null;
        }
        new ServerMetrics(stats, router::queuedRequests, router::activeSequences, this::connectionCount,
                this::outboundPendingBytes)
                .bindTo(this.registry);
        this.reloadsDone = Counter.builder(ServerMeters.RELOADS).tag(ServerMeters.STATUS, "done")
                .description("hot reloads").register(this.registry);
        this.reloadsFailed = Counter.builder(ServerMeters.RELOADS).tag(ServerMeters.STATUS, "error")
                .description("hot reloads").register(this.registry);
        if (loader != null && loader.choice().isFallback()) {
            LOG.log(Level.WARNING, "backend fallback: " + loader.choice().fallback());
        }
        this.shadowBackend = config.shadowBackend() == null ? null : Backends.select(config.shadowBackend()).open(
                java.util.Map.of());
        if (shadowBackend != null) {
            String checked = "shadow execution: encoder outputs and decoder rows compared";
            shadowMeter(ServerMeters.SHADOW_CHECKED, "sources", shadowCounters.sources, checked);
            shadowMeter(ServerMeters.SHADOW_CHECKED, "rows", shadowCounters.rows, checked);
            shadowMeter(ServerMeters.SHADOW_MISMATCHES, null, shadowCounters.mismatches,
                    "differences between the serving backend and the shadow");
            shadowMeter(ServerMeters.SHADOW_ERRORS, null, shadowCounters.errors,
                    "shadow computations that failed by themselves");
        }
        if (served != null) {
            install(served);
        }
        boolean epoll = config.nativeTransport() && Epoll.isAvailable();
        IoHandlerFactory io = epoll ? EpollIoHandler.newFactory() : NioIoHandler.newFactory();
        Class<? extends ServerChannel> channelClass = epoll ? EpollServerSocketChannel.class : NioServerSocketChannel.class;
        this.transport = epoll ? "epoll" : "nio";
        this.bossGroup = new MultiThreadIoEventLoopGroup(1, io);
        this.workerGroup = new MultiThreadIoEventLoopGroup(0, io);
        this.adminGroup = config.adminPort() == ServerConfig.ADMIN_DISABLED ? null : new MultiThreadIoEventLoopGroup(1, io);
        new NettyEventExecutorMetrics(workerGroup).bindTo(this.registry);
        if (ByteBufAllocator.DEFAULT instanceof ByteBufAllocatorMetricProvider allocator) {
            new NettyAllocatorMetrics(allocator).bindTo(this.registry);
        }
        this.bytes = new ByteCounter(stats);
        this.limits = new ConnectionLimits(config, stats);
        ServerTls adminTls;
        Authenticator authenticator;
        try {
            this.tls = config.tls() ? new ServerTls(config.tlsCertFile(), config.tlsKeyFile(), config.tlsClientCaFile(), true)
                    : null;
            adminTls = tls == null || config.tlsClientCaFile() == null || config.adminClientAuth() ? tls
                    : new ServerTls(config.tlsCertFile(), config.tlsKeyFile(), config.tlsClientCaFile(), false);
            authenticator = config.tokensFile() != null || (tls != null && tls.clientCertificates())
                    ? new Authenticator(config.tokensFile(), tls != null && tls.clientCertificates(), this.registry) : null;
        } catch (RuntimeException e) {
            for (Scheduler s : router.running()) {
                s.beginShutdown();
            }
            shutdownQuietly();
            throw e;
        }
        this.auth = authenticator;
        try {
            ServerBootstrap b = new ServerBootstrap()
                    .group(bossGroup, workerGroup)
                    .channel(channelClass)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true) // PROTOCOL.md 3: finish, then close
                    .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(
                            config.writeBufferHighWaterMark() / 2, config.writeBufferHighWaterMark()))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel ch) {
                            ch.pipeline().addLast("bytes", bytes);
                            if (tls != null) {
                                SslHandler ssl = tls.newHandler(ch.alloc());
                                ssl.setHandshakeTimeoutMillis(config.handshakeTimeoutMs());
                                ch.pipeline().addLast("tls", ssl);
                            }
                            ProtocolCodec.addTo(ch.pipeline(), config.maxFrameBytes(),
                                    Math.min(config.maxFrameBytes(), FrameLayout.PRE_HANDSHAKE_MAX_PAYLOAD_BYTES));
                            String refused = limits.admit(ch);
                            if (refused != null) {
                                ch.config().setAutoRead(false);
                                ch.pipeline().addLast("refuse", new ConnectionLimits.RefuseConnection(refused));
                                return;
                            }
                            connections.add(ch);
                            ch.pipeline().addLast("connection", new ConnectionHandler(config, router, stats, auth));
                        }
                    });
            if (config.socketSendBufferBytes() > 0) {
                b.childOption(ChannelOption.SO_SNDBUF, config.socketSendBufferBytes());
            }
            try {
                this.serverChannel = b.bind(config.bindAddress(), config.port()).syncUninterruptibly().channel();
            } catch (RuntimeException e) {
                throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot listen on " + config.bindAddress() + ":"
                        + config.port() + ": " + e, e);
            }
            this.admin = config.adminPort() == ServerConfig.ADMIN_DISABLED ? null
                    : AdminServer.start(adminGroup, channelClass, config.bindAddress(), config.adminPort(), new Admin(),
                            new AdminServer.Limits(java.time.Duration.ofMillis(config.adminReloadTimeoutMs()),
                                    java.time.Duration.ofMillis(config.adminIdleTimeoutMs()), config.adminMaxConnections()),
                            adminTls,
                            config.webSocket() ? new WebSocketProtocol() : null);
        } catch (RuntimeException e) {
            for (Scheduler s : router.running()) {
                s.beginShutdown();
            }
            shutdownQuietly();
            throw e;
        }
    }

    /**
     * Starts serving {@code served} as {@code config} says, with metrics on a Prometheus registry of its
     * own and no reload from files. The server owns the model from now on and closes it.
     *
     * @throws ShiftformerException {@link ErrorCode#IO_ERROR} if an address cannot be bound
     */
    public static ShiftformerServer start(ServerConfig config, ServedModel served) {
        return start(config, served, null, null);
    }

    /**
     * Starts the server.
     *
     * @param served   the model to serve, or null to start without one (connections are refused with
     *                 BACKEND_UNAVAILABLE and {@code /health/ready} says so until {@link #reload(ServedModel)})
     * @param loader   loads artifact files for {@code POST /admin/reload} and tells readiness whether the
     *                 backend can run; null: reloads only through {@link #reload(ServedModel)}
     * @param registry where the meters go; null for a Prometheus registry of the server's own (what
     *                 {@code /metrics} serves; with another kind of registry {@code /metrics} answers 404)
     * @throws ShiftformerException {@link ErrorCode#IO_ERROR} if an address cannot be bound
     */
    public static ShiftformerServer start(ServerConfig config, ServedModel served, ModelLoader loader,
                                          MeterRegistry registry) {
        return new ShiftformerServer(config, served, loader, registry);
    }

    /**
     * Hot reload: {@code next} takes every request from now on, on a scheduler of its own; the streams
     * live on the previous model finish there (their Done names the previous model), after which the
     * previous scheduler closes that model and ends. Welcome and ModelInfo describe {@code next} from now
     * on. The server owns {@code next} once this returns.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARTIFACT} if its tokenizer does not fit its
     *         vocabulary, {@link ErrorCode#CANCELLED} once the server is closing (the caller keeps
     *         {@code next} then)
     */
    public void reload(ServedModel next) {
        synchronized (this) {
            if (draining) {
                throw new ShiftformerException(ErrorCode.CANCELLED, "server is shutting down; nothing was reloaded");
            }
            Scheduler previous = install(next);
            if (previous != null) {
                previous.retire();
                LOG.log(Level.INFO, "reloaded: now serving model {0} on {1}; model {2} finishes {3} live and {4} "
                        + "queued requests", next.sha256(), next.backend(), previous.served().sha256(),
                        previous.activeSequences(), previous.queuedRequests());
            }
        }
    }

    /**
     * Reads, verifies and loads {@code file} with the server's {@link ModelLoader}, then
     * {@linkplain #reload(ServedModel) reloads} it. On any failure the previous model keeps serving.
     *
     * @param file the artifact, or null for the file the server was started with
     * @return the model now served
     * @throws ShiftformerException the reason (a bad file: INVALID_ARTIFACT or IO_ERROR); INVALID_ARGUMENT
     *         when the server has no loader
     */
    public ServedModel reload(Path file) {
        if (loader == null) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "this server was started without a model loader: it can only be reloaded in-process");
        }
        synchronized (reloadLock) { // one load at a time: each may hold a whole model in memory
            Path f = file != null ? file : loader.defaultFile();
            try {
                ServedModel next = loader.load(f);
                try {
                    reload(next);
                } catch (RuntimeException e) {
                    next.model().close();
                    throw e;
                }
                reloadsDone.increment();
                return next;
            } catch (RuntimeException e) {
                reloadsFailed.increment();
                LOG.log(Level.WARNING, "reload of " + f + " failed, the previous model keeps serving: " + e.getMessage());
                throw e;
            }
        }
    }

    private synchronized Scheduler install(ServedModel served) {
        if (served.tokenizer().vocabSize() != served.config().vocabSize()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "tokenizer has " + served.tokenizer().vocabSize()
                    + " ids but the model's vocabulary is " + served.config().vocabSize());
        }
        served = shadowed(served);
        String model = modelTag(served);
        String backend = served.backend().backend();
        Scheduler next = new Scheduler(served, config, stats, meterSets.acquire(model, backend), new PolicyFailover());
        next.start();
        boolean fallback = loader != null && loader.choice().isFallback();
        registerModelInfo(model, backend, loader != null ? loader.choice().requested() : backend, fallback);
        registerModelScores(model, served.scores());
        return router.install(next);
    }

    /** A function counter of shadow execution, tagged with the shadow backend (and {@code kind} when not null). */
    private void shadowMeter(String name, String kind, java.util.concurrent.atomic.LongAdder count, String description) {
        FunctionCounter.Builder<java.util.concurrent.atomic.LongAdder> b = FunctionCounter.builder(name, count,
                java.util.concurrent.atomic.LongAdder::sum).tag(ServerMeters.SHADOW, config.shadowBackend())
                .description(description);
        (kind == null ? b : b.tag(ServerMeters.KIND, kind)).register(registry);
    }

    /** {@code served} with shadow execution when the server has a shadow backend (and the weights to load on it). */
    private ServedModel shadowed(ServedModel served) {
        if (shadowBackend == null || served.weights() == null || served.model() instanceof ShadowModel) {
            return served;
        }
        LoadedModel copy = shadowBackend.load(served.weights());
        try {
            return served.on(new ShadowModel(served.model(), served.backend().backend(), copy, config.shadowBackend(),
                    config.shadowSample(), config.shadowOnMismatch(), served.sha256().hashCode(), shadowCounters),
                    served.backend());
        } catch (RuntimeException e) {
            copy.close();
            throw e;
        }
    }

    /** What shadow execution has found (all zero without a shadow backend). */
    public ShadowModel.Counters shadowCounters() {
        return shadowCounters;
    }

    private synchronized void registerModelInfo(String model, String backend, String requested, boolean fallback) {
        if (modelInfo != null) {
            registry.remove(modelInfo);
        }
        modelInfo = Gauge.builder(ServerMeters.MODEL_INFO, () -> 1).strongReference(true)
                .description("the served model (value 1) and the backend computing it")
                .tag(ServerMeters.MODEL, model).tag(ServerMeters.BACKEND, backend)
                .tag(ServerMeters.REQUESTED_BACKEND, requested)
                .tag(ServerMeters.FALLBACK, Boolean.toString(fallback))
                .register(registry);
    }

    /** The served model's recorded scores as gauges, instead of the previous model's. */
    private synchronized void registerModelScores(String model, Map<String, Double> scores) {
        modelScores.forEach(registry::remove);
        List<Gauge> gauges = new ArrayList<>();
        scores.forEach((name, value) -> gauges.add(Gauge.builder(ServerMeters.MODEL_SCORE, () -> value)
                .strongReference(true).description("a score the served model's artifact records from its evaluation")
                .tag(ServerMeters.MODEL, model).tag(ServerMeters.SCORE, name).register(registry)));
        modelScores = gauges;
    }

    private static String modelTag(ServedModel served) {
        return served.sha256().substring(0, Math.min(16, served.sha256().length()));
    }

    /**
     * Failover while serving, under the server's {@link FallbackPolicy}: opens the policy's next backend
     * (never the failed one), loads the same model on it, and reports the switch in the log,
     * {@code /health/ready}, the model-info gauge and the failover counter.
     */
    private final class PolicyFailover implements Scheduler.Failover {
        @Override
        public ServedModel replace(ServedModel failed, ShiftformerException cause) {
            if (config.fallback().failClosed() || failed.weights() == null || draining) {
                return null;
            }
            String name = failed.backend().backend();
            FallbackPolicy.Choice c = config.fallback().fallback(name, "backend '" + name + "' failed while serving: "
                    + cause.getMessage(), Backends.installed());
            ServedModel next;
            try {
                next = failed.on(c.backend().load(failed.weights()), c.backend().identity());
            } catch (RuntimeException e) {
                c.backend().close();
                throw e;
            }
            synchronized (ShiftformerServer.this) {
                failoverBackends.add(c.backend());
            }
            failoverNote = c.fallback() + "; live streams moved there";
            Counter.builder(ServerMeters.FAILOVERS).tag(ServerMeters.BACKEND, c.provider().name())
                    .tag(ServerMeters.REQUESTED_BACKEND, name)
                    .description("backend failures while serving that moved live streams to a fallback backend")
                    .register(registry).increment();
            if (router.current() != null && router.current().served() == failed) {
                registerModelInfo(modelTag(failed), c.provider().name(), name, true);
            }
            LOG.log(Level.WARNING, "failover: " + failoverNote);
            return next;
        }

        @Override
        public ModelMetrics meters(ServedModel replacement) {
            return meterSets.acquire(modelTag(replacement), replacement.backend().backend());
        }
    }

    /** The bound address (with the actual port when the configured one was 0). */
    public InetSocketAddress localAddress() {
        return (InetSocketAddress) serverChannel.localAddress();
    }

    /** The bound admin HTTP address, or null when the admin server is disabled. */
    public InetSocketAddress adminAddress() {
        return admin == null ? null : admin.localAddress();
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

    /** Where the server's meters are. */
    public MeterRegistry meterRegistry() {
        return registry;
    }

    /** The scheduler of the model being served (new requests go to it), or null before the first model. */
    public Scheduler scheduler() {
        return router.current();
    }

    ModelRouter router() {
        return router;
    }

    /** The model being served, or null before the first one. */
    public ServedModel served() {
        Scheduler s = router.current();
        return s == null ? null : s.served();
    }

    /** Open client connections. */
    public int connectionCount() {
        return connections.size();
    }

    /**
     * Bytes of encoded frames queued for client connections and not yet taken by their sockets: the sum
     * of Netty's outbound buffers ({@code ChannelOutboundBuffer.totalPendingWriteBytes}, which also counts
     * writes still queued for the event loop), gauge {@link ServerMeters#OUTBOUND_PENDING}. Any thread.
     */
    public long outboundPendingBytes() {
        long sum = 0;
        for (Channel ch : connections) {
            ChannelOutboundBuffer out = ch.unsafe().outboundBuffer();
            if (out != null) {
                sum += out.totalPendingWriteBytes();
            }
        }
        return sum;
    }

    /**
     * Readiness: null when the server takes requests (a model is loaded, its backend is available, its
     * scheduler runs, and the server is not draining); otherwise why not, in a few words.
     */
    public String notReadyReason() {
        if (closed || draining) {
            return "draining: the server is shutting down";
        }
        Scheduler s = router.current();
        if (s == null) {
            return "no model loaded";
        }
        if (!s.isAlive()) {
            return "the decode thread of model " + s.served().sha256() + " has stopped";
        }
        if (loader != null) {
            Availability a = loader.availability();
            if (!a.available()) {
                return "backend " + loader.choice().provider().name() + " is unavailable: " + a.reason();
            }
        }
        return null;
    }

    /**
     * Graceful shutdown: stops accepting connections and requests (new requests are answered with Error
     * CANCELLED), lets live streams finish within {@link ServerConfig#drainTimeoutMs()}, ends the rest
     * with Error CANCELLED, closes the models and then the connections and the admin port (which answers
     * {@code /health/ready} 503 while this drains). Idempotent.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (draining) {
                return;
            }
            draining = true;
        }
        serverChannel.close().syncUninterruptibly();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(config.drainTimeoutMs());
        for (Scheduler s : router.running()) {
            s.beginShutdown();
        }
        try {
            for (Scheduler s : router.running()) {
                s.awaitShutdown(deadline);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        closed = true;
        // Terminal frames are queued on the event loops before the close tasks, so they are written first.
        connections.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        if (admin != null) {
            admin.close();
        }
        synchronized (this) {
            for (Backend b : failoverBackends) {
                b.close(); // their models were closed by the scheduler threads, which have ended
            }
            failoverBackends.clear();
        }
        if (shadowBackend != null) {
            shadowBackend.close(); // its models were closed with the shadowed models
        }
        shutdownQuietly();
    }

    private void shutdownQuietly() {
        if (gcMetrics != null) {
            gcMetrics.close();
        }
        workerGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        bossGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        if (adminGroup != null) {
            adminGroup.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
        }
    }

    /**
     * The protocol on an admin connection upgraded to WebSocket: after the message adapter, the same
     * byte counter, codec, connection limits and connection handler as a TCP connection.
     */
    private final class WebSocketProtocol implements AdminServer.WebSocketProtocol {
        @Override
        public int maxFrameBytes() {
            return config.maxFrameBytes();
        }

        @Override
        public boolean originAllowed(String origin) {
            return config.webSocketOriginAllowed(origin);
        }

        @Override
        public void install(io.netty.channel.ChannelPipeline p) {
            Channel ch = p.channel();
            p.addLast("bytes", bytes);
            ProtocolCodec.addTo(p, config.maxFrameBytes(),
                    Math.min(config.maxFrameBytes(), FrameLayout.PRE_HANDSHAKE_MAX_PAYLOAD_BYTES));
            String refused = limits.admit(ch);
            if (refused != null || closed || draining) {
                ch.config().setAutoRead(false);
                LingeringClose.after(ch.writeAndFlush(new org.shiftformer.protocol.Message.Error(0,
                        ErrorCode.OVERLOADED.value(), refused != null ? refused : "the server is shutting down")),
                        LingeringClose.REFUSED_LINGER_MS);
                return;
            }
            ch.config().setOption(ChannelOption.TCP_NODELAY, true);
            if (config.socketSendBufferBytes() > 0) {
                ch.config().setOption(ChannelOption.SO_SNDBUF, config.socketSendBufferBytes());
            }
            ch.config().setWriteBufferWaterMark(new WriteBufferWaterMark(config.writeBufferHighWaterMark() / 2,
                    config.writeBufferHighWaterMark()));
            connections.add(ch);
            p.addLast("connection", new ConnectionHandler(config, router, stats, auth));
        }
    }

    /** The admin endpoints over this server. */
    private final class Admin implements AdminServer.Endpoints {
        @Override
        public void limitHit(ServerStats.Limit limit) {
            stats.limit(limit);
        }

        @Override
        public boolean live() {
            return !closed;
        }

        @Override
        public String notReadyReason() {
            return ShiftformerServer.this.notReadyReason();
        }

        @Override
        public String readyNote() {
            String f = failoverNote;
            String note = f != null ? "fallback: " + f
                    : loader != null && loader.choice().isFallback() ? "fallback: " + loader.choice().fallback() : null;
            ShadowModel.Mismatch m = shadowCounters.first();
            if (m != null) {
                String s = "shadow " + config.shadowBackend() + ": " + shadowCounters.mismatches.sum()
                        + " mismatch(es), the first: " + m;
                note = note == null ? s : note + "; " + s;
            }
            return note;
        }

        @Override
        public String scrape() {
            return prometheus == null ? null : prometheus.scrape();
        }

        @Override
        public Authenticator.AdminDenied authorizeReload(String authorization) {
            return auth == null ? null : auth.admin(authorization);
        }

        @Override
        public String reload(String path) {
            Path file;
            try {
                file = path == null || loader == null ? null : loader.resolve(path);
            } catch (RuntimeException e) {
                reloadsFailed.increment();
                throw e;
            }
            ServedModel m = ShiftformerServer.this.reload(file);
            return "model sha256 " + m.sha256() + " on " + m.backend() + (path == null ? "" : " from " + path);
        }
    }
}
