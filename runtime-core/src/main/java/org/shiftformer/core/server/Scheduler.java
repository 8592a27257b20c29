package org.shiftformer.core.server;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.StepCost;
import org.shiftformer.core.decode.DecodeResult;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.server.metrics.ModelMetrics;
import org.shiftformer.protocol.Message;

/**
 * Continuous batching for one loaded model on one dedicated thread (the only thread that touches the
 * {@link LoadedModel}). Each iteration, between decoder steps, it
 *
 * <ol>
 *   <li>moves newly accepted requests from the inbox to their connection's queue ({@link Lane});</li>
 *   <li>ends requests that were cancelled, whose connection closed, whose deadline passed, that waited
 *       {@link ServerConfig#maxQueueWaitMs()} in the queue (OVERLOADED), or whose connection has not been
 *       writable for {@link ServerConfig#stallTimeoutMs()} (CANCELLED), so a stop takes effect within one
 *       step;</li>
 *   <li>admits queued requests <b>fairly between connections</b>: each admission goes to the connection
 *       whose live requests hold the fewest rows (round robin among equals), skipping connections that are
 *       not writable and those whose live requests hold {@link ServerConfig#maxConnectionRows()}, while the rows of requests on writable connections fit
 *       {@link ServerConfig#maxBatchRows()} and all reserved rows fit {@link ServerConfig#maxLiveRows()}
 *       (a beam of width W reserves W rows). When only the live rows are short, live streams of
 *       connections that are not writable are <b>parked</b>: they give their rows up, go back to the front
 *       of their connection's queue, and are decoded again from their start when they are admitted again,
 *       without sending the tokens the client has (as after a failover). All newly admitted sources are
 *       encoded in one {@link LoadedModel#encode} batch;</li>
 *   <li>gathers, round robin, up to {@link ServerConfig#maxBatchRows()} live hypotheses of the active
 *       searches whose connection is writable (one that is not is skipped: backpressure) and runs one
 *       {@link LoadedModel#decodeStep}; each search advances, streams its final tokens, and on completion
 *       sends Done;</li>
 *   <li>flushes each connection written to in the step once.</li>
 * </ol>
 *
 * Admission is bounded: {@link #submit} refuses with OVERLOADED when {@link ServerConfig#maxQueued()}
 * accepted requests already wait for a slot, so nothing queues without bound, except that a connection
 * with no request waiting may always queue one (so connections that fill the queue cannot refuse every
 * other connection; the bound is then maxQueued plus the connections).
 *
 * <p>Failover: when the backend fails while running ({@link ErrorCode#BACKEND_FAILURE} from an encode or a
 * decoder step) and the server's {@link FallbackPolicy} allows one, the {@link Failover} loads the model on
 * a fallback backend and the scheduler moves every live request there: it re-encodes their sources and
 * decodes them again from the start, without streaming the tokens a client already has. Backends are
 * bit-exact (SPEC.md, the conformance kit), so the replay reproduces those tokens and the stream continues
 * where it stopped; the request's Done names the backend that finished it. Without a fallback the
 * requests of the failed step end in one Error frame each, and the scheduler goes on with the next step.
 *
 * <p>Hot reload {@linkplain #retire() retires} a scheduler: it accepts nothing more (the connection
 * submits to the new one), finishes what it accepted, closes its model and ends. The thread that drives a
 * model is the one that closes it, so no backend call can race with the close.
 */
public final class Scheduler {
    private static final System.Logger LOG = System.getLogger(Scheduler.class.getName());
    private static final long IDLE_PARK_NS = TimeUnit.MILLISECONDS.toNanos(50);
    private static final long BLOCKED_PARK_NS = TimeUnit.MILLISECONDS.toNanos(2);
    /** {@link #submit}'s answer after {@link #retire()}: submit to the server's current scheduler instead. */
    static final Message.Error RETIRED = new Message.Error(0, ErrorCode.CANCELLED.value(), "scheduler retired by a reload");

