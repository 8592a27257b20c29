package org.shiftformer.core.server;

import java.nio.file.Files;
import java.nio.file.Path;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.protocol.FrameLayout;

/**
 * The server's settings, Aeron style: every setting has a documented default ({@code *_DEFAULT}) and a
 * system property ({@code *_PROP}) that overrides it; {@link Builder} starts from the properties, takes
 * explicit values, and {@link Builder#conclude()} validates everything at once, failing with
 * {@link ErrorCode#INVALID_ARGUMENT} naming the setting (its property) and the accepted range.
 * Immutable once concluded.
 */
public final class ServerConfig {
    /** TCP port to listen on; 0 picks an ephemeral port ({@link ShiftformerServer#localAddress()} tells which). */
    public static final String PORT_PROP = "shiftformer.server.port";
    public static final int PORT_DEFAULT = 7433;

    /** Address to bind; loopback by default, so a server is only reachable from elsewhere when asked. */
    public static final String BIND_ADDRESS_PROP = "shiftformer.server.bindAddress";
    public static final String BIND_ADDRESS_DEFAULT = "127.0.0.1";

    /**
     * TCP port of the admin HTTP server ({@code /metrics}, {@code /health/live}, {@code /health/ready},
     * {@code POST /admin/reload}), on the same {@link #BIND_ADDRESS_PROP}; 0 picks an ephemeral port
     * ({@link ShiftformerServer#adminAddress()} tells which), -1 disables it.
     */
    public static final String ADMIN_PORT_PROP = "shiftformer.server.adminPort";
    public static final int ADMIN_PORT_DEFAULT = 7434;
    /** {@link #ADMIN_PORT_PROP} value that disables the admin server. */
    public static final int ADMIN_DISABLED = -1;

    /**
     * What {@code serve} does when the requested backend cannot run: {@code none} (fail start-up),
     * {@code next} (the next available backend by rank) or a comma-separated list of backend names
     * ({@link FallbackPolicy}).
     */
    public static final String FALLBACK_PROP = "shiftformer.server.fallback";
    public static final String FALLBACK_DEFAULT = "none";

    /** Largest frame payload (length prefix) accepted and sent; announced in Welcome (PROTOCOL.md 1). */
    public static final String MAX_FRAME_BYTES_PROP = "shiftformer.server.maxFrameBytes";
    public static final int MAX_FRAME_BYTES_DEFAULT = FrameLayout.DEFAULT_MAX_PAYLOAD_BYTES;

    /** Translate requests in flight per connection; one more is answered OVERLOADED. Announced in Welcome. */
    public static final String MAX_IN_FLIGHT_PROP = "shiftformer.server.maxInFlight";
    public static final int MAX_IN_FLIGHT_DEFAULT = 256;

    /** Accepted requests waiting for a batch slot, over all connections; one more is answered OVERLOADED. */
    public static final String MAX_QUEUED_PROP = "shiftformer.server.maxQueued";
    public static final int MAX_QUEUED_DEFAULT = 1024;

    /** Decoder rows (live hypotheses) per batched step; a beam of width W reserves W rows. */
    public static final String MAX_BATCH_ROWS_PROP = "shiftformer.server.maxBatchRows";
    public static final int MAX_BATCH_ROWS_DEFAULT = 128;

    /**
     * Decoder rows (each a KV cache) held by live requests, those paused by backpressure included. A
     * connection that stops reading keeps its requests' rows until a request of a writable connection
     * needs them (then its streams are parked: {@link Scheduler}), so this, not
     * {@link #MAX_BATCH_ROWS_PROP}, bounds the memory that stalled clients can pin; new requests are admitted
     * while the rows of writable connections fit a batch. At least {@link #MAX_BATCH_ROWS_PROP}; 0 (the default) means
     * 4 times {@link #MAX_BATCH_ROWS_PROP}.
     */
    public static final String MAX_LIVE_ROWS_PROP = "shiftformer.server.maxLiveRows";
    public static final int MAX_LIVE_ROWS_DEFAULT = 0;

    /**
     * Decoder rows that the live requests of one connection may hold (PROTOCOL.md section 7): a request that
     * would take its connection above this waits in the queue while other connections' requests are
     * admitted. At least {@link #MAX_BEAM_WIDTH_PROP}, at most {@link #MAX_LIVE_ROWS_PROP}; 0 (the default)
     * means {@link #MAX_BATCH_ROWS_PROP}, so that a lone client can still fill a batch.
     */
    public static final String MAX_CONNECTION_ROWS_PROP = "shiftformer.server.maxConnectionRows";
    public static final int MAX_CONNECTION_ROWS_DEFAULT = 0;

    /**
     * How long a connection may stay not writable (its client reads nothing while the server has more than
     * {@link #WRITE_BUFFER_HIGH_WATER_MARK_PROP} bytes for it) before every request in flight on it ends with
     * Error CANCELLED naming this setting (PROTOCOL.md section 7). Counted by {@code shiftformer.limits}
     * with {@code limit="stall_timeout"}.
     */
    public static final String STALL_TIMEOUT_MS_PROP = "shiftformer.server.stallTimeoutMs";
    public static final long STALL_TIMEOUT_MS_DEFAULT = 30_000;

