package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.core.server.ServerFixture.request;
import static org.shiftformer.core.server.ServerFixture.terminal;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.backend.BackendIdentity;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.ForwardingLoadedModel;
import org.shiftformer.api.backend.LayerTap;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.StepCost;
import org.shiftformer.core.engine.ShadowModel;
import org.shiftformer.core.server.metrics.ServerMeters;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;

/**
 * Shadow execution on a real server: a "card" that silently computes one wrong bit (the reference model
 * under another name, one logit of one step raised so that it wins) is caught by a shadow on the reference
 * backend at that step. With {@code failover}, the stream moves to the fallback before a token computed
 * from the wrong bit is sent, and ends with exactly local decoding's tokens; with {@code log}, the wrong
 * bit is counted and its token goes out (what shadowing without a policy can and cannot do). Without a
 * fault, every row is compared and none differs.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ShadowExecutionTest {
    static {
        LeakCheck.install();
    }

    private static final int MAX_NEW = 12;
    private static final int FLIP_AT = 5;
    private static final BackendIdentity CARD = new BackendIdentity("silent-card", "card0", "test");
    /** A source whose output on this model runs past the faulty step (found in {@link #model()}). */
    private static int[] source;

    @TempDir
    static Path dir;
    private static ServerFixture fx;
    private static int[] expected;

    @BeforeAll
    static void model() {
        fx = new ServerFixture(dir, 41, "shadow");
        // The plain reference model, EOS not masked: the shadow loads the same weights and must agree with it.
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        try (LoadedModel local = reference()) {
            for (int tries = 0; tries < 200 && source == null; tries++) {
                int[] s = rnd.ints(1 + rnd.nextInt(8), 3, ServerFixture.CFG.vocabSize()).toArray();
                int[] withEos = java.util.Arrays.copyOf(s, s.length + 1);
                withEos[s.length] = ServerFixture.CFG.eosId();
                int[] out = org.shiftformer.core.decode.Decoding.decode(local, List.of(withEos),
                        new Message.Params(1, MAX_NEW, 0).resolve(ServerFixture.CFG.maxPositions(), 8),
                        org.shiftformer.core.decode.TokenListener.NONE).get(0).tokens();
                if (out.length > FLIP_AT + 1) {
                    source = s;
                    expected = out;
                }
            }
        }
        assertTrue(source != null, "a source whose output outlives the fault");
    }

    @AfterAll
    static void close() {
        fx.backend.close();
        LeakCheck.assertNoLeaks();
    }

    private static LoadedModel reference() {
        return fx.backend.load(fx.artifact.model());
    }

    /** The reference model whose decoder step {@code flipAt} makes the runner-up logit of row 0 win by one. */
    private static final class SilentFlip extends ForwardingLoadedModel {
        private final int flipAt;
        private int steps;
        volatile int flippedTo = -1;

        SilentFlip(LoadedModel delegate, int flipAt) {
            super(delegate);
            this.flipAt = flipAt;
        }

        @Override
        public StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap) {
            StepCost c = super.decodeStep(states, tokens, logits, tap);
            if (++steps == flipAt) {
                int vocab = config().vocabSize();
                int best = 0;
                int second = -1;
                for (int v = 1; v < vocab; v++) {
                    if (logits[v] > logits[best]) {
                        second = best;
                        best = v;
                    } else if (second < 0 || logits[v] > logits[second]) {
                        second = v;
                    }
                }
                logits[second] = logits[best] + 1; // no error reported: wrong bits, silently
                flippedTo = second;
            }
            return c;
        }
    }

    private static ServerConfig.Builder shadowed(String onMismatch, String fallback) {
        return ServerFixture.config().shadow("reference", 1.0, onMismatch).fallback(fallback);
    }

    @Test
    void failoverCatchesTheWrongBitAtItsStepAndTheStreamEndsWithLocalDecodingsTokens() throws Exception {
        SilentFlip card = new SilentFlip(reference(), FLIP_AT);
        try (ShiftformerServer server = ShiftformerServer.start(shadowed("failover", "reference").conclude(),
                ServedModel.of(fx.artifact, card, CARD));
             TestClient c = TestClient.connect(server.localAddress())) {
            c.send(request(1, source, MAX_NEW));
            List<Message> frames = c.readTerminals(1).get(1L);
            Message.Done done = assertInstanceOf(Message.Done.class, terminal(1, frames), frames::toString);
            assertArrayEquals(expected, done.tokens(), "the wrong bit never reached a token");
            assertEquals("reference", done.backend().backend(), "finished on the fallback");
            for (int i = 0; i < expected.length; i++) {
                assertEquals(expected[i], ((Message.Token) frames.get(i)).token(), "streamed token " + i);
            }
            ShadowModel.Counters counters = server.shadowCounters();
            assertEquals(1, counters.mismatches.sum());
            ShadowModel.Mismatch m = counters.first();
            assertEquals("logits", m.kind());
            assertEquals(FLIP_AT - 1, m.step(), "detected at the step that computed it");
            assertEquals(card.flippedTo, m.index());
            assertEquals(1.0, server.meterRegistry().get(ServerMeters.SHADOW_MISMATCHES).tag(ServerMeters.SHADOW,
                    "reference").functionCounter().count());
            assertEquals(1.0, server.meterRegistry().get(ServerMeters.FAILOVERS).tag(ServerMeters.REQUESTED_BACKEND,
                    "silent-card").counter().count());
            var ready = Http.get(server.adminAddress(), "/health/ready");
            assertEquals(200, ready.statusCode(), ready.body());
            assertTrue(ready.body().contains("shadow reference: 1 mismatch(es), the first: logits of decoder step "
                    + (FLIP_AT - 1)), ready.body());
        }
    }

    @Test
    void logCountsTheWrongBitAndLetsItsTokenThrough() throws Exception {
        SilentFlip card = new SilentFlip(reference(), FLIP_AT);
        try (ShiftformerServer server = ShiftformerServer.start(shadowed("log", "none").conclude(),
                ServedModel.of(fx.artifact, card, CARD));
             TestClient c = TestClient.connect(server.localAddress())) {
            c.send(request(1, source, MAX_NEW));
            Message.Done done = assertInstanceOf(Message.Done.class, terminal(1, c.readTerminals(1).get(1L)));
            assertEquals(card.flippedTo, done.tokens()[FLIP_AT - 1], "the primary's wrong token was used");
            assertFalse(java.util.Arrays.equals(expected, done.tokens()));
            assertTrue(server.shadowCounters().mismatches.sum() >= 1);
            assertEquals("silent-card", done.backend().backend());
        }
    }

    @Test
    void withoutAFaultEveryRowIsComparedAndNoneDiffers() throws Exception {
        try (ShiftformerServer server = ShiftformerServer.start(shadowed("fail", "none").conclude(),
                ServedModel.of(fx.artifact, reference(), CARD));
             TestClient c = TestClient.connect(server.localAddress())) {
            for (long id = 1; id <= 4; id++) {
                c.send(request(id, source, MAX_NEW));
            }
            Map<Long, List<Message>> all = c.readTerminals(4);
            for (long id = 1; id <= 4; id++) {
                assertArrayEquals(expected, assertInstanceOf(Message.Done.class, terminal(id, all.get(id))).tokens());
            }
            ShadowModel.Counters counters = server.shadowCounters();
            assertEquals(0, counters.mismatches.sum());
            assertEquals(4, counters.sources.sum());
            assertEquals(4L * (expected.length + (expected.length < MAX_NEW ? 1 : 0)), counters.rows.sum(),
                    "every decoder row of every sequence was compared (the EOS step included)");
        }
    }
}
