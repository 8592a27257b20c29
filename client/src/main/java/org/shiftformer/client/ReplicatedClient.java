package org.shiftformer.client;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * A client of several replicas of one model (PROTOCOL.md section 4, "Resuming a stream"): it keeps a
 * connection to each healthy replica, sends each request to the one with the fewest requests in flight,
 * and when a replica fails under a request (its connection drops, it shuts down, it stops answering
 * pings, its backend fails, it is overloaded) sends the request to another replica with the tokens
 * already received, so that the listener sees one uninterrupted stream: every token once, in order, with
 * its original index. Decoding is deterministic, so the resumed tokens are exactly those the first
 * replica would have sent; the server checks the tokens it is given against its own, and the model
 * against {@code model_sha256}.
 *
 * <p>Each request is pinned to the model of the replica it first went to (its SHA-256): a replica that
 * serves another model refuses it (MODEL_MISMATCH) and the next is tried, so a request is answered by
 * one model from its first token to its last, also during a rolling update. Retries are bounded by
 * {@link Options#maxAttempts()} (sends and failed connects; waiting while every replica backs off is not an
 * attempt) and {@link Options#retryBudget()}; the result says which addresses it was sent to
 * ({@link Result#replicas()}: behind a load balancer, the balancer's).
 *
 * <p>Health: every {@link Options#healthInterval()} each connection is pinged; a replica whose ping
 * fails or takes longer than {@link Options#pingTimeout()} is closed (its requests move elsewhere) and
 * left alone for a backoff (from {@link Options#downBackoff()}, doubling to 30 s) before it is connected
 * again. A replica that refuses connections is treated the same way. A connection that drops is connected
 * again at the next request without a backoff (behind a load balancer, the balancer picks a live replica).
 *
 * <p>Errors that are the request's own (INVALID_ARGUMENT, MODEL_LIMIT_EXCEEDED, DEADLINE_EXCEEDED,
 * UNAUTHENTICATED, a cancel) end it at once; the request's deadline applies to each attempt.
 * Thread-safe; close it to close every connection.
 */
public final class ReplicatedClient implements AutoCloseable {
    private static final Logger LOG = System.getLogger(ReplicatedClient.class.getName());
    private static final long MAX_BACKOFF_NS = TimeUnit.SECONDS.toNanos(30);

    /**
     * Settings of a {@link ReplicatedClient}.
     *
     * @param connection     settings of each connection (TLS, token, timeouts)
     * @param maxAttempts    sends of one request, the first included (default 4)
     * @param retryBudget    time from a request's first send after which it is not sent again (default 60 s)
     * @param healthInterval how often connections are pinged and down replicas retried (default 1 s)
     * @param pingTimeout    a ping slower than this marks the replica down (default 3 s)
     * @param downBackoff    first wait before a failed replica is connected again; doubles per failure (default 1 s)
     */
    public record Options(ClientOptions connection, int maxAttempts, Duration retryBudget, Duration healthInterval,
                          Duration pingTimeout, Duration downBackoff) {
        public Options {
            Objects.requireNonNull(connection, "connection");
            if (maxAttempts < 1 || maxAttempts > 100) {
                throw invalid("maxAttempts " + maxAttempts + " must be in [1, 100]");
            }
            for (Duration d : List.of(retryBudget, healthInterval, pingTimeout, downBackoff)) {
                if (d.isNegative() || d.isZero()) {
                    throw invalid("durations must be positive, got " + d);
                }
            }
        }

        /** Every default, connections with {@link ClientOptions#defaults()}. */
        public static Options defaults() {
            return new Options(ClientOptions.defaults(), 4, Duration.ofSeconds(60), Duration.ofSeconds(1),
                    Duration.ofSeconds(3), Duration.ofSeconds(1));
        }

        public Options withConnection(ClientOptions connection) {
            return new Options(connection, maxAttempts, retryBudget, healthInterval, pingTimeout, downBackoff);
        }

        public Options withMaxAttempts(int maxAttempts) {
            return new Options(connection, maxAttempts, retryBudget, healthInterval, pingTimeout, downBackoff);
        }

        public Options withRetryBudget(Duration retryBudget) {
            return new Options(connection, maxAttempts, retryBudget, healthInterval, pingTimeout, downBackoff);
        }

        public Options withHealth(Duration healthInterval, Duration pingTimeout, Duration downBackoff) {
            return new Options(connection, maxAttempts, retryBudget, healthInterval, pingTimeout, downBackoff);
        }
    }

    /**
     * A completed request.
     *
     * @param translation the result, as the last replica's Done gave it (all tokens; {@code resumedFrom} says
     *                    how many that replica was given)
     * @param replicas    {@code host:port} of each replica that was sent the request, in order
     * @param resumes     how many times the request was sent again (resumed after the tokens received, which may be
     *                    none yet) on another replica or on the same one reconnected
     */
    public record Result(Translation translation, List<String> replicas, int resumes) {
        public Result {
            replicas = List.copyOf(replicas);
        }
    }

    /** One replica: its address, its connection when up, its backoff when down. */
    private final class Endpoint {
        final String host;
        final int port;
        private ShiftformerClient client; // guarded by this
        private long downUntilNs; // guarded by this
        private int failures; // guarded by this
        private String lastError; // guarded by this

        Endpoint(String host, int port) {
            this.host = host;
            this.port = port;
        }

        String address() {
            return host + ":" + port;
        }

        /** The open connection, connecting first when needed and not backing off; null when down. */
        synchronized ShiftformerClient client() {
            if (client != null && client.isOpen()) {
                return client;
            }
            if (closed || System.nanoTime() - downUntilNs < 0) {
                return null;
            }
            try {
                client = ShiftformerClient.connect(host, port, options.connection());
                failures = 0;
                return client;
            } catch (ShiftformerException e) {
                down(null, "cannot connect: " + e.getMessage());
                return null;
            }
        }

        /** Requests in flight on its connection; 0 when it may be connected; {@link Integer#MAX_VALUE} while it backs off. */
        synchronized int load() {
            if (client != null && client.isOpen()) {
                return client.inFlight();
            }
            return closed || System.nanoTime() - downUntilNs < 0 ? Integer.MAX_VALUE : 0;
        }

        /** Nanoseconds until it may be connected again; 0 when it is up or may be connected now. */
        synchronized long backoffLeftNs() {
            if (closed) {
                return Long.MAX_VALUE;
            }
            if (client != null && client.isOpen()) {
                return 0;
            }
            return Math.max(0, downUntilNs - System.nanoTime());
        }

        /** The open connection or null, without connecting. */
        synchronized ShiftformerClient current() {
            return client != null && client.isOpen() ? client : null;
        }

        /**
         * Closes the connection (failing its requests, which move elsewhere) and backs off. {@code seen}: the
         * connection that failed, or null for a failed connect; every request of a lost connection reports
         * it, and only the first report counts.
         */
        synchronized void down(ShiftformerClient seen, String why) {
            if (seen != null && seen != client) {
                return; // already handled (or already replaced by a new connection)
            }
            failures++;
            long backoff = Math.min(MAX_BACKOFF_NS, options.downBackoff().toNanos() << Math.min(20, failures - 1));
            downUntilNs = System.nanoTime() + backoff;
            lastError = why;
            ShiftformerClient c = client;
            client = null;
            LOG.log(Level.WARNING, "replica " + address() + " is down for " + TimeUnit.NANOSECONDS.toMillis(backoff)
                    + " ms: " + why);
            if (c != null) {
                closer.execute(c::close);
            }
        }

        /**
         * A connection that worked was lost (the replica died, restarted, or a load balancer in front of it
         * dropped it): the next request connects again at once, without a backoff; if the replica is really
         * gone, that connect fails and the backoff starts then.
         */
        synchronized void lost(ShiftformerClient seen, String why) {
            if (seen == client) {
                client = null;
                lastError = why;
                closer.execute(seen::close);
            }
        }

        /** Reconnects at once (a new handshake: the replica's current model), failing nothing that runs. */
        synchronized void stale(ShiftformerClient seen) {
            if (client == seen) {
                client = null;
                closer.execute(seen::close);
            }
        }

        synchronized String state() {
            return address() + (current() != null ? " up" : System.nanoTime() - downUntilNs < 0
                    ? " down (" + lastError + ")" : " idle" + (lastError == null ? "" : " (last down: " + lastError + ")"));
        }
    }

    private final Options options;
    private final List<Endpoint> endpoints;
    private final ScheduledExecutorService health;
    /** Sends (which may connect, and so block) run here, never on an event loop. */
    private final ExecutorService sender = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("shiftformer-replicated-send-", 0).factory());
    /** Closing a connection waits for its event loop: never done on one. */
    private final ExecutorService closer = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name("shiftformer-replicated-close-", 0).factory());
    private volatile boolean closed;

    private ReplicatedClient(List<String> addresses, Options options) {
        this.options = Objects.requireNonNull(options, "options");
        if (addresses.isEmpty()) {
            throw invalid("no replica addresses");
        }
        List<Endpoint> list = new ArrayList<>();
        for (String a : addresses) {
            int colon = a.lastIndexOf(':');
            int port;
            try {
                port = colon > 0 ? Integer.parseInt(a.substring(colon + 1)) : -1;
            } catch (NumberFormatException e) {
                port = -1;
            }
            if (port < 1 || port > 65535) {
                throw invalid("replica address '" + a + "' must be HOST:PORT with a port in [1, 65535]");
            }
            list.add(new Endpoint(a.substring(0, colon).replaceAll("^\\[|\\]$", ""), port));
        }
        this.endpoints = List.copyOf(list);
        this.health = Executors.newSingleThreadScheduledExecutor(
                Thread.ofPlatform().name("shiftformer-replicated-health").daemon(true).factory());
        long every = options.healthInterval().toNanos();
        health.scheduleWithFixedDelay(this::checkHealth, every, every, TimeUnit.NANOSECONDS);
    }

    /**
     * A client of the replicas at {@code addresses} ({@code host:port} each). Connects lazily: a replica
     * that cannot be reached now is tried again later.
     */
    public static ReplicatedClient connect(List<String> addresses, Options options) {
        return new ReplicatedClient(List.copyOf(addresses), options);
    }

    /**
     * A client of every address that {@code host} resolves to (a headless Kubernetes Service, a DNS name
     * with several A or AAAA records), on {@code port}. The name is resolved once.
     *
     * @throws ShiftformerException {@link ErrorCode#IO_ERROR} if the name does not resolve
     */
    public static ReplicatedClient resolve(String host, int port, Options options) {
        List<String> addresses = new ArrayList<>();
        try {
            for (InetAddress a : InetAddress.getAllByName(host)) {
                String h = a.getHostAddress();
                addresses.add((h.contains(":") ? "[" + h + "]" : h) + ":" + port);
            }
        } catch (UnknownHostException e) {
            throw new ShiftformerException(ErrorCode.IO_ERROR, "cannot resolve " + host + ": " + e.getMessage(), e);
        }
        return new ReplicatedClient(addresses, options);
    }

    /** Each replica and whether it is up, idle (not connected yet) or down (and why). */
    public List<String> replicaStates() {
        List<String> out = new ArrayList<>();
        for (Endpoint e : endpoints) {
            out.add(e.state());
        }
        return out;
    }

    /** {@link #translate(TranslationRequest, TranslationListener)} without a listener. */
    public CompletableFuture<Result> translate(TranslationRequest request) {
        return translate(request, TranslationListener.NONE);
    }

    /**
     * Sends {@code request} to a replica and returns at once. The listener receives every token once, in
     * order (also across a resume), then exactly one of {@code onDone} / {@code onError}; the future
     * completes after it. Cancelling the future cancels the request on the replica that runs it.
     * {@code request} must not itself resume ({@link TranslationRequest#resume}): this client does that.
     */
    public CompletableFuture<Result> translate(TranslationRequest request, TranslationListener listener) {
        Objects.requireNonNull(request, "request");
        Objects.requireNonNull(listener, "listener");
        if (request.usesVersion2()) {
            throw invalid("the request already resumes or names a model; the replicated client does both itself");
        }
        Job job = new Job(request, listener);
        sender.execute(job::send);
        return job.result;
    }

    /** One request across its attempts. Attempts are sequential: the next starts when the last has ended. */
    private final class Job implements TranslationListener {
        final TranslationRequest request;
        final TranslationListener user;
        final CompletableFuture<Result> result = new CompletableFuture<>();
        final long firstSendNs = System.nanoTime();
        final List<String> replicas = new ArrayList<>();
        final Set<Endpoint> failed = new HashSet<>();
        /** Tokens received so far (over every attempt); read by the next attempt after the last ended. */
        int[] received = new int[16];
        int count;
        String model;
        int attempts;
        volatile TranslationFuture current;
        ShiftformerException lastError;

        Job(TranslationRequest request, TranslationListener user) {
            this.request = request;
            this.user = user;
            result.whenComplete((r, e) -> {
                TranslationFuture f = current;
                if (result.isCancelled() && f != null) {
                    f.cancel(true);
                }
            });
        }

        void send() {
            while (!result.isDone()) {
                if (closed) {
                    finish(new ShiftformerException(ErrorCode.CANCELLED, "the replicated client was closed"));
                    return;
                }
                if (attempts >= options.maxAttempts()
                        || System.nanoTime() - firstSendNs > options.retryBudget().toNanos()) {
                    finish(new ShiftformerException(lastError != null ? lastError.code() : ErrorCode.IO_ERROR,
                            "gave up after " + attempts + " attempts on " + replicas + " within "
                                    + TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - firstSendNs) + " ms (at most "
                                    + options.maxAttempts() + " attempts, " + options.retryBudget().toMillis()
                                    + " ms); last: " + (lastError != null ? lastError.getMessage() : "no replica is up")
                                    + "; replicas: " + replicaStates(), lastError));
                    return;
                }
                long wait = Long.MAX_VALUE;
                for (Endpoint x : endpoints) {
                    wait = Math.min(wait, x.backoffLeftNs());
                }
                if (wait > 0) {
                    // Every replica backs off: wait for the first to be tried again (the budget bounds it), but
                    // count no attempt: nothing was sent or connected.
                    lastError = new ShiftformerException(ErrorCode.IO_ERROR, "no replica is up: " + replicaStates());
                    long left = options.retryBudget().toNanos() - (System.nanoTime() - firstSendNs);
                    pause(Math.max(1, Math.min(wait, left)));
                    continue;
                }
                Endpoint e = pick(failed);
                ShiftformerClient c = e == null ? null : e.client();
                if (c == null) {
                    attempts++; // connects were tried and failed
                    lastError = new ShiftformerException(ErrorCode.IO_ERROR, "no replica is up: " + replicaStates());
                    continue;
                }
                attempts++;
                replicas.add(e.address());
                if (model == null) {
                    model = c.modelInfo().sha256(); // pinned: every attempt asks for this model
                }
                TranslationRequest r = request.resume(java.util.Arrays.copyOf(received, count), model);
                TranslationFuture f = c.translate(r, this);
                current = f;
                f.whenComplete((t, err) -> ended(e, c, t, err));
                return;
            }
        }

        private void pause(long nanos) {
            try {
                TimeUnit.NANOSECONDS.sleep(nanos);
            } catch (InterruptedException ie) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public void onToken(TokenEvent token) {
            if (count == received.length) {
                received = java.util.Arrays.copyOf(received, count * 2);
            }
            received[count++] = token.token();
            user.onToken(token); // its original index: the replicas number resumed tokens from the cut on
        }

        private void ended(Endpoint e, ShiftformerClient c, Translation t, Throwable err) {
            if (t != null) {
                finish(null, new Result(t, replicas, replicas.size() - 1));
                return;
            }
            Throwable cause = err instanceof CompletionException && err.getCause() != null ? err.getCause() : err;
            if (cause instanceof CancellationException || cause instanceof RequestCancelledException
                    || !(cause instanceof ShiftformerException se)) {
                finish(cause instanceof ShiftformerException se ? se : new ShiftformerException(ErrorCode.CANCELLED,
                        "request cancelled", cause));
                return;
            }
            lastError = se;
            switch (se.code()) {
                case IO_ERROR -> {
                    failed.add(e);
                    e.lost(c, se.getMessage());
                }
                case CANCELLED, BACKEND_FAILURE, BACKEND_UNAVAILABLE, OVERLOADED -> failed.add(e);
                case MODEL_MISMATCH -> {
                    failed.add(e);
                    e.stale(c); // it reloaded: the next connection learns its model
                    if (count == 0) {
                        model = null; // nothing received yet: the request may go to the new model
                    }
                }
                default -> {
                    finish(se); // the request's own error: another replica would say the same
                    return;
                }
            }
            LOG.log(Level.INFO, "request resumed after " + count + " tokens: " + e.address() + " failed it ("
                    + se.code() + ": " + se.getMessage() + ")");
            sender.execute(this::send);
        }

        private void finish(ShiftformerException error) {
            finish(error, null);
        }

        private void finish(ShiftformerException error, Result ok) {
            if (ok != null) {
                try {
                    user.onDone(ok.translation());
                } finally {
                    result.complete(ok);
                }
            } else {
                try {
                    user.onError(error);
                } finally {
                    result.completeExceptionally(error);
                }
            }
        }
    }

    /**
     * The replica for the next attempt, connected: of those this request has not failed on, the one with
     * the fewest requests in flight (a replica not connected yet, and not backing off, counts as none; ties
     * at random); when every one has failed it, any that is up (it may be back).
     */
    private Endpoint pick(Set<Endpoint> failed) {
        List<Endpoint> order = new ArrayList<>(endpoints);
        Collections.shuffle(order); // ties: spread
        for (boolean fresh : new boolean[] {true, false}) {
            List<Endpoint> candidates = new ArrayList<>();
            for (Endpoint e : order) {
                if (!fresh || !failed.contains(e)) {
                    candidates.add(e);
                }
            }
            candidates.sort(java.util.Comparator.comparingInt(Endpoint::load)); // stable: ties keep the shuffle
            for (Endpoint e : candidates) {
                if (e.load() < Integer.MAX_VALUE && e.client() != null) {
                    return e;
                }
            }
        }
        return null;
    }

    private void checkHealth() {
        for (Endpoint e : endpoints) {
            ShiftformerClient c = e.current();
            if (c == null) {
                continue; // down ones are connected again when a request needs them and the backoff is over
            }
            try {
                c.ping().get(options.pingTimeout().toMillis(), TimeUnit.MILLISECONDS);
            } catch (TimeoutException ex) {
                e.down(c, "no Pong within " + options.pingTimeout().toMillis() + " ms");
            } catch (InterruptedException ex) {
                Thread.currentThread().interrupt();
                return;
            } catch (Exception ex) {
                e.down(c, "ping failed: " + ex.getMessage());
            }
        }
    }

    /** Closes every connection (their requests fail with CANCELLED) and stops the health checks. */
    @Override
    public void close() {
        closed = true;
        health.shutdownNow();
        for (Endpoint e : endpoints) {
            ShiftformerClient c = e.current();
            if (c != null) {
                c.close();
            }
        }
        sender.shutdown();
        closer.shutdown();
        try {
            closer.awaitTermination(10, TimeUnit.SECONDS);
        } catch (InterruptedException ie) {
            Thread.currentThread().interrupt();
        }
    }

    private static ShiftformerException invalid(String message) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "replicated client: " + message);
    }
}
