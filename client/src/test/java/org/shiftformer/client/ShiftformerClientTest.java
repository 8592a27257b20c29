package org.shiftformer.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.client.TestServers.CFG;
import static org.shiftformer.client.TestServers.await;
import static org.shiftformer.client.TestServers.connect;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Flow;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.core.decode.DecodeResult;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ServerStats;
import org.shiftformer.core.server.ShiftformerServer;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * The client against a real server on 127.0.0.1 (reference backend, small random model). Every wait is
 * bounded: futures with generous timeouts, {@link TestServers#await}, the class timeout.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ShiftformerClientTest {
    private static final int MAX_NEW = CFG.maxPositions() - 1;

    @TempDir
    static Path dir;
    private static TestServers fx;

    @BeforeAll
    static void model() {
        fx = new TestServers(dir);
    }

    @AfterAll
    static void closeBackend() {
        fx.backend.close();
    }

    private static <T> T get(CompletableFuture<T> f) throws Exception {
        return f.get(60, TimeUnit.SECONDS);
    }

    private static ShiftformerException failure(CompletableFuture<?> f) {
        ExecutionException e = assertThrows(ExecutionException.class, () -> f.get(60, TimeUnit.SECONDS));
        return assertInstanceOf(ShiftformerException.class, e.getCause());
    }

    private static void assertEveryAcceptedRequestEndedOnce(ShiftformerServer server) throws InterruptedException {
        ServerStats s = server.stats();
        await("accepted == terminated (" + s + ")", () -> s.accepted() == s.terminated());
    }

    /** A request, its source ids and what local decoding of the same model gives for it. */
    private record Case(TranslationRequest request, DecodeParams params, DecodeResult expected) {
    }

    /** Greedy and beam, text and token sources, assorted lengths and penalties. */
    private static List<Case> cases(LoadedModel local, int count, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Case> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int beam = i % 3 == 2 ? 2 + rnd.nextInt(3) : 1;
            int maxNew = i % 5 == 0 ? 0 : 4 + rnd.nextInt(20);
            TranslationRequest r;
            int[] ids;
            if (i % 4 == 0) {
                String text = (i % 8 == 0 ? "ein test " : "dreihundert ") + i;
                ids = fx.tokenizer.encode(text);
                r = TranslationRequest.text(text);
            } else {
                ids = rnd.ints(1 + rnd.nextInt(12), 3, CFG.vocabSize()).toArray();
                r = TranslationRequest.tokens(ids);
            }
            r = r.beam(beam).maxNewTokens(maxNew);
            if (beam > 1) {
                r = r.lengthPenalty(rnd.nextInt(0, 9) * 0.25);
            }
            DecodeParams params = new Message.Params(r.beamWidth(), maxNew, r.alphaQ8())
                    .resolve(CFG.maxPositions(), ServerConfig.MAX_BEAM_WIDTH_DEFAULT);
            out.add(new Case(r, params, TestServers.local(local, ids, params)));
        }
        return out;
    }

    /**
     * {@link TranslationRequest#resume}: for every case (greedy and beam, text and tokens) and cut points 0,
     * 1, the middle and the end, the listener gets exactly the uninterrupted stream's tokens from the cut on,
     * with their original indexes and texts, and the result is the whole translation, resumed_from the cut.
     */
    @Test
    void resumeContinuesAnInterruptedStreamWhereItStopped() throws Exception {
        try (ShiftformerServer server = fx.start();
             ShiftformerClient client = TestServers.connect(server);
             LoadedModel local = fx.reference()) {
            assertEquals(ProtocolVersion.RESUME, client.protocolVersion());
            String sha = client.modelInfo().sha256();
            for (Case c : cases(local, 12, 41)) {
                List<TokenEvent> whole = new CopyOnWriteArrayList<>();
                Translation full = get(client.translate(c.request, whole::add));
                int k = full.tokens().length;
                for (int n : new int[] {0, Math.min(1, k), k / 2, k}) {
                    List<TokenEvent> rest = new CopyOnWriteArrayList<>();
                    Translation t = get(client.translate(c.request.resume(Arrays.copyOf(full.tokens(), n), sha), rest::add));
                    assertEquals(k - n, rest.size(), () -> "tokens after the cut of " + c.request);
                    for (int i = n; i < k; i++) {
                        TokenEvent want = whole.get(i);
                        TokenEvent got = rest.get(i - n);
                        assertEquals(want.token(), got.token());
                        assertEquals(want.index(), got.index());
                        assertEquals(want.text(), got.text());
                    }
                    assertArrayEquals(full.tokens(), t.tokens());
                    assertEquals(full.text(), t.text());
                    assertEquals(n, t.resumedFrom());
                }
            }
            ShiftformerException e = failure(client.translate(TranslationRequest.tokens(5, 6).resume(new int[0],
                    "f".repeat(64))));
            assertEquals(ErrorCode.MODEL_MISMATCH, e.code());
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }

    private static int[] tokenIds(List<TokenEvent> events) {
        return events.stream().mapToInt(TokenEvent::token).toArray();
    }

    /** Exactly the local decode's tokens, streamed in order and in the result, the texts adding up. */
    private static void assertMatches(Case c, List<TokenEvent> streamed, Translation t) {
        int[] expected = c.expected.tokens();
        assertArrayEquals(expected, tokenIds(streamed), () -> "streamed tokens of " + c.request);
        assertArrayEquals(expected, t.tokens(), () -> "result tokens of " + c.request);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < streamed.size(); i++) {
            assertEquals(i, streamed.get(i).index());
            assertEquals(t.requestId(), streamed.get(i).requestId());
            text.append(streamed.get(i).text());
        }
        assertEquals(fx.tokenizer.decode(expected), t.text());
        assertTrue(t.text().startsWith(text.toString()), "streamed texts are a prefix of the result's text");
        assertEquals(c.expected.finishedByEos(), t.finishedByEos());
        assertEquals(c.expected.score(), t.score());
        assertEquals(Message.Params.of(c.params), t.params());
        assertEquals(fx.artifact.sha256Hex(), t.modelSha256());
        assertEquals(fx.backend.identity(), t.backend());
    }

    // ---- connection ---------------------------------------------------------------------------------------

    @Test
    void connectNegotiatesTheVersionAndExposesTheServersModel() throws Exception {
        try (ShiftformerServer server = fx.start(); ShiftformerClient client = connect(server)) {
            assertEquals(ProtocolVersion.CURRENT, client.protocolVersion());
            assertEquals(ShiftformerServer.VERSION, client.welcome().serverVersion());
            assertEquals(fx.artifact.sha256Hex(), client.welcome().model().sha256());
            Message.ModelInfo info = client.modelInfo();
            assertEquals(CFG, info.config());
            assertEquals(fx.artifact.sha256Hex(), info.sha256());
            assertEquals(fx.backend.identity(), info.backend());
            assertEquals(server.transport(), client.transport(), "both sides pick epoll where it is available");
            assertFalse(get(client.ping()).isNegative());
            assertTrue(client.isOpen());
        }
    }

    @Test
    void connectingWhereNoServerListensIsAnIoError() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort(); // free once closed
        }
        int p = port;
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> ShiftformerClient.connect("127.0.0.1", p, ClientOptions.builder().connectTimeout(Duration.ofSeconds(5)).build()));
        assertEquals(ErrorCode.IO_ERROR, e.code());
        assertTrue(e.getMessage().contains("127.0.0.1:" + p), e.getMessage());
    }

    @Test
    void badRequestsAndOptionsFailBeforeAnythingIsSent() {
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                () -> TranslationRequest.text("x").beam(0)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                () -> TranslationRequest.text("x").lengthPenalty(2.5)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                () -> TranslationRequest.tokens(1).deadline(Duration.ofDays(30))).code());
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> ClientOptions.builder().streamBufferTokens(0).build());
        assertTrue(e.getMessage().contains("streamBufferTokens"), e.getMessage());
    }

    // ---- async: many concurrent requests on one connection ------------------------------------------------

    @Test
    void concurrentRequestsOnOneConnectionMatchLocalDecodingGreedyAndBeam() throws Exception {
        List<Case> cases;
        try (LoadedModel local = fx.reference()) {
            cases = cases(local, 96, 1);
        }
        assertTrue(cases.stream().mapToInt(c -> c.expected.tokens().length).sum() >= 500, "the streams carry tokens");
        try (ShiftformerServer server = fx.start(); ShiftformerClient client = connect(server)) {
            List<List<TokenEvent>> streamed = new ArrayList<>();
            List<TranslationFuture> futures = new ArrayList<>();
            AtomicInteger terminals = new AtomicInteger();
            for (Case c : cases) {
                List<TokenEvent> tokens = new CopyOnWriteArrayList<>();
                streamed.add(tokens);
                futures.add(client.translate(c.request, new TranslationListener() {
                    @Override
                    public void onToken(TokenEvent token) {
                        tokens.add(token);
                    }

                    @Override
                    public void onDone(Translation result) {
                        terminals.incrementAndGet();
                    }

                    @Override
                    public void onError(ShiftformerException error) {
                        terminals.incrementAndGet();
                    }
                }));
            }
            assertEquals(cases.size(), futures.stream().mapToLong(TranslationFuture::requestId).distinct().count(),
                    "one id per request in flight");
            for (int i = 0; i < cases.size(); i++) {
                assertMatches(cases.get(i), streamed.get(i), get(futures.get(i)));
            }
            assertEquals(cases.size(), terminals.get(), "one terminal event per request");
            assertEquals(0, client.inFlight());
            assertTrue(server.stats().stepRows() > server.stats().steps(), "the server batched the streams");
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }

    @Test
    void requestsFromManyThreadsShareOneConnection() throws Exception {
        List<Case> cases;
        try (LoadedModel local = fx.reference()) {
            cases = cases(local, 32, 2);
        }
        try (ShiftformerServer server = fx.start(); ShiftformerClient client = connect(server)) {
            Map<CompletableFuture<Translation>, Case> results = new ConcurrentHashMap<>();
            List<Thread> threads = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int first = t * 8;
                threads.add(Thread.ofPlatform().start(() -> {
                    for (int i = first; i < first + 8; i++) {
                        results.put(client.translate(cases.get(i).request.stream(false)), cases.get(i));
                    }
                }));
            }
            for (Thread t : threads) {
                t.join();
            }
            for (Map.Entry<CompletableFuture<Translation>, Case> e : results.entrySet()) {
                Translation t = get(e.getKey());
                assertArrayEquals(e.getValue().expected.tokens(), t.tokens());
                assertEquals(e.getValue().expected.score(), t.score());
            }
            assertEquals(32, results.size());
        }
    }

    // ---- keep-alive ---------------------------------------------------------------------------------------

    @Test
    void keepAlivePingsKeepAnIdleConnectionOpenPastTheServersIdleTimeout() throws Exception {
        try (ShiftformerServer server = fx.start(TestServers.config().idleTimeoutMs(600).conclude(), fx.reference());
             ShiftformerClient kept = connect(server, ClientOptions.builder().keepAlive(Duration.ofMillis(150)).build());
             ShiftformerClient silent = connect(server, ClientOptions.builder().keepAlive(Duration.ZERO).build())) {
            // The silent client is closed by the server's idle timeout: what happened to every client before.
            silent.closeFuture().get(30, TimeUnit.SECONDS);
            assertFalse(silent.isOpen());
            ShiftformerException idle = failure(silent.translate(TranslationRequest.tokens(7, 8, 9)));
            assertTrue(idle.getMessage().contains("idle"), idle.getMessage());
            Thread.sleep(1_200); // two idle timeouts more for the client that pings
            assertFalse(kept.closeFuture().isDone(), "the keep-alive client was closed");
            assertTrue(kept.keepAlivePings() >= 2, "keep-alive pings: " + kept.keepAlivePings());
            Translation t = get(kept.translate(TranslationRequest.tokens(7, 8, 9).maxNewTokens(4)));
            assertTrue(t.tokens().length <= 4, "a translation after the idle time: " + t);
        }
    }

    // ---- cancel -------------------------------------------------------------------------------------------

    @Test
    void cancelMidStreamGivesExactlyOneCancelledOutcome() throws Exception {
        try (ShiftformerServer server = fx.start(TestServers.config().conclude(), new NoEosModel(fx.reference(), 20));
             ShiftformerClient client = connect(server)) {
            CountDownLatch firstToken = new CountDownLatch(1);
            AtomicInteger tokens = new AtomicInteger();
            AtomicInteger done = new AtomicInteger();
            List<ShiftformerException> errors = new CopyOnWriteArrayList<>();
            TranslationFuture f = client.translate(TranslationRequest.tokens(7, 8, 9).maxNewTokens(MAX_NEW),
                    new TranslationListener() {
                        @Override
                        public void onToken(TokenEvent token) {
                            tokens.incrementAndGet();
                            firstToken.countDown();
                        }

                        @Override
                        public void onDone(Translation result) {
                            done.incrementAndGet();
                        }

                        @Override
                        public void onError(ShiftformerException error) {
                            errors.add(error);
                        }
                    });
            assertTrue(firstToken.await(60, TimeUnit.SECONDS));
            f.requestCancel();
            RequestCancelledException e = assertInstanceOf(RequestCancelledException.class, failure(f));
            assertEquals(ErrorCode.CANCELLED, e.code());
            assertEquals(f.requestId(), e.requestId());
            assertEquals(List.of(e), errors, "one error event, the same outcome as the future's");
            assertEquals(0, done.get());
            assertEquals(tokens.get(), e.tokenCount(), "the server counted the tokens the client received");
            assertTrue(e.tokenCount() >= 1 && e.tokenCount() < MAX_NEW, "stopped mid-stream: " + e.tokenCount());
            assertEquals(0, client.inFlight());

            // Future.cancel: completes at once, and the server still stops the request.
            TranslationFuture g = client.translate(TranslationRequest.tokens(5).maxNewTokens(MAX_NEW));
            assertTrue(g.cancel(false));
            assertThrows(CancellationException.class, g::join);
            await("the cancelled request to end on the server", () -> client.inFlight() == 0);
            assertEquals(2, server.stats().cancelled() + server.stats().done());
            assertEveryAcceptedRequestEndedOnce(server);

            Translation after = get(client.translate(TranslationRequest.tokens(5).maxNewTokens(3)));
            assertEquals(3, after.tokens().length, "the connection serves requests after the cancels");
        }
    }

    // ---- errors -------------------------------------------------------------------------------------------

    @Test
    void serverErrorsSurfaceWithTheirErrorCodeInEveryApi() throws Exception {
        try (ShiftformerServer server = fx.start(); ShiftformerClient client = connect(server)) {
            TranslationRequest badToken = TranslationRequest.tokens(5, CFG.vocabSize() + 7);
            List<ShiftformerException> events = new CopyOnWriteArrayList<>();
            ShiftformerException e = failure(client.translate(badToken, new TranslationListener() {
                @Override
                public void onToken(TokenEvent token) {
                }

                @Override
                public void onError(ShiftformerException error) {
                    events.add(error);
                }
            }));
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains(String.valueOf(CFG.vocabSize() + 7)), e.getMessage());
            assertEquals(List.of(e), events);

            try (TokenIterator it = client.translateBlocking(badToken)) {
                assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class, it::hasNext).code());
                assertFalse(it.hasNext(), "an iterator that threw has ended");
            }
            Recorder r = new Recorder(Long.MAX_VALUE);
            client.stream(badToken).subscribe(r);
            assertEquals(ErrorCode.INVALID_ARGUMENT,
                    assertInstanceOf(ShiftformerException.class, r.awaitEnd()).code());

            assertEquals(ErrorCode.INVALID_ARGUMENT,
                    failure(client.translate(TranslationRequest.tokens(5).beam(ServerConfig.MAX_BEAM_WIDTH_DEFAULT + 1))).code());
            assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED,
                    failure(client.translate(TranslationRequest.tokens(5).maxNewTokens(CFG.maxPositions()))).code());
            assertTrue(client.isOpen(), "request errors leave the connection open");
            assertTrue(get(client.translate(TranslationRequest.tokens(5).maxNewTokens(5))).tokens().length <= 5);
        }
    }

    @Test
    void anExpiredDeadlineIsDeadlineExceeded() throws Exception {
        try (ShiftformerServer server = fx.start(TestServers.config().conclude(), new NoEosModel(fx.reference(), 20));
             ShiftformerClient client = connect(server, ClientOptions.builder().defaultDeadline(Duration.ofMillis(30)).build())) {
            assertEquals(ErrorCode.DEADLINE_EXCEEDED,
                    failure(client.translate(TranslationRequest.tokens(4, 5).maxNewTokens(MAX_NEW))).code());
            assertEquals(ErrorCode.DEADLINE_EXCEEDED, failure(client.translate(TranslationRequest.tokens(4, 5)
                    .maxNewTokens(MAX_NEW).deadline(Duration.ofMillis(40)))).code());
        }
    }

    @Test
    void aLostConnectionFailsEveryPendingRequestExactlyOnce() throws Exception {
        try (ShiftformerServer server = fx.start(TestServers.config().conclude(), new NoEosModel(fx.reference(), 30));
             TestServers.Relay relay = new TestServers.Relay(server.localAddress());
             ShiftformerClient client = ShiftformerClient.connect("127.0.0.1", relay.port())) {
            int n = 12;
            AtomicInteger errorEvents = new AtomicInteger();
            AtomicInteger doneEvents = new AtomicInteger();
            CountDownLatch firstToken = new CountDownLatch(1);
            List<TranslationFuture> futures = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                futures.add(client.translate(TranslationRequest.tokens(3 + i).maxNewTokens(MAX_NEW), new TranslationListener() {
                    @Override
                    public void onToken(TokenEvent token) {
                        firstToken.countDown();
                    }

                    @Override
                    public void onDone(Translation result) {
                        doneEvents.incrementAndGet();
                    }

                    @Override
                    public void onError(ShiftformerException error) {
                        errorEvents.incrementAndGet();
                    }
                }));
            }
            Recorder streamed = new Recorder(Long.MAX_VALUE);
            client.stream(TranslationRequest.tokens(99).maxNewTokens(MAX_NEW)).subscribe(streamed);
            TokenIterator blocking = client.translateBlocking(TranslationRequest.tokens(98).maxNewTokens(MAX_NEW));
            assertTrue(firstToken.await(60, TimeUnit.SECONDS));
            relay.cut();

            for (TranslationFuture f : futures) {
                ShiftformerException e = failure(f);
                assertEquals(ErrorCode.IO_ERROR, e.code());
                assertTrue(e.getMessage().contains("request " + f.requestId() + " ended"), e.getMessage());
            }
            assertEquals(ErrorCode.IO_ERROR, assertInstanceOf(ShiftformerException.class, streamed.awaitEnd()).code());
            ShiftformerException thrown = assertThrows(ShiftformerException.class, () -> {
                while (blocking.hasNext()) {
                    blocking.next();
                }
            });
            assertEquals(ErrorCode.IO_ERROR, thrown.code());
            get(client.closeFuture());
            assertEquals(n, errorEvents.get(), "one error event per request");
            assertEquals(0, doneEvents.get());
            assertEquals(1, streamed.terminalSignals.get());
            assertFalse(client.isOpen());
            assertEquals(0, client.inFlight());
            assertEquals(ErrorCode.IO_ERROR, failure(client.translate(TranslationRequest.tokens(5))).code(),
                    "a request after the loss fails at once");
            assertEquals(ErrorCode.IO_ERROR, failure(client.ping()).code());
            assertEveryAcceptedRequestEndedOnce(server); // the server saw the disconnect and cancelled them
        }
    }

    @Test
    void aServerShutdownEndsEveryRequestOnceAndThenTheConnection() throws Exception {
        ShiftformerServer server = fx.start(TestServers.config().drainTimeoutMs(0).conclude(),
                new NoEosModel(fx.reference(), 30));
        try (ShiftformerClient client = connect(server)) {
            List<TranslationFuture> futures = new ArrayList<>();
            for (int i = 0; i < 6; i++) {
                futures.add(client.translate(TranslationRequest.tokens(10 + i).maxNewTokens(MAX_NEW)));
            }
            await("the requests to be decoding", () -> server.stats().tokens() > 0);
            server.close();
            for (TranslationFuture f : futures) {
                assertEquals(ErrorCode.CANCELLED, failure(f).code(), "the server's own Error CANCELLED");
            }
            get(client.closeFuture());
            assertFalse(client.isOpen());
        } finally {
            server.close();
        }
    }

    @Test
    void closingTheClientFailsEveryRequestOnceEvenBehindAStalledSubscriber() throws Exception {
        try (ShiftformerServer server = fx.start(TestServers.config().conclude(), new NoEosModel(fx.reference(), 2))) {
            ShiftformerClient client = connect(server, ClientOptions.builder().streamBufferTokens(2).build());
            TokenPublisher p = client.stream(TranslationRequest.tokens(3, 4).maxNewTokens(MAX_NEW));
            Recorder stalled = new Recorder(1);
            p.subscribe(stalled);
            TranslationFuture other = client.translate(TranslationRequest.tokens(5).maxNewTokens(MAX_NEW));
            await("the connection to stop reading", () -> !client.isReading());
            client.close();
            assertEquals(ErrorCode.CANCELLED, failure(other).code());
            assertEquals(ErrorCode.CANCELLED, failure(p.result()).code());
            int buffered = stalled.items.size();
            stalled.request(Long.MAX_VALUE); // after close: the buffered tokens, then the error
            assertEquals(ErrorCode.CANCELLED, assertInstanceOf(ShiftformerException.class, stalled.awaitEnd()).code());
            assertTrue(stalled.items.size() >= buffered + 1, "the buffered tokens were delivered");
            assertEquals(1, stalled.terminalSignals.get());
            assertEquals(ErrorCode.CANCELLED, failure(client.translate(TranslationRequest.tokens(5))).code());
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }

    @Test
    void aPublisherOnAConnectionTheServerClosedSignalsItsErrorOnceFromTheEventLoop() throws Exception {
        // The client is open but its connection is gone: send() fails the request at once. That failure used
        // to be signalled on the subscribing thread while the subscription's request(n) ran on the event
        // loop, so two threads could drain the same subscription (Reactive Streams 1.3, 1.7).
        ShiftformerServer server = fx.start(TestServers.config().conclude(), fx.reference());
        try (ShiftformerClient client = connect(server)) {
            server.close();
            await("the client to see the close", () -> !client.isOpen());
            List<Recorder> recorders = new ArrayList<>();
            for (int i = 0; i < 200; i++) {
                Recorder r = new Recorder(1 + i % 3);
                recorders.add(r);
                client.stream(TranslationRequest.tokens(5, 6)).subscribe(r);
                assertEquals(ErrorCode.IO_ERROR, assertInstanceOf(ShiftformerException.class, r.awaitEnd()).code());
                assertTrue(client.eventLoop().inEventLoop(r.terminalThread),
                        () -> "onError came from " + r.terminalThread + ", not the connection's event loop");
            }
            client.eventLoop().submit(() -> { }).get(30, TimeUnit.SECONDS); // every queued request(n) has run
            for (Recorder r : recorders) {
                assertEquals(1, r.terminalSignals.get());
                assertTrue(r.items.isEmpty());
            }
        } finally {
            server.close();
        }
    }

    // ---- Flow.Publisher -----------------------------------------------------------------------------------

    /** A subscriber that records what it gets and checks the demand rules. */
    static final class Recorder implements Flow.Subscriber<TokenEvent> {
        final List<TokenEvent> items = new CopyOnWriteArrayList<>();
        final AtomicLong outstanding = new AtomicLong();
        final AtomicInteger terminalSignals = new AtomicInteger();
        final AtomicReference<Throwable> error = new AtomicReference<>();
        final AtomicReference<String> violation = new AtomicReference<>();
        final CountDownLatch ended = new CountDownLatch(1);
        final long initial;
        volatile Flow.Subscription subscription;
        volatile Thread terminalThread;

        Recorder(long initial) {
            this.initial = initial;
        }

        void request(long n) {
            outstanding.addAndGet(n);
            subscription.request(n);
        }

        @Override
        public void onSubscribe(Flow.Subscription s) {
            subscription = s;
            if (initial > 0) {
                request(initial);
            }
        }

        @Override
        public void onNext(TokenEvent item) {
            if (outstanding.getAndDecrement() <= 0) {
                violation.set("onNext without demand at item " + items.size());
            }
            if (terminalSignals.get() > 0) {
                violation.set("onNext after the terminal signal");
            }
            items.add(item);
        }

        @Override
        public void onError(Throwable t) {
            error.set(t);
            terminalThread = Thread.currentThread();
            terminalSignals.incrementAndGet();
            ended.countDown();
        }

        @Override
        public void onComplete() {
            terminalThread = Thread.currentThread();
            terminalSignals.incrementAndGet();
            ended.countDown();
        }

        /** Waits for the terminal signal; returns the error, or null after onComplete. */
        Throwable awaitEnd() throws InterruptedException {
            assertTrue(ended.await(60, TimeUnit.SECONDS), "no terminal signal");
            assertEquals(null, violation.get());
            return error.get();
        }
    }

    @Test
    void publisherWithASlowSubscriberDeliversOnlyWhatIsRequested() throws Exception {
        int maxNew = 40;
        DecodeParams params = DecodeParams.greedy(maxNew);
        int[] source = {11, 12, 13};
        int[] expected;
        try (LoadedModel local = new NoEosModel(fx.reference(), 0)) {
            expected = TestServers.local(local, source, params).tokens();
        }
        try (ShiftformerServer server = fx.start(TestServers.config().conclude(), new NoEosModel(fx.reference(), 0));
             ShiftformerClient client = connect(server, ClientOptions.builder().streamBufferTokens(4).build())) {
            TokenPublisher p = client.stream(TranslationRequest.tokens(source).maxNewTokens(maxNew));
            Recorder r = new Recorder(3);
            p.subscribe(r);
            await("three tokens", () -> r.items.size() == 3);
            // Tokens beyond the demand are buffered; at 4 the connection stops reading from its socket.
            await("the connection to stop reading", () -> !client.isReading());
            assertEquals(3, r.items.size(), "no more than requested");
            assertEquals(0, r.terminalSignals.get());
            assertFalse(p.result().isDone(), "the Done frame is not read while the subscriber is behind");
            while (r.terminalSignals.get() == 0) { // then one token at a time, from another thread, slowly
                r.request(1);
                Thread.sleep(1);
            }
            assertEquals(null, r.awaitEnd());
            assertArrayEquals(expected, tokenIds(r.items));
            assertEquals(1, r.terminalSignals.get());
            assertArrayEquals(expected, get(p.result()).tokens());
            assertTrue(client.isReading(), "reading again once the subscriber caught up");

            Recorder second = new Recorder(1);
            p.subscribe(second);
            assertInstanceOf(IllegalStateException.class, second.awaitEnd(), "one subscriber per publisher");
        }
    }

    @Test
    void aStalledSubscriberStopsTheConnectionReadingAndTheServerDecoding() throws Exception {
        int n = 150;
        int[] stalledSource = {21, 22};
        int[] expectedStalled;
        try (LoadedModel local = new NoEosModel(fx.reference(), 0)) {
            expectedStalled = TestServers.local(local, stalledSource, DecodeParams.greedy(MAX_NEW)).tokens();
        }
        ServerConfig cfg = TestServers.config().socketSendBufferBytes(8192).writeBufferHighWaterMark(8192).conclude();
        try (ShiftformerServer server = fx.start(cfg, new NoEosModel(fx.reference(), 0));
             ShiftformerClient client = connect(server, ClientOptions.builder().streamBufferTokens(4).build())) {
            TokenPublisher p = client.stream(TranslationRequest.tokens(stalledSource).maxNewTokens(MAX_NEW));
            Recorder stalled = new Recorder(0); // requests nothing yet
            p.subscribe(stalled);
            List<TranslationFuture> others = new ArrayList<>();
            for (int i = 0; i < n; i++) { // n x 63 Token frames: far more than the socket buffers hold
                others.add(client.translate(TranslationRequest.tokens(30 + i).maxNewTokens(MAX_NEW)));
            }
            await("the server to find the connection unwritable", () -> server.stats().backpressureSkips() > 0);
            assertTrue(stalled.items.isEmpty(), "nothing was requested");
            assertTrue(others.stream().anyMatch(f -> !f.isDone()), "requests wait while the connection does not read");

            stalled.request(Long.MAX_VALUE); // catching up resumes reading: nothing was lost
            assertEquals(null, stalled.awaitEnd());
            assertArrayEquals(expectedStalled, tokenIds(stalled.items));
            for (TranslationFuture f : others) {
                assertEquals(MAX_NEW, get(f).tokens().length);
            }
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }

    @Test
    void cancellingTheSubscriptionCancelsTheRequest() throws Exception {
        try (ShiftformerServer server = fx.start(TestServers.config().conclude(), new NoEosModel(fx.reference(), 20));
             ShiftformerClient client = connect(server)) {
            TokenPublisher p = client.stream(TranslationRequest.tokens(3, 4).maxNewTokens(MAX_NEW));
            Recorder r = new Recorder(2);
            p.subscribe(r);
            await("two tokens", () -> r.items.size() == 2);
            r.subscription.cancel();
            RequestCancelledException e = assertInstanceOf(RequestCancelledException.class, failure(p.result()));
            assertTrue(e.tokenCount() >= 2 && e.tokenCount() < MAX_NEW, "stopped mid-stream: " + e.tokenCount());
            assertEquals(0, r.terminalSignals.get(), "no signal after cancel (Reactive Streams rule 1.8)");
            assertEquals(2, r.items.size());
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }

    @Test
    void nonPositiveDemandIsAnErrorThatCancelsTheRequest() throws Exception {
        try (ShiftformerServer server = fx.start(TestServers.config().conclude(), new NoEosModel(fx.reference(), 20));
             ShiftformerClient client = connect(server)) {
            TokenPublisher p = client.stream(TranslationRequest.tokens(3).maxNewTokens(MAX_NEW));
            Recorder r = new Recorder(0);
            p.subscribe(r);
            r.subscription.request(0);
            assertInstanceOf(IllegalArgumentException.class, r.awaitEnd(), "Reactive Streams rule 3.9");
            assertEquals(ErrorCode.CANCELLED, failure(p.result()).code());
            assertEquals(1, r.terminalSignals.get());
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }

    // ---- blocking iterator --------------------------------------------------------------------------------

    @Test
    void blockingIteratorYieldsTheTokensThenEndsWithTheResult() throws Exception {
        List<Case> cases;
        try (LoadedModel local = fx.reference()) {
            cases = cases(local, 6, 3);
        }
        try (ShiftformerServer server = fx.start(); ShiftformerClient client = connect(server)) {
            for (Case c : cases) {
                List<TokenEvent> tokens = new ArrayList<>();
                try (TokenIterator it = client.translateBlocking(c.request)) {
                    it.forEachRemaining(tokens::add);
                    assertFalse(it.hasNext());
                    assertThrows(java.util.NoSuchElementException.class, it::next);
                    assertMatches(c, tokens, get(it.result()));
                }
            }
            Case c = cases.get(1);
            try (var stream = client.translateBlocking(c.request).stream()) {
                assertArrayEquals(c.expected.tokens(), stream.mapToInt(TokenEvent::token).toArray());
            }
        }
    }

    @Test
    void closingABlockingIteratorEarlyCancelsTheRequest() throws Exception {
        try (ShiftformerServer server = fx.start(TestServers.config().conclude(), new NoEosModel(fx.reference(), 20));
             ShiftformerClient client = connect(server)) {
            TokenIterator it = client.translateBlocking(TranslationRequest.tokens(8).maxNewTokens(MAX_NEW));
            assertNotNull(it.next());
            assertNotNull(it.next());
            it.close();
            assertFalse(it.hasNext());
            RequestCancelledException e = assertInstanceOf(RequestCancelledException.class, failure(it.result()));
            assertTrue(e.tokenCount() < MAX_NEW);
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }
}