    /**
     * How long an accepted request may wait in the queue for a decode slot (since it was received, or since
     * it was parked) before it ends with Error OVERLOADED naming this setting: a request without a deadline
     * still ends. Counted by {@code shiftformer.limits} with {@code limit="queue_wait"}.
     */
    public static final String MAX_QUEUE_WAIT_MS_PROP = "shiftformer.server.maxQueueWaitMs";
    public static final long MAX_QUEUE_WAIT_MS_DEFAULT = 60_000;

    /**
     * How long a new connection may take to send its Hello (PROTOCOL.md section 3); then it gets Error
     * PROTOCOL_ERROR for request 0 and is closed. Counted by {@code shiftformer.limits} with
     * {@code limit="handshake_timeout"}.
     */
    public static final String HANDSHAKE_TIMEOUT_MS_PROP = "shiftformer.server.handshakeTimeoutMs";
    public static final long HANDSHAKE_TIMEOUT_MS_DEFAULT = 10_000;

    /**
     * How long a connection with no request in flight may stay silent (no frame received) before it gets
     * Error CANCELLED for request 0 and is closed. Counted by {@code shiftformer.limits} with
     * {@code limit="idle_timeout"}.
     */
    public static final String IDLE_TIMEOUT_MS_PROP = "shiftformer.server.idleTimeoutMs";
    public static final long IDLE_TIMEOUT_MS_DEFAULT = 300_000;

    /**
     * Open client connections; one more gets Error OVERLOADED for request 0 and is closed at once. Counted by
     * {@code shiftformer.limits} with {@code limit="max_connections"}.
     */
    public static final String MAX_CONNECTIONS_PROP = "shiftformer.server.maxConnections";
    public static final int MAX_CONNECTIONS_DEFAULT = 4096;

    /**
     * Open client connections from one remote IP address; one more gets Error OVERLOADED for request 0 and
     * is closed at once (a value above {@link #MAX_CONNECTIONS_PROP} has no effect). Counted by {@code shiftformer.limits} with
     * {@code limit="max_connections_per_address"}.
     */
    public static final String MAX_CONNECTIONS_PER_ADDRESS_PROP = "shiftformer.server.maxConnectionsPerAddress";
    public static final int MAX_CONNECTIONS_PER_ADDRESS_DEFAULT = 512;

    /** Largest beam width accepted; announced in Welcome. At most {@link #MAX_BATCH_ROWS_PROP}. */
    public static final String MAX_BEAM_WIDTH_PROP = "shiftformer.server.maxBeamWidth";
    public static final int MAX_BEAM_WIDTH_DEFAULT = 8;

    /**
     * What {@code max_new_tokens = 0} resolves to: 0 (the default) is the model's maximum
     * {@code max_positions - 1} as PROTOCOL.md section 4 says; a positive value caps it (Done.params shows
     * the value used).
     */
    public static final String DEFAULT_MAX_NEW_TOKENS_PROP = "shiftformer.server.defaultMaxNewTokens";
    public static final int DEFAULT_MAX_NEW_TOKENS_DEFAULT = 0;

    /** How long {@link ShiftformerServer#close()} lets live streams finish before ending them CANCELLED. */
    public static final String DRAIN_TIMEOUT_MS_PROP = "shiftformer.server.drainTimeoutMs";
    public static final long DRAIN_TIMEOUT_MS_DEFAULT = 10_000;

    /**
     * Bytes a connection may have queued in the server (encoded, not yet taken by the socket) before it
     * counts as not writable: its streams pause and its requests are not read until it drains to half.
     */
    public static final String WRITE_BUFFER_HIGH_WATER_MARK_PROP = "shiftformer.server.writeBufferHighWaterMark";
    public static final int WRITE_BUFFER_HIGH_WATER_MARK_DEFAULT = 64 * 1024;

    /** SO_SNDBUF of client connections; 0 (the default) keeps the operating system's (auto-tuned) size. */
    public static final String SOCKET_SEND_BUFFER_BYTES_PROP = "shiftformer.server.socketSendBufferBytes";
    public static final int SOCKET_SEND_BUFFER_BYTES_DEFAULT = 0;

    /**
     * How long {@code POST /admin/reload} may take before it is answered 504 and interrupted (a reload reads,
     * verifies and loads a whole model; another reload meanwhile is answered 409).
     */
    public static final String ADMIN_RELOAD_TIMEOUT_MS_PROP = "shiftformer.server.adminReloadTimeoutMs";
    public static final long ADMIN_RELOAD_TIMEOUT_MS_DEFAULT = 120_000;

    /**
     * An admin connection that sends nothing for this long while no answer of its is pending is closed: a
     * keep-alive connection left open, or a request (a WebSocket upgrade included) that never finishes.
     */
    public static final String ADMIN_IDLE_TIMEOUT_MS_PROP = "shiftformer.server.adminIdleTimeoutMs";
    public static final long ADMIN_IDLE_TIMEOUT_MS_DEFAULT = 30_000;

    /**
     * At most this many HTTP connections open on the admin port (probes, scrapes, the console's files); one
     * over it gets 503 at once. A connection upgraded to the protocol's WebSocket leaves this count for
     * {@link #MAX_CONNECTIONS_PROP}'s.
     */
    public static final String ADMIN_MAX_CONNECTIONS_PROP = "shiftformer.server.adminMaxConnections";
    public static final int ADMIN_MAX_CONNECTIONS_DEFAULT = 256;

