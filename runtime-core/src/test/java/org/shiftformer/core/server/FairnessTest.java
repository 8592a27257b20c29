package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.decode.DecodeParams;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.protocol.LeakCheck;
import org.shiftformer.core.protocol.Message;

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

    private static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 300, 32, 2, 0, 1, 2);
    private static final int MAX_NEW = CFG.maxPositions() - 1;

    @TempDir
    static Path dir;
    private static Artifact artifact;
    private static Backend backend;

    @BeforeAll
    static void writeModel() {
        Path f = dir.resolve("fairness-test.itm");
        RandomArtifacts.write(CFG, 29, f, "FairnessTest");
        artifact = ArtifactReader.read(f);
        backend = Backends.select("reference").open(Map.of());
    }

    @AfterAll
    static void noBufferLeaked() {
        LeakCheck.assertNoLeaks();
    }

    // ---- fixtures -----------------------------------------------------------------------------------

    /** Small buffers, so that a client that stops reading stalls its connection after a few frames. */
    private static ServerConfig.Builder config() {
        return ServerConfig.builder().port(0).adminPort(0).bindAddress("127.0.0.1").drainTimeoutMs(2_000)
                .writeBufferHighWaterMark(4096).socketSendBufferBytes(4096);
    }

    private static ShiftformerServer start(ServerConfig config, LoadedModel model) {
        return ShiftformerServer.start(config, ServedModel.of(artifact, model, backend.identity()));
    }

    private static LoadedModel noEos() {
        return new NoEosModel(backend.load(artifact.model()));
    }

    private static Message.TranslateRequest request(long id, int[] tokens, int maxNew) {
        return new Message.TranslateRequest(id, null, tokens, new Message.Params(1, maxNew, 0), 0, true);
    }

    private static int[] expectedTokens(int[] source, int maxNew) {
        int[] withEos = Arrays.copyOf(source, source.length + 1);
        withEos[source.length] = CFG.eosId();
        DecodeParams params = new Message.Params(1, maxNew, 0).resolve(CFG.maxPositions(),
                ServerConfig.MAX_BEAM_WIDTH_DEFAULT);
        try (LoadedModel local = noEos()) {
            return Decoding.decode(local, List.of(withEos), params, TokenListener.NONE).get(0).tokens();
        }
    }

    private static void await(String what, long timeoutMs, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - end > 0) {
                fail("timed out after " + timeoutMs + " ms waiting for " + what);
            }
            Thread.sleep(2);
        }
    }

    /**
     * Waits (bounded) until decoding is held by backpressure: the scheduler went through at least 20 passes
     * in which it skipped live requests because their connection was not writable, without running a step.
     */
    private static void awaitStalled(ShiftformerServer server) throws InterruptedException {
        ServerStats s = server.stats();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            long steps = s.steps();
            long skips = s.backpressureSkips();
            Thread.sleep(50);
            if (s.steps() == steps && s.backpressureSkips() - skips >= 20) {
                return;
            }
            if (System.nanoTime() - end > 0) {
                fail("decoding did not stall on backpressure: " + s);
            }
        }
    }

    private static void sendAll(TestClient c, List<Message> messages) throws IOException {
        ByteBuffer all = ByteBuffer.allocate(1 << 20);
        for (Message m : messages) {
            all.put(c.frame(m));
        }
        c.sendRaw(Arrays.copyOf(all.array(), all.position()));
    }

    /** Connects with a small receive buffer, says Hello and sends {@code n} requests; the caller then never reads. */
    private static TestClient nonReader(ShiftformerServer server, int k, int n, int[] source) throws IOException {
        TestClient c = new TestClient(server.localAddress(), 4096);
        c.send(new Message.Hello(0, 1, 1, "never reads " + k));
        assertInstanceOf(Message.Welcome.class, c.read());
        List<Message> requests = new ArrayList<>();
        for (long id = 1; id <= n; id++) {
            requests.add(request(id, source, MAX_NEW));
        }
        sendAll(c, requests);
        return c;
    }

    /** Exactly one terminal frame, last; returns it. */
    private static Message terminal(long id, List<Message> frames) {
        assertTrue(frames != null && !frames.isEmpty(), "no frames for request " + id);
        assertEquals(1, frames.stream().filter(TestClient::isTerminal).count(), () -> "terminal frames of " + id);
        Message last = frames.get(frames.size() - 1);
        assertTrue(TestClient.isTerminal(last), () -> "request " + id + " does not end with its terminal frame");
        return last;
    }

    private static void assertDone(long id, List<Message> frames, int[] expected) {
        Message.Done done = assertInstanceOf(Message.Done.class, terminal(id, frames),
                () -> "request " + id + " ended with " + frames.get(frames.size() - 1));
        assertArrayEquals(expected, done.tokens(), "tokens of request " + id);
        assertEquals(expected.length + 1, frames.size(), "Token frames of request " + id);
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
        int[] expected = expectedTokens(source, MAX_NEW);
        try (ShiftformerServer server = start(cfg, noEos())) {
            List<TestClient> stalled = new ArrayList<>();
            try {
                for (int k = 0; k < stalledConnections; k++) {
                    stalled.add(nonReader(server, k, n, source));
                }
                await("the stalled connections' requests accepted", 30_000,
                        () -> server.stats().accepted() >= (long) stalledConnections * n / 2);
                awaitStalled(server);

                try (TestClient good = TestClient.connect(server.localAddress())) {
                    good.send(new Message.Ping(0, 42));
                    assertEquals(new Message.Pong(0, 42), good.read());
                    List<Message> requests = new ArrayList<>();
                    for (long id = 1; id <= 3; id++) {
                        requests.add(request(id, source, MAX_NEW));
                    }
                    sendAll(good, requests);
                    Map<Long, List<Message>> frames = good.readTerminals(3); // the read timeout bounds the wait
                    for (long id = 1; id <= 3; id++) {
                        assertDone(id, frames.get(id), expected);
                    }
                }

                for (TestClient c : stalled) {
                    Map<Long, List<Message>> frames = c.readTerminals(n);
                    assertEquals(n, frames.size());
                    for (long id = 1; id <= n; id++) {
                        assertDone(id, frames.get(id), expected);
                    }
                }
                ServerStats s = server.stats();
                await("accepted == terminated (" + s + ")", 10_000, () -> s.accepted() == s.terminated());
                assertEquals((long) stalledConnections * n + 3, s.done());
            } finally {
                for (TestClient c : stalled) {
                    c.close();
                }
            }
        }
    }
}
