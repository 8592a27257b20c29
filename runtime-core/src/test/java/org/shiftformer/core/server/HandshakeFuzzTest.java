package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.api.BugDetectors;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.util.ResourceLeakDetector;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.protocol.FrameLayout;
import org.shiftformer.protocol.FuzzCounters;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.MessageReader;
import org.shiftformer.protocol.MessageWriter;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * Jazzer fuzz target of the handshake and what follows it: the bytes a client sends at the start of a
 * session (a Hello, or anything), sent over a fresh TCP connection to a real {@link ShiftformerServer} on
 * 127.0.0.1 (started once per JVM: the server's own pipeline of {@link ByteCounter}, the protocol codec
 * and {@link ConnectionHandler}, a {@link Scheduler} decoding a small random model on the reference
 * backend). The client then half-closes (PROTOCOL.md 3: the server finishes what it accepted, then
 * closes) and reads everything until the server closes, with a bounded wait.
 *
 * <p>The same bytes are read on the client side with the project's codec (length prefix, the
 * pre-handshake limit for the first frame and the server's limit after a valid Hello, {@link
 * MessageReader}), which tells what the server must answer. Properties checked per input:
 * <ul>
 *   <li>everything the server writes is well-formed frames: each one is read by {@link MessageReader},
 *       and no bytes are left over;</li>
 *   <li>a first frame that is a Hello with the server's token (the server has a tokens file of one) and a
 *       version in common gets exactly one Welcome, as the first
 *       frame; anything else as the first frame gets nothing but one Error with request id 0 (nothing at
 *       all only if the input holds no complete first frame);</li>
 *   <li>an Error with request id 0 is the last frame (the server then closes);</li>
 *   <li>after the Welcome, only frames for requests the client sent: Token frames only for a request
 *       that has not ended, at most one terminal frame (Done, Error, Cancelled) per TranslateRequest, a
 *       Pong per Ping and a ModelInfo per ModelInfoRequest;</li>
 *   <li>without a connection error, every request got exactly its answer (one terminal frame per
 *       TranslateRequest, one Pong per Ping, one ModelInfo per ModelInfoRequest);</li>
 *   <li>with a connection error (PROTOCOL.md 8), every request that got a Token frame, and every request
 *       of the input before the first frame that is an error by itself, got its terminal frame before the
 *       Error with request id 0;</li>
 *   <li>no Error with code INTERNAL, and no warning logged by the server;</li>
 *   <li>Netty's leak detector (paranoid on the corpus, sampled while fuzzing) reports nothing at the end.</li>
 * </ul>
 *
 * <p>If the server closes while bytes of the input are still unread (after a connection error), TCP resets
 * the connection and the client may lose what was sent to it: for such inputs (counted as "reset") only
 * the frames that did arrive are checked.
 *
 * <p>Without {@code JAZZER_FUZZ} this runs the committed corpus ({@code HandshakeFuzzTestInputs/sessions}
 * in the test resources) with the unit tests; {@code mvn verify} also fuzzes it for a fixed time (FUZZING.md).
 */
class HandshakeFuzzTest {
    private static final boolean FUZZING = System.getenv("JAZZER_FUZZ") != null && !System.getenv("JAZZER_FUZZ").isEmpty();