    /**
     * PEM certificate chain of the server: with {@link #TLS_KEY_FILE_PROP}, the protocol port and the admin
     * port speak TLS 1.3/1.2 only (SECURITY.md). Empty (the default): plaintext, for loopback. The file is
     * watched: a replaced certificate is used for new connections within a second.
     */
    public static final String TLS_CERT_FILE_PROP = "shiftformer.server.tlsCertFile";
    /** PEM PKCS#8 private key ({@code BEGIN PRIVATE KEY}) of {@link #TLS_CERT_FILE_PROP}. */
    public static final String TLS_KEY_FILE_PROP = "shiftformer.server.tlsKeyFile";
    /**
     * PEM CA certificates: when set, a client of the protocol port must present a certificate they signed
     * (mutual TLS), and its subject CN names it in metrics when there is no tokens file. Needs
     * {@link #TLS_CERT_FILE_PROP}.
     */
    public static final String TLS_CLIENT_CA_FILE_PROP = "shiftformer.server.tlsClientCaFile";
    /**
     * With {@link #TLS_CLIENT_CA_FILE_PROP}: whether the admin port requires client certificates too (the
     * default). False lets HTTPS probes without a certificate (a Kubernetes kubelet's) read the health
     * endpoints; a reload then still needs an admin token when there is a tokens file.
     */
    public static final String ADMIN_CLIENT_AUTH_PROP = "shiftformer.server.adminClientAuth";
    public static final boolean ADMIN_CLIENT_AUTH_DEFAULT = true;
    /**
     * The tokens file (SECURITY.md, {@code Tokens}): when set, every {@code Hello} must carry a token from it
     * (else Error UNAUTHENTICATED and close), each token's {@code max_in_flight} bounds its requests over all
     * of its connections, and {@code POST /admin/reload} needs the token of a client with {@code role=admin}.
     * Re-read within a second of a change. Empty (the default): no tokens.
     */
    public static final String TOKENS_FILE_PROP = "shiftformer.server.tokensFile";

    /**
     * Shadow execution ({@code ShadowModel}): the name of a second backend that repeats the encoder passes
     * and decoder steps of a sample of sequences, compared bit for bit with the serving backend's. Empty
     * (the default): none.
     */
    public static final String SHADOW_BACKEND_PROP = "shiftformer.server.shadowBackend";
    /** Share of sequences shadowed, in (0, 1]. */
    public static final String SHADOW_SAMPLE_PROP = "shiftformer.server.shadowSample";
    public static final double SHADOW_SAMPLE_DEFAULT = 1.0;
    /**
     * What a difference does: {@code log} (count and log, the serving backend's result is used),
     * {@code failover} (the step fails with BACKEND_FAILURE before its logits are used, and the fallback
     * policy moves the streams) or {@code fail} (the same; meant with fallback {@code none}).
     */
    public static final String SHADOW_ON_MISMATCH_PROP = "shiftformer.server.shadowOnMismatch";
    public static final String SHADOW_ON_MISMATCH_DEFAULT = "log";

    /**
     * The streaming protocol over WebSocket on the admin port ({@code GET /ws}, PROTOCOL.md section 12), for
     * browsers; on by default whenever the admin port is.
     */
    public static final String WEB_SOCKET_PROP = "shiftformer.server.webSocket";
    public static final boolean WEB_SOCKET_DEFAULT = true;
    /**
     * Origins (e.g. {@code https://console.example.net}) whose pages may open the protocol WebSocket, comma
     * separated, {@code *} for any; the admin port's own pages and clients that send no {@code Origin}
     * (not browsers) always may. Empty by default: no other web page can use a server from a browser.
     */
    public static final String WEB_SOCKET_ORIGINS_PROP = "shiftformer.server.webSocketOrigins";

    /** Use the native epoll transport when {@code Epoll.isAvailable()}; false forces NIO. */
    public static final String NATIVE_TRANSPORT_PROP = "shiftformer.server.nativeTransport";
    public static final boolean NATIVE_TRANSPORT_DEFAULT = true;

    private final int port;
    private final int adminPort;
    private final FallbackPolicy fallback;
    private final String bindAddress;
    private final int maxFrameBytes;
    private final int maxInFlight;
    private final int maxQueued;
    private final int maxBatchRows;
    private final int maxLiveRows;
    private final int maxBeamWidth;
    private final int maxConnectionRows;
    private final long stallTimeoutMs;
    private final long maxQueueWaitMs;
    private final long handshakeTimeoutMs;
    private final long idleTimeoutMs;
    private final int maxConnections;
    private final int maxConnectionsPerAddress;
    private final int defaultMaxNewTokens;
    private final long drainTimeoutMs;
    private final long adminReloadTimeoutMs;
    private final long adminIdleTimeoutMs;
    private final int adminMaxConnections;
    private final boolean nativeTransport;
    private final int writeBufferHighWaterMark;
    private final int socketSendBufferBytes;
    private final Path tlsCertFile;
    private final Path tlsKeyFile;
    private final Path tlsClientCaFile;
    private final boolean adminClientAuth;
    private final Path tokensFile;
    private final boolean webSocket;
    private final java.util.Set<String> webSocketOrigins;
    private final String shadowBackend;
    private final double shadowSample;
    private final org.shiftformer.core.engine.ShadowModel.OnMismatch shadowOnMismatch;

