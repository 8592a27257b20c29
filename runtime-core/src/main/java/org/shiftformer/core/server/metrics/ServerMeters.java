package org.shiftformer.core.server.metrics;

/**
 * Every meter name and tag key of the server, declared once (Micrometer conventions: dotted lowercase,
 * base units; a registry renders them in its own style, Prometheus as {@code shiftformer_requests_total}
 * and so on). Tags are bounded: a status, an {@code ErrorCode} name, a backend name, a model checksum
 * prefix; never a client address or a request id. README.md ("Serving") lists the Prometheus names.
 */
public final class ServerMeters {
    /** Counter: requests by outcome, tags {@link #STATUS} and {@link #CODE}. */
    public static final String REQUESTS = "shiftformer.requests";
    /** Gauge: accepted requests waiting for a batch slot, over every live scheduler. */
    public static final String QUEUE_DEPTH = "shiftformer.queue.depth";
    /** Gauge: requests being decoded (holding batch slots), over every live scheduler. */
    public static final String STREAMS_LIVE = "shiftformer.streams.live";
    /** Gauge: open client connections. */
    public static final String CONNECTIONS = "shiftformer.connections";
    /**
     * Gauge, bytes: encoded frames queued in the server for client connections and not yet taken by their
     * sockets (Netty's outbound buffers, summed over connections). A connection above
     * {@code writeBufferHighWaterMark} stops being stepped and read, so this stays below about connections
     * x (high-water mark x 2 + one step's frames), however many clients stop reading (FaultInjectionTest
     * derives the exact bound: frames still queued for an event loop count 40 bytes until encoded).
     */
    public static final String OUTBOUND_PENDING = "shiftformer.outbound.pending";
    /**
     * Counter: the protection limits at work (PROTOCOL.md sections 1, 3 and 7), tag {@link #LIMIT}: requests
     * ended by a stall or queue-wait timeout, connections closed by the handshake or idle timeout or the
     * pre-handshake size limit, connections refused by the connection limits.
     */
    public static final String LIMITS = "shiftformer.limits";
    /**
     * Counter: live streams of a connection that was not writable which gave their decoder rows to a
     * waiting request (parked outside the batch, decoded again from the start when their turn comes).
     */
    public static final String STREAMS_PARKED = "shiftformer.streams.parked";
    /** Counter, bytes: frames read from client connections. */
    public static final String BYTES_IN = "shiftformer.bytes.in";
    /** Counter, bytes: frames written to client connections. */
    public static final String BYTES_OUT = "shiftformer.bytes.out";
    /** Gauge, 1 for the model being served (tags model, backend, requested backend, fallback). */
    public static final String MODEL_INFO = "shiftformer.model.info";
    /**
     * Gauge: a score the served model's artifact records from its evaluation at export (its provenance
     * metrics, e.g. {@code int8.chrf}), one per score; tags model and {@link #SCORE} (the score's name).
     */
    public static final String MODEL_SCORE = "shiftformer.model.score";
    /** Counter: hot reloads, tag {@link #STATUS} = done | error. */
    public static final String RELOADS = "shiftformer.reloads";
    /**
     * Counter: a backend failed while serving and its live streams moved to a fallback backend (the
     * server's fallback policy), tags {@link #BACKEND} (the replacement) and {@link #REQUESTED_BACKEND}
     * (the one that failed).
     */
    public static final String FAILOVERS = "shiftformer.backend.failovers";

    /** Timer: from receipt of a request to its first output token. Tags model, backend. */
    public static final String TIME_TO_FIRST_TOKEN = "shiftformer.time.to.first.token";
    /** Timer: between consecutive output tokens of one request. Tags model, backend. */
    public static final String INTER_TOKEN_LATENCY = "shiftformer.inter.token.latency";
    /** Counter: output tokens (its rate is tokens per second). Tags model, backend. */
    public static final String TOKENS = "shiftformer.tokens";
    /** Distribution summary: decoder rows per batched step. Tags model, backend. */
    public static final String BATCH_SIZE = "shiftformer.batch.size";
    /** Timer: wall time of one backend call, tag {@link #PHASE} = encode | decode. Tags model, backend. */
    public static final String BACKEND_STEP = "shiftformer.backend.step";
    /** Counter: modelled (simulator) or measured (device) datapath cycles of every step. Tags model, backend. */
    public static final String DEVICE_CYCLES = "shiftformer.device.cycles";

    /** Counter: connections refused at Hello, or closed, for want of a valid token; tag {@link #REASON}. */
    public static final String AUTH_FAILURES = "shiftformer.auth.failures";
    /** Counter: translate requests accepted, tag {@link #CLIENT} (the token's name or the certificate's CN). */
    public static final String CLIENT_REQUESTS = "shiftformer.client.requests";
    /** Gauge: translate requests in flight over all connections of a client, tag {@link #CLIENT}. */
    public static final String CLIENT_IN_FLIGHT = "shiftformer.client.in.flight";
    /** Counter: re-reads of a changed tokens file, tag {@link #STATUS} = done | error. */
    public static final String TOKENS_RELOADS = "shiftformer.tokens.reloads";

    /** Counter: shadow execution's comparisons, tag {@link #KIND} = sources (encoder outputs) | rows (decoder steps of one sequence), tag {@code shadow}. */
    public static final String SHADOW_CHECKED = "shiftformer.shadow.checked";
    /** Counter: differences between the serving backend and the shadow, tag {@code shadow}. */
    public static final String SHADOW_MISMATCHES = "shiftformer.shadow.mismatches";
    /** Counter: shadow computations that failed by themselves, tag {@code shadow}. */
    public static final String SHADOW_ERRORS = "shiftformer.shadow.errors";
    /** Tag: what was compared. */
    public static final String KIND = "kind";
    /** Tag: the shadow backend. */
    public static final String SHADOW = "shadow";

    /** Tag: the authenticated client's name, never its token. */
    public static final String CLIENT = "client";
    /** Tag: why authentication failed, one of {@code missing unknown revoked}. */
    public static final String REASON = "reason";
    /** Tag: request outcome, one of {@code done error cancelled dropped rejected}. */
    public static final String STATUS = "status";
    /** Tag: the {@code ErrorCode} name of an error or rejection, {@code none} otherwise. */
    public static final String CODE = "code";
    /** Tag: the first 16 hex digits of the served artifact's SHA-256. */
    public static final String MODEL = "model";
    /** Tag: the backend that computes (after any fallback). */
    public static final String BACKEND = "backend";
    /** Tag: the backend that was asked for (differs from {@link #BACKEND} after a fallback). */
    public static final String REQUESTED_BACKEND = "requested.backend";
    /** Tag: {@code true} when the backend is a fallback for the requested one. */
    public static final String FALLBACK = "fallback";
    /** Tag of {@link #LIMITS}: which limit ({@code ServerStats.Limit#tag()}). */
    public static final String LIMIT = "limit";
    /** Tag of {@link #BACKEND_STEP}: {@code encode} or {@code decode}. */
    public static final String PHASE = "phase";
    /** Tag of {@link #MODEL_SCORE}: the score's name as the artifact records it. */
    public static final String SCORE = "score";

    private ServerMeters() {
    }
}
