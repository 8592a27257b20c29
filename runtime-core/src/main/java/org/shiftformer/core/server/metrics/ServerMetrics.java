package org.shiftformer.core.server.metrics;

import io.micrometer.core.instrument.FunctionCounter;
import io.micrometer.core.instrument.Gauge;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.binder.MeterBinder;
import java.util.function.IntSupplier;
import java.util.function.LongSupplier;
import java.util.function.ToDoubleFunction;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.core.server.ServerStats;

/**
 * Binds the server-wide meters: request outcomes, bytes and connection counts read from
 * {@link ServerStats} by function counters (nothing is counted twice, nothing allocated per request), the
 * queue and live-stream gauges read from the schedulers, and the bytes waiting in the connections'
 * outbound buffers. Per-model meters are {@link ModelMetrics}.
 */
public final class ServerMetrics implements MeterBinder {
    private static final String NONE = "none";

    private final ServerStats stats;
    private final IntSupplier queueDepth;
    private final IntSupplier liveStreams;
    private final IntSupplier connections;
    private final LongSupplier outboundPending;

    /**
     * @param stats           the server's counters
     * @param queueDepth      accepted requests waiting for a slot, over every live scheduler
     * @param liveStreams     requests being decoded, over every live scheduler
     * @param connections     open client connections
     * @param outboundPending bytes queued for client connections and not yet taken by their sockets
     */
    public ServerMetrics(ServerStats stats, IntSupplier queueDepth, IntSupplier liveStreams, IntSupplier connections,
                         LongSupplier outboundPending) {
        this.stats = stats;
        this.queueDepth = queueDepth;
        this.liveStreams = liveStreams;
        this.connections = connections;
        this.outboundPending = outboundPending;
    }

    @Override
    public void bindTo(MeterRegistry registry) {
        requests(registry, "done", NONE, ServerStats::done);
        requests(registry, "cancelled", NONE, ServerStats::cancelled);
        requests(registry, "dropped", NONE, ServerStats::dropped);
        for (ErrorCode code : ErrorCode.values()) {
            requests(registry, "error", code.name(), s -> s.errors(code));
            requests(registry, "rejected", code.name(), s -> s.rejected(code));
        }
        for (ServerStats.Limit limit : ServerStats.Limit.values()) {
            FunctionCounter.builder(ServerMeters.LIMITS, stats, st -> st.limitHits(limit))
                    .description("requests ended or connections refused or closed by a protection limit")
                    .tag(ServerMeters.LIMIT, limit.tag()).register(registry);
        }
        FunctionCounter.builder(ServerMeters.STREAMS_PARKED, stats, ServerStats::parked)
                .description("live streams of unwritable connections that gave their rows to a waiting request")
                .register(registry);
        FunctionCounter.builder(ServerMeters.BYTES_IN, stats, ServerStats::bytesIn)
                .description("bytes of frames read from client connections").register(registry);
        FunctionCounter.builder(ServerMeters.BYTES_OUT, stats, ServerStats::bytesOut)
                .description("bytes of frames written to client connections").register(registry);
        Gauge.builder(ServerMeters.QUEUE_DEPTH, queueDepth, IntSupplier::getAsInt).strongReference(true)
                .description("accepted requests waiting for a batch slot").register(registry);
        Gauge.builder(ServerMeters.STREAMS_LIVE, liveStreams, IntSupplier::getAsInt).strongReference(true)
                .description("requests being decoded").register(registry);
        Gauge.builder(ServerMeters.CONNECTIONS, connections, IntSupplier::getAsInt).strongReference(true)
                .description("open client connections").register(registry);
        Gauge.builder(ServerMeters.OUTBOUND_PENDING, outboundPending, LongSupplier::getAsLong).strongReference(true)
                .baseUnit("bytes").description("encoded frames queued for client connections, not yet taken by the sockets")
                .register(registry);
    }

    private void requests(MeterRegistry registry, String status, String code, ToDoubleFunction<ServerStats> f) {
        FunctionCounter.builder(ServerMeters.REQUESTS, stats, f)
                .description("translate requests by outcome (rejected: answered at once, never accepted)")
                .tag(ServerMeters.STATUS, status).tag(ServerMeters.CODE, code).register(registry);
    }
}