    private ServerConfig(Builder b, FallbackPolicy fallback, int maxLiveRows, int maxConnectionRows) {
        this.port = b.port;
        this.adminPort = b.adminPort;
        this.fallback = fallback;
        this.bindAddress = b.bindAddress;
        this.maxFrameBytes = b.maxFrameBytes;
        this.maxInFlight = b.maxInFlight;
        this.maxQueued = b.maxQueued;
        this.maxBatchRows = b.maxBatchRows;
        this.maxLiveRows = maxLiveRows;
        this.maxBeamWidth = b.maxBeamWidth;
        this.maxConnectionRows = maxConnectionRows;
        this.stallTimeoutMs = b.stallTimeoutMs;
        this.maxQueueWaitMs = b.maxQueueWaitMs;
        this.handshakeTimeoutMs = b.handshakeTimeoutMs;
        this.idleTimeoutMs = b.idleTimeoutMs;
        this.maxConnections = b.maxConnections;
        this.maxConnectionsPerAddress = b.maxConnectionsPerAddress;
        this.defaultMaxNewTokens = b.defaultMaxNewTokens;
        this.drainTimeoutMs = b.drainTimeoutMs;
        this.adminReloadTimeoutMs = b.adminReloadTimeoutMs;
        this.adminIdleTimeoutMs = b.adminIdleTimeoutMs;
        this.adminMaxConnections = b.adminMaxConnections;
        this.nativeTransport = b.nativeTransport;
        this.writeBufferHighWaterMark = b.writeBufferHighWaterMark;
        this.socketSendBufferBytes = b.socketSendBufferBytes;
        this.tlsCertFile = path(b.tlsCertFile);
        this.tlsKeyFile = path(b.tlsKeyFile);
        this.tlsClientCaFile = path(b.tlsClientCaFile);
        this.adminClientAuth = b.adminClientAuth;
        this.tokensFile = path(b.tokensFile);
        this.webSocket = b.webSocket;
        this.webSocketOrigins = java.util.Arrays.stream(b.webSocketOrigins.split(",")).map(String::strip)
                .filter(o -> !o.isEmpty()).collect(java.util.stream.Collectors.toUnmodifiableSet());
        this.shadowBackend = b.shadowBackend.isBlank() ? null : b.shadowBackend.strip();
        this.shadowSample = b.shadowSample;
        this.shadowOnMismatch = org.shiftformer.core.engine.ShadowModel.OnMismatch.parse(b.shadowOnMismatch);
    }

    private static Path path(String s) {
        return s == null || s.isEmpty() ? null : Path.of(s);
    }

    /** A builder holding the defaults, overridden by the system properties that are set. */
    public static Builder builder() {
        return new Builder();
    }

    /** The defaults and system properties, validated. */
    public static ServerConfig defaults() {
        return builder().conclude();
    }

    public int port() {
        return port;
    }

    /** The admin HTTP port, 0 for an ephemeral one, {@link #ADMIN_DISABLED} for none. */
    public int adminPort() {
        return adminPort;
    }

    /** The backend fallback policy. */
    public FallbackPolicy fallback() {
        return fallback;
    }

    public String bindAddress() {
        return bindAddress;
    }

    public int maxFrameBytes() {
        return maxFrameBytes;
    }

    public int maxInFlight() {
        return maxInFlight;
    }

    public int maxQueued() {
        return maxQueued;
    }

    public int maxBatchRows() {
        return maxBatchRows;
    }

    public int maxLiveRows() {
        return maxLiveRows;
    }

    public int maxBeamWidth() {
        return maxBeamWidth;
    }

    /** {@link #MAX_CONNECTION_ROWS_PROP}, the default resolved. */
    public int maxConnectionRows() {
        return maxConnectionRows;
    }

    /** {@link #STALL_TIMEOUT_MS_PROP}. */
    public long stallTimeoutMs() {
        return stallTimeoutMs;
    }

    /** {@link #MAX_QUEUE_WAIT_MS_PROP}. */
    public long maxQueueWaitMs() {
        return maxQueueWaitMs;
    }

    /** {@link #HANDSHAKE_TIMEOUT_MS_PROP}. */
    public long handshakeTimeoutMs() {
        return handshakeTimeoutMs;
    }

    /** {@link #IDLE_TIMEOUT_MS_PROP}. */
    public long idleTimeoutMs() {
        return idleTimeoutMs;
    }

    /** {@link #MAX_CONNECTIONS_PROP}. */
    public int maxConnections() {
        return maxConnections;
    }

    /** {@link #MAX_CONNECTIONS_PER_ADDRESS_PROP}. */
    public int maxConnectionsPerAddress() {
        return maxConnectionsPerAddress;
    }

    public int defaultMaxNewTokens() {
        return defaultMaxNewTokens;
    }

    public long drainTimeoutMs() {
        return drainTimeoutMs;
    }

    public boolean nativeTransport() {
        return nativeTransport;
    }

    public int writeBufferHighWaterMark() {
        return writeBufferHighWaterMark;
    }

    public int socketSendBufferBytes() {
        return socketSendBufferBytes;
    }

    /** {@link #ADMIN_RELOAD_TIMEOUT_MS_PROP}. */
    public long adminReloadTimeoutMs() {
        return adminReloadTimeoutMs;
    }

    /** {@link #ADMIN_IDLE_TIMEOUT_MS_PROP}. */
    public long adminIdleTimeoutMs() {
        return adminIdleTimeoutMs;
    }

    /** {@link #ADMIN_MAX_CONNECTIONS_PROP}. */
    public int adminMaxConnections() {
        return adminMaxConnections;
    }