    /** Replaces a model whose backend failed while serving (the fallback policy), or null (fail the requests). */
    interface Failover {
        /**
         * Loads {@code failed}'s model on a fallback backend.
         *
         * @return the replacement, or null when the policy allows none
         * @throws ShiftformerException when a fallback is allowed but none can run (the message says why)
         */
        ServedModel replace(ServedModel failed, ShiftformerException cause);

        /** The meters of a replacement model. */
        ModelMetrics meters(ServedModel replacement);
    }

    private final Failover failover;
    private volatile ServedModel served;
    private LoadedModel model; // scheduler thread only, after start
    private final ServerConfig config;
    private final ServerStats stats;
    private volatile ModelMetrics meters;
    /** Every meter set this scheduler recorded to (its model's, then each failover replacement's). */
    private final List<ModelMetrics> heldMeters = new ArrayList<>();
    private final int vocab;
    private final Thread thread;

    private final ConcurrentLinkedQueue<Request> inbox = new ConcurrentLinkedQueue<>();
    /** Accepted requests not yet active (inbox and pending): the admission bound. */
    private final AtomicInteger waiting = new AtomicInteger();
    private final Object admissionLock = new Object();
    private boolean accepting = true; // guarded by admissionLock
    private boolean retired; // guarded by admissionLock
    private volatile boolean stopping;
    private volatile boolean abort;
    private volatile int activeCount;

    // ---- scheduler thread only ----
    /** The scheduler's view of each connection with requests on it (queued or live). */
    private final Map<ConnectionHandler, Lane> lanes = new IdentityHashMap<>();
    /** Lanes with queued requests, in round-robin order: admission takes one from the first, moves it last. */
    private final ArrayDeque<Lane> ring = new ArrayDeque<>();
    private final List<Request> active = new ArrayList<>();
    private final List<Request> stepped = new ArrayList<>();
    private final List<Request> admitted = new ArrayList<>();
    private final List<int[]> admittedSources = new ArrayList<>();
    private final List<DecoderState> states = new ArrayList<>();
    /**
     * The connections written to in this step, flushed once at its end. The set is this scheduler's own:
     * during a hot reload the retired and the current scheduler step requests of the same connection
     * concurrently, so the bookkeeping must not live on the connection.
     */
    private final Set<ConnectionHandler> toFlush = Collections.newSetFromMap(new IdentityHashMap<>());
    private final int[] tokens;
    private final int[] logits;
    private int reservedRows;
    private long stepNo;
    private final long stallTimeoutNs;
    private final long maxQueueWaitNs;

    /** One connection as this scheduler sees it (scheduler thread only). */
    static final class Lane {
        final ConnectionHandler connection;
        /** Its accepted requests waiting for a slot, parked ones first. */
        final ArrayDeque<Request> queue = new ArrayDeque<>();
        /** Rows its live requests hold ({@link ServerConfig#maxConnectionRows()}). */
        int rows;
        boolean inRing;

        Lane(ConnectionHandler connection) {
            this.connection = connection;
        }
    }

    Scheduler(ServedModel served, ServerConfig config, ServerStats stats, ModelMetrics meters) {
        this(served, config, stats, meters, null);
    }

    /** @param failover what replaces the model when its backend fails while serving; null for none */
    Scheduler(ServedModel served, ServerConfig config, ServerStats stats, ModelMetrics meters, Failover failover) {
        this.failover = failover;
        this.served = served;
        this.model = served.model();
        this.config = config;
        this.stats = stats;
        this.meters = meters;
        this.heldMeters.add(meters);
        this.vocab = served.config().vocabSize();
        this.tokens = new int[config.maxBatchRows()];
        this.logits = new int[Math.multiplyExact(config.maxBatchRows(), vocab)];
        this.stallTimeoutNs = TimeUnit.MILLISECONDS.toNanos(config.stallTimeoutMs());
        this.maxQueueWaitNs = TimeUnit.MILLISECONDS.toNanos(config.maxQueueWaitMs());
        String name = "shiftformer-decode-" + served.sha256().substring(0, Math.min(8, served.sha256().length()));
        this.thread = Thread.ofPlatform().name(name).daemon(true).unstarted(this::run);
    }

