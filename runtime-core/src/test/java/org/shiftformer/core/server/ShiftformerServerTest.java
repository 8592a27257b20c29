package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.netty.channel.epoll.Epoll;
import java.io.IOException;
import java.nio.ByteBuffer;
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
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendIdentity;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.ForwardingLoadedModel;
import org.shiftformer.api.backend.LayerTap;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.api.backend.StepCost;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.decode.DecodeResult;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.server.metrics.ServerMeters;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;
import org.shiftformer.protocol.FrameLayout;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;

/**
 * The server over real loopback sockets, with a small random model on the {@code reference} backend.
 * Every wait is bounded (socket read timeouts, {@link #await}, the class timeout).
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class ShiftformerServerTest {
    static {
        LeakCheck.install(); // before any buffer is allocated: see LeakCheck
    }

    private static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 300, 32, 2, 0, 1, 2);
    private static final int MAX_NEW = CFG.maxPositions() - 1;

    @TempDir
    static Path dir;
    private static Artifact artifact;
    private static Backend backend;
    private static ByteBpeTokenizer tokenizer;

    @BeforeAll
    static void writeModel() {
        Path f = dir.resolve("server-test.itm");
        RandomArtifacts.write(CFG, 11, f, "ShiftformerServerTest");
        artifact = ArtifactReader.read(f);
        backend = Backends.select("reference").open(Map.of());
        tokenizer = new ByteBpeTokenizer(artifact.tokenizer().mergeLeft(), artifact.tokenizer().mergeRight());
    }

    @AfterAll
    static void noBufferLeaked() {
        LeakCheck.assertNoLeaks();
    }

    // ---- fixtures -----------------------------------------------------------------------------------

    private static ServerConfig.Builder config() {
        return ServerConfig.builder().port(0).adminPort(0).bindAddress("127.0.0.1").drainTimeoutMs(2_000);
    }

    private static ShiftformerServer start(ServerConfig config, LoadedModel model) {
        return ShiftformerServer.start(config, ServedModel.of(artifact, model, backend.identity()));
    }

    private static LoadedModel reference() {
        return backend.load(artifact.model());
    }

    /** The reference model, slowed to {@code stepDelayMs} per decoder step and never emitting EOS (greedy runs to its limit). */
    private static LoadedModel slow(int stepDelayMs) {
        return new NoEosModel(reference(), stepDelayMs);
    }

    private static Message.TranslateRequest tokensRequest(long id, int[] tokens, int beam, int maxNew, int deadlineMs) {
        return new Message.TranslateRequest(id, null, tokens, new Message.Params(beam, maxNew, beam > 1 ? 154 : 0),
                deadlineMs, true);
    }

    private static Message.TranslateRequest longRequest(long id) {
        return tokensRequest(id, new int[] {10, 20, 30}, 1, MAX_NEW, 0);
    }

    private static void await(String what, long timeoutMs, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - end > 0) {
                fail("timed out after " + timeoutMs + " ms waiting for " + what);
            }
            Thread.sleep(5);
        }
    }

    private static void assertEveryAcceptedRequestEndedOnce(ShiftformerServer server) throws InterruptedException {
        ServerStats s = server.stats();
        await("accepted == terminated (" + s + ")", 5_000, () -> s.accepted() == s.terminated());
        await("no active sequences", 5_000, () -> server.scheduler().activeSequences() == 0);
    }

    /** A request and what local decoding (Decoding.decode on its own model) says it must produce. */
    private record Case(Message.TranslateRequest request, DecodeParams params, DecodeResult expected) {
    }

    private static List<Case> cases(int count, long firstId, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Case> out = new ArrayList<>();
        try (LoadedModel local = reference()) {
            for (int i = 0; i < count; i++) {
                long id = firstId + i;
                int beam = i % 4 == 3 ? 2 + rnd.nextInt(2) : 1;
                int maxNew = i % 5 == 0 ? 0 : 4 + rnd.nextInt(12);
                Message.Params p = new Message.Params(beam, maxNew, beam > 1 ? rnd.nextInt(0, 300) : 0);
                Message.TranslateRequest r;
                int[] ids;
                if (i % 3 == 0) {
                    String text = (i % 2 == 0 ? "ein test " : "zweihundert ") + i;
                    ids = tokenizer.encode(text);
                    r = new Message.TranslateRequest(id, text, null, p, 0, true);
                } else {
                    ids = rnd.ints(1 + rnd.nextInt(12), 0, CFG.vocabSize()).toArray();
                    r = new Message.TranslateRequest(id, null, ids, p, 0, true);
                }
                int[] source = Arrays.copyOf(ids, ids.length + 1);
                source[ids.length] = CFG.eosId();
                DecodeParams params = p.resolve(CFG.maxPositions(), ServerConfig.MAX_BEAM_WIDTH_DEFAULT);
                DecodeResult expected = Decoding.decode(local, List.of(source), params, TokenListener.NONE).get(0);
                out.add(new Case(r, params, expected));
            }
        }
        return out;
    }

    /** Exactly the local decode's tokens, streamed and in Done, the texts adding up, one terminal frame last. */
    private static void assertMatches(Case c, List<Message> frames) {
        assertMatches(c, frames, backend.identity());
    }

    private static void assertMatches(Case c, List<Message> frames, BackendIdentity computedBy) {
        long id = c.request.requestId();
        assertTrue(frames != null && !frames.isEmpty(), "no frames for request " + id);
        int terminals = 0;
        for (Message m : frames) {
            terminals += TestClient.isTerminal(m) ? 1 : 0;
        }
        assertEquals(1, terminals, () -> "terminal frames of request " + id + ": " + frames);
        Message last = frames.get(frames.size() - 1);
        Message.Done done = assertInstanceOf(Message.Done.class, last, () -> "request " + id + " ended with " + last);
        int[] expected = c.expected.tokens();
        assertEquals(expected.length + 1, frames.size(), "Token frames of request " + id);
        StringBuilder text = new StringBuilder();
        for (int i = 0; i < expected.length; i++) {
            Message.Token t = assertInstanceOf(Message.Token.class, frames.get(i));
            assertEquals(i, t.index());
            assertEquals(expected[i], t.token(), "token " + i + " of request " + id);
            text.append(t.text());
        }
        assertArrayEquals(expected, done.tokens());
        assertEquals(expected.length, done.tokenCount());
        assertEquals(c.expected.finishedByEos(), done.finishedByEos());
        assertEquals(c.expected.score(), done.score());
        assertEquals(c.expected.deviceCycles() == 0, done.deviceCycles() == 0);
        assertEquals(tokenizer.decode(expected), done.text());
        assertEquals(done.text(), text + done.textTail());
        assertEquals(artifact.sha256Hex(), done.modelSha256());
        assertEquals(Message.Params.of(c.params), done.params());
        assertEquals(computedBy, done.backend());
        assertTrue(done.queueNs() >= 0 && done.totalNs() >= done.queueNs() && done.totalNs() >= done.firstTokenNs());
    }

    // ---- (a) streams match local decoding ------------------------------------------------------------

    @Test
    void hundredConcurrentStreamsOnOneConnectionMatchLocalDecoding() throws Exception {
        List<Case> cases = cases(100, 1, 1);
        int tokens = cases.stream().mapToInt(k -> k.expected.tokens().length).sum();
        assertTrue(tokens >= 300, "the streams carry tokens: " + tokens); // 412 here: many outputs end with EOS
        assertTrue(cases.stream().anyMatch(k -> k.params.beamWidth() > 1 && k.expected.tokens().length > 0));
        try (ShiftformerServer server = start(config().conclude(), reference());
             TestClient c = TestClient.connect(server.localAddress())) {
            assertEquals(server.config().nativeTransport() && Epoll.isAvailable() ? "epoll" : "nio", server.transport());
            ByteBuffer all = ByteBuffer.allocate(1 << 20);
            for (Case k : cases) {
                all.put(c.frame(k.request)); // one write: the requests really are concurrent
            }
            c.sendRaw(Arrays.copyOf(all.array(), all.position()));
            Map<Long, List<Message>> frames = c.readTerminals(cases.size());
            for (Case k : cases) {
                assertMatches(k, frames.get(k.request.requestId()));
            }
            assertEquals(cases.size(), frames.size());
            assertEveryAcceptedRequestEndedOnce(server);
            assertEquals(100, server.stats().done());
            assertTrue(server.stats().stepRows() > server.stats().steps(), "steps were batched: " + server.stats());
        }
    }

    @Test
    void hundredStreamsAcrossSixteenConnectionsMatchLocalDecoding() throws Exception {
        List<Case> cases = cases(100, 1000, 2);
        try (ShiftformerServer server = start(config().conclude(), reference())) {
            List<TestClient> clients = new ArrayList<>();
            try {
                for (int i = 0; i < 16; i++) {
                    clients.add(TestClient.connect(server.localAddress()));
                }
                int[] perClient = new int[16];
                for (int i = 0; i < cases.size(); i++) {
                    clients.get(i % 16).send(cases.get(i).request);
                    perClient[i % 16]++;
                }
                for (int k = 0; k < 16; k++) {
                    Map<Long, List<Message>> frames = clients.get(k).readTerminals(perClient[k]);
                    for (int i = k; i < cases.size(); i += 16) {
                        assertMatches(cases.get(i), frames.get(cases.get(i).request.requestId()));
                    }
                }
            } finally {
                for (TestClient c : clients) {
                    c.close();
                }
            }
            assertEveryAcceptedRequestEndedOnce(server);
            assertEquals(100, server.stats().done());
        }
    }

    // ---- (b) cancel ----------------------------------------------------------------------------------

    @Test
    void cancelMidStreamYieldsExactlyOneCancelledAndFreesTheSlot() throws Exception {
        try (ShiftformerServer server = start(config().maxInFlight(2).conclude(), slow(5));
             TestClient c = TestClient.connect(server.localAddress())) {
            c.send(longRequest(1));
            c.send(longRequest(2));
            List<Message> one = new ArrayList<>();
            List<Message> others = new ArrayList<>();
            while (one.isEmpty()) { // until request 1 is streaming
                Message m = c.read();
                (m.requestId() == 1 ? one : others).add(m);
            }
            c.send(longRequest(3)); // the connection is at its limit of 2
            c.send(new Message.Cancel(99)); // unknown: ignored
            Message.Error overloaded = null;
            while (overloaded == null) {
                Message m = c.read();
                if (m.requestId() == 3) {
                    overloaded = assertInstanceOf(Message.Error.class, m);
                } else {
                    (m.requestId() == 1 ? one : others).add(m);
                }
            }
            assertEquals(ErrorCode.OVERLOADED, overloaded.errorCode());

            c.send(new Message.Cancel(1));
            Message.Cancelled cancelled = null;
            while (cancelled == null) {
                Message m = c.read();
                if (m.requestId() == 1) {
                    one.add(m);
                    if (TestClient.isTerminal(m)) {
                        cancelled = assertInstanceOf(Message.Cancelled.class, m, m::toString);
                    }
                } else {
                    others.add(m);
                }
            }
            long tokens = one.stream().filter(m -> m instanceof Message.Token).count();
            assertEquals(tokens, cancelled.tokenCount());
            assertTrue(tokens < MAX_NEW, "cancelled before the end");

            c.send(longRequest(4)); // the slot is free again: accepted, streams, ends in Done
            Map<Long, List<Message>> rest = new java.util.LinkedHashMap<>();
            for (Message m : others) {
                rest.computeIfAbsent(m.requestId(), k -> new ArrayList<>()).add(m);
            }
            int ended = (int) others.stream().filter(TestClient::isTerminal).count();
            c.readTerminals(2 - ended).forEach((k, v) -> rest.computeIfAbsent(k, x -> new ArrayList<>()).addAll(v));
            assertFalse(rest.containsKey(1L), "nothing after Cancelled: " + rest.get(1L));
            assertFalse(rest.containsKey(99L));
            for (long id : new long[] {2, 4}) {
                List<Message> f = rest.get(id);
                Message.Done done = assertInstanceOf(Message.Done.class, f.get(f.size() - 1));
                assertEquals(MAX_NEW, done.tokenCount());
                assertEquals(MAX_NEW + 1, f.size());
            }
            assertEveryAcceptedRequestEndedOnce(server);
            assertEquals(1, server.stats().cancelled());
            assertEquals(3, server.stats().accepted());
        }
    }

    // ---- (c) disconnect --------------------------------------------------------------------------------

    @Test
    void disconnectStopsTheDecodeOfItsRequests() throws Exception {
        try (ShiftformerServer server = start(config().conclude(), slow(5))) {
            TestClient c = TestClient.connect(server.localAddress());
            for (long id = 1; id <= 5; id++) {
                c.send(longRequest(id));
            }
            assertInstanceOf(Message.Token.class, c.read());
            await("5 active sequences", 5_000, () -> server.scheduler().activeSequences() == 5);
            c.close();
            await("the decode to stop", 5_000, () -> server.scheduler().activeSequences() == 0);
            assertEquals(5, server.stats().dropped());
            long steps = server.stats().steps();
            assertTrue(server.stats().tokens() < 5L * MAX_NEW, "stopped before the end: " + server.stats());
            Thread.sleep(50);
            assertEquals(steps, server.stats().steps(), "no decoder step after the disconnect was handled");
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }

    // ---- backpressure -----------------------------------------------------------------------------------

    @Test
    void clientThatStopsReadingStallsOnlyItsOwnStreamsAndLosesNothing() throws Exception {
        int n = 200; // 200 x 31 Token frames: far more than the socket buffers and the high-water mark hold
        ServerConfig cfg = config().socketSendBufferBytes(8192).writeBufferHighWaterMark(8192).conclude();
        try (ShiftformerServer server = start(cfg, reference());
             TestClient slow = new TestClient(server.localAddress(), 0)) {
            slow.send(new Message.Hello(0, 1, 1, "not reading"));
            assertInstanceOf(Message.Welcome.class, slow.read());
            ByteBuffer all = ByteBuffer.allocate(1 << 16);
            for (long id = 1; id <= n; id++) {
                all.put(slow.frame(tokensRequest(id, new int[] {(int) (3 + id)}, 1, MAX_NEW, 0)));
            }
            slow.sendRaw(Arrays.copyOf(all.array(), all.position()));
            await("the scheduler to skip the unwritable connection", 10_000,
                    () -> server.stats().backpressureSkips() > 0);
            assertStepsStop(server); // once the buffers are full, nothing more is decoded for it
            assertTrue(server.scheduler().activeSequences() > 0, "its requests keep their slots");
            long stalledDone = server.stats().done();
            assertTrue(stalledDone < n, "the stalled streams are not finished: " + server.stats());
            try (TestClient other = TestClient.connect(server.localAddress())) {
                other.send(tokensRequest(1, new int[] {42}, 1, 5, 0));
                assertInstanceOf(Message.Done.class, lastOf(other.readTerminals(1).get(1L)));
            }
            assertStepsStop(server);
            assertEquals(stalledDone + 1, server.stats().done(), "only the other client's request ran meanwhile");

            Map<Long, List<Message>> frames = slow.readTerminals(n); // reading again resumes them, nothing lost
            assertEquals(n, frames.size());
            for (List<Message> f : frames.values()) {
                Message.Done done = assertInstanceOf(Message.Done.class, lastOf(f));
                assertEquals(f.size() - 1, done.tokenCount());
                assertArrayEquals(f.subList(0, f.size() - 1).stream().mapToInt(m -> ((Message.Token) m).token()).toArray(),
                        done.tokens());
            }
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }

    /** Waits (bounded) until no decoder step runs for 200 ms. */
    private static void assertStepsStop(ShiftformerServer server) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        long before;
        do {
            before = server.stats().steps();
            Thread.sleep(200);
        } while (server.stats().steps() != before && System.nanoTime() - end < 0);
        assertEquals(before, server.stats().steps(), "decoding stops while the client does not read");
    }

    // ---- (d) deadline ----------------------------------------------------------------------------------

    @Test
    void expiredDeadlineYieldsDeadlineExceeded() throws Exception {
        try (ShiftformerServer server = start(config().conclude(), slow(3));
             TestClient c = TestClient.connect(server.localAddress())) {
            c.send(tokensRequest(1, new int[] {5, 6, 7}, 1, MAX_NEW, 1));
            c.send(tokensRequest(2, new int[] {5, 6, 7}, 1, 4, 10_000));
            Map<Long, List<Message>> frames = c.readTerminals(2);
            List<Message> one = frames.get(1L);
            Message.Error e = assertInstanceOf(Message.Error.class, one.get(one.size() - 1));
            assertEquals(ErrorCode.DEADLINE_EXCEEDED, e.errorCode(), e::message);
            List<Message> two = frames.get(2L);
            assertInstanceOf(Message.Done.class, two.get(two.size() - 1));
            c.send(new Message.Ping(0, 42));
            assertEquals(new Message.Pong(0, 42), c.read()); // the connection stays open
            assertEveryAcceptedRequestEndedOnce(server);
        }
    }

    // ---- (e) malformed input -------------------------------------------------------------------------

    private static Message.Error assertConnectionError(TestClient c, ErrorCode code, String fragment) throws IOException {
        Message m = c.read();
        while (m.requestId() != 0) {
            m = c.read(); // frames of requests before the error
        }
        Message.Error e = assertInstanceOf(Message.Error.class, m, m::toString);
        assertEquals(code, e.errorCode(), e::message);
        assertTrue(e.message().contains(fragment), () -> "expected '" + fragment + "' in: " + e.message());
        assertTrue(c.closedByServer(), "connection closed after the error");
        return e;
    }

    @Test
    void malformedInputClosesOnlyThatConnection() throws Exception {
        try (ShiftformerServer server = start(config().conclude(), slow(2));
             TestClient healthy = TestClient.connect(server.localAddress())) {
            healthy.send(tokensRequest(100, new int[] {7, 8}, 1, 12, 0));

            byte[] random = new byte[68];
            new SplittableRandom(5).nextBytes(random);
            random[0] = 64; // a plausible length prefix: 64 random bytes follow
            random[1] = random[2] = random[3] = 0;
            try (TestClient c = new TestClient(server.localAddress())) {
                c.sendRaw(random);
                assertConnectionError(c, ErrorCode.PROTOCOL_ERROR, "frame");
            }
            try (TestClient c = TestClient.connect(server.localAddress())) {
                c.sendRaw(new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF});
                assertConnectionError(c, ErrorCode.PROTOCOL_ERROR, "exceeds the limit of " + FrameLayout.DEFAULT_MAX_PAYLOAD_BYTES);
            }
            try (TestClient c = new TestClient(server.localAddress())) {
                c.send(new Message.Hello(0, 3, 4, "from the future"));
                assertConnectionError(c, ErrorCode.UNSUPPORTED_VERSION, "[3, 4]");
            }
            try (TestClient c = new TestClient(server.localAddress())) {
                c.send(longRequest(1));
                assertConnectionError(c, ErrorCode.PROTOCOL_ERROR, "expected Hello");
            }
            try (TestClient c = TestClient.connect(server.localAddress())) {
                c.send(new Message.Hello(0, 1, 1, "again"));
                assertConnectionError(c, ErrorCode.PROTOCOL_ERROR, "second Hello");
            }
            try (TestClient c = TestClient.connect(server.localAddress())) {
                // A request in flight, then garbage: the request gets its own Error, then request 0's.
                byte[] req = c.frame(longRequest(7));
                byte[] both = Arrays.copyOf(req, req.length + random.length);
                System.arraycopy(random, 0, both, req.length, random.length);
                c.sendRaw(both);
                Message m;
                do {
                    m = c.read();
                } while (m instanceof Message.Token);
                Message.Error own = assertInstanceOf(Message.Error.class, m, m::toString);
                assertEquals(7, own.requestId());
                assertEquals(ErrorCode.PROTOCOL_ERROR, own.errorCode());
                Message.Error conn = assertInstanceOf(Message.Error.class, c.read());
                assertEquals(0, conn.requestId());
                assertEquals(own.message(), conn.message());
                assertTrue(c.closedByServer());
            }
            try (TestClient c = TestClient.connect(server.localAddress())) {
                c.send(longRequest(9));
                c.send(longRequest(9));
                Message.Error e = assertConnectionError(c, ErrorCode.PROTOCOL_ERROR, "already in flight");
                assertEquals(0, e.requestId());
            }
            try (TestClient c = TestClient.connect(server.localAddress())) {
                c.send(new Message.Pong(0, 1));
                assertConnectionError(c, ErrorCode.PROTOCOL_ERROR, "server-to-client");
            }

            Map<Long, List<Message>> frames = healthy.readTerminals(1);
            List<Message> f = frames.get(100L);
            assertEquals(12, assertInstanceOf(Message.Done.class, f.get(f.size() - 1)).tokenCount());
            healthy.send(tokensRequest(101, new int[] {7, 8}, 1, 3, 0));
            assertInstanceOf(Message.Done.class, lastOf(healthy.readTerminals(1).get(101L)));
            assertEveryAcceptedRequestEndedOnce(server);
            assertEquals(8, server.stats().connectionErrors());
            await("closed connections to go", 5_000, () -> server.connectionCount() == 1);
        }
    }

    private static Message lastOf(List<Message> frames) {
        return frames.get(frames.size() - 1);
    }

    @Test
    void invalidRequestsAreAnsweredWithOneErrorAndTheConnectionStaysOpen() throws Exception {
        try (ShiftformerServer server = start(config().maxBeamWidth(4).conclude(), reference());
             TestClient c = TestClient.connect(server.localAddress())) {
            c.send(new Message.TranslateRequest(1, "x", new int[] {4}, null, 0, true));
            c.send(new Message.TranslateRequest(2, null, null, null, 0, true));
            c.send(tokensRequest(3, new int[] {CFG.vocabSize()}, 1, 4, 0));
            c.send(tokensRequest(4, new int[] {5}, 5, 4, 0));
            c.send(tokensRequest(5, new int[] {5}, 1, MAX_NEW + 1, 0));
            c.send(tokensRequest(6, new int[MAX_NEW + 1], 1, 4, 0));
            c.send(new Message.ModelInfoRequest(7));
            ErrorCode[] expected = {ErrorCode.INVALID_ARGUMENT, ErrorCode.INVALID_ARGUMENT, ErrorCode.INVALID_ARGUMENT,
                ErrorCode.INVALID_ARGUMENT, ErrorCode.MODEL_LIMIT_EXCEEDED, ErrorCode.MODEL_LIMIT_EXCEEDED};
            // SPEC.md 5: an explicit max_new_tokens above max_positions - 1, or a source that does not fit
            // max_positions with its EOS, is refused naming the numbers, never silently lowered or cut.
            String[] messages = {null, null, null, null,
                "max_new_tokens " + (MAX_NEW + 1) + " exceeds the model's limit of " + MAX_NEW + " (max_positions - 1)",
                "source of " + (MAX_NEW + 1) + " tokens plus EOS exceeds the model's max_positions " + CFG.maxPositions()
                    + " (at most " + MAX_NEW + " source tokens)"};
            for (int i = 0; i < expected.length; i++) {
                Message.Error e = assertInstanceOf(Message.Error.class, c.read());
                assertEquals(i + 1, e.requestId());
                assertEquals(expected[i], e.errorCode(), e::message);
                if (messages[i] != null) {
                    assertEquals(messages[i], e.message());
                }
            }
            Message.ModelInfo info = assertInstanceOf(Message.ModelInfo.class, c.read());
            assertEquals(7, info.requestId());
            assertEquals(CFG, info.config());
            assertEquals(artifact.sha256Hex(), info.sha256());
            assertEquals(0, server.stats().accepted());
            assertEquals(6, server.stats().rejected());
        }
    }

    @Test
    void theServersDefaultForAnUnsetMaxNewTokensIsClampedToTheModelsLimitAndTheLongestSourceFits() throws Exception {
        try (ShiftformerServer server = start(config().defaultMaxNewTokens(10 * MAX_NEW).conclude(), slow(0));
             TestClient c = TestClient.connect(server.localAddress())) {
            int[] longest = new int[MAX_NEW]; // with its EOS exactly max_positions: accepted
            Arrays.fill(longest, 5);
            c.send(tokensRequest(1, longest, 1, 0, 0));
            List<Message> f = c.readTerminals(1).get(1L);
            Message.Done done = assertInstanceOf(Message.Done.class, lastOf(f));
            assertEquals(MAX_NEW, done.params().maxNewTokens());
            assertEquals(MAX_NEW, done.tokenCount());
        }
    }

    // ---- (f) admission ---------------------------------------------------------------------------------

    @Test
    void fullAdmissionQueueAnswersOverloaded() throws Exception {
        ServerConfig cfg = config().maxQueued(2).maxBatchRows(1).maxBeamWidth(1).conclude();
        GatedModel gate = new GatedModel(slow(0)); // nothing finishes until the test opens it
        try (ShiftformerServer server = start(cfg, gate);
             TestClient c = TestClient.connect(server.localAddress())) {
            ByteBuffer all = ByteBuffer.allocate(4096);
            for (long id = 1; id <= 6; id++) {
                all.put(c.frame(tokensRequest(id, new int[] {9}, 1, 6, 0)));
            }
            c.sendRaw(Arrays.copyOf(all.array(), all.position()));
            await("all 6 answered or accepted", 30_000,
                    () -> server.stats().accepted() + server.stats().rejected() == 6);
            gate.open();
            Map<Long, List<Message>> frames = c.readTerminals(6);
            int overloaded = 0;
            int done = 0;
            for (List<Message> f : frames.values()) {
                Message last = lastOf(f);
                if (last instanceof Message.Error e) {
                    assertEquals(ErrorCode.OVERLOADED, e.errorCode(), e::message);
                    assertEquals(1, f.size());
                    overloaded++;
                } else {
                    assertEquals(6, assertInstanceOf(Message.Done.class, last).tokenCount());
                    done++;
                }
            }
            // 1 active + 2 queued fit (only 2 if the first was not yet active when the others came)
            assertTrue(overloaded == 3 || overloaded == 4, "overloaded " + overloaded);
            assertEquals(6, overloaded + done);
            assertEveryAcceptedRequestEndedOnce(server);
            assertEquals(0, server.scheduler().queuedRequests());
        }
    }

    // ---- shutdown and configuration ----------------------------------------------------------------

    @Test
    void closeDrainsLiveStreamsThenCancelsTheRest() throws Exception {
        ShiftformerServer server = start(config().drainTimeoutMs(150).conclude(), slow(20));
        try (TestClient c = TestClient.connect(server.localAddress())) {
            c.send(tokensRequest(1, new int[] {3}, 1, 2, 0)); // finishes within the drain timeout
            c.send(longRequest(2)); // 31 steps of 20 ms: does not
            assertInstanceOf(Message.Token.class, c.read());
            server.close();
            Map<Long, List<Message>> frames = c.readTerminals(2);
            assertInstanceOf(Message.Done.class, lastOf(frames.get(1L)));
            Message.Error e = assertInstanceOf(Message.Error.class, lastOf(frames.get(2L)));
            assertEquals(ErrorCode.CANCELLED, e.errorCode());
            assertTrue(c.closedByServer());
        } finally {
            server.close();
        }
        assertEquals(server.stats().accepted(), server.stats().terminated());
    }

    // ---- backend failure while serving -------------------------------------------------------------

    /**
     * The reference model under another backend's name, whose device "breaks" at decoder step
     * {@code failAt}: that call and every later one fail with BACKEND_FAILURE.
     */
    private static final class BreakingModel extends ForwardingLoadedModel {
        static final BackendIdentity IDENTITY = new BackendIdentity("flaky", "card0", "test");
        private final int failAt;
        private int steps;
        volatile boolean closed;

        BreakingModel(LoadedModel delegate, int failAt) {
            super(delegate);
            this.failAt = failAt;
        }

        @Override
        public StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap) {
            if (++steps >= failAt) {
                throw new ShiftformerException(ErrorCode.BACKEND_FAILURE, "injected: the device was lost at step " + steps);
            }
            return super.decodeStep(states, tokens, logits, tap);
        }

        @Override
        public void close() {
            closed = true;
            super.close();
        }
    }

    @Test
    void backendFailingMidStreamMovesLiveStreamsToTheFallbackWithoutLosingOrRepeatingAToken() throws Exception {
        int failAt = 4;
        List<Case> cases = cases(40, 1, 7);
        assertTrue(cases.stream().anyMatch(k -> k.expected.tokens().length > failAt + 2), "streams outlive the failure");
        BreakingModel breaking = new BreakingModel(reference(), failAt);
        try (ShiftformerServer server = ShiftformerServer.start(config().fallback("next").conclude(),
                ServedModel.of(artifact, breaking, BreakingModel.IDENTITY));
             TestClient c = TestClient.connect(server.localAddress())) {
            ByteBuffer all = ByteBuffer.allocate(1 << 20);
            for (Case k : cases) {
                all.put(c.frame(k.request));
            }
            c.sendRaw(Arrays.copyOf(all.array(), all.position()));
            Map<Long, List<Message>> frames = c.readTerminals(cases.size());
            int moved = 0;
            for (Case k : cases) {
                List<Message> f = frames.get(k.request.requestId());
                boolean onFallback = lastOf(f) instanceof Message.Done d && d.backend().equals(backend.identity());
                // every token exactly once, in order, whichever backend finished the request
                assertMatches(k, f, onFallback ? backend.identity() : BreakingModel.IDENTITY);
                if (onFallback) {
                    moved++;
                } else {
                    assertTrue(k.expected.tokens().length < failAt, "request " + k.request.requestId()
                            + " finished on the broken device after its failure");
                }
            }
            assertTrue(moved > 0, "live streams moved to the fallback");
            assertEquals(0, server.stats().errors(), server.stats().toString());
            assertEveryAcceptedRequestEndedOnce(server);
            assertTrue(breaking.closed, "the failed model is closed");
            assertEquals(1.0, server.meterRegistry().get(ServerMeters.FAILOVERS).tag(ServerMeters.BACKEND, "reference")
                    .tag(ServerMeters.REQUESTED_BACKEND, "flaky").counter().count());
            var ready = Http.get(server.adminAddress(), "/health/ready");
            assertEquals(200, ready.statusCode(), ready.body());
            assertTrue(ready.body().contains("backend 'flaky' failed while serving") && ready.body().contains(
                    "fell back to 'reference'"), ready.body());

            // after the failover, new requests run on the fallback
            Case later = cases(1, 500, 8).get(0);
            c.send(later.request);
            assertMatches(later, c.readTerminals(1).get(500L));
        }
    }

    @Test
    void invalidSettingsFailNamingTheSetting() {
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> ServerConfig.builder().maxBatchRows(4).maxBeamWidth(8).conclude());
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains(ServerConfig.MAX_BEAM_WIDTH_PROP), e.getMessage());
        e = assertThrows(ShiftformerException.class, () -> ServerConfig.builder().maxFrameBytes(100).conclude());
        assertTrue(e.getMessage().contains(ServerConfig.MAX_FRAME_BYTES_PROP), e.getMessage());
        e = assertThrows(ShiftformerException.class, () -> ServerConfig.builder().port(70000).conclude());
        assertTrue(e.getMessage().contains(ServerConfig.PORT_PROP), e.getMessage());
        assertNotEquals(null, ServerConfig.defaults());
    }

}