    /** {@link #TLS_CERT_FILE_PROP}, or null: plaintext. */
    public Path tlsCertFile() {
        return tlsCertFile;
    }

    /** {@link #TLS_KEY_FILE_PROP}, or null. */
    public Path tlsKeyFile() {
        return tlsKeyFile;
    }

    /** {@link #TLS_CLIENT_CA_FILE_PROP}, or null: no client certificates. */
    public Path tlsClientCaFile() {
        return tlsClientCaFile;
    }

    /** Whether the ports speak TLS. */
    public boolean tls() {
        return tlsCertFile != null;
    }

    /** {@link #ADMIN_CLIENT_AUTH_PROP}. */
    public boolean adminClientAuth() {
        return adminClientAuth;
    }

    /** {@link #TOKENS_FILE_PROP}, or null: no tokens. */
    public Path tokensFile() {
        return tokensFile;
    }

    /** {@link #WEB_SOCKET_PROP}. */
    public boolean webSocket() {
        return webSocket;
    }

    /** Whether a page of {@code origin} may open the protocol WebSocket ({@link #WEB_SOCKET_ORIGINS_PROP}). */
    public boolean webSocketOriginAllowed(String origin) {
        return webSocketOrigins.contains("*") || webSocketOrigins.contains(origin);
    }

    /** {@link #SHADOW_BACKEND_PROP}, or null: no shadow execution. */
    public String shadowBackend() {
        return shadowBackend;
    }

    /** {@link #SHADOW_SAMPLE_PROP}. */
    public double shadowSample() {
        return shadowSample;
    }

    /** {@link #SHADOW_ON_MISMATCH_PROP}. */
    public org.shiftformer.core.engine.ShadowModel.OnMismatch shadowOnMismatch() {
        return shadowOnMismatch;
    }

    @Override
    public String toString() {
        return "ServerConfig[bind " + bindAddress + ":" + port + ", adminPort " + adminPort + ", fallback " + fallback
                + ", maxFrameBytes " + maxFrameBytes + ", maxInFlight "
                + maxInFlight + ", maxQueued " + maxQueued + ", maxBatchRows " + maxBatchRows + ", maxLiveRows " + maxLiveRows
                + ", maxConnectionRows " + maxConnectionRows + ", stallTimeoutMs " + stallTimeoutMs + ", maxQueueWaitMs "
                + maxQueueWaitMs + ", handshakeTimeoutMs " + handshakeTimeoutMs + ", idleTimeoutMs " + idleTimeoutMs
                + ", maxConnections " + maxConnections + ", maxConnectionsPerAddress " + maxConnectionsPerAddress
                + ", maxBeamWidth "
                + maxBeamWidth + ", defaultMaxNewTokens " + defaultMaxNewTokens + ", drainTimeoutMs " + drainTimeoutMs
                + ", nativeTransport " + nativeTransport + ", writeBufferHighWaterMark " + writeBufferHighWaterMark
                + ", socketSendBufferBytes " + socketSendBufferBytes + ", adminReloadTimeoutMs " + adminReloadTimeoutMs
                + ", adminIdleTimeoutMs " + adminIdleTimeoutMs + ", adminMaxConnections " + adminMaxConnections
                + ", tls " + (tlsCertFile == null ? "off" : tlsCertFile + (tlsClientCaFile == null ? ""
                : " with client certificates of " + tlsClientCaFile + (adminClientAuth ? "" : " (not on the admin port)")))
                + ", tokensFile " + (tokensFile == null ? "none" : tokensFile) + ", shadow " + (shadowBackend == null
                ? "none" : shadowBackend + " (sample " + shadowSample + ", on mismatch " + shadowOnMismatch + ")") + "]";
    }