    void start() {
        thread.start();
    }

    ServedModel served() {
        return served;
    }

    ModelMetrics meters() {
        return meters;
    }

    /** Requests currently being decoded (their searches hold batch slots). */
    public int activeSequences() {
        return activeCount;
    }

    /** Accepted requests waiting for a slot. */
    public int queuedRequests() {
        return waiting.get();
    }

    /**
     * Hands an accepted request to the scheduler (any thread).
     *
     * @return null if accepted (it will end in exactly one terminal frame), else the Error to answer with
     */
    Message.Error submit(Request r) {
        synchronized (admissionLock) {
            if (!accepting) {
                if (retired) {
                    return RETIRED;
                }
                stats.reject(ErrorCode.CANCELLED.value());
                return new Message.Error(r.id, ErrorCode.CANCELLED.value(), "server is shutting down");
            }
            // Checked before counting (only this lock's holder adds; the scheduler only subtracts), so the
            // queue-depth gauge never shows a refused request.
            if (waiting.get() >= config.maxQueued() && r.connection.queued.get() > 0) {
                stats.reject(ErrorCode.OVERLOADED.value());
                return new Message.Error(r.id, ErrorCode.OVERLOADED.value(), "server queue is full ("
                        + config.maxQueued() + " requests wait for a slot); retry later");
            }
            waiting.incrementAndGet();
            r.connection.queued.incrementAndGet();
            stats.accepted.increment();
            inbox.add(r);
        }
        wake();
        return null;
    }

    /** Makes the scheduler look at its requests now (a signal was raised, a connection became writable). */
    void wake() {
        LockSupport.unpark(thread);
    }

    /**
     * Shutdown, first half: stops accepting (new requests are answered CANCELLED) and lets live and queued
     * requests finish; {@link #awaitShutdown} ends the rest with Error CANCELLED and the thread.
     */
    void beginShutdown() {
        stopAccepting(false);
    }

    /**
     * Waits until {@code deadlineNs} ({@link System#nanoTime()}) for the drain, then ends the rest with Error
     * CANCELLED and returns when the thread has ended (or after a bounded wait if a backend call hangs).
     */
    void awaitShutdown(long deadlineNs) throws InterruptedException {
        long leftMs = TimeUnit.NANOSECONDS.toMillis(deadlineNs - System.nanoTime());
        thread.join(Math.max(1, leftMs));
        if (thread.isAlive()) {
            abort = true;
            wake();
            thread.join(TimeUnit.SECONDS.toMillis(30));
        }
    }

    /**
     * Hot reload: accepts nothing more ({@link #submit} answers {@link #RETIRED}, and the connection submits
     * to the new scheduler), finishes every accepted request on this model, then closes it and ends.
     */
    void retire() {
        stopAccepting(true);
    }

    /** Closes admission ({@code retire}: answered {@link #RETIRED}, else CANCELLED) and lets the thread drain. */
    private void stopAccepting(boolean retire) {
        synchronized (admissionLock) {
            accepting = false;
            retired = retire;
        }
        stopping = true;
        wake();
    }

    /** Waits up to {@code timeoutMs} for the thread to end; true if it has. */
    boolean awaitExit(long timeoutMs) throws InterruptedException {
        thread.join(Math.max(1, timeoutMs));
        return !thread.isAlive();
    }

    boolean isAlive() {
        return thread.isAlive();
    }

    // ---- the decode thread ------------------------------------------------------------------------

