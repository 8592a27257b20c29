package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.shiftformer.core.server.SessionOracle.MAX_FRAME_BYTES;
import static org.shiftformer.core.server.SessionOracle.READ_TIMEOUT_MS;
import static org.shiftformer.core.server.SessionOracle.TOKEN;
import static org.shiftformer.core.server.SessionOracle.frames;

import com.code_intelligence.jazzer.api.BugDetectors;
import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.util.ResourceLeakDetector;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.protocol.FrameLayout;
import org.shiftformer.protocol.FuzzCounters;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.MessageReader;
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
 * MessageReader}), which tells what the server must answer ({@link SessionOracle}, shared with {@link
 * WebSocketFuzzTest}). Properties checked per input:
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

    private static final FuzzCounters COUNTERS = new FuzzCounters("sessions", "welcomed", "connection errors", "reset");
    private static SessionOracle.FuzzServer server;

    /** The server, started on first use (the JVM's other tests do not pay for it). */
    private static synchronized SessionOracle.FuzzServer server() {
        if (server == null) {
            server = new SessionOracle.FuzzServer("hs", ServerConfig.ADMIN_DISABLED);
        }
        return server;
    }

    @AfterAll
    static void report() throws IOException {
        COUNTERS.print();
        if (server != null) {
            server.close();
        }
        LeakCheck.assertNoLeaks();
    }

    @FuzzTest(maxDuration = "25s")
    void sessions(byte[] input) throws IOException {
        COUNTERS.execution();
        InetSocketAddress address;
        try (var starting = BugDetectors.allowNetworkConnections()) { // binding the server's port
            address = server().server.localAddress();
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
        // Half-closed (PROTOCOL.md 3): the server finishes everything before it closes.
        SessionOracle.Outcome o = SessionOracle.check(new SessionOracle.ClientView(input), s.frames, s.reset, true, where);
        COUNTERS.add(0, o.welcomed() ? 1 : 0);
        COUNTERS.add(1, o.connectionError() ? 1 : 0);
        server.assertNoWarnings(where);
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
        return new Session(read(got.toByteArray(), reset), reset);
    }

    /** The server's bytes as messages: every frame must read, and nothing may be left over (unless reset). */
    private static List<Message> read(byte[] bytes, boolean reset) {
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
        Message.Hello hello = SessionOracle.hello();
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
}
