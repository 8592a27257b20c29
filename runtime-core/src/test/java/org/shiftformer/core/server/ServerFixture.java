package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.NoEosModel;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.engine.RandomArtifacts;
import org.shiftformer.core.server.metrics.ServerMeters;
import org.shiftformer.protocol.Message;

/**
 * What the server tests over real sockets share: a small random model on the {@code reference} backend with
 * EOS masked ({@link NoEosModel}), so every stream runs to exactly its {@code max_new_tokens}; a server on
 * 127.0.0.1 with ephemeral ports; the tokens local decoding gives; bounded waits; and the frame checks of
 * the terminal-frame rule.
 */
final class ServerFixture {
    static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 300, 32, 2, 0, 1, 2);
    static final int MAX_NEW = CFG.maxPositions() - 1;

    final Artifact artifact;
    final Backend backend;

    /** Writes the random model (weights from {@code seed}) into {@code dir} and opens the reference backend. */
    ServerFixture(Path dir, long seed, String name) {
        Path f = dir.resolve(name + ".itm");
        RandomArtifacts.write(CFG, seed, f, name);
        artifact = ArtifactReader.read(f);
        backend = Backends.select("reference").open(Map.of());
    }

    /** 127.0.0.1, ephemeral protocol and admin ports, a short drain. */
    static ServerConfig.Builder config() {
        return ServerConfig.builder().port(0).adminPort(0).bindAddress("127.0.0.1").drainTimeoutMs(2_000);
    }

    ShiftformerServer start(ServerConfig config, LoadedModel model) {
        return ShiftformerServer.start(config, ServedModel.of(artifact, model, backend.identity()));
    }

    /** The reference model with EOS masked: every greedy stream runs to its max_new_tokens. */
    LoadedModel noEos() {
        return new NoEosModel(backend.load(artifact.model()));
    }

    /** {@link #noEos()}, each decoder step taking at least {@code stepDelayMs}. */
    LoadedModel noEos(int stepDelayMs) {
        return new NoEosModel(backend.load(artifact.model()), stepDelayMs);
    }

    /** The tokens local decoding (no server) gives for {@code source} on the EOS-masked model. */
    int[] expectedTokens(int[] source, int maxNew) {
        int[] withEos = Arrays.copyOf(source, source.length + 1);
        withEos[source.length] = CFG.eosId();
        DecodeParams params = new Message.Params(1, maxNew, 0).resolve(CFG.maxPositions(),
                ServerConfig.MAX_BEAM_WIDTH_DEFAULT);
        try (LoadedModel local = noEos()) {
            return Decoding.decode(local, List.of(withEos), params, TokenListener.NONE).get(0).tokens();
        }
    }

    /** A streaming greedy request. */
    static Message.TranslateRequest request(long id, int[] tokens, int maxNew) {
        return new Message.TranslateRequest(id, null, tokens, new Message.Params(1, maxNew, 0), 0, true);
    }

    /** Streaming greedy requests with ids {@code from} to {@code to}, all for {@code tokens}. */
    static List<Message> requests(long from, long to, int[] tokens, int maxNew) {
        List<Message> list = new java.util.ArrayList<>();
        for (long id = from; id <= to; id++) {
            list.add(request(id, tokens, maxNew));
        }
        return list;
    }

    static void await(String what, long timeoutMs, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs);
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() - end > 0) {
                fail("timed out after " + timeoutMs + " ms waiting for " + what);
            }
            Thread.sleep(2);
        }
    }

    /** Sends {@code messages} in one write: they really arrive together. */
    static void sendAll(TestClient c, List<Message> messages) throws IOException {
        ByteBuffer all = ByteBuffer.allocate(1 << 20);
        for (Message m : messages) {
            all.put(c.frame(m));
        }
        c.sendRaw(Arrays.copyOf(all.array(), all.position()));
    }

    static Message last(List<Message> frames) {
        return frames.get(frames.size() - 1);
    }

    /** Exactly one terminal frame, last; returns it. */
    static Message terminal(long id, List<Message> frames) {
        assertTrue(frames != null && !frames.isEmpty(), "no frames for request " + id);
        long terminals = frames.stream().filter(TestClient::isTerminal).count();
        assertEquals(1, terminals, () -> "terminal frames of request " + id + ": " + frames);
        assertTrue(TestClient.isTerminal(last(frames)), () -> "request " + id + " does not end with its terminal frame");
        return last(frames);
    }

    /** A Done carrying exactly {@code expected}, streamed in as many Token frames before it. */
    /** {@link #assertDone} for requests 1 to {@code count}, their frames grouped by request id. */
    static void assertEachDone(Map<Long, List<Message>> frames, int count, int[] expected) {
        for (long id = 1; id <= count; id++) {
            assertDone(id, frames.get(id), expected);
        }
    }

    static void assertDone(long id, List<Message> frames, int[] expected) {
        Message.Done done = assertInstanceOf(Message.Done.class, terminal(id, frames),
                () -> "request " + id + " ended with " + last(frames));
        assertArrayEquals(expected, done.tokens(), "tokens of request " + id);
        assertEquals(expected.length + 1, frames.size(), "Token frames of request " + id);
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], assertInstanceOf(Message.Token.class, frames.get(i)).token());
        }
    }

    /**
     * Waits (bounded) until decoding is held by backpressure alone: the scheduler went through at least 20
     * passes in which it skipped every live request because its connection was not writable, without running
     * a step. Counted in scheduler passes, not in time, so a slow machine only makes it take longer.
     */
    static void awaitStalled(ShiftformerServer server) throws InterruptedException {
        ServerStats s = server.stats();
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (true) {
            long steps = s.steps();
            long skips = s.backpressureSkips();
            int active = server.scheduler().activeSequences();
            Thread.sleep(50);
            if (active > 0 && s.steps() == steps && server.scheduler().activeSequences() == active
                    && s.backpressureSkips() - skips >= 20L * active) {
                return;
            }
            if (System.nanoTime() - end > 0) {
                fail("decoding did not stall on backpressure: " + s + ", active " + server.scheduler().activeSequences()
                        + ", queued " + server.scheduler().queuedRequests());
            }
        }
    }

    /** Waits until every accepted request has ended ({@link ServerStats} invariant). */
    static void awaitAllEnded(ShiftformerServer server) throws InterruptedException {
        ServerStats s = server.stats();
        await("accepted == done + errors + cancelled + dropped (" + s + ")", 10_000, () -> s.accepted() == s.terminated());
    }

    /** {@code shiftformer.limits} with {@code limit}, as the registry reads it. */
    static double limitCount(ShiftformerServer server, ServerStats.Limit limit) {
        return server.meterRegistry().get(ServerMeters.LIMITS).tag(ServerMeters.LIMIT, limit.tag()).functionCounter()
                .count();
    }
}