    private void run() {
        try {
            while (true) {
                drainInbox();
                if (abort) {
                    endAll(new ShiftformerException(ErrorCode.CANCELLED,
                            "server shut down before the request completed"));
                    if (inbox.isEmpty()) {
                        return;
                    }
                    continue;
                }
                long now = System.nanoTime();
                sweepQueued(now);
                sweep(active, now, false);
                admit(now);
                activeCount = active.size();
                if (stopping && ring.isEmpty() && active.isEmpty() && inbox.isEmpty()) {
                    return;
                }
                int rows = gather(now);
                if (rows == 0) {
                    LockSupport.parkNanos(this, active.isEmpty() && ring.isEmpty() ? IDLE_PARK_NS : BLOCKED_PARK_NS);
                    continue;
                }
                step(rows);
            }
        } catch (Throwable t) {
            // A bug in the scheduler itself: end everything so that no request waits forever.
            endAll(new ShiftformerException(ErrorCode.INTERNAL, "scheduler failed: " + t));
            throw t;
        } finally {
            synchronized (admissionLock) {
                accepting = false; // nothing may enter an inbox that nobody drains
            }
            endAll(new ShiftformerException(ErrorCode.CANCELLED, "server shut down before the request completed"));
            boolean wasRetired;
            synchronized (admissionLock) {
                wasRetired = retired;
            }
            if (wasRetired) {
                // A reload replaced this model: its meters go with it (at shutdown they stay for the last scrape).
                heldMeters.forEach(ModelMetrics::release);
                heldMeters.clear();
            }
            model.close(); // every request released its states in endAll; nothing else drives this model
        }
    }

    private void drainInbox() {
        Request r;
        while ((r = inbox.poll()) != null) {
            Lane lane = lanes.computeIfAbsent(r.connection, Lane::new);
            r.lane = lane;
            enqueue(lane, r, false);
        }
    }

    /** Puts {@code r} in its lane's queue (at the front: a parked stream) and the lane in the ring. */
    private void enqueue(Lane lane, Request r, boolean first) {
        if (first) {
            lane.queue.addFirst(r);
        } else {
            lane.queue.addLast(r);
        }
        if (!lane.inRing) {
            lane.inRing = true;
            ring.addLast(lane);
        }
    }

    /** {@link #sweep} over every queue; lanes left without queued requests leave the ring. */
    private void sweepQueued(long now) {
        Iterator<Lane> lit = ring.iterator();
        while (lit.hasNext()) {
            Lane lane = lit.next();
            sweep(lane.queue, now, true);
            if (lane.queue.isEmpty()) {
                lit.remove();
                lane.inRing = false;
                forgetIfIdle(lane);
            }
        }
    }

    /** Drops a lane that holds nothing (its connection has no request on this scheduler). */
    private void forgetIfIdle(Lane lane) {
        if (lane.rows == 0 && lane.queue.isEmpty() && !lane.inRing) {
            lanes.remove(lane.connection);
        }
    }

    /** Ends requests that were stopped (connection error, cancel, disconnect) or are past their deadline. */
    private void sweep(java.util.Collection<Request> list, long now, boolean isPending) {
        Iterator<Request> it = list.iterator();
        while (it.hasNext()) {
            Request r = it.next();
            if (r.terminated()) {
                // ended from outside (a connection error answered it on the event loop)
            } else if (r.signal() == Request.DISCONNECT) {
                r.terminate(null);
            } else if (r.signal() == Request.CANCEL) {
                r.terminate(new Message.Cancelled(r.id, r.tokensSent));
            } else if (r.resumeProblem(false, 0) != null) {
                r.terminate(r.resumeProblem(false, 0));
            } else if (r.expired(now)) {
                r.terminate(new Message.Error(r.id, ErrorCode.DEADLINE_EXCEEDED.value(), "deadline of "
                        + (r.deadlineNs - r.receivedNs) / 1_000_000 + " ms passed " + (isPending ? "while queued"
                        : "after " + r.tokensSent + " tokens")));
            } else if (r.connection.stalledNs(now) >= stallTimeoutNs) {
                stats.limit(ServerStats.Limit.STALL_TIMEOUT);
                r.terminate(new Message.Error(r.id, ErrorCode.CANCELLED.value(), "the connection read nothing for "
                        + config.stallTimeoutMs() + " ms while the server had frames for it (server limit "
                        + ServerConfig.STALL_TIMEOUT_MS_PROP + "); stopped after " + r.tokensSent + " tokens"));
            } else if (isPending && now - r.queuedNs >= maxQueueWaitNs) {
                stats.limit(ServerStats.Limit.QUEUE_WAIT);
                r.terminate(new Message.Error(r.id, ErrorCode.OVERLOADED.value(), "waited " + config.maxQueueWaitMs()
                        + " ms for a decode slot (server limit " + ServerConfig.MAX_QUEUE_WAIT_MS_PROP
                        + "); retry later"));
            } else {
                continue;
            }
            it.remove();
            leave(r, isPending);
        }
    }

