package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.core.server.ServerFixture.assertDone;
import static org.shiftformer.core.server.ServerFixture.assertEachDone;
import static org.shiftformer.core.server.ServerFixture.await;
import static org.shiftformer.core.server.ServerFixture.awaitStalled;
import static org.shiftformer.core.server.ServerFixture.config;
import static org.shiftformer.core.server.ServerFixture.last;
import static org.shiftformer.core.server.ServerFixture.request;
import static org.shiftformer.core.server.ServerFixture.requests;
import static org.shiftformer.core.server.ServerFixture.sendAll;
import static org.shiftformer.core.server.ServerFixture.terminal;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.ForwardingLoadedModel;
import org.shiftformer.api.backend.LayerTap;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.api.backend.StepCost;
import org.shiftformer.core.server.metrics.ServerMeters;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.MessageWriter;

/**
 * Faults of issue 6 against a real server on 127.0.0.1 and real sockets (the fourth, kill -9 of the
 * container, is in the testcontainers module): clients that stop reading, overload beyond the admission
 * limits, and a backend that fails mid-stream. Each proves the server's promises structurally (bounds
 * derived from the configuration, frame counts, step counts), never with a wall-clock threshold; every
 * wait is bounded (socket read timeouts, {@link #await}, the class timeout).
 *
 * <p>The model is a small random one on the {@code reference} backend with EOS masked
 * ({@link NoEosModel}), so every stream runs to exactly its {@code max_new_tokens}.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class FaultInjectionTest {
    static {
        LeakCheck.install(); // before any buffer is allocated: see LeakCheck
    }

    private static final int MAX_NEW = ServerFixture.MAX_NEW;

    @TempDir
    static Path dir;
    private static ServerFixture fx;

    @BeforeAll
    static void writeModel() {
        fx = new ServerFixture(dir, 13, "FaultInjectionTest");
    }

    @AfterAll
    static void noBufferLeaked() {
        LeakCheck.assertNoLeaks();
    }

    private static ShiftformerServer start(ServerConfig config, LoadedModel model) {
        return fx.start(config, model);
    }

    private static LoadedModel noEos() {
        return fx.noEos();
    }

    private static int[] expectedTokens(int[] source, int maxNew) {
        return fx.expectedTokens(source, maxNew);
    }

    private static void assertStatsInvariant(ShiftformerServer server) throws InterruptedException {
        ServerStats s = server.stats();
        await("accepted == done + errors + cancelled + dropped (" + s + ")", 10_000, () -> s.accepted() == s.terminated());
        await("no active sequences", 10_000, () -> server.scheduler().activeSequences() == 0);
        assertEquals(0, server.scheduler().queuedRequests());
    }

    private static void assertHealthy(ShiftformerServer server) {
        assertNull(server.notReadyReason(), "the server is ready");
        assertTrue(server.scheduler().isAlive(), "the decode thread runs");
    }

    // ---- clients that stop reading ---------------------------------------------------------------------

    /**
     * Connections whose clients stop reading: their streams pause (they are not lost), the server keeps
     * decoding for a client that reads, and the bytes it holds for the stalled connections (the
     * {@code shiftformer.outbound.pending} gauge) stay below a bound derived from the write-buffer
     * high-water mark H and the connections, although the stalled streams produce several times more.
     *
     * <p>The bound per connection is {@code H max(1, T / 40) + n (T + D)} for n requests with Token frames
     * of at most T and Done frames of at most D bytes: the scheduler steps a connection only while it is
     * writable, i.e. while at most H bytes are pending by Netty's count, which counts a frame still queued
     * for the event loop at 40 bytes (Netty's default estimate of 8 for a message that is not a buffer,
     * plus 32 of write-task overhead) until it is encoded to at most T; one step then adds at most one
     * Token frame per request, and every request adds one Done.
     */
    @Test
    void clientsThatStopReadingHoldBoundedServerMemoryAndLoseNothing() throws Exception {
        int connections = 6;
        int n = 40; // x 31 tokens per connection: far more than H, the socket buffers and the bound
        int highWater = 8192;
        ServerConfig cfg = config().writeBufferHighWaterMark(highWater).socketSendBufferBytes(8192)
                .maxLiveRows(512).stallTimeoutMs(600_000).conclude(); // paused, not timed out (FairnessTest)
        int[] source = {7, 8, 9};
        int[] expected = expectedTokens(source, MAX_NEW);
        assertEquals(MAX_NEW, expected.length);
        try (ShiftformerServer server = start(cfg, noEos())) {
            List<TestClient> stalled = new ArrayList<>();
            AtomicBoolean sampling = new AtomicBoolean(true);
            AtomicLong maxPending = new AtomicLong();
            Thread sampler = Thread.ofPlatform().daemon(true).start(() -> {
                while (sampling.get()) {
                    maxPending.accumulateAndGet(server.outboundPendingBytes(), Math::max);
                    LockSupport.parkNanos(100_000);
                }
            });
            try {
                for (int k = 0; k < connections; k++) {
                    TestClient c = new TestClient(server.localAddress(), 4096); // and then never reads
                    stalled.add(c);
                    c.send(new Message.Hello(0, 1, 1, "stops reading " + k));
                    assertInstanceOf(Message.Welcome.class, c.read());
                    List<Message> requests = requests(1, n, source, MAX_NEW);
                    sendAll(c, requests);
                }
                await("every request accepted", 30_000, () -> server.stats().accepted() == (long) connections * n);
                awaitStalled(server);
                long stalledDone = server.stats().done();
                assertTrue(stalledDone < (long) connections * n, "the stalled streams are paused, not finished: "
                        + server.stats());
                assertTrue(server.scheduler().activeSequences() > 0, "the stalled requests keep their slots while nobody waits for them");
                // The meter and /metrics read the outbound buffers: a connection that is not writable holds at
                // least H/2 (Netty marks it writable again only below the low-water mark, H/2), and it cannot
                // drain while its client does not read. (Frames still queued for an event loop may grow from
                // their estimate to their encoded size meanwhile, so two readings need not be equal.)
                double gauge = server.meterRegistry().get(ServerMeters.OUTBOUND_PENDING).gauge().value();
                assertTrue(gauge >= highWater / 2.0, "the gauge shows a stalled connection's bytes: " + gauge);
                double scraped = Http.sample(Http.get(server.adminAddress(), "/metrics").body(),
                        "shiftformer_outbound_pending_bytes");
                assertTrue(scraped >= highWater / 2.0, "/metrics shows a stalled connection's bytes: " + scraped);

                // The server keeps decoding for a client that reads.
                try (TestClient other = TestClient.connect(server.localAddress())) {
                    List<Message> requests = requests(1, 5, source, MAX_NEW);
                    sendAll(other, requests);
                    Map<Long, List<Message>> frames = other.readTerminals(5);
                    assertEachDone(frames, 5, expected);
                }
                awaitStalled(server);
                assertEquals(stalledDone + 5, server.stats().done(), "only the reading client's requests ran meanwhile");

                // Reading again resumes every paused stream: nothing lost, nothing duplicated.
                MessageWriter writer = new MessageWriter();
                long maxToken = 0;
                long maxDone = 0;
                long produced = 0;
                for (TestClient c : stalled) {
                    Map<Long, List<Message>> frames = c.readTerminals(n);
                    assertEquals(n, frames.size());
                    for (long id = 1; id <= n; id++) {
                        assertDone(id, frames.get(id), expected);
                        for (Message m : frames.get(id)) {
                            long size = TestClient.frame(writer, m).length;
                            produced += size;
                            if (m instanceof Message.Token) {
                                maxToken = Math.max(maxToken, size);
                            } else {
                                maxDone = Math.max(maxDone, size);
                            }
                        }
                    }
                }
                assertStatsInvariant(server);
                assertEquals((long) connections * n + 5, server.stats().done());
                await("the outbound buffers drain", 10_000, () -> server.outboundPendingBytes() == 0);
                sampling.set(false);
                sampler.join(10_000);

                double queuedTaskBytes = 40; // see the method's documentation
                long bound = connections * ((long) (highWater * Math.max(1, maxToken / queuedTaskBytes))
                        + n * (maxToken + maxDone));
                System.out.printf("stalled clients: %d connections x %d streams produced %,d bytes of frames; "
                        + "the server held at most %,d bytes for them (bound %,d)%n", connections, n, produced,
                        maxPending.get(), bound);
                assertTrue(maxPending.get() <= bound, "outbound bytes " + maxPending.get() + " exceeded the bound "
                        + bound);
                assertTrue(produced > 2 * bound, "the bound is far below what the streams produced: " + produced);
                assertHealthy(server);
            } finally {
                sampling.set(false);
                for (TestClient c : stalled) {
                    c.close();
                }
            }
        }
    }

    // ---- overload beyond the admission limits ----------------------------------------------------------

    /**
     * Four times the admission capacity (queue plus in-flight) at once, on two connections, while decoding
     * is held: every request gets exactly one terminal frame; the excess gets OVERLOADED at once (all of
     * it arrives before a single decoder step has completed) naming the limit; the admitted requests
     * complete with the tokens of local decoding; and their latency stays bounded in decoder steps: all
     * of them finish within (ceil(accepted / batch rows) + 1) x max_new_tokens steps, however large the
     * excess, because nothing queues beyond the limit.
     */
    @Test
    void overloadBeyondTheAdmissionLimitsIsAnsweredOverloadedAndAdmittedRequestsFinish() throws Exception {
        int batchRows = 2;
        int maxQueued = 4;
        int maxInFlight = 6;
        int maxNew = 6;
        int perConnection = 2 * maxInFlight; // 2 connections x 12 = 4 x (queue 4 + batch 2)
        ServerConfig cfg = config().maxBatchRows(batchRows).maxLiveRows(batchRows).maxBeamWidth(1).maxQueued(maxQueued)
                .maxInFlight(maxInFlight).conclude();
        int[] source = {11, 12};
        int[] expected = expectedTokens(source, maxNew);
        GatedModel gate = new GatedModel(noEos()); // no decoder step completes until the gate opens
        try (ShiftformerServer server = start(cfg, gate);
             TestClient a = TestClient.connect(server.localAddress());
             TestClient b = TestClient.connect(server.localAddress())) {
            List<TestClient> clients = List.of(a, b);
            for (TestClient c : clients) {
                List<Message> requests = requests(1, perConnection, source, maxNew);
                sendAll(c, requests);
            }
            int total = clients.size() * perConnection;
            await("every request accepted or rejected", 30_000,
                    () -> server.stats().accepted() + server.stats().rejected() == total);
            long accepted = server.stats().accepted();
            long rejected = server.stats().rejected();
            assertEquals(rejected, server.stats().rejected(ErrorCode.OVERLOADED), "every rejection is OVERLOADED");
            // Per connection, 6 pass the in-flight limit; of those 12, the queue takes 4 plus the 1 or 2
            // requests already taken into a step when the others arrived, plus at most one per connection
            // that found the queue full with nothing of its own queued (a connection's share, PROTOCOL.md 7).
            assertTrue(accepted >= maxQueued && accepted <= maxQueued + batchRows + clients.size(), "accepted " + accepted);
            assertEquals(0, server.stats().steps(), "no decoder step has completed yet");

            // The rejections are already on the wire: read them before any step completes.
            Map<TestClient, Map<Long, List<Message>>> frames = new HashMap<>();
            long overloaded = 0;
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (overloaded < rejected) {
                boolean any = false;
                for (TestClient c : clients) {
                    if (c.available() > 0) {
                        Message m = c.read();
                        Message.Error e = assertInstanceOf(Message.Error.class, m, "only rejections before any step");
                        assertEquals(ErrorCode.OVERLOADED, e.errorCode(), e::message);
                        assertTrue(e.message().contains("limit is " + maxInFlight)
                                || e.message().contains("queue is full (" + maxQueued), e::message);
                        frames.computeIfAbsent(c, k -> new HashMap<>())
                                .computeIfAbsent(m.requestId(), k -> new ArrayList<>()).add(m);
                        overloaded++;
                        any = true;
                    }
                }
                if (!any) {
                    assertTrue(System.nanoTime() - end < 0, "rejections missing: " + overloaded + " of " + rejected);
                    Thread.sleep(2);
                }
            }
            assertEquals(0, server.stats().steps(), "every rejection arrived before a decoder step completed");

            gate.open();
            for (TestClient c : clients) {
                Map<Long, List<Message>> mine = frames.computeIfAbsent(c, k -> new HashMap<>());
                int admitted = perConnection - mine.size();
                Map<Long, List<Message>> rest = c.readTerminals(admitted);
                for (Map.Entry<Long, List<Message>> e : rest.entrySet()) {
                    assertNull(mine.put(e.getKey(), e.getValue()), "a request got a second terminal frame");
                }
                assertEquals(perConnection, mine.size(), "every request answered");
                for (long id = 1; id <= perConnection; id++) {
                    List<Message> f = mine.get(id);
                    if (terminal(id, f) instanceof Message.Error e) {
                        assertEquals(1, f.size(), "a rejected request gets nothing but its Error");
                        assertEquals(ErrorCode.OVERLOADED, e.errorCode());
                    } else {
                        assertDone(id, f, expected);
                    }
                }
            }
            assertStatsInvariant(server);
            assertEquals(accepted, server.stats().done(), "every admitted request completed");
            long stepBound = ((accepted + batchRows - 1) / batchRows + 1) * maxNew;
            assertTrue(server.stats().steps() <= stepBound, "admitted requests took " + server.stats().steps()
                    + " decoder steps, more than " + stepBound);
            assertHealthy(server);
        }
    }

    // ---- backend failure mid-stream --------------------------------------------------------------------

    /** Throws BACKEND_FAILURE once, at the first decoder step that carries at least {@code rows} rows. */
    private static final class FailingModel extends ForwardingLoadedModel {
        static final String MESSAGE = "device lost (injected fault) at decoder step ";
        private final int rows;
        private int steps;
        private volatile int failedAt;

        FailingModel(LoadedModel delegate, int rows) {
            super(delegate);
            this.rows = rows;
        }

        @Override
        public StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap) {
            steps++;
            if (failedAt == 0 && states.size() >= rows) {
                failedAt = steps;
                throw new ShiftformerException(ErrorCode.BACKEND_FAILURE, MESSAGE + steps);
            }
            return super.decodeStep(states, tokens, logits, tap);
        }
    }

    /**
     * The backend fails in a decoder step that carries every live stream of three connections: each of
     * those requests gets exactly one terminal frame, an Error BACKEND_FAILURE naming the failure, after
     * the tokens streamed before it; the connections stay open; later requests succeed; the server stays
     * ready; and every accepted request is accounted for. The server has no fallback (the default).
     */
    @Test
    void backendFailureMidStreamEndsEachAffectedRequestWithOneErrorAndTheServerRecovers() throws Exception {
        int connections = 3;
        int perConnection = 4;
        int total = connections * perConnection;
        int[] source = {21, 22, 23};
        int[] expected = expectedTokens(source, MAX_NEW);
        FailingModel failing = new FailingModel(noEos(), total);
        GatedModel gate = new GatedModel(failing); // holds the first step until every request is accepted
        try (ShiftformerServer server = start(config().conclude(), gate)) {
            List<TestClient> clients = new ArrayList<>();
            try {
                for (int k = 0; k < connections; k++) {
                    TestClient c = TestClient.connect(server.localAddress());
                    clients.add(c);
                    List<Message> requests = requests(1, perConnection, source, MAX_NEW);
                    sendAll(c, requests);
                }
                await("every request accepted", 30_000, () -> server.stats().accepted() == total);
                gate.open(); // the held step completes, then every request is admitted into the next one
                for (TestClient c : clients) {
                    Map<Long, List<Message>> frames = c.readTerminals(perConnection);
                    assertEquals(perConnection, frames.size());
                    for (long id = 1; id <= perConnection; id++) {
                        List<Message> f = frames.get(id);
                        Message.Error e = assertInstanceOf(Message.Error.class, terminal(id, f),
                                () -> "ended with " + last(f));
                        assertEquals(ErrorCode.BACKEND_FAILURE, e.errorCode(), e::message);
                        assertTrue(e.message().contains(FailingModel.MESSAGE + failing.failedAt), e::message);
                        for (int i = 0; i < f.size() - 1; i++) { // the tokens streamed before the failure
                            assertEquals(expected[i], assertInstanceOf(Message.Token.class, f.get(i)).token());
                        }
                        assertTrue(f.size() - 1 < expected.length, "the stream ended early");
                    }
                }
                assertStatsInvariant(server);
                assertEquals(total, server.stats().errors(ErrorCode.BACKEND_FAILURE));
                assertEquals(0, server.stats().done());
                assertHealthy(server);

                // The same connections and the same model serve the next requests.
                for (TestClient c : clients) {
                    c.send(new Message.Ping(0, 99));
                    assertEquals(new Message.Pong(0, 99), c.read(), "the connection stays open");
                    List<Message> requests = requests(101, 102, source, MAX_NEW);
                    sendAll(c, requests);
                    Map<Long, List<Message>> frames = c.readTerminals(2);
                    assertDone(101, frames.get(101L), expected);
                    assertDone(102, frames.get(102L), expected);
                }
                assertStatsInvariant(server);
                assertEquals(2L * connections, server.stats().done());
                assertEquals(total + 2L * connections, server.stats().accepted());
                assertHealthy(server);
            } finally {
                for (TestClient c : clients) {
                    c.close();
                }
            }
        }
    }
}
