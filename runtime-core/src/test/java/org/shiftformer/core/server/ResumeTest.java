package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.core.server.ServerFixture.terminal;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * Stream resumption (protocol version 2, PROTOCOL.md section 4): for random requests (token and text
 * sources, greedy and beam) and cut points N of 0, 1, the middle, the last token and after the last one,
 * a request that carries the first N output tokens of an uninterrupted stream gets exactly that stream's
 * Token frames from index N on (same ids, text pieces, indexes and cycles) and the same Done, saying
 * {@code resumed_from = N}. Tokens that do not match, a wrong model, more tokens than the output has,
 * and version 2 fields on a version 1 connection are refused, each with an error that says so.
 */
class ResumeTest {
    static {
        LeakCheck.install();
    }

    @TempDir
    static Path dir;
    private static ServerFixture fixture;
    private static ShiftformerServer server;
    private static String sha;

    @BeforeAll
    static void start() {
        fixture = new ServerFixture(dir, 77, "resume");
        // The real model, EOS not masked: some outputs end by EOS before max_new_tokens.
        server = fixture.start(ServerFixture.config().conclude(), fixture.backend.load(fixture.artifact.model()));
        sha = server.served().sha256();
    }

    @AfterAll
    static void stop() {
        server.close();
        fixture.backend.close();
    }

    /** The frames of one request, sent alone on {@code c}: its Token frames, then its terminal frame. */
    private static List<Message> run(TestClient c, Message.TranslateRequest r) throws IOException {
        c.send(r);
        return c.readTerminals(1).get(r.requestId());
    }

    private static Message.TranslateRequest request(long id, String text, int[] tokens, Message.Params p, int[] resume,
                                                    String model) {
        return new Message.TranslateRequest(id, text, tokens, p, 0, true, resume, model);
    }

    @Test
    void aResumedStreamIsTheUninterruptedStreamFromItsCutPoint() throws IOException {
        SplittableRandom rnd = new SplittableRandom(5);
        String[] texts = {"zweihundert über € drei", "ein test", "ä ö ü ß ¿ 日本"};
        int checked = 0;
        int finishedByEos = 0;
        try (TestClient c = TestClient.connect(server.localAddress())) {
            long id = 1;
            for (int q = 0; q < 12; q++) {
                boolean beam = q % 2 == 1;
                Message.Params p = new Message.Params(beam ? 3 : 1, 4 + rnd.nextInt(20), beam ? 154 : 0);
                String text = q % 3 == 0 ? texts[q / 3 % texts.length] : null;
                int[] tokens = text == null ? rnd.ints(1 + rnd.nextInt(12), 3, ServerFixture.CFG.vocabSize()).toArray() : null;
                List<Message> whole = run(c, request(id++, text, tokens, p, null, null));
                Message.Done done = assertInstanceOf(Message.Done.class, terminal(id - 1, whole), () -> whole.toString());
                int k = done.tokens().length;
                finishedByEos += done.finishedByEos() ? 1 : 0;
                List<Message.Token> stream = new ArrayList<>();
                whole.subList(0, whole.size() - 1).forEach(m -> stream.add((Message.Token) m));
                for (int n : new LinkedHashSet<>(List.of(0, Math.min(1, k), k / 2, Math.max(0, k - 1), k))) {
                    long rid = id++;
                    List<Message> resumed = run(c, request(rid, text, tokens, p, Arrays.copyOf(done.tokens(), n), sha));
                    Message.Done d = assertInstanceOf(Message.Done.class, terminal(rid, resumed), () -> resumed.toString());
                    assertEquals(k - n + 1, resumed.size(), "Token frames from index " + n + " of " + k);
                    for (int i = n; i < k; i++) {
                        Message.Token want = stream.get(i);
                        assertEquals(new Message.Token(rid, want.token(), want.text(), want.index(), want.deviceCycles()),
                                resumed.get(i - n), "token " + i + " resumed at " + n + ", " + p);
                    }
                    assertArrayEquals(done.tokens(), d.tokens());
                    assertEquals(done.text(), d.text());
                    assertEquals(done.textTail(), d.textTail());
                    assertEquals(done.tokenCount(), d.tokenCount());
                    assertEquals(done.finishedByEos(), d.finishedByEos());
                    assertEquals(done.score(), d.score());
                    assertEquals(done.params(), d.params());
                    assertEquals(done.deviceCycles(), d.deviceCycles());
                    assertEquals(n, d.resumedFrom());
                    assertEquals(0, done.resumedFrom());
                    checked++;
                }
            }
        }
        assertTrue(checked >= 40, "cut points checked (0, 1, middle, last and after coincide for short outputs): " + checked);
        assertTrue(finishedByEos >= 1 && finishedByEos < 12, "some outputs end by EOS, some by the limit: " + finishedByEos);
    }