    /**
     * Accounts for {@code r} leaving the queue ({@code wasPending}; the caller removed it) or the live set,
     * and releases its decoder states.
     */
    private void leave(Request r, boolean wasPending) {
        if (wasPending) {
            unqueued(r);
        } else {
            reservedRows -= r.rows;
            r.lane.rows -= r.rows;
        }
        r.release();
        forgetIfIdle(r.lane);
    }

    private void unqueued(Request r) {
        waiting.decrementAndGet();
        r.connection.queued.decrementAndGet();
    }

    private void admit(long now) {
        if (ring.isEmpty()) {
            return;
        }
        int writableRows = 0;
        for (Request r : active) {
            if (r.connection.isWritable()) {
                writableRows += r.rows;
            }
        }
        // Fair between connections: each admission goes to the writable connection below its row bound
        // whose live requests hold the fewest rows, the earliest in the ring among equals; it then goes to the
        // back of the ring. When the batch or the live rows cannot take that request, admission stops (a
        // smaller request of another connection does not overtake it).
        while (true) {
            Lane lane = null;
            for (Lane l : ring) {
                if (l.connection.isWritable() && l.rows + l.queue.peekFirst().rows <= config.maxConnectionRows()
                        && (lane == null || l.rows < lane.rows)) {
                    lane = l;
                }
            }
            if (lane == null) {
                break;
            }
            Request r = lane.queue.peekFirst();
            if (writableRows + r.rows > config.maxBatchRows() || (reservedRows + r.rows > config.maxLiveRows()
                    && !park(reservedRows + r.rows - config.maxLiveRows(), lane, now))) {
                break;
            }
            lane.queue.pollFirst();
            unqueued(r);
            reservedRows += r.rows;
            lane.rows += r.rows;
            writableRows += r.rows;
            admitted.add(r);
            admittedSources.add(r.source);
            ring.remove(lane);
            if (lane.queue.isEmpty()) {
                lane.inRing = false;
            } else {
                ring.addLast(lane);
            }
        }
        if (admitted.isEmpty()) {
            return;
        }
        try {
            EncodeResult enc;
            long t0 = System.nanoTime();
            try {
                enc = encodeOrFailOver(admittedSources);
            } catch (RuntimeException e) {
                for (Request r : admitted) {
                    r.terminate(Message.Error.of(r.id, backendFailure(e)));
                    leave(r, false);
                }
                return;
            }
            meters.encoded(System.nanoTime() - t0, enc.cost().deviceCycles());
            long share = enc.cost().deviceCycles() / admitted.size();
            for (int i = 0; i < admitted.size(); i++) {
                Request r = admitted.get(i);
                r.encoded = enc.sources().get(i);
                r.encodeCycles = share;
                try {
                    if (r.text == null) { // a parked stream keeps its text decoder: it replays silently
                        r.text = served.tokenizer().newStreamingDecoder();
                    }
                    r.search = Decoding.search(model, r.encoded, r.params, 0, r);
                    active.add(r);
                } catch (RuntimeException e) {
                    r.terminate(Message.Error.of(r.id, backendFailure(e)));
                    leave(r, false);
                }
            }
        } finally {
            admitted.clear();
            admittedSources.clear();
        }
    }

