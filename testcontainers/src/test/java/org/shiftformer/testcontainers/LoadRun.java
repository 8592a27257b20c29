package org.shiftformer.testcontainers;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.BiFunction;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.client.ReplicatedClient;
import org.shiftformer.client.ShiftformerClient;
import org.shiftformer.client.TokenEvent;
import org.shiftformer.client.Translation;
import org.shiftformer.client.TranslationListener;
import org.shiftformer.client.TranslationRequest;

/**
 * An open-loop load run against a shiftformer server: request {@code i} is sent at {@code t0 + i / rate}
 * by an arrival clock, whatever the server's progress (a closed loop would slow down with the server and
 * hide its queueing), on connection {@code i mod clients}, until {@link Spec#maxRequests} are sent or
 * {@link Spec#duration} has passed. Every request is a streamed greedy translation of a source from a
 * fixed pool whose expected tokens come from local decoding of the same artifact.
 *
 * <p>For each request it checks: exactly one terminal event (Done, Error or Cancelled; none within the
 * drain timeout is a <em>lost</em> request, more than one a <em>duplicate</em>), and for a Done that the
 * streamed Token ids equal the Done frame's ids and both equal local decoding (else a <em>mismatch</em>).
 * The client itself closes a connection with {@code PROTOCOL_ERROR} on a terminal or Token frame for a
 * request not in flight, or on a Token index out of order, so duplicated or stray frames also surface as
 * errors and closed connections, which the result counts. It records time to first token (from the
 * request's scheduled arrival, so the generator's own lateness counts against the server, not for it),
 * inter-token gaps, end-to-end latency and throughput.
 *
 * <p>The requests go to {@link Sender}s: plain connections, or {@link ReplicatedClient}s (which resume a
 * stream elsewhere when its replica fails; the result counts the resumes). Either way the listener must see
 * every token once with consecutive indexes from 0: a repeated index counts as a duplicate, a skipped one
 * as a gap.
 */
final class LoadRun {
    /**
     * Where requests go: one connection, or one {@link ReplicatedClient}.
     *
     * @param send sends a streamed request; its future completes after the listener's terminal event
     * @param open whether it can still send (a plain connection that dropped cannot)
     */
    record Sender(BiFunction<TranslationRequest, TranslationListener, CompletableFuture<?>> send, BooleanSupplier open) {
        static Sender of(ShiftformerClient c) {
            return new Sender(c::translate, c::isOpen);
        }

        /** A replicated client counts as open: it connects again (to the same address, or another) when needed. */
        static Sender of(ReplicatedClient c) {
            return new Sender(c::translate, () -> true);
        }
    }

    /**
     * What to run.
     *
     * @param clients       connections; arrivals go round-robin over them
     * @param ratePerSecond arrivals per second (fixed, open loop)
     * @param maxRequests   arrivals at most
     * @param duration      arrivals stop after this
     * @param maxNewTokens  generated tokens per request at most (EOS included)
     * @param drainTimeout  after the last arrival, how long requests may take to end before they count as lost
     */
    record Spec(int clients, double ratePerSecond, int maxRequests, Duration duration, int maxNewTokens,
                Duration drainTimeout) {
        Spec {
            if (clients < 1 || !(ratePerSecond > 0) || maxRequests < 1 || duration.isNegative() || duration.isZero()
                    || maxNewTokens < 1 || drainTimeout.isNegative()) {
                throw new IllegalArgumentException("load spec needs clients >= 1, rate > 0, max requests >= 1, "
                        + "duration > 0, tokens >= 1, drain >= 0; got " + this);
            }
        }

        @Override
        public String toString() {
            return String.format("%d clients, open loop at %.1f req/s, at most %d requests in %d s, greedy, "
                            + "<= %d new tokens each, %d s drain", clients, ratePerSecond, maxRequests,
                    duration.toSeconds(), maxNewTokens, drainTimeout.toSeconds());
        }
    }