    static {
        LeakCheck.install(); // before any buffer is allocated: see LeakCheck
        if (FUZZING) {
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.SIMPLE);
        }
    }

    /** The one token of the server's tokens file: a Hello needs it (the seeds carry it; mutations break it). */
    static final String TOKEN = "fuzz-token-0123456789";
    private static final int MAX_FRAME_BYTES = FrameLayout.DEFAULT_MAX_PAYLOAD_BYTES;
    private static final int PRE_HANDSHAKE = Math.min(MAX_FRAME_BYTES, FrameLayout.PRE_HANDSHAKE_MAX_PAYLOAD_BYTES);
    private static final int READ_TIMEOUT_MS = 20_000;
    private static final FuzzCounters COUNTERS = new FuzzCounters("sessions", "welcomed", "connection errors", "reset");
    private static final List<String> WARNINGS = new ArrayList<>();
    private static final Handler WARNING_RECORDER = new Handler() {
        @Override
        public void publish(LogRecord r) {
            if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
                synchronized (WARNINGS) {
                    WARNINGS.add(r.getLoggerName() + ": " + r.getMessage());
                }
            }
        }

        @Override
        public void flush() {
        }

        @Override
        public void close() {
        }
    };
    private static final Logger SERVER_LOG = Logger.getLogger("org.shiftformer");
    private static Path dir;
    private static ShiftformerServer server;

    /** The server, started on first use (the JVM's other tests do not pay for it). */
    private static synchronized ShiftformerServer server() {
        if (server == null) {
            try {
                dir = Files.createTempDirectory("handshake-fuzz");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            ServerFixture fixture = new ServerFixture(dir, 11, "hs");
            Path tokens = dir.resolve("tokens");
            try {
                Files.writeString(tokens, "fuzz " + TOKEN + "\n");
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
            SERVER_LOG.addHandler(WARNING_RECORDER);
            server = fixture.start(ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED).tokensFile(tokens)
                    .bindAddress("127.0.0.1").drainTimeoutMs(2_000).maxFrameBytes(MAX_FRAME_BYTES)
                    .maxConnections(10_000).maxConnectionsPerAddress(10_000).defaultMaxNewTokens(4)
                    .idleTimeoutMs(60_000).handshakeTimeoutMs(10_000).conclude(),
                    fixture.backend.load(fixture.artifact.model()));
        }
        return server;
    }

    @AfterAll
    static void report() throws IOException {
        COUNTERS.print();
        if (server != null) {
            server.close();
            SERVER_LOG.removeHandler(WARNING_RECORDER);
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
        LeakCheck.assertNoLeaks();
    }

    @FuzzTest(maxDuration = "25s")
    void sessions(byte[] input) throws IOException {
        COUNTERS.execution();
        InetSocketAddress address;
        try (var starting = BugDetectors.allowNetworkConnections()) { // binding the server's port
            address = server().localAddress();
        }
        Session s;
        // Jazzer's SSRF detector would take the connection for a finding: only the server's port is allowed.
        try (var connecting = BugDetectors.allowNetworkConnections((host, port) -> port == address.getPort())) {
            s = exchange(address, input);
        }
        String where = "input " + HexFormat.of().formatHex(input, 0, Math.min(input.length, 256))
                + (input.length > 256 ? "..." : "") + ", answer " + s.frames;
        if (s.reset) {
            COUNTERS.add(2, 1);
        }
        check(new ClientView(input), s, where);
        synchronized (WARNINGS) {
            assertEquals(List.of(), WARNINGS, () -> "the server logged warnings; " + where);
        }
    }

    /** What the server wrote back on one connection, read as frames. */
    record Session(List<Message> frames, boolean reset) {
    }

    /** Sends {@code input}, half-closes, and reads until the server closes (or resets). */
    private static Session exchange(InetSocketAddress address, byte[] input) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        boolean reset = false;
        try (Socket socket = new Socket()) {
            socket.setTcpNoDelay(true);
            socket.connect(address, READ_TIMEOUT_MS);
            socket.setSoTimeout(READ_TIMEOUT_MS);
            try {
                OutputStream out = socket.getOutputStream();
                out.write(input);
                out.flush();
                socket.shutdownOutput();
            } catch (SocketException e) {
                reset = true; // the server already closed after a connection error
            }
            InputStream in = socket.getInputStream();
            byte[] buf = new byte[8192];
            try {
                for (int n; (n = in.read(buf)) >= 0; ) {
                    got.write(buf, 0, n);
                }
            } catch (SocketTimeoutException e) {
                fail("the server neither answered nor closed within " + READ_TIMEOUT_MS + " ms; got "
                        + got.size() + " bytes; input " + HexFormat.of().formatHex(input));
            } catch (SocketException e) {
                reset = true;
            }
        }
        return new Session(frames(got.toByteArray(), reset), reset);
    }

    /** The server's bytes as messages: every frame must read, and nothing may be left over (unless reset). */
    private static List<Message> frames(byte[] bytes, boolean reset) {
        List<Message> frames = new ArrayList<>();
        ByteBuffer b = ByteBuffer.wrap(bytes).order(FrameLayout.BYTE_ORDER);
        int at = 0;
        while (at < bytes.length) {
            if (bytes.length - at < FrameLayout.LENGTH_BYTES) {
                break;
            }
            long payload = Integer.toUnsignedLong(b.getInt(at + FrameLayout.LENGTH_OFFSET));
            assertTrue(payload >= FrameLayout.MIN_PAYLOAD_BYTES && payload <= MAX_FRAME_BYTES,
                    () -> "the server wrote a length prefix of " + payload + " after " + frames);
            int end = at + FrameLayout.frameBytes((int) payload);
            if (end > bytes.length) {
                break;
            }
            try {
                frames.add(MessageReader.read(b.slice(at, end - at).order(FrameLayout.BYTE_ORDER)));
            } catch (ShiftformerException e) {
                fail("the server wrote a frame its own reader rejects after " + frames + ": " + e, e);
            }
            at = end;
        }
        if (at < bytes.length && !reset) {
            fail((bytes.length - at) + " bytes of an incomplete frame at the end of the answer " + frames);
        }
        return frames;
    }

    /** The input read by the client with the project's codec: what the server must make of it. */
    static final class ClientView {
        /** Complete frames in order; a frame that does not read (or whose prefix is out of bounds) is null. */
        final List<Message> frames = new ArrayList<>();
        final boolean validHello;
        /** TranslateRequests / Pings / ModelInfoRequests per request id, over the whole input. */
        final Map<Long, Integer> translates = new HashMap<>();
        final Map<Long, Integer> pings = new HashMap<>();
        final Map<Long, Integer> infos = new HashMap<>();
        /** The same for the frames before the first one that is an error by itself (see #cleanPrefix). */
        final Map<Long, Integer> prefixTranslates = new HashMap<>();
        final Map<Long, Integer> prefixPings = new HashMap<>();
        final Map<Long, Integer> prefixInfos = new HashMap<>();

        ClientView(byte[] input) {
            ByteBuffer b = ByteBuffer.wrap(input).order(FrameLayout.BYTE_ORDER);
            boolean hello = false;
            int at = 0;
            while (input.length - at >= FrameLayout.LENGTH_BYTES) {
                long payload = Integer.toUnsignedLong(b.getInt(at + FrameLayout.LENGTH_OFFSET));
                int limit = hello ? MAX_FRAME_BYTES : PRE_HANDSHAKE;
                if (payload > limit || payload < FrameLayout.MIN_PAYLOAD_BYTES) {
                    frames.add(null);
                    break;
                }
                long end = at + FrameLayout.LENGTH_BYTES + payload;
                if (end > input.length) {
                    break; // a truncated frame at the end: the server waits for the rest, then sees the half-close
                }
                Message m;
                try {
                    m = MessageReader.read(b.slice(at, (int) end - at).order(FrameLayout.BYTE_ORDER));
                } catch (ShiftformerException e) {
                    frames.add(null);
                    break; // the server reads nothing after a bad frame
                }
                if (frames.isEmpty()) {
                    hello = m instanceof Message.Hello h && negotiable(h);
                }
                frames.add(m);
                at = (int) end;
                if (frames.size() == 1 && !hello) {
                    break; // no Welcome: the server reads nothing more
                }
            }
            validHello = hello;
            if (!validHello) {
                return;
            }
            boolean clean = true;
            for (Message m : frames.subList(1, frames.size())) {
                clean &= !endsConnection(m) && !(m instanceof Message.TranslateRequest r && prefixTranslates.containsKey(r.requestId()));
                switch (m) {
                    case Message.TranslateRequest r -> count(translates, prefixTranslates, r.requestId(), clean);
                    case Message.Ping p -> count(pings, prefixPings, p.requestId(), clean);
                    case Message.ModelInfoRequest i -> count(infos, prefixInfos, i.requestId(), clean);
                    case null, default -> {
                    }
                }
            }
        }

        /**
         * A frame the server answers with a connection error whatever came before: one that does not read, a
         * second Hello, a server-to-client message, a TranslateRequest with id 0. (A TranslateRequest whose id
         * is already in the input ends the clean prefix too: it is a connection error if the first is still
         * in flight.)
         */
        private static boolean endsConnection(Message m) {
            return switch (m) {
                case null -> true;
                case Message.TranslateRequest r -> r.requestId() == 0;
                case Message.Ping p -> false;
                case Message.ModelInfoRequest i -> false;
                case Message.Cancel c -> false;
                default -> true;
            };
        }

        private static void count(Map<Long, Integer> all, Map<Long, Integer> prefix, long id, boolean clean) {
            all.merge(id, 1, Integer::sum);
            if (clean) {
                prefix.merge(id, 1, Integer::sum);
            }
        }

        private static boolean negotiable(Message.Hello h) {
            if (!TOKEN.equals(h.token())) {
                return false; // UNAUTHENTICATED, checked first
            }
            try {
                ProtocolVersion.SUPPORTED.negotiate(h.minVersion(), h.maxVersion());
                return true;
            } catch (ShiftformerException e) {
                return false;
            }
        }
    }

    private static void check(ClientView in, Session s, String where) {
        List<Message> out = s.frames();
        for (int i = 0; i < out.size(); i++) {
            Message m = out.get(i);
            if (m instanceof Message.Error e) {
                assertTrue(e.code() != ErrorCode.INTERNAL.value(), () -> "an INTERNAL error; " + where);
                if (e.requestId() == 0) {
                    assertEquals(out.size() - 1, i, () -> "frames after the connection error; " + where);
                }
            }
        }
        boolean connectionError = !out.isEmpty() && out.getLast() instanceof Message.Error e && e.requestId() == 0;
        if (connectionError) {
            COUNTERS.add(1, 1);
        }
        if (!in.validHello) {
            // Before a Welcome: nothing but one Error with request id 0; nothing at all only without a complete first frame.
            assertTrue(out.isEmpty() || (out.size() == 1 && connectionError),
                    () -> "before a Welcome, the server sent more than one Error for request 0; " + where);
            if (!in.frames.isEmpty() && !s.reset()) {
                assertTrue(connectionError, () -> "a complete first frame that is not a valid Hello got no Error; " + where);
            }
            return;
        }
        COUNTERS.add(0, 1);
        if (out.isEmpty() && s.reset()) {
            return;
        }
        assertTrue(!out.isEmpty() && out.getFirst() instanceof Message.Welcome,
                () -> "a valid Hello did not get a Welcome first; " + where);
        Map<Long, Integer> terminals = new HashMap<>();
        Map<Long, Integer> pongs = new HashMap<>();
        Map<Long, Integer> infos = new HashMap<>();
        Map<Long, Boolean> tokensSinceTerminal = new HashMap<>();
        for (Message m : out.subList(1, connectionError ? out.size() - 1 : out.size())) {
            switch (m) {
                case Message.Token t -> {
                    long id = t.requestId();
                    assertTrue(terminals.getOrDefault(id, 0) < in.translates.getOrDefault(id, 0),
                            () -> "a Token frame for request " + id + ", which has ended or was never sent; " + where);
                    tokensSinceTerminal.put(id, true);
                }
                case Message.Done d -> terminal(in, terminals, tokensSinceTerminal, d.requestId(), where);
                case Message.Cancelled c -> terminal(in, terminals, tokensSinceTerminal, c.requestId(), where);
                case Message.Error e -> terminal(in, terminals, tokensSinceTerminal, e.requestId(), where);
                case Message.Pong p -> answer(in.pings, pongs, p.requestId(), "Pong", where);
                case Message.ModelInfo i -> answer(in.infos, infos, i.requestId(), "ModelInfo", where);
                default -> fail("the server sent " + m.typeName() + " after the Welcome; " + where);
            }
        }
        if (!connectionError) {
            if (!s.reset()) {
                // Every request got its answer, and the server closed only after the last.
                assertEquals(in.translates, terminals, () -> "terminal frames per request id; " + where);
                assertEquals(in.pings, pongs, () -> "Pongs per request id; " + where);
                assertEquals(in.infos, infos, () -> "ModelInfos per request id; " + where);
            }
            return;
        }
        tokensSinceTerminal.forEach((id, open) -> assertTrue(!open,
                () -> "request " + id + " got Token frames but no terminal frame before the connection error; " + where));
        if (!s.reset()) {
            in.prefixTranslates.forEach((id, n) -> assertTrue(terminals.getOrDefault(id, 0) >= n,
                    () -> "request " + id + ", read before the connection error, got no terminal frame; " + where));
            in.prefixPings.forEach((id, n) -> assertTrue(pongs.getOrDefault(id, 0) >= n,
                    () -> "Ping " + id + ", read before the connection error, got no Pong; " + where));
            in.prefixInfos.forEach((id, n) -> assertTrue(infos.getOrDefault(id, 0) >= n,
                    () -> "ModelInfoRequest " + id + ", read before the connection error, got no ModelInfo; " + where));
        }
    }

    private static void terminal(ClientView in, Map<Long, Integer> terminals, Map<Long, Boolean> open, long id, String where) {
        int n = terminals.merge(id, 1, Integer::sum);
        assertTrue(n <= in.translates.getOrDefault(id, 0),
                () -> "terminal frame " + n + " for request " + id + ", which the client sent "
                        + in.translates.getOrDefault(id, 0) + " times; " + where);
        open.put(id, false);
    }

    private static void answer(Map<Long, Integer> sent, Map<Long, Integer> got, long id, String what, String where) {
        int n = got.merge(id, 1, Integer::sum);
        assertTrue(n <= sent.getOrDefault(id, 0), () -> what + " " + n + " for request " + id + ", sent "
                + sent.getOrDefault(id, 0) + " times; " + where);
    }

    /**
     * Rewrites the committed seeds (only with {@code -Dgroups=fuzz-seeds}, FUZZING.md): a valid Hello (with the
     * token), a Hello without a token and one with a wrong token, Hello
     * and a TranslateRequest, Hello and a Ping, a second Hello, a first frame that is not a Hello, a length
     * prefix over the pre-handshake limit, a truncated Hello.
     */
    @Test
    @Tag("fuzz-seeds") // excluded from normal runs (runtime-core/pom.xml): it rewrites committed files
    void writeSeeds() throws IOException {
        Path seeds = Path.of("src/test/resources/org/shiftformer/core/server/HandshakeFuzzTestInputs/sessions");
        Files.createDirectories(seeds);
        Message.Hello hello = new Message.Hello(0, 1, ProtocolVersion.CURRENT, "fuzz", TOKEN);
        byte[] h = frames(hello);
        Files.write(seeds.resolve("seed-hello"), h);
        Files.write(seeds.resolve("seed-hello-translate"), frames(hello,
                new Message.TranslateRequest(1, "zweiundvierzig", null, null, 0, true)));
        Files.write(seeds.resolve("seed-hello-tokens-cancel"), frames(hello,
                new Message.TranslateRequest(2, null, new int[] {5, 6, 7}, new Message.Params(2, 3, 0), 0, true),
                new Message.Cancel(2)));
        Files.write(seeds.resolve("seed-hello-ping"), frames(hello, new Message.Ping(3, 42)));
        Files.write(seeds.resolve("seed-hello-info-translate-hello"), frames(hello, new Message.ModelInfoRequest(4),
                new Message.TranslateRequest(5, "a", null, null, 0, false), hello));
        Files.write(seeds.resolve("seed-second-hello"), frames(hello, hello));
        Files.write(seeds.resolve("seed-ping-first"), frames(new Message.Ping(1, 7)));
        Files.write(seeds.resolve("seed-unsupported-version"), frames(new Message.Hello(0, 3, 9, "future", TOKEN)));
        Files.write(seeds.resolve("seed-no-token"), frames(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "fuzz")));
        Files.write(seeds.resolve("seed-wrong-token"), frames(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "fuzz",
                "fuzz-token-0123456788"), new Message.Ping(1, 1)));
        byte[] over = ByteBuffer.allocate(8).order(FrameLayout.BYTE_ORDER)
                .putInt(FrameLayout.PRE_HANDSHAKE_MAX_PAYLOAD_BYTES + 1).putInt(0).array();
        Files.write(seeds.resolve("seed-prefix-over-limit"), over);
        Files.write(seeds.resolve("seed-truncated-hello"), java.util.Arrays.copyOf(h, h.length - 3));
    }

    private static byte[] frames(Message... messages) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        MessageWriter writer = new MessageWriter();
        for (Message m : messages) {
            ByteBuffer bb = writer.encode(m);
            byte[] b = new byte[bb.remaining()];
            bb.get(b);
            out.writeBytes(b);
        }
        return out.toByteArray();
    }
}
