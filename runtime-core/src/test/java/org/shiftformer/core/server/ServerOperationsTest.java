package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.google.flatbuffers.FlatBufferBuilder;
import java.io.IOException;
import java.net.ConnectException;
import java.net.InetSocketAddress;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Availability;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.Capabilities;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.server.metrics.ServerMeters;
import org.shiftformer.proto.stream.Frame;
import org.shiftformer.proto.stream.Ping;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * Server operations over real loopback sockets: the Prometheus scrape, health endpoints, hot reload
 * (in-process and over {@code POST /admin/reload}), the backend fallback policy, and malformed frames.
 * Streams are held with {@link GatedModel} permits, never with sleeps; every wait is bounded.
 */
@Timeout(value = 90, unit = TimeUnit.SECONDS)
class ServerOperationsTest {
    static {
        LeakCheck.install();
    }

    private static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 300, 32, 2, 0, 1, 2);

    @TempDir
    static Path dir;
    private static Path fileA;
    private static Path fileB;
    private static Artifact artifactA;
    private static Artifact artifactB;
    private static BackendProvider referenceProvider;
    private static Backend backend;

    @BeforeAll
    static void writeModels() {
        fileA = dir.resolve("a.itm");
        fileB = dir.resolve("b.itm");
        RandomArtifacts.write(CFG, 11, fileA, "ServerOperationsTest A");
        RandomArtifacts.write(CFG, 12, fileB, "ServerOperationsTest B");
        artifactA = ArtifactReader.read(fileA);
        artifactB = ArtifactReader.read(fileB);
        assertNotEquals(artifactA.sha256Hex(), artifactB.sha256Hex());
        referenceProvider = Backends.select("reference");
        backend = referenceProvider.open(Map.of());
    }

    @AfterAll
    static void noBufferLeaked() {
        backend.close();
        LeakCheck.assertNoLeaks();
    }

    // ---- fixtures -----------------------------------------------------------------------------------

    private static ServerConfig.Builder config() {
        return ServerConfig.builder().port(0).adminPort(0).bindAddress("127.0.0.1").drainTimeoutMs(2_000);
    }

    private static ServedModel served(Artifact a, LoadedModel m) {
        return ServedModel.of(a, m, backend.identity());
    }

    private static GatedModel gated(Artifact a) {
        return new GatedModel(backend.load(a.model()));
    }

    private static Message.TranslateRequest request(long id, int[] tokens, int maxNew, int deadlineMs) {
        return new Message.TranslateRequest(id, null, tokens, new Message.Params(1, maxNew, 0), deadlineMs, true);
    }

    /** Greedy output of {@code a} for {@code tokens} (EOS appended), decoded locally. */
    private static int[] expected(Artifact a, int[] tokens, int maxNew) {
        int[] source = Arrays.copyOf(tokens, tokens.length + 1);
        source[tokens.length] = CFG.eosId();
        DecodeParams p = new Message.Params(1, maxNew, 0).resolve(CFG.maxPositions(), ServerConfig.MAX_BEAM_WIDTH_DEFAULT);
        try (LoadedModel local = backend.load(a.model())) {
            return Decoding.decode(local, List.of(source), p, TokenListener.NONE).get(0).tokens();
        }
    }

    /** Sources whose greedy output on {@code a} has at least {@code minTokens} tokens (so they are live for a while). */
    private static List<int[]> longSources(Artifact a, int count, int maxNew, int minTokens, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<int[]> out = new ArrayList<>();
        for (int tries = 0; out.size() < count; tries++) {
            assertTrue(tries < 500, "found too few sources with long outputs");
            int[] src = rnd.ints(1 + rnd.nextInt(6), 3, CFG.vocabSize()).toArray();
            if (expected(a, src, maxNew).length >= minTokens) {
                out.add(src);
            }
        }
        return out;
    }

    private static void await(String what, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - end > 0) {
                fail("timed out after 30 s waiting for " + what);
            }
            Thread.sleep(5);
        }
    }

    private static void assertEveryAcceptedRequestEndedOnce(ShiftformerServer server) throws InterruptedException {
        ServerStats s = server.stats();
        await("accepted == done + errors + cancelled + dropped (" + s + ")", () -> s.accepted() == s.terminated());
        assertEquals(s.accepted(), s.done() + s.errors() + s.cancelled() + s.dropped());
    }

    /** Exactly {@code expected} streamed and in Done (computed by model {@code sha256}), one terminal frame, last. */
    private static void assertStream(int[] expected, String sha256, List<Message> frames) {
        assertTrue(frames != null && !frames.isEmpty(), "no frames");
        long terminals = frames.stream().filter(TestClient::isTerminal).count();
        assertEquals(1, terminals, () -> "terminal frames: " + frames);
        Message.Done done = assertInstanceOf(Message.Done.class, frames.get(frames.size() - 1), frames::toString);
        assertEquals(expected.length + 1, frames.size(), frames::toString);
        for (int i = 0; i < expected.length; i++) {
            Message.Token t = assertInstanceOf(Message.Token.class, frames.get(i));
            assertEquals(i, t.index());
            assertEquals(expected[i], t.token(), "token " + i);
        }
        assertArrayEquals(expected, done.tokens());
        assertEquals(sha256, done.modelSha256(), "the model that computed it");
    }

    private static Message lastOf(List<Message> frames) {
        return frames.get(frames.size() - 1);
    }

    // ---- metrics ------------------------------------------------------------------------------------

    @Test
    void metricsEndpointExposesEveryMeterWithItsValues() throws Exception {
        GatedModel model = gated(artifactA);
        ServerConfig cfg = config().maxBatchRows(1).maxBeamWidth(1).conclude();
        try (ShiftformerServer server = ShiftformerServer.start(cfg, served(artifactA, model));
             TestClient c = TestClient.connect(server.localAddress())) {
            InetSocketAddress admin = server.adminAddress();
            List<int[]> sources = longSources(artifactA, 2, 6, 2, 3);
            c.send(request(1, sources.get(0), 6, 0)); // admitted; its first step waits at the gate
            await("request 1 decoding", () -> server.scheduler().activeSequences() == 1);
            c.send(request(2, sources.get(1), 6, 0)); // waits for the one batch row
            c.send(request(3, new int[] {8}, 6, 1)); // its 1 ms deadline passes while it waits
            c.send(request(4, new int[] {9}, 6, 0));
            c.send(new Message.Cancel(4));
            c.send(request(5, new int[] {CFG.vocabSize()}, 6, 0)); // rejected: outside the vocabulary
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertInstanceOf(Message.Error.class, c.read()).errorCode());
            try (TestClient gone = TestClient.connect(server.localAddress())) {
                gone.send(request(1, new int[] {4}, 6, 0));
                await("the other client's request queued", () -> server.scheduler().queuedRequests() == 4);
                gone.abort(); // its connection drops (a FIN alone would be a half-close: PROTOCOL.md 3)
            } // its request is dropped
            await("the disconnect seen", () -> server.connectionCount() == 1);

            HttpResponse<String> live = Http.get(admin, "/metrics");
            assertEquals(200, live.statusCode());
            assertEquals("text/plain; version=0.0.4; charset=utf-8", live.headers().firstValue("content-type").orElse(""));
            assertEquals(1, Http.sample(live.body(), "shiftformer_streams_live"));
            assertEquals(4, Http.sample(live.body(), "shiftformer_queue_depth"));
            assertEquals(1, Http.sample(live.body(), "shiftformer_connections"));
            assertEquals(1, Http.sample(live.body(), "shiftformer_model_info", "model", artifactA.sha256Hex().substring(0, 16),
                    "backend", "reference", "fallback", "false"));

            model.open();
            Map<Long, List<Message>> frames = c.readTerminals(4);
            assertInstanceOf(Message.Done.class, lastOf(frames.get(1L)));
            assertInstanceOf(Message.Done.class, lastOf(frames.get(2L)));
            assertEquals(ErrorCode.DEADLINE_EXCEEDED, assertInstanceOf(Message.Error.class, lastOf(frames.get(3L))).errorCode());
            assertInstanceOf(Message.Cancelled.class, lastOf(frames.get(4L)));
            assertEveryAcceptedRequestEndedOnce(server);
            await("idle", () -> server.scheduler().activeSequences() == 0);

            String text = Http.get(admin, "/metrics").body();
            ServerStats s = server.stats();
            assertEquals(2, Http.sample(text, "shiftformer_requests_total", "status", "done"));
            assertEquals(1, Http.sample(text, "shiftformer_requests_total", "status", "error", "code", "DEADLINE_EXCEEDED"));
            assertEquals(1, Http.sample(text, "shiftformer_requests_total", "status", "cancelled"));
            assertEquals(1, Http.sample(text, "shiftformer_requests_total", "status", "dropped"));
            assertEquals(1, Http.sample(text, "shiftformer_requests_total", "status", "rejected", "code", "INVALID_ARGUMENT"));
            assertEquals(0, Http.sample(text, "shiftformer_requests_total", "status", "error", "code", "BACKEND_FAILURE"));
            assertEquals(s.accepted(), Http.sample(text, "shiftformer_requests_total")
                    - Http.sample(text, "shiftformer_requests_total", "status", "rejected"));
            int tokens = frames.get(1L).size() - 1 + frames.get(2L).size() - 1;
            assertTrue(tokens > 2, "the Done requests streamed tokens");
            assertEquals(s.tokens(), Http.sample(text, "shiftformer_tokens_total"));
            assertEquals(2, Http.sample(text, "shiftformer_time_to_first_token_seconds_count"));
            assertEquals(tokens - 2, Http.sample(text, "shiftformer_inter_token_latency_seconds_count"));
            assertTrue(Http.sample(text, "shiftformer_time_to_first_token_seconds_sum") > 0);
            assertTrue(Http.sample(text, "shiftformer_time_to_first_token_seconds_bucket") > 0, "a histogram");
            assertEquals(s.steps(), Http.sample(text, "shiftformer_batch_size_count"));
            assertEquals(s.stepRows(), Http.sample(text, "shiftformer_batch_size_sum"));
            assertEquals(s.steps(), Http.sample(text, "shiftformer_backend_step_seconds_count", "phase", "decode"));
            assertTrue(Http.sample(text, "shiftformer_backend_step_seconds_count", "phase", "encode") >= 1);
            assertEquals(GatedModel.CYCLES_PER_ROW * (s.stepRows() + 2), Http.sample(text, "shiftformer_device_cycles_total"),
                    "every decoder row and the 2 sources encoded (3, 4 and the dropped one ended while queued)");
            assertEquals(s.bytesIn(), Http.sample(text, "shiftformer_bytes_in_total"));
            assertTrue(s.bytesIn() > 0 && s.bytesOut() > 0);
            assertEquals(s.bytesOut(), Http.sample(text, "shiftformer_bytes_out_total"), 0.0);
            assertEquals(0, Http.sample(text, "shiftformer_streams_live"));
            assertEquals(0, Http.sample(text, "shiftformer_queue_depth"));
            // Beside its own meters, its registry has the usual JVM, process and Netty ones.
            assertTrue(Http.sample(text, "jvm_memory_used_bytes") > 0);
            assertTrue(Http.sample(text, "process_uptime_seconds") > 0);
            assertTrue(Http.sample(text, "netty_eventexecutor_tasks_pending") >= 0);
            assertTrue(Http.sample(text, "netty_allocator_memory_used") > 0, "the protocol's buffers");
        }
    }

    // ---- health -------------------------------------------------------------------------------------

    @Test
    void healthFollowsModelLoadBackendAvailabilityAndDrain() throws Exception {
        SwitchableProvider provider = new SwitchableProvider();
        ModelLoader loader = new ModelLoader(new FallbackPolicy.Choice(provider, backend, provider.name(), null), fileA);
        ShiftformerServer server = ShiftformerServer.start(config().drainTimeoutMs(30_000).conclude(), null, loader, null);
        Thread closer = null;
        try {
            InetSocketAddress admin = server.adminAddress();
            assertEquals(200, Http.get(admin, "/health/live").statusCode());
            HttpResponse<String> ready = Http.get(admin, "/health/ready");
            assertEquals(503, ready.statusCode());
            assertTrue(ready.body().contains("no model loaded"), ready.body());
            try (TestClient early = new TestClient(server.localAddress())) {
                early.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "too early"));
                Message.Error e = assertInstanceOf(Message.Error.class, early.read());
                assertEquals(ErrorCode.BACKEND_UNAVAILABLE, e.errorCode());
                assertTrue(e.message().contains("no model is loaded"), e.message());
                assertTrue(early.closedByServer());
            }

            GatedModel model = gated(artifactA);
            server.reload(served(artifactA, model)); // the first load
            ready = Http.get(admin, "/health/ready");
            assertEquals(200, ready.statusCode(), ready.body());
            assertEquals("ready\n", ready.body());

            provider.available = false;
            ready = Http.get(admin, "/health/ready");
            assertEquals(503, ready.statusCode());
            assertTrue(ready.body().contains("backend switchable is unavailable: unplugged"), ready.body());
            provider.available = true;
            assertEquals(200, Http.get(admin, "/health/ready").statusCode());

            assertEquals(404, Http.get(admin, "/nothing/here").statusCode());
            HttpResponse<String> wrong = Http.post(admin, "/metrics");
            assertEquals(405, wrong.statusCode());
            assertEquals("GET", wrong.headers().firstValue("allow").orElse(""));
            wrong = Http.get(admin, "/admin/reload");
            assertEquals(405, wrong.statusCode());
            assertEquals("POST", wrong.headers().firstValue("allow").orElse(""));

            try (TestClient c = TestClient.connect(server.localAddress())) {
                c.send(request(1, new int[] {5}, 4, 0));
                await("a live stream", () -> server.scheduler().activeSequences() == 1);
                ShiftformerServer s = server;
                closer = Thread.ofPlatform().name("test-close").start(s::close);
                await("ready to say draining", () -> {
                    try {
                        HttpResponse<String> r = Http.get(admin, "/health/ready");
                        return r.statusCode() == 503 && r.body().contains("draining");
                    } catch (IOException | InterruptedException e) {
                        throw new AssertionError(e);
                    }
                });
                assertEquals(200, Http.get(admin, "/health/live").statusCode(), "still serving its live stream");
                model.open();
                assertInstanceOf(Message.Done.class, lastOf(c.readTerminals(1).get(1L)), "the drain lets it finish");
                closer.join(TimeUnit.SECONDS.toMillis(30));
                assertFalse(closer.isAlive());
                assertThrows(ConnectException.class, () -> new java.net.Socket(admin.getAddress(), admin.getPort()).close(),
                        "admin port closed");
                assertTrue(model.closed());
            }
            assertEveryAcceptedRequestEndedOnce(server);
        } finally {
            server.close();
            if (closer != null) {
                closer.join(TimeUnit.SECONDS.toMillis(30));
            }
        }
    }

    @Test
    void aStalledAdminRequestDoesNotDelayProtocolAccepts() throws Exception {
        // A gauge whose value waits for the test stalls the /metrics scrape on the admin port's event loop.
        var registry = new io.micrometer.prometheusmetrics.PrometheusMeterRegistry(
                io.micrometer.prometheusmetrics.PrometheusConfig.DEFAULT);
        java.util.concurrent.CountDownLatch scraping = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        io.micrometer.core.instrument.Gauge.builder("test.stalled.gauge", () -> {
            scraping.countDown();
            try {
                release.await(60, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            return 1;
        }).register(registry);
        try (ShiftformerServer server = ShiftformerServer.start(config().conclude(),
                served(artifactA, backend.load(artifactA.model())), null, registry)) {
            var scrape = java.net.http.HttpClient.newHttpClient().sendAsync(
                    java.net.http.HttpRequest.newBuilder(java.net.URI.create("http://127.0.0.1:"
                            + server.adminAddress().getPort() + "/metrics")).build(),
                    HttpResponse.BodyHandlers.ofString());
            try {
                assertTrue(scraping.await(30, TimeUnit.SECONDS), "the scrape reached the stalled gauge");
                // While the admin loop is stuck, a new protocol connection is accepted and welcomed, and serves.
                try (TestClient c = TestClient.connect(server.localAddress())) {
                    assertEquals(1, release.getCount(), "the scrape is still stalled");
                    c.send(request(1, new int[] {5, 6}, 3, 0));
                    assertInstanceOf(Message.Done.class, lastOf(c.readTerminals(1).get(1L)));
                }
            } finally {
                release.countDown();
            }
            assertEquals(200, scrape.get(30, TimeUnit.SECONDS).statusCode());
        }
    }

    @Test
    void adminPortCanBeDisabledAndTheServerWorksWithAnyRegistry() throws Exception {
        var registry = new io.micrometer.core.instrument.simple.SimpleMeterRegistry();
        try (ShiftformerServer server = ShiftformerServer.start(config().adminPort(ServerConfig.ADMIN_DISABLED).conclude(),
                served(artifactA, backend.load(artifactA.model())), null, registry);
             TestClient c = TestClient.connect(server.localAddress())) {
            assertNull(server.adminAddress());
            c.send(request(1, new int[] {5, 6}, 3, 0));
            assertInstanceOf(Message.Done.class, lastOf(c.readTerminals(1).get(1L)));
            assertEveryAcceptedRequestEndedOnce(server);
            assertSame(registry, server.meterRegistry());
            assertEquals(1.0, registry.get("shiftformer.requests").tag("status", "done").functionCounter().count());
            assertEquals(server.stats().tokens(), registry.get("shiftformer.tokens").counter().count());
        }
    }

    // ---- hot reload ---------------------------------------------------------------------------------

    @Test
    void hotReloadFinishesLiveStreamsOnTheOldModelAndServesNewOnesWithTheNew() throws Exception {
        int maxNew = 8;
        List<int[]> old = longSources(artifactA, 3, maxNew, 3, 5);
        GatedModel modelA = gated(artifactA);
        try (ShiftformerServer server = ShiftformerServer.start(config().conclude(), served(artifactA, modelA));
             TestClient c = TestClient.connect(server.localAddress())) {
            Scheduler schedulerA = server.scheduler();
            for (int i = 0; i < old.size(); i++) {
                c.send(request(i + 1, old.get(i), maxNew, 0));
            }
            await("3 live streams on A", () -> schedulerA.activeSequences() + schedulerA.queuedRequests() == 3
                    && server.stats().accepted() == 3);
            Map<Long, List<Message>> byId = new java.util.HashMap<>();
            modelA.allow(1);
            Message first = c.read(); // a token of the one step A was allowed
            assertInstanceOf(Message.Token.class, first);
            byId.computeIfAbsent(first.requestId(), k -> new ArrayList<>()).add(first);

            server.reload(served(artifactB, backend.load(artifactB.model())));
            assertEquals(artifactB.sha256Hex(), server.served().sha256());
            assertNotEquals(schedulerA, server.scheduler());

            // New requests on the same connection and on a new one run on B while A's streams wait at its gate.
            int[] fresh = {12, 13, 14};
            c.send(request(100, fresh, maxNew, 0));
            c.send(new Message.ModelInfoRequest(101));
            Message.ModelInfo info = null;
            List<Message> hundred = new ArrayList<>();
            while (info == null || hundred.isEmpty() || !TestClient.isTerminal(lastOf(hundred))) {
                Message m = c.read();
                if (m instanceof Message.ModelInfo mi) {
                    info = mi;
                } else if (m.requestId() == 100) {
                    hundred.add(m);
                } else {
                    byId.computeIfAbsent(m.requestId(), k -> new ArrayList<>()).add(m); // rest of A's allowed step
                }
            }
            assertEquals(artifactB.sha256Hex(), info.sha256(), "ModelInfo describes the new model");
            assertStream(expected(artifactB, fresh, maxNew), artifactB.sha256Hex(), hundred);
            try (TestClient other = new TestClient(server.localAddress())) {
                other.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "after reload"));
                Message.Welcome w = assertInstanceOf(Message.Welcome.class, other.read());
                assertEquals(artifactB.sha256Hex(), w.model().sha256());
                other.send(request(1, old.get(0), maxNew, 0));
                assertStream(expected(artifactB, old.get(0), maxNew), artifactB.sha256Hex(), other.readTerminals(1).get(1L));
            }
            assertTrue(schedulerA.isAlive(), "A still has live streams");
            assertFalse(modelA.closed());

            modelA.open();
            Map<Long, List<Message>> rest = c.readTerminals(3);
            for (int i = 0; i < old.size(); i++) {
                long id = i + 1;
                List<Message> all = new ArrayList<>(byId.getOrDefault(id, List.of()));
                all.addAll(rest.get(id));
                assertStream(expected(artifactA, old.get(i), maxNew), artifactA.sha256Hex(), all);
            }
            assertTrue(schedulerA.awaitExit(30_000), "the old scheduler ends once its streams are done");
            assertTrue(modelA.closed(), "and closes its model");
            assertEveryAcceptedRequestEndedOnce(server);
            assertEquals(5, server.stats().done());
        }
    }

    @Test
    void aTokenOfTheNewModelIsFlushedAlthoughTheRetiredSchedulerFlushedTheConnectionAtTheSameStepNumber() throws Exception {
        // Both schedulers count their steps from 1. The retired one flushes this connection in its step 1;
        // the new one writes a token of the same connection in its own step 1. Flush bookkeeping kept on
        // the connection (the step it was last queued in) took that as "already queued" and left the token
        // unflushed until some later write; with both gates shut, the client would never see it.
        int maxNew = 8;
        int[] old = longSources(artifactA, 1, maxNew, 3, 21).get(0);
        GatedModel modelA = gated(artifactA);
        GatedModel modelB = gated(artifactB);
        try (ShiftformerServer server = ShiftformerServer.start(config().conclude(), served(artifactA, modelA));
             TestClient c = TestClient.connect(server.localAddress())) {
            Scheduler schedulerA = server.scheduler();
            c.send(request(1, old, maxNew, 0));
            await("a live stream on A", () -> schedulerA.activeSequences() == 1);
            modelA.allow(1);
            Message.Token a = assertInstanceOf(Message.Token.class, c.read());
            assertEquals(1, a.requestId());

            server.reload(served(artifactB, modelB));
            Scheduler schedulerB = server.scheduler();
            int[] fresh = {12, 13, 14};
            c.send(request(100, fresh, maxNew, 0));
            await("a live stream on B", () -> schedulerB.activeSequences() == 1);
            modelB.allow(1);
            Message.Token b = assertInstanceOf(Message.Token.class, c.read(), "the token of B's first step arrives");
            assertEquals(100, b.requestId());
            assertEquals(expected(artifactB, fresh, maxNew)[0], b.token());

            modelA.open();
            modelB.open();
            Map<Long, List<Message>> rest = c.readTerminals(2);
            assertInstanceOf(Message.Done.class, lastOf(rest.get(1L)));
            assertInstanceOf(Message.Done.class, lastOf(rest.get(100L)));
        }
    }

    @Test
    void afterReloadsTheRegistryHoldsOneSetOfModelMetersTheCurrentModels() throws Exception {
        try (ShiftformerServer server = ShiftformerServer.start(config().conclude(),
                served(artifactA, backend.load(artifactA.model())))) {
            Artifact[] sequence = {artifactB, artifactA, artifactB, artifactB, artifactA}; // incl. the same model twice
            for (Artifact next : sequence) {
                Scheduler old = server.scheduler();
                server.reload(served(next, backend.load(next.model())));
                assertTrue(old.awaitExit(30_000), "the retired scheduler exits");
                var sets = server.meterRegistry().find(ServerMeters.TOKENS).counters();
                assertEquals(1, sets.size(), () -> "one set of model meters after a reload, got " + sets.stream()
                        .map(m -> m.getId().getTag(ServerMeters.MODEL)).toList());
                assertEquals(next.sha256Hex().substring(0, 16), sets.iterator().next().getId().getTag(ServerMeters.MODEL));
                for (String timer : List.of(ServerMeters.TIME_TO_FIRST_TOKEN, ServerMeters.INTER_TOKEN_LATENCY,
                        ServerMeters.BACKEND_STEP)) {
                    assertEquals(timer.equals(ServerMeters.BACKEND_STEP) ? 2 : 1,
                            server.meterRegistry().find(timer).timers().size(), timer);
                }
                assertEquals(1, server.meterRegistry().find(ServerMeters.BATCH_SIZE).summaries().size());
                assertEquals(1, server.meterRegistry().find(ServerMeters.DEVICE_CYCLES).counters().size());
            }
            // The set of the model now served still records (a reload of the same model did not remove it).
            try (TestClient c = TestClient.connect(server.localAddress())) {
                c.send(request(1, new int[] {5, 6, 7}, 4, 0));
                assertInstanceOf(Message.Done.class, lastOf(c.readTerminals(1).get(1L)));
            }
            assertTrue(server.meterRegistry().find(ServerMeters.BACKEND_STEP).tag(ServerMeters.PHASE, "decode").timer().count() >= 1);
        }
    }

    /**
     * The scores an artifact records (its provenance metrics) are gauges of the model served, in /metrics
     * with their names and exact values; a reload to a model without scores removes them, and one back
     * brings them again.
     */
    @Test
    void theServedModelsRecordedScoresAreGaugesThatFollowReloads() throws Exception {
        Path scoredFile = dir.resolve("scored.itm");
        Map<String, Double> scores = new java.util.LinkedHashMap<>();
        scores.put("fp32.exact_match", 0.75);
        scores.put("int8.chrf", 41.53125);
        org.shiftformer.core.artifact.ArtifactWriter.write(artifactA.model(), artifactA.tokenizer(),
                new org.shiftformer.core.artifact.Provenance("ServerOperationsTest", 0, "", "", "", scores), scoredFile);
        Artifact scored = ArtifactReader.read(scoredFile);
        String model = scored.sha256Hex().substring(0, 16);
        try (ShiftformerServer server = ShiftformerServer.start(config().conclude(), served(scored, backend.load(scored.model())))) {
            String text = Http.get(server.adminAddress(), "/metrics").body();
            for (var e : scores.entrySet()) {
                assertTrue(text.contains("shiftformer_model_score{model=\"" + model + "\",score=\"" + e.getKey() + "\"} "
                        + e.getValue() + "\n"), () -> e + " in\n" + text);
            }
            server.reload(served(artifactB, backend.load(artifactB.model())));
            assertEquals(List.of(), server.meterRegistry().find(ServerMeters.MODEL_SCORE).gauges().stream().toList(),
                    "a model without scores has no score gauges");
            server.reload(served(scored, backend.load(scored.model())));
            assertEquals(scores.keySet(), server.meterRegistry().find(ServerMeters.MODEL_SCORE).gauges().stream()
                    .map(g -> g.getId().getTag(ServerMeters.SCORE)).collect(java.util.stream.Collectors.toSet()));
        }
    }

    @Test
    void reloadsUnderPipelinedTrafficEndEveryRequestOnceWithTheTokensOfTheModelThatRanIt() throws Exception {
        int n = 60;
        int maxNew = 6;
        SplittableRandom rnd = new SplittableRandom(17);
        List<int[]> sources = new ArrayList<>();
        Map<String, List<int[]>> expected = Map.of(artifactA.sha256Hex(), new ArrayList<>(),
                artifactB.sha256Hex(), new ArrayList<>());
        for (int i = 0; i < n; i++) {
            int[] src = rnd.ints(1 + rnd.nextInt(5), 3, CFG.vocabSize()).toArray();
            sources.add(src);
            expected.get(artifactA.sha256Hex()).add(expected(artifactA, src, maxNew));
            expected.get(artifactB.sha256Hex()).add(expected(artifactB, src, maxNew));
        }
        List<GatedModel> models = new ArrayList<>();
        GatedModel first = gated(artifactA);
        first.open();
        models.add(first);
        try (ShiftformerServer server = ShiftformerServer.start(config().conclude(), served(artifactA, first));
             TestClient c = TestClient.connect(server.localAddress())) {
            ByteBuffer all = ByteBuffer.allocate(1 << 16);
            for (int i = 0; i < n; i++) {
                all.put(c.frame(request(i + 1, sources.get(i), maxNew, 0)));
            }
            c.sendRaw(Arrays.copyOf(all.array(), all.position())); // the event loop submits while we reload
            for (int k = 0; k < 4; k++) {
                Artifact next = k % 2 == 0 ? artifactB : artifactA;
                GatedModel m = gated(next);
                m.open();
                models.add(m);
                server.reload(served(next, m));
            }
            Map<Long, List<Message>> frames = c.readTerminals(n);
            assertEquals(n, frames.size());
            for (int i = 0; i < n; i++) {
                List<Message> f = frames.get(i + 1L);
                String sha = assertInstanceOf(Message.Done.class, lastOf(f), f::toString).modelSha256();
                assertStream(expected.get(sha).get(i), sha, f);
            }
            for (Scheduler s : List.copyOf(server.router().running())) {
                if (s != server.scheduler()) {
                    assertTrue(s.awaitExit(30_000), "a retired scheduler ends");
                }
            }
            for (GatedModel m : models.subList(0, models.size() - 1)) {
                assertTrue(m.closed(), "every replaced model is closed once its streams are done");
            }
            assertFalse(models.get(models.size() - 1).closed());
            assertEveryAcceptedRequestEndedOnce(server);
            assertEquals(n, server.stats().done());
        }
    }

    @Test
    void adminReloadLoadsFilesAndABadFileKeepsTheOldModel() throws Exception {
        ModelLoader loader = new ModelLoader(new FallbackPolicy.Choice(referenceProvider, backend, "reference", null), fileA);
        Path garbage = dir.resolve("garbage.itm");
        Files.write(garbage, new byte[] {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});
        try (ShiftformerServer server = ShiftformerServer.start(config().conclude(), loader.load(fileA), loader, null);
             TestClient c = TestClient.connect(server.localAddress())) {
            InetSocketAddress admin = server.adminAddress();
            HttpResponse<String> bad = Http.post(admin, "/admin/reload?path=" + garbage);
            assertEquals(400, bad.statusCode(), bad.body());
            assertTrue(bad.body().startsWith("error: [INVALID_ARTIFACT]"), bad.body());
            HttpResponse<String> missing = Http.post(admin, "/admin/reload?path=" + dir.resolve("missing.itm"));
            assertEquals(400, missing.statusCode(), missing.body());
            assertTrue(missing.body().contains("IO_ERROR") && missing.body().contains("missing.itm"), missing.body());
            Path fifo = dir.resolve("fifo.itm");
            assertEquals(0, new ProcessBuilder("mkfifo", fifo.toString()).inheritIO().start().waitFor(), "mkfifo");
            HttpResponse<String> pipe = Http.post(admin, "/admin/reload?path=fifo.itm"); // would block a reader forever
            assertEquals(400, pipe.statusCode(), pipe.body());
            assertTrue(pipe.body().contains("not a regular file"), pipe.body());
            Path elsewhere = Files.createTempFile("outside-the-model-dir", ".itm");
            Files.copy(fileB, elsewhere, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            HttpResponse<String> outside = Http.post(admin, "/admin/reload?path=" + elsewhere);
            Files.delete(elsewhere);
            assertEquals(400, outside.statusCode(), outside.body());
            assertTrue(outside.body().contains("outside the model directory"), outside.body());
            assertEquals(artifactA.sha256Hex(), server.served().sha256(), "the old model keeps serving");
            c.send(request(1, new int[] {5, 6}, 5, 0));
            assertStream(expected(artifactA, new int[] {5, 6}, 5), artifactA.sha256Hex(), c.readTerminals(1).get(1L));

            HttpResponse<String> ok = Http.post(admin, "/admin/reload?path=" + fileB);
            assertEquals(200, ok.statusCode(), ok.body());
            assertTrue(ok.body().contains(artifactB.sha256Hex()), ok.body());
            c.send(new Message.ModelInfoRequest(2));
            assertEquals(artifactB.sha256Hex(), assertInstanceOf(Message.ModelInfo.class, c.read()).sha256());
            c.send(request(3, new int[] {5, 6}, 5, 0));
            assertStream(expected(artifactB, new int[] {5, 6}, 5), artifactB.sha256Hex(), c.readTerminals(1).get(3L));

            ok = Http.post(admin, "/admin/reload"); // the file it was started with
            assertEquals(200, ok.statusCode(), ok.body());
            assertEquals(artifactA.sha256Hex(), server.served().sha256());
            String text = Http.get(admin, "/metrics").body();
            assertEquals(2, Http.sample(text, "shiftformer_reloads_total", "status", "done"));
            assertEquals(4, Http.sample(text, "shiftformer_reloads_total", "status", "error"));
            assertEquals(1, Http.sample(text, "shiftformer_model_info"), "one model is served");
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }

    // ---- fallback policy ----------------------------------------------------------------------------

    /** A provider ranked above everything whose device is never there. */
    private static final class OfflineProvider implements BackendProvider {
        @Override
        public int spiVersion() {
            return SPI_VERSION;
        }

        @Override
        public String name() {
            return "offline-card";
        }

        @Override
        public int rank() {
            return 1_000;
        }

        @Override
        public Availability availability() {
            return Availability.no("no card on this machine");
        }

        @Override
        public Capabilities capabilities() {
            return referenceProvider.capabilities();
        }

        @Override
        public Backend open(Map<String, String> settings) {
            throw new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE, "no card on this machine");
        }
    }

    /** The reference backend with an availability the test switches. */
    private static final class SwitchableProvider implements BackendProvider {
        volatile boolean available = true;

        @Override
        public int spiVersion() {
            return SPI_VERSION;
        }

        @Override
        public String name() {
            return "switchable";
        }

        @Override
        public int rank() {
            return 0;
        }

        @Override
        public Availability availability() {
            return available ? Availability.yes() : Availability.no("unplugged");
        }

        @Override
        public Capabilities capabilities() {
            return referenceProvider.capabilities();
        }

        @Override
        public Backend open(Map<String, String> settings) {
            return referenceProvider.open(settings);
        }
    }

    @Test
    void fallbackNoneFailsNamingTheBackendAndWhatIsAvailable() {
        List<BackendProvider> installed = List.of(new OfflineProvider(), referenceProvider);
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> FallbackPolicy.NONE.open("offline-card", Map.of(), installed));
        assertEquals(ErrorCode.BACKEND_UNAVAILABLE, e.code());
        assertTrue(e.getMessage().contains("'offline-card' is unavailable: no card on this machine"), e.getMessage());
        assertTrue(e.getMessage().contains("available: reference"), e.getMessage());
        e = assertThrows(ShiftformerException.class, () -> FallbackPolicy.parse("none").open("fpga", Map.of(), installed));
        assertEquals(ErrorCode.UNKNOWN_BACKEND, e.code());
        assertTrue(e.getMessage().contains("'fpga' is not installed") && e.getMessage().contains("available: reference"),
                e.getMessage());
        FallbackPolicy.Choice direct = FallbackPolicy.NONE.open("reference", Map.of(), installed);
        try (Backend b = direct.backend()) {
            assertFalse(direct.isFallback());
            assertEquals("reference", b.identity().backend());
        }
    }

    @Test
    void fallbackNextTakesTheNextAvailableBackendAndSaysSoInModelInfoAndMetrics() throws Exception {
        List<BackendProvider> installed = List.of(new OfflineProvider(), referenceProvider);
        FallbackPolicy.Choice choice = FallbackPolicy.parse("next").open("offline-card", Map.of(), installed);
        assertTrue(choice.isFallback());
        assertSame(referenceProvider, choice.provider());
        assertTrue(choice.fallback().contains("no card on this machine") && choice.fallback().contains("fell back to 'reference'"),
                choice.fallback());
        FallbackPolicy.Choice listed = FallbackPolicy.parse("reference").open("fpga", Map.of(), installed);
        listed.backend().close();
        assertEquals("reference", listed.provider().name());
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> FallbackPolicy.parse("offline-card").open("fpga", Map.of(), installed));
        assertEquals(ErrorCode.BACKEND_UNAVAILABLE, e.code());
        assertTrue(e.getMessage().contains("offline-card: no card on this machine"), e.getMessage());
        // a misspelt name in the list is refused at start-up, though the requested backend runs and it is not needed
        e = assertThrows(ShiftformerException.class,
                () -> FallbackPolicy.parse("refrence,offline-card").open("reference", Map.of(), installed));
        assertEquals(ErrorCode.UNKNOWN_BACKEND, e.code());
        assertTrue(e.getMessage().contains("fallback policy 'refrence,offline-card' names a backend that is not "
                + "installed: refrence; installed: offline-card, reference"), e.getMessage());

        try (Backend b = choice.backend()) {
            ModelLoader loader = new ModelLoader(choice, fileA);
            try (ShiftformerServer server = ShiftformerServer.start(config().conclude(), loader.load(fileA), loader, null);
                 TestClient c = TestClient.connect(server.localAddress())) {
                c.send(new Message.ModelInfoRequest(1));
                Message.ModelInfo info = assertInstanceOf(Message.ModelInfo.class, c.read());
                assertEquals("reference", info.backend().backend(), "ModelInfo names the backend that computes");
                String text = Http.get(server.adminAddress(), "/metrics").body();
                assertEquals(1, Http.sample(text, "shiftformer_model_info", "backend", "reference",
                        "requested_backend", "offline-card", "fallback", "true"));
                HttpResponse<String> ready = Http.get(server.adminAddress(), "/health/ready");
                assertEquals(200, ready.statusCode());
                assertTrue(ready.body().startsWith("ready; fallback: backend 'offline-card' is unavailable")
                        && ready.body().contains("fell back to 'reference'"), ready.body());
                assertEveryAcceptedRequestEndedOnce(server);
            }
        }
    }

    @Test
    void fallbackSettingIsValidated() {
        assertEquals(FallbackPolicy.NEXT, ServerConfig.builder().fallback("next").conclude().fallback());
        assertEquals(List.of("sim", "reference"), ServerConfig.builder().fallback("sim, reference").conclude().fallback().backends());
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> ServerConfig.builder().fallback("sim,,reference").conclude());
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains(ServerConfig.FALLBACK_PROP), e.getMessage());
        e = assertThrows(ShiftformerException.class, () -> ServerConfig.builder().adminPort(-2).conclude());
        assertTrue(e.getMessage().contains(ServerConfig.ADMIN_PORT_PROP), e.getMessage());
    }

    // ---- malformed frames ---------------------------------------------------------------------------

    /** A Ping frame as a stock FlatBuffers builder writes it. */
    private static byte[] pingFrame(int bodyType) {
        FlatBufferBuilder b = new FlatBufferBuilder(64);
        int body = Ping.createPing(b, 7);
        int frame = Frame.createFrame(b, 3, (byte) bodyType, body);
        Frame.finishSizePrefixedFrameBuffer(b, frame);
        return b.sizedByteArray();
    }

    private static void assertConnectionError(InetSocketAddress address, byte[] frame, String fragment) throws IOException {
        try (TestClient c = TestClient.connect(address)) {
            c.sendRaw(frame);
            Message.Error e = assertInstanceOf(Message.Error.class, c.read());
            assertEquals(0, e.requestId());
            assertEquals(ErrorCode.PROTOCOL_ERROR, e.errorCode(), e::message);
            assertTrue(e.message().contains(fragment), () -> "expected '" + fragment + "' in: " + e.message());
            assertTrue(c.closedByServer(), "connection closed after the error");
        }
    }

    @Test
    void malformedFramesEndOnlyTheirConnection() throws Exception {
        GatedModel model = gated(artifactA);
        try (ShiftformerServer server = ShiftformerServer.start(config().conclude(), served(artifactA, model));
             TestClient healthy = TestClient.connect(server.localAddress())) {
            int[] src = longSources(artifactA, 1, 6, 1, 9).get(0);
            healthy.send(request(1, src, 6, 0));
            await("a live stream", () -> server.scheduler().activeSequences() == 1);

            byte[] ping = pingFrame(org.shiftformer.proto.stream.Body.Ping);
            try (TestClient c = TestClient.connect(server.localAddress())) { // the well-formed frame works
                c.sendRaw(ping);
                assertEquals(new Message.Pong(3, 7), c.read());
            }
            assertConnectionError(server.localAddress(), pingFrame(99), "unknown message type 99");

            ByteBuffer bb = ByteBuffer.wrap(ping.clone()).order(ByteOrder.LITTLE_ENDIAN);
            bb.putInt(4, 0x7FFF_0000); // the root offset points far past the frame
            assertConnectionError(server.localAddress(), bb.array(), "past the end");

            bb = ByteBuffer.wrap(ping.clone()).order(ByteOrder.LITTLE_ENDIAN);
            int table = 4 + bb.getInt(4);
            bb.putInt(table, -100_000); // the Frame table's vtable lies beyond the frame
            assertConnectionError(server.localAddress(), bb.array(), "vtable");

            bb = ByteBuffer.wrap(ping.clone()).order(ByteOrder.LITTLE_ENDIAN);
            bb.putInt(table, 1_000_000); // ... or before its start
            assertConnectionError(server.localAddress(), bb.array(), "vtable");

            try (TestClient c = new TestClient(server.localAddress())) {
                c.send(new Message.Hello(0, ProtocolVersion.CURRENT + 1, ProtocolVersion.CURRENT + 5, "future"));
                Message.Error e = assertInstanceOf(Message.Error.class, c.read());
                assertEquals(ErrorCode.UNSUPPORTED_VERSION, e.errorCode());
                assertTrue(c.closedByServer());
            }
            assertConnectionError(server.localAddress(), new byte[] {0, 0, 0, 0x40}, "exceeds the limit");

            model.open();
            assertStream(expected(artifactA, src, 6), artifactA.sha256Hex(), healthy.readTerminals(1).get(1L));
            healthy.send(new Message.Ping(0, 5));
            assertEquals(new Message.Pong(0, 5), healthy.read(), "the other client keeps working");
            assertEquals(6, server.stats().connectionErrors());
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }
}
