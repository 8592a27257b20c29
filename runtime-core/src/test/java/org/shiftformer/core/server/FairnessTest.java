package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.shiftformer.core.server.ServerFixture.MAX_NEW;
import static org.shiftformer.core.server.ServerFixture.assertDone;
import static org.shiftformer.core.server.ServerFixture.assertEachDone;
import static org.shiftformer.core.server.ServerFixture.await;
import static org.shiftformer.core.server.ServerFixture.awaitStalled;
import static org.shiftformer.core.server.ServerFixture.awaitAllEnded;
import static org.shiftformer.core.server.ServerFixture.limitCount;
import static org.shiftformer.core.server.ServerFixture.request;
import static org.shiftformer.core.server.ServerFixture.requests;
import static org.shiftformer.core.server.ServerFixture.sendAll;
import static org.shiftformer.core.server.ServerFixture.terminal;


import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;

/**
 * Issue 11 item 1, "a slow client slows only itself" (PROTOCOL.md section 7), against a real server on
 * 127.0.0.1: several connections that send many requests and never read must not starve a client that
 * reads; one connection's many requests must not queue another connection's request behind all of them;
 * a stall and a queue wait end with one terminal Error each after the configured interval. Bounds are
 * behaviour (tokens arrive, terminal frames, counts, decoder steps), never speed: every wait is bounded by
 * the socket read timeout or {@link #await}.
 *
 * <p>The model is a small random one with EOS masked ({@link NoEosModel}), so every stream runs to its
 * {@code max_new_tokens}: the "outputs that run to max_new_tokens" of the issue.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class FairnessTest {
    static {
        LeakCheck.install(); // before any buffer is allocated: see LeakCheck
    }

    @TempDir
    static Path dir;
    private static ServerFixture fx;

    @BeforeAll
    static void writeModel() {
        fx = new ServerFixture(dir, 29, "FairnessTest");
    }

    @AfterAll
    static void noBufferLeaked() {
        LeakCheck.assertNoLeaks();
    }

    /** Small buffers, so that a client that stops reading stalls its connection after a few frames. */
    private static ServerConfig.Builder config() {
        return ServerFixture.config().writeBufferHighWaterMark(4096).socketSendBufferBytes(4096);
    }

    /** Connects with a small receive buffer, says Hello and sends {@code n} requests; the caller then never reads. */
    private static TestClient nonReader(ShiftformerServer server, int k, int n, int[] source) throws IOException {
        TestClient c = new TestClient(server.localAddress(), 4096);
        c.send(new Message.Hello(0, 1, 1, "never reads " + k));
        assertInstanceOf(Message.Welcome.class, c.read());
        List<Message> requests = requests(1, n, source, MAX_NEW);
        sendAll(c, requests);
        return c;
    }

    // ---- starvation ---------------------------------------------------------------------------------

    /**
     * The reproduction, scaled down: four connections each send many requests whose outputs run to
     * max_new_tokens and never read, more than the server's live rows hold. A client that reads, on a new
     * connection, must get its tokens and its Done (on the old code it got Welcome and Pong and then nothing:
     * the stalled streams kept every decode slot). Then the stalled clients read again: every one of their
     * requests ends in exactly one terminal frame, their paused streams resumed bit-exact.
     */
    @Test
    void clientsThatStopReadingDoNotStarveAClientThatReads() throws Exception {
        int stalledConnections = 4;
        int n = 24;
        ServerConfig cfg = config().maxBatchRows(8).maxLiveRows(16).conclude();
        int[] source = {5, 6, 7};
        int[] expected = fx.expectedTokens(source, MAX_NEW);
        try (ShiftformerServer server = fx.start(cfg, fx.noEos())) {
            List<TestClient> stalled = new ArrayList<>();
            try {
                for (int k = 0; k < stalledConnections; k++) {
                    stalled.add(nonReader(server, k, n, source));
                }
                await("the stalled connections' requests accepted", 30_000,
                        () -> server.stats().accepted() >= (long) stalledConnections * n / 2);
                awaitStalled(server);
                int live = server.scheduler().activeSequences(); // rows held by stalled streams (greedy: one each)

                try (TestClient good = TestClient.connect(server.localAddress())) {
                    good.send(new Message.Ping(0, 42));
                    assertEquals(new Message.Pong(0, 42), good.read());
                    List<Message> requests = requests(1, 3, source, MAX_NEW);
                    sendAll(good, requests);
                    Map<Long, List<Message>> frames = good.readTerminals(3); // the read timeout bounds the wait
                    assertEachDone(frames, 3, expected);
                }
                if (live + 3 > cfg.maxLiveRows()) { // the stalls may leave rows free: then nothing needs parking
                    assertTrue(server.stats().parked() > 0, "stalled streams gave their rows up: " + server.stats());
                }

                for (TestClient c : stalled) {
                    Map<Long, List<Message>> frames = c.readTerminals(n);
                    assertEquals(n, frames.size());
                    assertEachDone(frames, n, expected);
                }
                ServerStats s = server.stats();
                awaitAllEnded(server);
                assertEquals((long) stalledConnections * n + 3, s.done());
            } finally {
                for (TestClient c : stalled) {
                    c.close();
                }
            }
        }
    }

    // ---- stall timeout ------------------------------------------------------------------------------

    /**
     * A connection that stays not writable for stallTimeoutMs: every request in flight on it (live, parked
     * or queued) ends with exactly one Error CANCELLED naming the setting, after the tokens already streamed
     * (a prefix of the right ones); the limit is counted; a client that reads is served meanwhile; when the
     * stalled client reads at last it finds every terminal frame.
     */
    @Test
    void aStallLongerThanTheStallTimeoutEndsEveryRequestOfThatConnection() throws Exception {
        int n = 40; // x 31 tokens: far more than the socket buffers and the high-water mark hold
        ServerConfig cfg = config().maxBatchRows(4).maxLiveRows(8).maxBeamWidth(1).stallTimeoutMs(1_500).conclude();
        int[] source = {9, 10, 11};
        int[] expected = fx.expectedTokens(source, MAX_NEW);
        try (ShiftformerServer server = fx.start(cfg, fx.noEos());
             TestClient stalled = nonReader(server, 0, n, source)) {
            ServerStats s = server.stats();
            await("every request of the stalled connection ended (" + s + ")", 60_000,
                    () -> s.accepted() == n && s.terminated() == n);
            long timedOut = s.limitHits(ServerStats.Limit.STALL_TIMEOUT);
            assertTrue(timedOut > 0, "the stall timeout ended the requests that could not finish: " + s);
            assertEquals(timedOut, limitCount(server, ServerStats.Limit.STALL_TIMEOUT));
            assertEquals(timedOut, s.errors(ErrorCode.CANCELLED));
            assertEquals(n, timedOut + s.done());
            try (TestClient good = TestClient.connect(server.localAddress())) {
                good.send(request(1, source, MAX_NEW));
                assertDone(1, good.readTerminals(1).get(1L), expected);
            }
            Map<Long, List<Message>> frames = stalled.readTerminals(n);
            assertEquals(n, frames.size());
            int errors = 0;
            for (long id = 1; id <= n; id++) {
                List<Message> f = frames.get(id);
                if (terminal(id, f) instanceof Message.Error e) {
                    errors++;
                    assertEquals(ErrorCode.CANCELLED, e.errorCode(), e::message);
                    assertTrue(e.message().contains(ServerConfig.STALL_TIMEOUT_MS_PROP), e::message);
                    for (int i = 0; i < f.size() - 1; i++) { // the tokens streamed before it are right
                        assertEquals(expected[i], assertInstanceOf(Message.Token.class, f.get(i)).token());
                    }
                } else {
                    assertDone(id, f, expected);
                }
            }
            assertEquals(timedOut, errors);
            stalled.send(new Message.Ping(0, 5));
            assertEquals(new Message.Pong(0, 5), stalled.read(), "the connection stays open and usable");
            awaitAllEnded(server);
        }
    }

    // ---- queue wait ---------------------------------------------------------------------------------

    /**
     * A request without a deadline that cannot get a decode slot ends after maxQueueWaitMs with one Error
     * OVERLOADED naming the setting (on the old code it waited for as long as the slot stayed taken); the
     * request holding the only slot (for at least 31 steps of 50 ms: far longer than the wait) still
     * completes.
     */
    @Test
    void aRequestWithoutADeadlineEndsAfterTheMaximumQueueWait() throws Exception {
        ServerConfig cfg = config().maxBatchRows(1).maxLiveRows(1).maxBeamWidth(1).maxQueueWaitMs(300).conclude();
        int[] source = {3, 4};
        int[] expected = fx.expectedTokens(source, MAX_NEW);
        try (ShiftformerServer server = fx.start(cfg, fx.noEos(50));
             TestClient c = TestClient.connect(server.localAddress())) {
            c.send(new Message.TranslateRequest(1, null, source, new Message.Params(1, MAX_NEW, 0), 0, false)); // Done only
            await("request 1 decoding", 30_000, () -> server.scheduler().activeSequences() == 1);
            c.send(request(2, source, MAX_NEW));
            Message m = c.read();
            Message.Error e = assertInstanceOf(Message.Error.class, m, () -> "got " + m);
            assertEquals(2, e.requestId());
            assertEquals(ErrorCode.OVERLOADED, e.errorCode(), e::message);
            assertTrue(e.message().contains(ServerConfig.MAX_QUEUE_WAIT_MS_PROP), e::message);
            assertEquals(1, server.stats().limitHits(ServerStats.Limit.QUEUE_WAIT));
            assertEquals(1, limitCount(server, ServerStats.Limit.QUEUE_WAIT));
            Message.Done done = assertInstanceOf(Message.Done.class, c.read());
            assertEquals(1, done.requestId());
            assertArrayEquals(expected, done.tokens());
            awaitAllEnded(server);
        }
    }

    // ---- round robin between connections ------------------------------------------------------------

    /**
     * One connection's ten requests do not make another connection's single request wait behind all of
     * them: with two batch rows and decoder steps released one at a time, B's request is admitted at the
     * first free slot, next to A's third, so it completes by step 2 x max_new_tokens (first in, first out, it
     * completed at step 6 x max_new_tokens). Steps are counted when the decode thread is back at the gate,
     * i.e. when the step before has been fully processed.
     */
    @Test
    void oneConnectionsManyRequestsDoNotQueueAnotherConnectionsRequestBehindThemAll() throws Exception {
        int maxNew = 4;
        int many = 10;
        ServerConfig cfg = config().maxBatchRows(2).maxLiveRows(2).maxBeamWidth(1).conclude();
        int[] source = {13, 14};
        int[] expected = fx.expectedTokens(source, maxNew);
        GatedModel gate = new GatedModel(fx.noEos());
        try (ShiftformerServer server = fx.start(cfg, gate);
             TestClient a = TestClient.connect(server.localAddress());
             TestClient b = TestClient.connect(server.localAddress())) {
            List<Message> requests = requests(1, many, source, maxNew);
            sendAll(a, requests);
            await("A's requests accepted", 30_000, () -> server.stats().accepted() == many);
            b.send(request(1, source, maxNew));
            await("B's request accepted", 30_000, () -> server.stats().accepted() == many + 1);

            List<Message> bFrames = new ArrayList<>();
            int bDoneAtStep = -1;
            for (int step = 1; step <= (many + 1) * maxNew && bDoneAtStep < 0; step++) {
                long before = server.stats().done();
                gate.allow(1);
                int k = step;
                await("step " + k + " processed", 30_000, () -> server.stats().steps() == k && gate.holding());
                if (server.stats().done() == before) {
                    continue; // nothing completed in this step
                }
                long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(3); // B's Done, if it was one of them
                while (bDoneAtStep < 0 && System.nanoTime() - end < 0) {
                    if (b.available() > 0) {
                        Message m = b.read();
                        bFrames.add(m);
                        if (TestClient.isTerminal(m)) {
                            bDoneAtStep = step;
                        }
                    } else {
                        Thread.sleep(5);
                    }
                }
            }
            assertTrue(bDoneAtStep > 0 && bDoneAtStep <= 2 * maxNew, "B's request completed at step " + bDoneAtStep
                    + ", behind A's requests (round robin completes it by step " + 2 * maxNew + ")");
            assertDone(1, bFrames, expected);
            gate.open();
            Map<Long, List<Message>> frames = a.readTerminals(many);
            assertEachDone(frames, many, expected);
        }
    }

    /** Lets decoder steps through one at a time until {@code condition} holds (bounded). */
    private static void stepUntil(GatedModel gate, String what, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - end > 0) {
                fail("timed out waiting for " + what);
            }
            if (gate.holding()) {
                gate.allow(1);
            }
            Thread.sleep(5);
        }
    }

    /**
     * maxConnectionRows bounds the rows one connection's live requests hold, even with free batch rows; and
     * when the queue is full, a connection with nothing queued may still queue one request (on the old code
     * it was refused OVERLOADED while another connection filled the queue).
     */
    @Test
    void oneConnectionHoldsAtMostItsRowsAndCannotFillTheQueueForOthers() throws Exception {
        ServerConfig cfg = config().maxBatchRows(8).maxLiveRows(8).maxBeamWidth(1).maxConnectionRows(2).maxQueued(3)
                .conclude();
        int[] source = {15, 16};
        int[] expected = fx.expectedTokens(source, MAX_NEW);
        GatedModel gate = new GatedModel(fx.noEos());
        try (ShiftformerServer server = fx.start(cfg, gate);
             TestClient a = TestClient.connect(server.localAddress());
             TestClient b = TestClient.connect(server.localAddress())) {
            sendAll(a, List.of(request(1, source, MAX_NEW), request(2, source, MAX_NEW)));
            stepUntil(gate, "A's two requests live", () -> server.scheduler().activeSequences() == 2);
            List<Message> more = requests(3, 7, source, MAX_NEW);
            sendAll(a, more); // A is at its row bound: 3 queue (the queue bound), 2 are refused
            await("A's requests accepted or refused", 30_000,
                    () -> server.stats().accepted() + server.stats().rejected() == 7);
            assertEquals(2, server.stats().rejected(ErrorCode.OVERLOADED));
            gate.allow(3);
            await("steps", 30_000, () -> server.stats().steps() >= 3 && gate.holding());
            assertEquals(2, server.scheduler().activeSequences(), "A holds at most maxConnectionRows with free batch rows");
            assertEquals(3, server.scheduler().queuedRequests());

            b.send(request(1, source, MAX_NEW));
            await("B's request accepted despite the full queue", 30_000, () -> server.stats().accepted() == 6);
            stepUntil(gate, "B's request live next to A's", () -> server.scheduler().activeSequences() == 3);
            gate.open();
            assertDone(1, b.readTerminals(1).get(1L), expected);
            Map<Long, List<Message>> frames = a.readTerminals(7);
            int done = 0;
            for (long id = 1; id <= 7; id++) {
                if (terminal(id, frames.get(id)) instanceof Message.Done) {
                    assertDone(id, frames.get(id), expected);
                    done++;
                }
            }
            assertEquals(5, done);
            awaitAllEnded(server);
        }
    }
}