    /**
     * Frees at least {@code need} live rows for a waiting request of a writable connection by parking live
     * streams of connections that are not writable (those with the fewest tokens first: the cheapest to
     * decode again), never those of {@code forLane}, the connection it frees them for (its writability may
     * change meanwhile). Parks nothing unless enough rows can be freed.
     *
     * @return true if the rows are free now
     */
    private boolean park(int need, Lane forLane, long now) {
        int parkable = 0;
        for (Request r : active) {
            if (r.lane != forLane && !r.connection.isWritable()) {
                parkable += r.rows;
            }
        }
        if (parkable < need) {
            return false;
        }
        int freed = 0;
        while (freed < need) {
            Request victim = null;
            for (Request r : active) {
                if (r.lane != forLane && !r.connection.isWritable() && (victim == null || r.emitted < victim.emitted)) {
                    victim = r;
                }
            }
            if (victim == null) {
                return false; // a connection became writable meanwhile: its streams keep their rows
            }
            active.remove(victim);
            reservedRows -= victim.rows;
            victim.lane.rows -= victim.rows;
            freed += victim.rows;
            victim.restart(); // releases its states; the tokens it has streamed are not sent again
            victim.queuedNs = now;
            waiting.incrementAndGet();
            victim.connection.queued.incrementAndGet();
            enqueue(victim.lane, victim, true);
            stats.parked.increment();
        }
        return true;
    }

    private int gather(long now) {
        states.clear();
        stepped.clear();
        int rows = 0;
        int n = active.size();
        int start = n == 0 ? 0 : (int) (stepNo % n); // round robin when more rows are live than fit a step
        for (int k = 0; k < n; k++) {
            Request r = active.get((start + k) % n);
            if (!r.connection.isWritable()) {
                stats.backpressureSkips.increment();
                continue; // backpressure: keeps its slot, not stepped until the client reads again
            }
            List<DecoderState> st = r.search.states();
            if (rows + st.size() > tokens.length) {
                continue; // its turn comes in a later step
            }
            int[] t = r.search.tokens();
            System.arraycopy(t, 0, tokens, rows, st.size());
            states.addAll(st);
            r.stepRow = rows;
            rows += st.size();
            if (r.firstStepNs == 0) {
                r.firstStepNs = now;
            }
            stepped.add(r);
        }
        return rows;
    }

    private void step(int rows) {
        stepNo++;
        StepCost cost;
        long t0 = System.nanoTime();
        try {
            cost = model.decodeStep(states, tokens, logits, null);
        } catch (RuntimeException e) {
            ShiftformerException failure = backendFailure(e);
            if (failOver(failure)) {
                return; // every live request now decodes again on the replacement, from the next step
            }
            for (Request r : stepped) {
                r.terminate(Message.Error.of(r.id, failure));
                active.remove(r);
                leave(r, false);
            }
            return;
        }
        meters.stepped(rows, System.nanoTime() - t0, cost.deviceCycles());
        stats.steps.increment();
        stats.stepRows.add(rows);
        for (Request r : stepped) {
            int n = r.search.states().size();
            long share = cost.deviceCycles() * n / rows + r.encodeCycles;
            r.encodeCycles = 0;
            r.wrote = false;
            try {
                r.search.advance(logits, r.stepRow * vocab, share);
            } catch (RuntimeException e) {
                r.terminate(Message.Error.of(r.id, new ShiftformerException(ErrorCode.INTERNAL,
                        "decoding failed: " + e, e)));
                active.remove(r);
                leave(r, false);
                continue;
            }
            if (r.wrote) {
                toFlush.add(r.connection);
            }
            if (r.search.done()) {
                complete(r);
                active.remove(r);
                leave(r, false);
            }
        }
        for (ConnectionHandler c : toFlush) {
            c.flush();
        }
        if (!toFlush.isEmpty()) {
            Thread.yield(); // an event loop woken by the flush may be queued on this core: let it send now
        }
        toFlush.clear();
    }