    private final Spec spec;
    private final List<int[]> sources;
    private final List<int[]> expected;
    private final List<Probe> probes = new CopyOnWriteArrayList<>();
    private final AtomicInteger inFlight = new AtomicInteger();
    private final AtomicInteger maxInFlight = new AtomicInteger();
    private volatile boolean stopRequested;

    /**
     * @param sources  the pool; request {@code i} translates {@code sources[i mod size]}
     * @param expected local decoding of each source with {@code spec.maxNewTokens}
     */
    LoadRun(Spec spec, List<int[]> sources, List<int[]> expected) {
        if (sources.isEmpty() || sources.size() != expected.size()) {
            throw new IllegalArgumentException("need one expected output per source; got " + sources.size()
                    + " sources and " + expected.size() + " outputs");
        }
        this.spec = spec;
        this.sources = sources;
        this.expected = expected;
    }

    /** Ends the arrivals early (from another thread); requests in flight still run to their end. */
    void stop() {
        stopRequested = true;
    }

    /** Requests sent that have streamed at least one token and not ended yet. */
    int streamingNow() {
        int n = 0;
        for (Probe p : probes) {
            if (p.terminals.get() == 0 && p.tokenCount > 0) {
                n++;
            }
        }
        return n;
    }

    /** Requests sent so far. */
    int sentSoFar() {
        return probes.size();
    }

    /** Requests sent so far that ended with Done. */
    int doneSoFar() {
        int n = 0;
        for (Probe p : probes) {
            if (p.result != null) {
                n++;
            }
        }
        return n;
    }

    /**
     * Requests done so far that a {@link ReplicatedClient} resumed (sent again after a failure), counting only
     * those resumed mid-stream (after their first tokens) if {@code midStream}.
     */
    int resumedSoFar(boolean midStream) {
        int n = 0;
        for (Probe p : probes) {
            if (p.future != null && p.future.isDone() && !p.future.isCompletedExceptionally()
                    && p.future.getNow(null) instanceof ReplicatedClient.Result r && r.resumes() > 0
                    && (!midStream || r.translation().resumedFrom() > 0)) {
                n++;
            }
        }
        return n;
    }

    /**
     * Requests that have streamed tokens, have not ended, and received nothing for {@code quietNs}: stalled
     * streams (e.g. on a replica that is paused).
     */
    int stalledStreams(long quietNs) {
        long now = System.nanoTime();
        int n = 0;
        for (Probe p : probes) {
            // tokenCount (volatile) is written after lastTokenNs: read it first
            if (p.tokenCount > 0 && p.terminals.get() == 0 && now - p.lastTokenNs > quietNs) {
                n++;
            }
        }
        return n;
    }

    /** Whether the first {@code n} requests sent have all ended (Done or Error). */
    boolean endedUpTo(int n) {
        for (Probe p : probes.subList(0, Math.min(n, probes.size()))) {
            if (p.terminals.get() == 0) {
                return false;
            }
        }
        return true;
    }

    /** When the last request to end so far ended ({@link System#nanoTime()}), 0 if none has. */
    long lastEndNs() {
        long last = 0;
        for (Probe p : probes) {
            last = Math.max(last, p.endNs);
        }
        return last;
    }

    /**
     * Runs the arrivals on this thread, then waits for every request's end (up to the drain timeout).
     *
     * @param clients     connected clients, at least {@code spec.clients}
     * @param serverStats the server's Prometheus text after the run (to compare its request count), or null
     */
    Result run(List<ShiftformerClient> clients, Supplier<String> serverStats) {
        return runOn(clients.stream().map(Sender::of).toList(), serverStats);
    }