    @Test
    void resumptionRefusesWhatItCannotContinue() throws IOException {
        Message.Params p = new Message.Params(1, 8, 0);
        int[] src = {5, 6, 7, 8};
        try (TestClient c = TestClient.connect(server.localAddress())) {
            Message.Done done = (Message.Done) terminal(1, run(c, request(1, null, src, p, null, null)));
            int[] wrong = Arrays.copyOf(done.tokens(), Math.min(3, done.tokens().length));
            wrong[wrong.length - 1] = wrong[wrong.length - 1] == 10 ? 11 : 10;
            Message.Error e = assertInstanceOf(Message.Error.class, terminal(2, run(c, request(2, null, src, p, wrong, null))));
            assertEquals(ErrorCode.INVALID_ARGUMENT.value(), e.code());
            assertTrue(e.message().startsWith("resume_tokens[" + (wrong.length - 1) + "]"), e.message());

            e = assertInstanceOf(Message.Error.class, terminal(3, run(c, request(3, null, src, p, done.tokens(), "0".repeat(64)))));
            assertEquals(ErrorCode.MODEL_MISMATCH.value(), e.code());
            assertTrue(e.message().contains(sha), e.message());

            int[] tooMany = Arrays.copyOf(done.tokens(), 9);
            e = assertInstanceOf(Message.Error.class, terminal(4, run(c, request(4, null, src, p, tooMany, null))));
            assertTrue(e.message().contains("more than max_new_tokens 8"), e.message());

            e = assertInstanceOf(Message.Error.class, terminal(5, run(c, request(5, null, src, p,
                    new int[] {ServerFixture.CFG.eosId()}, null))));
            assertTrue(e.message().contains("not an output token"), e.message());
        }
        // An output that ends by EOS before the limit: claiming one token more than it has.
        try (TestClient c = TestClient.connect(server.localAddress())) {
            SplittableRandom rnd = new SplittableRandom(9);
            for (long id = 1; id < 200; id += 2) {
                int[] s = rnd.ints(1 + rnd.nextInt(10), 3, ServerFixture.CFG.vocabSize()).toArray();
                Message.Params limit = new Message.Params(1, 30, 0);
                Message.Done d = (Message.Done) terminal(id, run(c, request(id, null, s, limit, null, null)));
                if (d.finishedByEos()) {
                    int[] beyond = Arrays.copyOf(d.tokens(), d.tokens().length + 1);
                    beyond[d.tokens().length] = 3;
                    Message.Error e = assertInstanceOf(Message.Error.class,
                            terminal(id + 1, run(c, request(id + 1, null, s, limit, beyond, sha))));
                    assertTrue(e.message().contains("the whole output has " + d.tokens().length), e.message());
                    break;
                }
                assertTrue(id < 197, "no output ended by EOS");
            }
        }
        // A version 1 connection: the version 2 fields are refused, the request is not decoded.
        try (TestClient v1 = new TestClient(server.localAddress())) {
            v1.send(new Message.Hello(0, 1, 1, "v1-client"));
            assertEquals(1, assertInstanceOf(Message.Welcome.class, v1.read()).version());
            Message.Error e = assertInstanceOf(Message.Error.class, terminal(1, run(v1, request(1, null, src, p,
                    new int[] {5}, null))));
            assertEquals(ErrorCode.INVALID_ARGUMENT.value(), e.code());
            assertTrue(e.message().contains("protocol version 2"), e.message());
            assertInstanceOf(Message.Done.class, terminal(2, run(v1, request(2, null, src, p, null, null))));
        }
        try (TestClient v2 = TestClient.connect(server.localAddress())) {
            v2.send(new Message.ModelInfoRequest(1));
            assertEquals(sha, assertInstanceOf(Message.ModelInfo.class, v2.read()).sha256());
        }
        assertEquals(ProtocolVersion.CURRENT, ProtocolVersion.RESUME);
    }
}