    /** {@link LoadedModel#encode}, on a replacement model if the backend fails and the policy allows one. */
    private EncodeResult encodeOrFailOver(List<int[]> sources) {
        try {
            return model.encode(sources, null);
        } catch (RuntimeException e) {
            ShiftformerException failure = backendFailure(e);
            if (!failOver(failure)) {
                throw failure;
            }
            return model.encode(sources, null);
        }
    }

    /**
     * After {@code failure} of the backend: asks the {@link Failover} for a replacement model and moves every
     * live request to it (see the class comment). Requests that cannot move end with an Error.
     *
     * @return true if the scheduler now runs the replacement
     */
    private boolean failOver(ShiftformerException failure) {
        if (failover == null || failure.code() != ErrorCode.BACKEND_FAILURE) {
            return false;
        }
        ServedModel next;
        try {
            next = failover.replace(served, failure);
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.WARNING, "backend " + served.backend() + " failed and no fallback could take over: "
                    + e.getMessage());
            return false;
        }
        if (next == null) {
            return false;
        }
        LoadedModel failed = model;
        for (Request r : active) {
            r.restart(); // releases its states on the failed model, keeps what it has streamed
        }
        try {
            failed.close();
        } catch (RuntimeException e) {
            LOG.log(System.Logger.Level.DEBUG, "closing the failed model: " + e);
        }
        served = next;
        model = next.model();
        meters = failover.meters(next);
        heldMeters.add(meters);
        if (active.isEmpty()) {
            return true;
        }
        List<int[]> sources = new ArrayList<>(active.size());
        for (Request r : active) {
            sources.add(r.source);
        }
        EncodeResult enc;
        long t0 = System.nanoTime();
        try {
            enc = model.encode(sources, null);
        } catch (RuntimeException e) {
            ShiftformerException why = backendFailure(e);
            for (Request r : active) {
                r.terminate(Message.Error.of(r.id, why));
                leave(r, false);
            }
            active.clear();
            return true;
        }
        meters.encoded(System.nanoTime() - t0, enc.cost().deviceCycles());
        Iterator<Request> it = active.iterator();
        for (int i = 0; it.hasNext(); i++) {
            Request r = it.next();
            r.encoded = enc.sources().get(i);
            try {
                r.search = Decoding.search(model, r.encoded, r.params, 0, r);
            } catch (RuntimeException e) {
                r.terminate(Message.Error.of(r.id, backendFailure(e)));
                it.remove();
                leave(r, false);
            }
        }
        return true;
    }

    private void complete(Request r) {
        DecodeResult res = r.search.result();
        Message.Error resumeProblem = r.resumeProblem(true, res.tokens().length);
        if (resumeProblem != null) {
            r.terminate(resumeProblem);
            return;
        }
        long now = System.nanoTime();
        String text = served.tokenizer().decode(res.tokens());
        String tail = r.stream ? r.text.finish() : text;
        r.terminate(new Message.Done(r.id, res.tokens().length, res.finishedByEos(), res.score(),
                r.firstStepNs - r.receivedNs, r.firstTokenNs == 0 ? 0 : r.firstTokenNs - r.receivedNs,
                now - r.receivedNs, res.deviceCycles(), served.backend(), served.sha256(),
                Message.Params.of(r.params), res.tokens(), text, tail, r.resume.length));
    }

    private void endAll(ShiftformerException why) {
        drainInbox();
        for (Lane lane : ring) {
            for (Request r : lane.queue) {
                r.terminate(Message.Error.of(r.id, why));
                unqueued(r);
                r.release();
            }
            lane.queue.clear();
            lane.inRing = false;
        }
        ring.clear();
        for (Request r : active) {
            r.terminate(Message.Error.of(r.id, why));
            leave(r, false);
        }
        active.clear();
        lanes.clear();
        activeCount = 0;
    }

    private static ShiftformerException backendFailure(RuntimeException e) {
        if (e instanceof ShiftformerException se) {
            return se;
        }
        return new ShiftformerException(ErrorCode.BACKEND_FAILURE, "backend failed: " + e, e);
    }
}