    /** {@link #run} on any senders: connections or replicated clients. */
    Result runOn(List<Sender> clients, Supplier<String> serverStats) {
        if (clients.size() < spec.clients) {
            throw new IllegalArgumentException("spec wants " + spec.clients + " clients; got " + clients.size());
        }
        double loadBefore = loadAverage();
        String statsBefore = serverStats == null ? null : serverStats.get();
        long durationNs = spec.duration.toNanos();
        long t0 = System.nanoTime();
        long maxLagNs = 0;
        for (int i = 0; i < spec.maxRequests && !stopRequested; i++) {
            long at = t0 + (long) (i * 1e9 / spec.ratePerSecond);
            if (at - t0 > durationNs) {
                break;
            }
            long wait;
            while ((wait = at - System.nanoTime()) > 0 && !stopRequested) {
                LockSupport.parkNanos(wait);
            }
            if (stopRequested) {
                break;
            }
            int src = i % sources.size();
            Probe p = new Probe(i, src, at);
            probes.add(p);
            maxInFlight.accumulateAndGet(inFlight.incrementAndGet(), Math::max);
            p.sentNs = System.nanoTime();
            maxLagNs = Math.max(maxLagNs, p.sentNs - at);
            p.future = clients.get(i % spec.clients).send().apply(
                    TranslationRequest.tokens(sources.get(src)).maxNewTokens(spec.maxNewTokens), p);
        }
        long arrivalsEndNs = System.nanoTime();
        long deadline = arrivalsEndNs + spec.drainTimeout.toNanos();
        for (Probe p : probes) {
            try {
                p.future.get(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (ExecutionException e) {
                // an error is a terminal event like any other: counted below from the probe
            } catch (TimeoutException e) {
                break; // the rest count as lost if they have no terminal event either
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while draining the load run", e);
            }
        }
        int openConnections = 0;
        for (Sender c : clients.subList(0, spec.clients)) {
            openConnections += c.open().getAsBoolean() ? 1 : 0;
        }
        return new Result(spec, List.copyOf(probes), expected, t0, arrivalsEndNs, maxLagNs, maxInFlight.get(), openConnections,
                loadBefore, loadAverage(), statsBefore, serverStats == null ? null : serverStats.get());
    }

    /** The 1-minute load average of this machine (-1 where /proc/loadavg is missing). */
    static double loadAverage() {
        try {
            return Double.parseDouble(java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg")).split(" ")[0]);
        } catch (java.io.IOException | RuntimeException e) {
            return -1;
        }
    }

    /** One request: its listener (on its connection's event loop) and what it saw. */
    final class Probe implements TranslationListener {
        final int index;
        final int source;
        final long scheduledNs;
        long sentNs;
        CompletableFuture<?> future;
        final AtomicInteger terminals = new AtomicInteger();
        // Written on the connection's event loop before the future completes; read after it has.
        volatile int tokenCount;
        /** Tokens whose index was below their position (a repeat) or above it (a gap). */
        int repeatedIndexes;
        int skippedIndexes;
        int[] streamed = new int[8];
        long firstTokenNs;
        long lastTokenNs;
        long[] gapsNs = new long[8];
        volatile long endNs;
        volatile Translation result;
        volatile ShiftformerException error;

        Probe(int index, int source, long scheduledNs) {
            this.index = index;
            this.source = source;
            this.scheduledNs = scheduledNs;
        }

        @Override
        public void onToken(TokenEvent token) {
            long now = System.nanoTime();
            int n = tokenCount;
            if (token.index() < n) {
                repeatedIndexes++;
            } else if (token.index() > n) {
                skippedIndexes++;
            }
            if (n == 0) {
                firstTokenNs = now;
            } else {
                if (n - 1 == gapsNs.length) {
                    gapsNs = Arrays.copyOf(gapsNs, gapsNs.length * 2);
                }
                gapsNs[n - 1] = now - lastTokenNs;
            }
            lastTokenNs = now;
            if (n == streamed.length) {
                streamed = Arrays.copyOf(streamed, streamed.length * 2);
            }
            streamed[n] = token.token();
            tokenCount = n + 1;
        }

        @Override
        public void onDone(Translation r) {
            endNs = System.nanoTime();
            result = r;
            terminals.incrementAndGet();
            inFlight.decrementAndGet();
        }

        @Override
        public void onError(ShiftformerException e) {
            endNs = System.nanoTime();
            error = e;
            terminals.incrementAndGet();
            inFlight.decrementAndGet();
        }
    }

    /** What a run saw, with the figures the report prints. */
    static final class Result {
        final Spec spec;
        final int sent;
        final int done;
        final int lost;
        final int duplicated;
        final int mismatched;
        /** Requests whose listener saw a token index skipped (a gap). */
        final int gaps;
        /**
         * Done requests a {@link ReplicatedClient} resumed at least once, and its resumes in all; of those, the
         * ones the last replica resumed after one token or more ({@code Done.resumed_from > 0}: cut mid-stream).
         */
        final int resumedRequests;
        final int resumes;
        final int resumedMidStream;
        final Map<String, Integer> errorsByCode = new TreeMap<>();
        final List<String> samples = new ArrayList<>();
        final int openConnections;
        final int maxInFlight;
        final long tokens;
        final double wallSeconds;
        final double arrivalSeconds;
        final double maxArrivalLagMs;
        final double[] ttftMs;
        final double[] itlMs;
        final double[] e2eMs;
        final double[] serverTtftMs;
        final double loadBefore;
        final double loadAfter;
        /** The server's inter-token histogram during the run: upper bounds (ms) of the p50 and p99 buckets, or NaN. */
        double serverItlP50Ms = Double.NaN;
        double serverItlP99Ms = Double.NaN;
        /** The server's shiftformer_requests_total by status, increase during the run; empty without server stats. */
        final Map<String, Long> serverRequests = new TreeMap<>();

        Result(Spec spec, List<Probe> probes, List<int[]> expected, long t0, long arrivalsEndNs, long maxLagNs,
               int maxInFlight, int openConnections, double loadBefore, double loadAfter, String statsBefore, String statsAfter) {
            this.spec = spec;
            this.sent = probes.size();
            this.maxInFlight = maxInFlight;
            this.openConnections = openConnections;
            this.loadBefore = loadBefore;
            this.loadAfter = loadAfter;
            int done = 0;
            int lost = 0;
            int dup = 0;
            int mismatched = 0;
            int gaps = 0;
            int resumedRequests = 0;
            int resumes = 0;
            int resumedMidStream = 0;
            long tokens = 0;
            long lastEnd = t0;
            List<Double> ttft = new ArrayList<>();
            List<Double> itl = new ArrayList<>();
            List<Double> e2e = new ArrayList<>();
            List<Double> serverTtft = new ArrayList<>();
            for (Probe p : probes) {
                int terminals = p.terminals.get();
                if (terminals == 0) {
                    lost++;
                    sample("request " + p.index + ": no terminal frame within the drain timeout ("
                            + p.tokenCount + " tokens streamed)");
                    continue;
                }
                if (terminals > 1 || p.repeatedIndexes > 0) {
                    dup++;
                    sample("request " + p.index + ": " + terminals + " terminal events, " + p.repeatedIndexes
                            + " tokens with an index already seen");
                }
                if (p.skippedIndexes > 0) {
                    gaps++;
                    sample("request " + p.index + ": " + p.skippedIndexes + " tokens after a skipped index");
                }
                lastEnd = Math.max(lastEnd, p.endNs);
                if (p.result == null) {
                    errorsByCode.merge(p.error.code().name(), 1, Integer::sum);
                    sample("request " + p.index + ": " + p.error.code() + " " + p.error.getMessage());
                    continue;
                }
                done++;
                if (p.future.getNow(null) instanceof ReplicatedClient.Result rr && rr.resumes() > 0) {
                    resumedRequests++;
                    resumes += rr.resumes();
                    resumedMidStream += rr.translation().resumedFrom() > 0 ? 1 : 0;
                }
                int[] got = p.result.tokens();
                int[] streamed = Arrays.copyOf(p.streamed, p.tokenCount);
                int[] want = expected.get(p.source);
                if (!Arrays.equals(want, got) || !Arrays.equals(got, streamed)) {
                    mismatched++;
                    sample("request " + p.index + " (source " + p.source + "): expected " + Arrays.toString(want)
                            + ", Done " + Arrays.toString(got) + ", streamed " + Arrays.toString(streamed));
                }
                tokens += got.length;
                if (p.tokenCount > 0) {
                    ttft.add((p.firstTokenNs - p.scheduledNs) / 1e6);
                    for (int g = 0; g < p.tokenCount - 1; g++) {
                        itl.add(p.gapsNs[g] / 1e6);
                    }
                }
                e2e.add((p.endNs - p.scheduledNs) / 1e6);
                serverTtft.add(p.result.firstTokenNs() / 1e6);
            }
            this.done = done;
            this.lost = lost;
            this.duplicated = dup;
            this.mismatched = mismatched;
            this.gaps = gaps;
            this.resumedRequests = resumedRequests;
            this.resumes = resumes;
            this.resumedMidStream = resumedMidStream;
            this.tokens = tokens;
            this.wallSeconds = (lastEnd - t0) / 1e9;
            this.arrivalSeconds = (arrivalsEndNs - t0) / 1e9;
            this.maxArrivalLagMs = maxLagNs / 1e6;
            this.ttftMs = sorted(ttft);
            this.itlMs = sorted(itl);
            this.e2eMs = sorted(e2e);
            this.serverTtftMs = sorted(serverTtft);
            if (statsAfter != null) {
                for (String status : List.of("done", "error", "cancelled", "dropped", "rejected")) {
                    serverRequests.put(status, requestsTotal(statsAfter, status) - requestsTotal(statsBefore, status));
                }
                TreeMap<Double, Double> serverItl = bucketDelta(statsBefore, statsAfter,
                        "shiftformer_inter_token_latency_seconds_bucket");
                serverItlP50Ms = bucketQuantile(serverItl, 0.5) * 1e3;
                serverItlP99Ms = bucketQuantile(serverItl, 0.99) * 1e3;
            }
        }

        private void sample(String s) {
            if (samples.size() < 8) {
                samples.add(s);
            }
        }

        int errors() {
            return errorsByCode.values().stream().mapToInt(Integer::intValue).sum();
        }

        /**
         * Zero lost, duplicated or mismatched requests, zero errors, every connection still open, and (with
         * server stats) the server counted exactly as many Done requests during the run and nothing else.
         */
        boolean clean() {
            return lost == 0 && duplicated == 0 && gaps == 0 && mismatched == 0 && errors() == 0 && openConnections == spec.clients
                    && done == sent && serverAgrees();
        }

        /** The server's request counter rose by exactly the Done frames the clients got, and by nothing else. */
        boolean serverAgrees() {
            return serverRequests.isEmpty() || serverRequests.get("done") == done
                    && serverRequests.values().stream().mapToLong(Long::longValue).sum() == done;
        }

        double tokensPerSecond() {
            return tokens / Math.max(1e-9, wallSeconds);
        }

        /** The summary the test and the soak command print (and the report shows). */
        String summary() {
            StringBuilder sb = new StringBuilder();
            sb.append(String.format("load: %s%n", spec));
            sb.append(String.format("  sent %d in %.1f s (max arrival lag %.1f ms, at most %d in flight); done %d, errors %d %s, lost %d, "
                            + "duplicated %d, index gaps %d, token mismatches %d; connections open %d/%d%n", sent, arrivalSeconds,
                    maxArrivalLagMs, maxInFlight, done, errors(), errorsByCode, lost, duplicated, gaps, mismatched,
                    openConnections, spec.clients));
            if (resumes > 0) {
                sb.append(String.format("  resumed streams %d (%d resumes; %d resumed mid-stream, after their first tokens)%n",
                        resumedRequests, resumes, resumedMidStream));
            }
            if (!serverRequests.isEmpty()) {
                sb.append(String.format("  server's shiftformer_requests_total during the run: %s%n", serverRequests));
            }
            sb.append(String.format("  throughput %.0f tokens/s, %.1f requests/s (%d tokens in %.1f s)%n",
                    tokensPerSecond(), done / Math.max(1e-9, wallSeconds), tokens, wallSeconds));
            sb.append(line("time to first token (client, from scheduled arrival)", ttftMs));
            sb.append(line("time to first token (server, Done.first_token_ns)", serverTtftMs));
            sb.append(line("inter-token latency (client)", itlMs));
            if (!Double.isNaN(serverItlP50Ms)) {
                sb.append(String.format("  %-54s p50 <= %.2f ms  p99 <= %.2f ms (histogram bucket bounds)%n",
                        "inter-token latency (server, its histogram)", serverItlP50Ms, serverItlP99Ms));
            }
            sb.append(line("end-to-end latency (client)", e2eMs));
            sb.append(String.format("  machine: %d CPUs, load average %.2f before, %.2f after%n",
                    Runtime.getRuntime().availableProcessors(), loadBefore, loadAfter));
            for (String s : samples) {
                sb.append("  ! ").append(s).append('\n');
            }
            return sb.toString();
        }

        private static String line(String what, double[] v) {
            return String.format("  %-54s p50 %8.2f ms  p90 %8.2f  p99 %8.2f  max %8.2f  (n=%d)%n", what,
                    percentile(v, 0.50), percentile(v, 0.90), percentile(v, 0.99), v.length == 0 ? Double.NaN : v[v.length - 1],
                    v.length);
        }
    }

    private static double[] sorted(List<Double> values) {
        double[] a = values.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(a);
        return a;
    }

    /** Nearest-rank percentile of sorted values ({@code q} in (0, 1]); NaN when empty. */
    static double percentile(double[] sorted, double q) {
        if (sorted.length == 0) {
            return Double.NaN;
        }
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.clamp(rank - 1, 0, sorted.length - 1)];
    }

    /** Cumulative bucket counts of a Prometheus histogram ({@code le} in seconds to count), after minus before. */
    static TreeMap<Double, Double> bucketDelta(String before, String after, String bucketMetric) {
        TreeMap<Double, Double> d = buckets(after, bucketMetric);
        buckets(before, bucketMetric).forEach((le, c) -> d.merge(le, -c, Double::sum));
        return d;
    }

    private static TreeMap<Double, Double> buckets(String text, String bucketMetric) {
        TreeMap<Double, Double> out = new TreeMap<>();
        for (String line : text.split("\n")) {
            int le = line.indexOf("le=\"");
            if (line.startsWith(bucketMetric + "{") && le > 0) {
                String bound = line.substring(le + 4, line.indexOf('"', le + 4));
                double b = bound.equals("+Inf") ? Double.POSITIVE_INFINITY : Double.parseDouble(bound);
                out.merge(b, Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1)), Double::sum);
            }
        }
        return out;
    }

    /** The smallest bucket bound whose cumulative count reaches {@code q} of the total; NaN without counts. */
    static double bucketQuantile(TreeMap<Double, Double> cumulative, double q) {
        if (cumulative.isEmpty() || cumulative.lastEntry().getValue() <= 0) {
            return Double.NaN;
        }
        double target = q * cumulative.lastEntry().getValue();
        for (Map.Entry<Double, Double> e : cumulative.entrySet()) {
            if (e.getValue() >= target) {
                return e.getKey();
            }
        }
        return Double.POSITIVE_INFINITY;
    }

    /** Sum of {@code shiftformer_requests_total{status="STATUS",...}} over its other tags, from Prometheus text. */
    static long requestsTotal(String prometheusText, String status) {
        double sum = 0;
        for (String line : prometheusText.split("\n")) {
            if (line.startsWith("shiftformer_requests_total{") && line.contains("status=\"" + status + "\"")) {
                sum += Double.parseDouble(line.substring(line.lastIndexOf(' ') + 1));
            }
        }
        return Math.round(sum);
    }
}
