package org.shiftformer.core.server;

import java.util.concurrent.atomic.LongAdder;
import org.shiftformer.api.ErrorCode;

/**
 * Counters of one server (every {@link Scheduler} it ran, across hot reloads), cheap to update from the
 * scheduler threads and the event loops and safe to read from any thread. The Micrometer binder
 * ({@link org.shiftformer.core.server.metrics.ServerMetrics}) reads these with function counters instead
 * of keeping counts of its own.
 *
 * <p>Invariant, once the server is idle: {@code accepted == done + errors + cancelled + dropped}: every
 * accepted request ends exactly once ({@link Request#terminate}); {@code dropped} are those whose
 * connection was gone, so no frame could be sent.
 */
public final class ServerStats {
    final LongAdder accepted = new LongAdder();
    final LongAdder rejected = new LongAdder();
    final LongAdder done = new LongAdder();
    final LongAdder errors = new LongAdder();
    final LongAdder cancelled = new LongAdder();
    final LongAdder dropped = new LongAdder();
    final LongAdder tokens = new LongAdder();
    final LongAdder steps = new LongAdder();
    final LongAdder stepRows = new LongAdder();
    final LongAdder connectionErrors = new LongAdder();
    final LongAdder backpressureSkips = new LongAdder();
    final LongAdder parked = new LongAdder();
    final LongAdder bytesIn = new LongAdder();
    final LongAdder bytesOut = new LongAdder();
    private final LongAdder[] limitHits = new LongAdder[Limit.values().length];
    private final LongAdder[] errorsByCode = adders();
    private final LongAdder[] rejectedByCode = adders();

    /**
     * The server's protection limits (PROTOCOL.md sections 1, 3 and 7), each counted when it ends a request
     * or refuses or closes a connection: meter {@code shiftformer.limits}, tag {@code limit} = {@link #tag()}.
     */
    public enum Limit {
        /** A connection stayed not writable for {@code stallTimeoutMs}: each of its requests ended CANCELLED. */
        STALL_TIMEOUT("stall_timeout"),
        /** A request waited {@code maxQueueWaitMs} for a decode slot and ended OVERLOADED. */
        QUEUE_WAIT("queue_wait"),
        /** A length prefix above 65,536 before Welcome: connection error, closed. */
        PRE_HANDSHAKE_BYTES("pre_handshake_bytes"),
        /** No Hello answered within {@code handshakeTimeoutMs}: closed. */
        HANDSHAKE_TIMEOUT("handshake_timeout"),
        /** Nothing in flight and nothing received for {@code idleTimeoutMs}: closed. */
        IDLE_TIMEOUT("idle_timeout"),
        /** A connection over {@code maxConnections}: refused. */
        MAX_CONNECTIONS("max_connections"),
        /** A connection over {@code maxConnectionsPerAddress} from one remote address: refused. */
        MAX_CONNECTIONS_PER_ADDRESS("max_connections_per_address"),
        /** A request over its client's {@code max_in_flight} (tokens file), over all its connections: OVERLOADED. */
        CLIENT_IN_FLIGHT("client_in_flight"),
        /** A TLS handshake failed (no or an untrusted client certificate, not TLS at all): closed. */
        TLS_HANDSHAKE("tls_handshake"),
        /** An admin request not whole within {@code adminIdleTimeoutMs} of its first byte: 408, closed. */
        ADMIN_REQUEST_TIMEOUT("admin_request_timeout"),
        /** An admin HTTP connection over {@code adminMaxConnections}: 503, closed. */
        ADMIN_MAX_CONNECTIONS("admin_max_connections");

        private final String tag;

        Limit(String tag) {
            this.tag = tag;
        }

        /** The value of the {@code limit} tag. */
        public String tag() {
            return tag;
        }
    }

    {
        for (int i = 0; i < limitHits.length; i++) {
            limitHits[i] = new LongAdder();
        }
    }

    /** Counts one hit of {@code limit}. */
    void limit(Limit limit) {
        limitHits[limit.ordinal()].increment();
    }

    /** How often {@code limit} ended a request or refused or closed a connection. */
    public long limitHits(Limit limit) {
        return limitHits[limit.ordinal()].sum();
    }

    /**
     * Times a live stream of a connection that was not writable gave its decoder rows to a waiting request
     * (parked outside the batch; it is decoded again from its start when its turn comes).
     */
    public long parked() {
        return parked.sum();
    }

    private static LongAdder[] adders() {
        LongAdder[] a = new LongAdder[ErrorCode.values().length];
        for (int i = 0; i < a.length; i++) {
            a[i] = new LongAdder();
        }
        return a;
    }

    /** Counts an accepted request ended by Error {@code code}. */
    void error(int code) {
        errors.increment();
        errorsByCode[ErrorCode.fromValue(code).ordinal()].increment();
    }

    /** Counts a request answered at once with Error {@code code}. */
    void reject(int code) {
        rejected.increment();
        rejectedByCode[ErrorCode.fromValue(code).ordinal()].increment();
    }

    /** Translate requests handed to the scheduler (each owes one terminal frame). */
    public long accepted() {
        return accepted.sum();
    }

    /** Translate requests answered at once with an Error (invalid, over a limit): not accepted. */
    public long rejected() {
        return rejected.sum();
    }

    /** {@link #rejected()} with this error code. */
    public long rejected(ErrorCode code) {
        return rejectedByCode[code.ordinal()].sum();
    }

    /** {@link #errors()} with this error code. */
    public long errors(ErrorCode code) {
        return errorsByCode[code.ordinal()].sum();
    }

    /** Bytes read from client connections (frames as received, length prefixes included). */
    public long bytesIn() {
        return bytesIn.sum();
    }

    /** Bytes written to client connections (encoded frames handed to the transport). */
    public long bytesOut() {
        return bytesOut.sum();
    }

    /** Accepted requests ended by Done. */
    public long done() {
        return done.sum();
    }

    /** Accepted requests ended by Error (deadline, backend failure, shutdown, connection error). */
    public long errors() {
        return errors.sum();
    }

    /** Accepted requests ended by Cancelled. */
    public long cancelled() {
        return cancelled.sum();
    }

    /** Accepted requests ended because their connection closed (no frame sent). */
    public long dropped() {
        return dropped.sum();
    }

    /** Sum of all terminal outcomes: equals {@link #accepted()} when nothing is in flight. */
    public long terminated() {
        return done() + errors() + cancelled() + dropped();
    }

    /** Output tokens produced. */
    public long tokens() {
        return tokens.sum();
    }

    /** Batched decoder steps run. */
    public long steps() {
        return steps.sum();
    }

    /** Decoder rows over all steps (divide by {@link #steps()} for the mean batch size). */
    public long stepRows() {
        return stepRows.sum();
    }

    /** Connections closed with an Error for request 0. */
    public long connectionErrors() {
        return connectionErrors.sum();
    }

    /** Times a live request was left out of a step because its connection was not writable. */
    public long backpressureSkips() {
        return backpressureSkips.sum();
    }

    @Override
    public String toString() {
        return "ServerStats[accepted " + accepted() + ", rejected " + rejected() + ", done " + done() + ", errors "
                + errors() + ", cancelled " + cancelled() + ", dropped " + dropped() + ", tokens " + tokens()
                + ", steps " + steps() + ", rows " + stepRows() + ", connection errors " + connectionErrors()
                + ", backpressure skips " + backpressureSkips() + ", parked " + parked() + "]";
    }
}