    /** Collects settings; {@link #conclude()} validates them. Not thread-safe. */
    public static final class Builder {
        private int port = intProp(PORT_PROP, PORT_DEFAULT);
        private int adminPort = intProp(ADMIN_PORT_PROP, ADMIN_PORT_DEFAULT);
        private String fallback = System.getProperty(FALLBACK_PROP, FALLBACK_DEFAULT);
        private String bindAddress = System.getProperty(BIND_ADDRESS_PROP, BIND_ADDRESS_DEFAULT);
        private int maxFrameBytes = intProp(MAX_FRAME_BYTES_PROP, MAX_FRAME_BYTES_DEFAULT);
        private int maxInFlight = intProp(MAX_IN_FLIGHT_PROP, MAX_IN_FLIGHT_DEFAULT);
        private int maxQueued = intProp(MAX_QUEUED_PROP, MAX_QUEUED_DEFAULT);
        private int maxBatchRows = intProp(MAX_BATCH_ROWS_PROP, MAX_BATCH_ROWS_DEFAULT);
        private int maxLiveRows = intProp(MAX_LIVE_ROWS_PROP, MAX_LIVE_ROWS_DEFAULT);
        private int maxBeamWidth = intProp(MAX_BEAM_WIDTH_PROP, MAX_BEAM_WIDTH_DEFAULT);
        private int maxConnectionRows = intProp(MAX_CONNECTION_ROWS_PROP, MAX_CONNECTION_ROWS_DEFAULT);
        private long stallTimeoutMs = longProp(STALL_TIMEOUT_MS_PROP, STALL_TIMEOUT_MS_DEFAULT);
        private long maxQueueWaitMs = longProp(MAX_QUEUE_WAIT_MS_PROP, MAX_QUEUE_WAIT_MS_DEFAULT);
        private long handshakeTimeoutMs = longProp(HANDSHAKE_TIMEOUT_MS_PROP, HANDSHAKE_TIMEOUT_MS_DEFAULT);
        private long idleTimeoutMs = longProp(IDLE_TIMEOUT_MS_PROP, IDLE_TIMEOUT_MS_DEFAULT);
        private int maxConnections = intProp(MAX_CONNECTIONS_PROP, MAX_CONNECTIONS_DEFAULT);
        private int maxConnectionsPerAddress = intProp(MAX_CONNECTIONS_PER_ADDRESS_PROP,
                MAX_CONNECTIONS_PER_ADDRESS_DEFAULT);
        private int defaultMaxNewTokens = intProp(DEFAULT_MAX_NEW_TOKENS_PROP, DEFAULT_MAX_NEW_TOKENS_DEFAULT);
        private long drainTimeoutMs = longProp(DRAIN_TIMEOUT_MS_PROP, DRAIN_TIMEOUT_MS_DEFAULT);
        private long adminReloadTimeoutMs = longProp(ADMIN_RELOAD_TIMEOUT_MS_PROP, ADMIN_RELOAD_TIMEOUT_MS_DEFAULT);
        private long adminIdleTimeoutMs = longProp(ADMIN_IDLE_TIMEOUT_MS_PROP, ADMIN_IDLE_TIMEOUT_MS_DEFAULT);
        private int adminMaxConnections = intProp(ADMIN_MAX_CONNECTIONS_PROP, ADMIN_MAX_CONNECTIONS_DEFAULT);
        private boolean nativeTransport = Boolean.parseBoolean(
                System.getProperty(NATIVE_TRANSPORT_PROP, String.valueOf(NATIVE_TRANSPORT_DEFAULT)));
        private int writeBufferHighWaterMark = intProp(WRITE_BUFFER_HIGH_WATER_MARK_PROP,
                WRITE_BUFFER_HIGH_WATER_MARK_DEFAULT);
        private int socketSendBufferBytes = intProp(SOCKET_SEND_BUFFER_BYTES_PROP, SOCKET_SEND_BUFFER_BYTES_DEFAULT);
        private String tlsCertFile = System.getProperty(TLS_CERT_FILE_PROP, "");
        private String tlsKeyFile = System.getProperty(TLS_KEY_FILE_PROP, "");
        private String tlsClientCaFile = System.getProperty(TLS_CLIENT_CA_FILE_PROP, "");
        private boolean adminClientAuth = Boolean.parseBoolean(
                System.getProperty(ADMIN_CLIENT_AUTH_PROP, String.valueOf(ADMIN_CLIENT_AUTH_DEFAULT)));
        private String tokensFile = System.getProperty(TOKENS_FILE_PROP, "");
        private boolean webSocket = Boolean.parseBoolean(System.getProperty(WEB_SOCKET_PROP,
                String.valueOf(WEB_SOCKET_DEFAULT)));
        private String webSocketOrigins = System.getProperty(WEB_SOCKET_ORIGINS_PROP, "");
        private String shadowBackend = System.getProperty(SHADOW_BACKEND_PROP, "");
        private double shadowSample = doubleProp(SHADOW_SAMPLE_PROP, SHADOW_SAMPLE_DEFAULT);
        private String shadowOnMismatch = System.getProperty(SHADOW_ON_MISMATCH_PROP, SHADOW_ON_MISMATCH_DEFAULT);

        private Builder() {
        }

        public Builder port(int port) {
            this.port = port;
            return this;
        }

        /** The admin HTTP port; 0 for an ephemeral one, {@link #ADMIN_DISABLED} to disable it. */
        public Builder adminPort(int adminPort) {
            this.adminPort = adminPort;
            return this;
        }

        /** {@code none}, {@code next} or a comma-separated list of backend names. */
        public Builder fallback(String fallback) {
            this.fallback = fallback;
            return this;
        }

        public Builder bindAddress(String bindAddress) {
            this.bindAddress = bindAddress;
            return this;
        }

        public Builder maxFrameBytes(int maxFrameBytes) {
            this.maxFrameBytes = maxFrameBytes;
            return this;
        }

        public Builder maxInFlight(int maxInFlight) {
            this.maxInFlight = maxInFlight;
            return this;
        }

        public Builder maxQueued(int maxQueued) {
            this.maxQueued = maxQueued;
            return this;
        }

        public Builder maxBatchRows(int maxBatchRows) {
            this.maxBatchRows = maxBatchRows;
            return this;
        }

        public Builder maxLiveRows(int maxLiveRows) {
            this.maxLiveRows = maxLiveRows;
            return this;
        }

        public Builder maxBeamWidth(int maxBeamWidth) {
            this.maxBeamWidth = maxBeamWidth;
            return this;
        }

        /** Rows one connection's live requests may hold; 0 for {@link #maxBatchRows}. */
        public Builder maxConnectionRows(int maxConnectionRows) {
            this.maxConnectionRows = maxConnectionRows;
            return this;
        }

        public Builder stallTimeoutMs(long stallTimeoutMs) {
            this.stallTimeoutMs = stallTimeoutMs;
            return this;
        }

        public Builder maxQueueWaitMs(long maxQueueWaitMs) {
            this.maxQueueWaitMs = maxQueueWaitMs;
            return this;
        }

        public Builder handshakeTimeoutMs(long handshakeTimeoutMs) {
            this.handshakeTimeoutMs = handshakeTimeoutMs;
            return this;
        }

        public Builder idleTimeoutMs(long idleTimeoutMs) {
            this.idleTimeoutMs = idleTimeoutMs;
            return this;
        }

        public Builder maxConnections(int maxConnections) {
            this.maxConnections = maxConnections;
            return this;
        }

        public Builder maxConnectionsPerAddress(int maxConnectionsPerAddress) {
            this.maxConnectionsPerAddress = maxConnectionsPerAddress;
            return this;
        }

        public Builder defaultMaxNewTokens(int defaultMaxNewTokens) {
            this.defaultMaxNewTokens = defaultMaxNewTokens;
            return this;
        }

        public Builder drainTimeoutMs(long drainTimeoutMs) {
            this.drainTimeoutMs = drainTimeoutMs;
            return this;
        }

        public Builder adminReloadTimeoutMs(long adminReloadTimeoutMs) {
            this.adminReloadTimeoutMs = adminReloadTimeoutMs;
            return this;
        }

        public Builder adminIdleTimeoutMs(long adminIdleTimeoutMs) {
            this.adminIdleTimeoutMs = adminIdleTimeoutMs;
            return this;
        }

        public Builder adminMaxConnections(int adminMaxConnections) {
            this.adminMaxConnections = adminMaxConnections;
            return this;
        }

        public Builder nativeTransport(boolean nativeTransport) {
            this.nativeTransport = nativeTransport;
            return this;
        }

        public Builder writeBufferHighWaterMark(int writeBufferHighWaterMark) {
            this.writeBufferHighWaterMark = writeBufferHighWaterMark;
            return this;
        }

        public Builder socketSendBufferBytes(int socketSendBufferBytes) {
            this.socketSendBufferBytes = socketSendBufferBytes;
            return this;
        }

        /** TLS with this PEM certificate chain and PEM PKCS#8 key; nulls for plaintext. */
        public Builder tls(Path certFile, Path keyFile) {
            this.tlsCertFile = certFile == null ? "" : certFile.toString();
            this.tlsKeyFile = keyFile == null ? "" : keyFile.toString();
            return this;
        }

        /** Require client certificates signed by these PEM CA certificates; null for none. */
        public Builder tlsClientCa(Path caFile) {
            this.tlsClientCaFile = caFile == null ? "" : caFile.toString();
            return this;
        }

        public Builder adminClientAuth(boolean adminClientAuth) {
            this.adminClientAuth = adminClientAuth;
            return this;
        }

        /** The protocol over WebSocket on the admin port, and the other origins whose pages may use it (comma separated). */
        public Builder webSocket(boolean enabled, String origins) {
            this.webSocket = enabled;
            this.webSocketOrigins = origins == null ? "" : origins;
            return this;
        }

        /** Shadow execution on {@code backend} (null for none), for {@code sample} of the sequences. */
        public Builder shadow(String backend, double sample, String onMismatch) {
            this.shadowBackend = backend == null ? "" : backend;
            this.shadowSample = sample;
            this.shadowOnMismatch = onMismatch;
            return this;
        }

        /** The tokens file; null for none. */
        public Builder tokensFile(Path tokensFile) {
            this.tokensFile = tokensFile == null ? "" : tokensFile.toString();
            return this;
        }

        /**
         * Validates every setting and returns the immutable configuration.
         *
         * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} naming the first invalid setting
         */
        public ServerConfig conclude() {
            range(PORT_PROP, port, 0, 65535);
            range(ADMIN_PORT_PROP, adminPort, ADMIN_DISABLED, 65535);
            if (adminPort != 0 && adminPort == port) {
                throw invalid(ADMIN_PORT_PROP + " " + adminPort + " must differ from " + PORT_PROP);
            }
            FallbackPolicy fallbackPolicy;
            try {
                fallbackPolicy = FallbackPolicy.parse(fallback);
            } catch (ShiftformerException e) {
                throw invalid(FALLBACK_PROP + ": " + e.getMessage());
            }
            if (bindAddress == null || bindAddress.isBlank()) {
                throw invalid(BIND_ADDRESS_PROP + " must be a host name or address, got '" + bindAddress + "'");
            }
            range(MAX_FRAME_BYTES_PROP, maxFrameBytes, FrameLayout.MIN_MAX_PAYLOAD_BYTES, FrameLayout.MAX_MAX_PAYLOAD_BYTES);
            range(MAX_IN_FLIGHT_PROP, maxInFlight, 1, 1 << 20);
            range(MAX_QUEUED_PROP, maxQueued, 1, 1 << 20);
            range(MAX_BATCH_ROWS_PROP, maxBatchRows, 1, 1 << 16);
            // Derived into a local: the builder keeps "0 = derive", so a builder concluded again after a
            // change of maxBatchRows derives again instead of keeping the first value.
            int liveRows = maxLiveRows == 0 ? Math.min(4 * maxBatchRows, 1 << 20) : maxLiveRows;
            range(MAX_LIVE_ROWS_PROP, liveRows, maxBatchRows, 1 << 20);
            range(MAX_BEAM_WIDTH_PROP, maxBeamWidth, 1, Math.min(DecodeParams.MAX_BEAM, 0xFFFF));
            if (maxBeamWidth > maxBatchRows) {
                throw invalid(MAX_BEAM_WIDTH_PROP + " " + maxBeamWidth + " must not exceed " + MAX_BATCH_ROWS_PROP + " "
                        + maxBatchRows + " (a beam's hypotheses share one batched step)");
            }
            int connectionRows = maxConnectionRows == 0 ? maxBatchRows : maxConnectionRows;
            range(MAX_CONNECTION_ROWS_PROP, connectionRows, maxBeamWidth, liveRows);
            range(STALL_TIMEOUT_MS_PROP, stallTimeoutMs, 1, 24L * 3600 * 1000);
            range(MAX_QUEUE_WAIT_MS_PROP, maxQueueWaitMs, 1, 24L * 3600 * 1000);
            range(HANDSHAKE_TIMEOUT_MS_PROP, handshakeTimeoutMs, 1, 24L * 3600 * 1000);
            range(IDLE_TIMEOUT_MS_PROP, idleTimeoutMs, 1, 24L * 3600 * 1000);
            range(MAX_CONNECTIONS_PROP, maxConnections, 1, 1 << 20);
            range(MAX_CONNECTIONS_PER_ADDRESS_PROP, maxConnectionsPerAddress, 1, 1 << 20);
            range(DEFAULT_MAX_NEW_TOKENS_PROP, defaultMaxNewTokens, 0, Integer.MAX_VALUE);
            if (drainTimeoutMs < 0) {
                throw invalid(DRAIN_TIMEOUT_MS_PROP + " " + drainTimeoutMs + " must be >= 0");
            }
            range(ADMIN_RELOAD_TIMEOUT_MS_PROP, adminReloadTimeoutMs, 1, 24L * 3600 * 1000);
            range(ADMIN_IDLE_TIMEOUT_MS_PROP, adminIdleTimeoutMs, 1, 24L * 3600 * 1000);
            range(ADMIN_MAX_CONNECTIONS_PROP, adminMaxConnections, 1, 1 << 20);
            range(WRITE_BUFFER_HIGH_WATER_MARK_PROP, writeBufferHighWaterMark, 2, 1 << 30);
            range(SOCKET_SEND_BUFFER_BYTES_PROP, socketSendBufferBytes, 0, 1 << 30);
            if (tlsCertFile.isEmpty() != tlsKeyFile.isEmpty()) {
                throw invalid((tlsCertFile.isEmpty() ? TLS_CERT_FILE_PROP : TLS_KEY_FILE_PROP) + " is needed with "
                        + (tlsCertFile.isEmpty() ? TLS_KEY_FILE_PROP : TLS_CERT_FILE_PROP) + " (TLS takes both)");
            }
            if (!tlsClientCaFile.isEmpty() && tlsCertFile.isEmpty()) {
                throw invalid(TLS_CLIENT_CA_FILE_PROP + " needs " + TLS_CERT_FILE_PROP + " and " + TLS_KEY_FILE_PROP
                        + ": client certificates are part of TLS");
            }
            readable(TLS_CERT_FILE_PROP, tlsCertFile);
            readable(TLS_KEY_FILE_PROP, tlsKeyFile);
            readable(TLS_CLIENT_CA_FILE_PROP, tlsClientCaFile);
            readable(TOKENS_FILE_PROP, tokensFile);
            if (!(shadowSample > 0 && shadowSample <= 1)) {
                throw invalid(SHADOW_SAMPLE_PROP + " " + shadowSample + " must be in (0, 1]");
            }
            try {
                org.shiftformer.core.engine.ShadowModel.OnMismatch.parse(shadowOnMismatch);
            } catch (ShiftformerException e) {
                throw invalid(SHADOW_ON_MISMATCH_PROP + ": " + e.getMessage());
            }
            return new ServerConfig(this, fallbackPolicy, liveRows, connectionRows);
        }

        private static void readable(String setting, String file) {
            if (file.isEmpty()) {
                return;
            }
            Path p;
            try {
                p = Path.of(file);
            } catch (java.nio.file.InvalidPathException e) {
                throw invalid(setting + " '" + file + "' is not a path: " + e.getMessage());
            }
            if (!Files.isRegularFile(p) || !Files.isReadable(p)) {
                throw invalid(setting + " " + file + (Files.exists(p) ? " is not a readable regular file" : " does not exist"));
            }
        }

        private static void range(String setting, long value, long min, long max) {
            if (value < min || value > max) {
                throw invalid(setting + " " + value + " must be in [" + min + ", " + max + "]");
            }
        }

        private static ShiftformerException invalid(String message) {
            return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "server setting " + message);
        }

        private static int intProp(String name, int def) {
            long v = longProp(name, def);
            if (v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
                throw invalid(name + " " + v + " is not a 32-bit integer");
            }
            return (int) v;
        }

        private static double doubleProp(String name, double def) {
            String s = System.getProperty(name);
            if (s == null) {
                return def;
            }
            try {
                return Double.parseDouble(s.trim());
            } catch (NumberFormatException e) {
                throw invalid(name + " '" + s + "' is not a number");
            }
        }

        private static long longProp(String name, long def) {
            String s = System.getProperty(name);
            if (s == null) {
                return def;
            }
            try {
                return Long.parseLong(s.trim());
            } catch (NumberFormatException e) {
                throw invalid(name + " '" + s + "' is not an integer");
            }
        }
    }
}
