package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.shiftformer.core.server.SessionOracle.MAX_FRAME_BYTES;
import static org.shiftformer.core.server.SessionOracle.READ_TIMEOUT_MS;
import static org.shiftformer.core.server.SessionOracle.TOKEN;
import static org.shiftformer.core.server.SessionOracle.frames;
import static org.shiftformer.core.server.WsClient.FIN;
import static org.shiftformer.core.server.WsClient.OP_BINARY;
import static org.shiftformer.core.server.WsClient.OP_CLOSE;
import static org.shiftformer.core.server.WsClient.OP_CONTINUATION;
import static org.shiftformer.core.server.WsClient.OP_PING;
import static org.shiftformer.core.server.WsClient.OP_PONG;
import static org.shiftformer.core.server.WsClient.OP_TEXT;

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
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.protocol.FrameLayout;
import org.shiftformer.protocol.FuzzCounters;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * Jazzer fuzz target of the protocol over WebSocket (PROTOCOL.md section 12): a sequence of WebSocket
 * frames, sent after a real upgrade ({@code GET /ws}) to a real {@link ShiftformerServer} on 127.0.0.1
 * (started once per JVM, the same as {@link HandshakeFuzzTest}'s, with its admin port). The WebSocket
 * layer is Netty's decoder with the admin port's settings, then {@code WebSocketUpgrade}'s handlers, then
 * the TCP port's codec and connection handler.
 *
 * <p>One input is a sequence of records, each one frame the client sends:
 * <pre>
 *   b0 b1 n:u16be [length: 2 bytes if b1 &amp; 0x7F == 126, 8 if == 127] [key: 4 bytes if b1 &amp; 0x80] payload[n]
 * </pre>
 * {@code b0} is the frame's first byte as it is (FIN, RSV, opcode: binary, text, continuation, ping, pong,
 * close or a reserved one); {@code b1}'s top bit is the mask bit (an unmasked client frame is an error);
 * {@code b1 & 0x7F} of 126 or 127 writes the length field that follows as it is (a length that does not
 * match the payload, an oversized, negative or not minimally encoded one), anything else the payload's
 * true length in its shortest form. The payload is stored unmasked, so the protocol frames inside it (Hello,
 * TranslateRequest, Cancel, Ping...) stay what the fuzzer sees and mutates; the client masks it with the
 * key. A record cut short by the end of the input is sent as the raw bytes that are left.
 *
 * <p>What the server must make of the bytes is read on the client side in two steps: {@link WireView} reads
 * them as the server's WebSocket layer does (RFC 6455 with its size limit of {@code max_frame_bytes + 4} and
 * Netty's checks, in Netty's order), which gives the protocol bytes (the binary messages' payloads, one
 * stream), the pings and how the stream ends; {@link SessionOracle.ClientView} then reads the protocol
 * bytes as {@link HandshakeFuzzTest} does. The client reads until it has every answer the input asks for,
 * then closes as a browser does (a Close frame; or, in the middle of a frame, TCP's FIN), or until the
 * server closes when the input must end the connection. Properties checked per input:
 * <ul>
 *   <li>everything the server writes is final, unmasked WebSocket frames without reserved bits: binary
 *       messages of exactly one protocol frame each, Pongs, and at most one Close, which is the last frame;</li>
 *   <li>the protocol frames satisfy everything {@link HandshakeFuzzTest} checks (one Welcome first or one
 *       Error, at most one terminal frame per request and, without a connection error, exactly one; an
 *       Error with request id 0 last; no INTERNAL error; the requests before a connection error answered
 *       first);</li>
 *   <li>a message the WebSocket layer refuses, when it is the first error, ends the connection with {@code
 *       Error} PROTOCOL_ERROR, request id 0, whose message is {@code "websocket: "} and what was refused (the
 *       decoder's reason, or the text message), then a Close with the status for it (1002, 1009, 1003 or
 *       1007);</li>
 *   <li>a WebSocket Ping gets a Pong with its payload, in order; every Ping before the first error gets
 *       one; a client's Close gets its Close back;</li>
 *   <li>no warning logged by the server; no buffer leaked (Netty's leak detector, paranoid on the corpus);
 *       and after the last input a fresh browser is served (Hello, a translation to its Done).</li>
 * </ul>
 *
 * <p>Without {@code JAZZER_FUZZ} this runs the committed corpus ({@code WebSocketFuzzTestInputs/sessions} in
 * the test resources) with the unit tests; {@code mvn verify} also fuzzes it for a fixed time (FUZZING.md).
 */
class WebSocketFuzzTest {
    private static final boolean FUZZING = System.getenv("JAZZER_FUZZ") != null && !System.getenv("JAZZER_FUZZ").isEmpty();

    static {
        LeakCheck.install(); // before any buffer is allocated: see LeakCheck
        if (FUZZING) {
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.SIMPLE);
        }
    }

    /** The WebSocket layer's limit on one frame's payload (WebSocketUpgrade: a protocol frame and its prefix). */
    static final int MAX_WS_PAYLOAD = MAX_FRAME_BYTES + FrameLayout.LENGTH_BYTES;
    private static final int NO_STATUS = -1;
    private static final int NORMAL = 1000;
    private static final String TEXT_MESSAGE = "a text message; the shiftformer protocol is binary messages only";
    private static final String NOT_UTF8 = "bytes are not UTF-8";
    private static final FuzzCounters COUNTERS = new FuzzCounters("websocket sessions", "welcomed",
            "connection errors", "websocket errors", "client closes", "reset");
    private static SessionOracle.FuzzServer server;

    /** The server, started on first use (the JVM's other tests do not pay for it). */
    private static synchronized SessionOracle.FuzzServer server() {
        if (server == null) {
            server = new SessionOracle.FuzzServer("ws", 0);
        }
        return server;
    }

    @AfterAll
    static void report() throws IOException {
        COUNTERS.print();
        if (server != null) {
            try {
                stillServes(server.server.adminAddress());
            } finally {
                server.close();
            }
        }
        LeakCheck.assertNoLeaks();
    }

    /** A fresh browser after all the inputs: Hello, a translation that streams to its Done. */
    private static void stillServes(InetSocketAddress admin) throws IOException {
        try (var connecting = BugDetectors.allowNetworkConnections((host, port) -> port == admin.getPort());
             WsClient c = WsClient.open(admin)) {
            c.send(SessionOracle.hello());
            assertInstanceOf(Message.Welcome.class, c.read(), "a fresh client after the fuzzing is welcomed");
            c.send(new Message.TranslateRequest(1, null, new int[] {5, 6, 7}, null, 0, true));
            Message m;
            while (!((m = c.read()) instanceof Message.Done)) {
                assertInstanceOf(Message.Token.class, m, "a fresh client's translation streams to its Done");
            }
        }
    }

    @FuzzTest(maxDuration = "25s")
    void sessions(byte[] input) throws IOException {
        COUNTERS.execution();
        InetSocketAddress admin;
        try (var starting = BugDetectors.allowNetworkConnections()) { // binding the server's ports
            admin = server().server.adminAddress();
        }
        // Jazzer's SSRF detector would take the connection for a finding: only the admin port is allowed.
        try (var connecting = BugDetectors.allowNetworkConnections((host, port) -> port == admin.getPort())) {
            session(admin, input);
        }
    }

    /** One input: sent, read and checked. */
    static void session(InetSocketAddress admin, byte[] input) throws IOException {
        byte[] wire = wire(input);
        WireView view = new WireView(wire);
        SessionOracle.ClientView in = new SessionOracle.ClientView(view.protocol, view.error != null);
        String where = "input " + hex(input) + ", on the wire " + hex(wire);
        Session s = exchange(admin, wire, view, in, where);
        String answered = where + ", answer " + s.frames.messages + ", pongs " + s.frames.pongs.size()
                + ", closes " + s.frames.closes + (s.reset ? ", reset" : "");
        if (s.reset) {
            COUNTERS.add(4, 1);
        }
        // A client's Close ends the session at once: its requests need not be answered (PROTOCOL.md 12).
        SessionOracle.Outcome o = SessionOracle.check(in, s.frames.messages, s.reset, view.closePayload == null, answered);
        COUNTERS.add(0, o.welcomed() ? 1 : 0);
        COUNTERS.add(1, o.connectionError() ? 1 : 0);
        COUNTERS.add(2, in.cutFirst ? 1 : 0);
        COUNTERS.add(3, view.closePayload != null ? 1 : 0);
        checkWebSocket(view, in, s, o, answered);
        server.assertNoWarnings(answered);
    }

    /** What the server wrote back on one connection, and how the session ended. */
    record Session(WsClient.ServerFrames frames, boolean reset, boolean sentClose, boolean halfClosed) {
    }

    /**
     * Upgrades, sends {@code wire}, and reads: until the server closes when the input must end the
     * connection (an error or the client's Close), else until every answer is there, then closes as a browser
     * does and reads until the server has closed too.
     */
    private static Session exchange(InetSocketAddress admin, byte[] wire, WireView view, SessionOracle.ClientView in,
                                    String where) throws IOException {
        WsClient.ServerFrames frames = new WsClient.ServerFrames(() -> where);
        boolean reset = false;
        boolean sentClose = false;
        boolean halfClosed = false;
        try (Socket socket = new Socket()) {
            socket.setTcpNoDelay(true);
            socket.connect(admin, READ_TIMEOUT_MS);
            socket.setSoTimeout(READ_TIMEOUT_MS);
            OutputStream out = socket.getOutputStream();
            InputStream is = socket.getInputStream();
            out.write(WsClient.upgradeRequest(admin));
            out.flush();
            frames.feed(WsClient.readUpgradeResponse(is));
            try {
                out.write(wire);
                out.flush();
            } catch (SocketException e) {
                reset = true; // the server already closed after a connection error
            }
            boolean untilClosed = view.cut() || in.errorCertain();
            byte[] buf = new byte[8192];
            try {
                while (true) {
                    if (!untilClosed && !reset && !sentClose && !halfClosed && in.answeredBy(frames.messages)) {
                        if (view.atBoundary) {
                            out.write(WsClient.frame(FIN | OP_CLOSE, new byte[] {NORMAL >> 8, (byte) NORMAL}));
                            out.flush();
                            sentClose = true;
                        } else {
                            socket.shutdownOutput(); // a Close now would be read as the rest of the open frame
                            halfClosed = true;
                        }
                    }
                    int n = is.read(buf);
                    if (n < 0) {
                        frames.end();
                        break;
                    }
                    frames.feed(Arrays.copyOf(buf, n));
                }
            } catch (SocketTimeoutException e) {
                fail("the server neither answered nor closed within " + READ_TIMEOUT_MS + " ms; got "
                        + frames.messages + ", closes " + frames.closes + "; " + where);
            } catch (SocketException e) {
                reset = true;
            }
        }
        return new Session(frames, reset, sentClose, halfClosed);
    }

    /** The WebSocket layer's part: Pongs, the Close, and the connection error a refused message ends with. */
    private static void checkWebSocket(WireView view, SessionOracle.ClientView in, Session s, SessionOracle.Outcome o,
                                       String where) {
        List<byte[]> pongs = s.frames.pongs;
        assertTrue(pongs.size() <= view.pings.size(), () -> "more Pongs than Pings; " + where);
        for (int i = 0; i < pongs.size(); i++) {
            int k = i;
            assertTrue(Arrays.equals(view.pings.get(k), pongs.get(k)),
                    () -> "Pong " + k + " does not carry Ping " + k + "'s payload; " + where);
        }
        if (s.reset) {
            return;
        }
        if (in.clean) { // nothing in the protocol bytes ends the connection before the WebSocket layer does
            assertTrue(pongs.size() >= view.pingsBeforeCut,
                    () -> view.pingsBeforeCut + " Pings before the first error, " + pongs.size() + " Pongs; " + where);
        }
        List<Integer> closes = s.frames.closes;
        assertTrue(!closes.isEmpty() || s.halfClosed, () -> "the server ended the connection without a Close; " + where);
        if (in.cutFirst) {
            // The refused message is the first error: it ends the connection, and the Error says what it was.
            assertTrue(o.connectionError(), () -> "a message the WebSocket layer refuses got no connection Error; " + where);
            Message.Error e = (Message.Error) s.frames.messages.getLast();
            assertEquals(ErrorCode.PROTOCOL_ERROR.value(), e.code(), () -> "the connection error's code; " + where);
            assertEquals("websocket: " + view.error.reason, e.message(), () -> "the connection error's message; " + where);
        }
        Set<Integer> allowed = new HashSet<>();
        if (s.sentClose) {
            allowed.add(NORMAL); // the echo of the client's own Close
        }
        if (view.closePayload != null) {
            allowed.add(view.closePayload.length == 0 ? NO_STATUS
                    : ((view.closePayload[0] & 0xFF) << 8) | (view.closePayload[1] & 0xFF));
        }
        if (o.connectionError()) {
            if (in.cutFirst) {
                allowed.add(view.error.status);
            } else {
                // An error of the protocol (1000); the WebSocket layer may still refuse a message read with it.
                allowed.add(NORMAL);
                allowed.addAll(view.statuses);
            }
        }
        if (!closes.isEmpty()) {
            assertTrue(allowed.contains(closes.getFirst()), () -> "the Close status " + closes.getFirst() + ", expected one of "
                    + allowed + "; " + where);
        }
    }

    // ---- the input as frames on the wire ------------------------------------------------------------------

    /** The input's records as the bytes the client sends (see the class comment). */
    static byte[] wire(byte[] input) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int at = 0;
        while (at < input.length) {
            if (input.length - at < 4) {
                out.write(input, at, input.length - at);
                break;
            }
            int b0 = input[at] & 0xFF;
            int b1 = input[at + 1] & 0xFF;
            int n = ((input[at + 2] & 0xFF) << 8) | (input[at + 3] & 0xFF);
            boolean masked = (b1 & 0x80) != 0;
            int lengthField = b1 & 0x7F;
            int extended = lengthField == 126 ? 2 : lengthField == 127 ? 8 : 0;
            if (input.length - at - 4 < extended + (masked ? 4 : 0)) {
                out.write(input, at, input.length - at);
                break;
            }
            at += 4;
            out.write(b0);
            int payloadAt = at + extended + (masked ? 4 : 0);
            n = Math.min(n, input.length - payloadAt);
            if (extended == 0) {
                WsClient.header(out, n, masked);
            } else {
                out.write((masked ? 0x80 : 0) | lengthField);
                out.write(input, at, extended);
            }
            byte[] key = masked ? Arrays.copyOfRange(input, at + extended, at + extended + 4) : new byte[4];
            out.write(key, 0, masked ? 4 : 0);
            for (int i = 0; i < n; i++) {
                out.write(input[payloadAt + i] ^ key[i & 3]);
            }
            at = payloadAt + n;
        }
        return out.toByteArray();
    }

    /** An error of the WebSocket layer: the text after {@code "websocket: "} in the Error, and the Close status. */
    record WsError(String reason, int status) {
    }

    /**
     * The client's bytes read as the server's WebSocket layer reads them: Netty's {@code WebSocket08FrameDecoder}
     * (masked frames only, no extensions, payloads up to {@link #MAX_WS_PAYLOAD}, its checks in its order), its
     * UTF-8 validator (text messages, Close reasons), the protocol handler (a Ping is answered, a Pong dropped, a
     * Close answered and the connection closed) and {@code WebSocketUpgrade.Frames} (binary and continuation
     * payloads are the protocol's bytes; a text message is a connection error).
     */
    static final class WireView {
        /** The payloads of the binary messages until the first error or the client's Close: the protocol's bytes. */
        final byte[] protocol;
        /** The first error of the WebSocket layer before the client's Close, or null. */
        final WsError error;
        /** The Close statuses of every error of the WebSocket layer in the input. */
        final Set<Integer> statuses = new HashSet<>();
        /** The payloads of the Pings the decoder reads (it stops at an error of its own and at a Close). */
        final List<byte[]> pings = new ArrayList<>();
        /** How many of them come before the first error or Close. */
        final int pingsBeforeCut;
        /** The payload of the client's Close, if the decoder reads one; null if not. */
        final byte[] closePayload;
        /** The decoder read every byte, ending at a frame boundary. */
        final boolean atBoundary;

        WireView(byte[] w) {
            ByteArrayOutputStream protocol = new ByteArrayOutputStream();
            WsError error = null;
            byte[] close = null;
            boolean boundary = false;
            boolean cut = false; // by the first error or the Close: no more protocol bytes
            int before = 0;
            int fragments = 0;
            int at = 0;
            while (true) {
                if (at == w.length) {
                    boundary = true;
                    break;
                }
                if (w.length - at < 2) {
                    break;
                }
                boolean fin = (w[at] & 0x80) != 0;
                int rsv = (w[at] & 0x70) >> 4;
                int op = w[at] & 0x0F;
                boolean masked = (w[at + 1] & 0x80) != 0;
                int len1 = w[at + 1] & 0x7F;
                String refused = headerError(fin, rsv, op, masked, len1, fragments);
                int status = 1002;
                int pos = at + 2;
                long length = len1;
                if (refused == null && len1 == 126) {
                    if (w.length - pos < 2) {
                        break;
                    }
                    length = ((w[pos] & 0xFF) << 8) | (w[pos + 1] & 0xFF);
                    pos += 2;
                    refused = length < 126 ? "invalid data frame length (not using minimal length encoding)" : null;
                } else if (refused == null && len1 == 127) {
                    if (w.length - pos < 8) {
                        break;
                    }
                    length = ByteBuffer.wrap(w, pos, 8).getLong();
                    pos += 8;
                    refused = length < 0 ? "invalid data frame length (negative length)"
                            : length < 65536 ? "invalid data frame length (not using minimal length encoding)" : null;
                }
                if (refused == null && length > MAX_WS_PAYLOAD) {
                    refused = "Max frame length of " + MAX_WS_PAYLOAD + " has been exceeded.";
                    status = 1009;
                }
                if (refused == null && (w.length - pos < 4 || w.length - pos - 4 < length)) {
                    break; // the rest of the frame has not arrived
                }
                byte[] payload = null;
                if (refused == null) {
                    payload = new byte[(int) length];
                    for (int i = 0; i < payload.length; i++) {
                        payload[i] = (byte) (w[pos + 4 + i] ^ w[pos + (i & 3)]);
                    }
                    at = pos + 4 + payload.length;
                    if (op == OP_CLOSE) {
                        refused = closeError(payload);
                        status = refused == null ? 0 : refused.equals(NOT_UTF8) ? 1007 : 1002;
                    }
                }
                if (refused != null) { // the decoder stops reading
                    statuses.add(status);
                    if (!cut) {
                        error = new WsError(refused, status);
                    }
                    break;
                }
                switch (op) {
                    case OP_PING -> {
                        pings.add(payload);
                        before += cut ? 0 : 1;
                    }
                    case OP_CLOSE -> close = payload;
                    case OP_TEXT -> {
                        // the UTF-8 validator checks a whole message, or the start of one, before WebSocketUpgrade sees it
                        Utf8 u = utf8(payload, 0, payload.length);
                        boolean bad = fin ? u != Utf8.VALID : u == Utf8.INVALID;
                        WsError e = bad ? new WsError(NOT_UTF8, 1007) : new WsError(TEXT_MESSAGE, 1003);
                        statuses.add(e.status);
                        if (!cut) {
                            error = e;
                            cut = true;
                        }
                        fragments = fin ? 0 : fragments + 1;
                    }
                    case OP_BINARY, OP_CONTINUATION -> {
                        if (!cut) {
                            protocol.writeBytes(payload);
                        }
                        fragments = fin ? 0 : fragments + 1;
                    }
                    default -> {
                        // a Pong: dropped
                    }
                }
                if (close != null) {
                    break; // the decoder reads nothing after a Close
                }
            }
            this.protocol = protocol.toByteArray();
            this.error = error;
            this.closePayload = close;
            this.pingsBeforeCut = before;
            this.atBoundary = boundary;
        }

        /** The input ends the connection below the protocol: an error of the WebSocket layer or the client's Close. */
        boolean cut() {
            return error != null || closePayload != null;
        }

        /** WebSocket08FrameDecoder's checks of the first two bytes, in its order; null if they pass. */
        private static String headerError(boolean fin, int rsv, int op, boolean masked, int len1, int fragments) {
            if (rsv != 0) {
                return "RSV != 0 and no extension negotiated, RSV:" + rsv;
            }
            if (!masked) {
                return "received a frame that is not masked as expected";
            }
            if (op > 7) {
                if (!fin) {
                    return "fragmented control frame";
                }
                if (len1 > 125) {
                    return "control frame with payload length > 125 octets";
                }
                if (op != OP_CLOSE && op != OP_PING && op != OP_PONG) {
                    return "control frame using reserved opcode " + op;
                }
                return op == OP_CLOSE && len1 == 1 ? "received close control frame with payload len 1" : null;
            }
            if (op != OP_CONTINUATION && op != OP_TEXT && op != OP_BINARY) {
                return "data frame using reserved opcode " + op;
            }
            if (fragments == 0 && op == OP_CONTINUATION) {
                return "received continuation data frame outside fragmented message";
            }
            return fragments != 0 && op != OP_CONTINUATION
                    ? "received non-continuation data frame while inside fragmented message" : null;
        }

        /** The decoder's check of a Close body: a valid status (Netty reads it as a signed short), a UTF-8 reason. */
        private static String closeError(byte[] payload) {
            if (payload.length < 2) {
                return null;
            }
            int code = (short) (((payload[0] & 0xFF) << 8) | (payload[1] & 0xFF));
            boolean valid = code < 0 || (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || code >= 3000;
            if (!valid) {
                return "Invalid close frame getStatus code: " + code;
            }
            // the reason is checked without the end-of-message check: a sequence cut at the end passes
            return utf8(payload, 2, payload.length) == Utf8.INVALID ? NOT_UTF8 : null;
        }
    }

    enum Utf8 { VALID, INCOMPLETE, INVALID }

    /** Whether {@code b[from, to)} is UTF-8 (RFC 3629: no overlong forms, surrogates or code points above U+10FFFF). */
    static Utf8 utf8(byte[] b, int from, int to) {
        int i = from;
        while (i < to) {
            int c = b[i++] & 0xFF;
            if (c < 0x80) {
                continue;
            }
            int need;
            int lo = 0x80;
            int hi = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) {
                need = 1;
            } else if (c >= 0xE0 && c <= 0xEF) {
                need = 2;
                lo = c == 0xE0 ? 0xA0 : 0x80;
                hi = c == 0xED ? 0x9F : 0xBF;
            } else if (c >= 0xF0 && c <= 0xF4) {
                need = 3;
                lo = c == 0xF0 ? 0x90 : 0x80;
                hi = c == 0xF4 ? 0x8F : 0xBF;
            } else {
                return Utf8.INVALID;
            }
            for (int k = 0; k < need; k++, i++) {
                if (i >= to) {
                    return Utf8.INCOMPLETE;
                }
                int d = b[i] & 0xFF;
                if (d < (k == 0 ? lo : 0x80) || d > (k == 0 ? hi : 0xBF)) {
                    return Utf8.INVALID;
                }
            }
        }
        return Utf8.VALID;
    }

    private static String hex(byte[] b) {
        return HexFormat.of().formatHex(b, 0, Math.min(b.length, 256)) + (b.length > 256 ? "..." : "");
    }

    // ---- seeds --------------------------------------------------------------------------------------------

    /** A record of the input format: {@code b0}, masked with {@link WsClient#KEY}, the true length. */
    static byte[] record(int b0, byte[] payload) {
        return record(b0, true, -1, payload);
    }

    /**
     * A record; a {@code length} other than -1 is written as the length field whatever the payload's size: in
     * 16 bits if it fits, else in 64.
     */
    static byte[] record(int b0, boolean masked, long length, byte[] payload) {
        ByteArrayOutputStream r = new ByteArrayOutputStream();
        boolean wide = length < -1 || length > 0xFFFF;
        r.write(b0);
        r.write((masked ? 0x80 : 0) | (length == -1 ? 0 : wide ? 127 : 126));
        r.write(payload.length >> 8);
        r.write(payload.length);
        if (length != -1) {
            r.writeBytes(wide ? ByteBuffer.allocate(8).putLong(length).array() : new byte[] {(byte) (length >> 8), (byte) length});
        }
        if (masked) {
            r.writeBytes(WsClient.KEY);
        }
        r.writeBytes(payload);
        return r.toByteArray();
    }

    private static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    /**
     * Rewrites the committed seeds (only with {@code -Dgroups=fuzz-seeds}, FUZZING.md): valid sessions (one
     * message per frame, several frames in one message, a frame over several messages, a fragmented message
     * with a Ping between its fragments, WebSocket Pings and Pongs, the client's Close) and refused ones (a
     * text message, invalid UTF-8, an unmasked frame, reserved bits and opcodes, a continuation outside a
     * message, oversized and negative length fields, a Close with an invalid status, a length that promises
     * more than comes), around protocol frames that are valid, malformed, or not a Hello.
     */
    @Test
    @Tag("fuzz-seeds") // excluded from normal runs (runtime-core/pom.xml): it rewrites committed files
    void writeSeeds() throws IOException {
        Path seeds = Path.of("src/test/resources/org/shiftformer/core/server/WebSocketFuzzTestInputs/sessions");
        Files.createDirectories(seeds);
        int binary = FIN | OP_BINARY;
        byte[] hello = record(binary, frames(SessionOracle.hello()));
        byte[] translate = frames(new Message.TranslateRequest(1, "zweiundvierzig", null, null, 0, true));
        Files.write(seeds.resolve("seed-hello"), hello);
        Files.write(seeds.resolve("seed-hello-translate"), concat(hello, record(binary, translate)));
        Files.write(seeds.resolve("seed-one-message-many-frames"), record(binary, frames(SessionOracle.hello(),
                new Message.Ping(2, 42), new Message.ModelInfoRequest(3),
                new Message.TranslateRequest(4, null, new int[] {5, 6, 7}, new Message.Params(2, 3, 0), 0, true),
                new Message.Cancel(4))));
        Files.write(seeds.resolve("seed-fragmented-with-ping"), concat(hello,
                record(OP_BINARY, Arrays.copyOfRange(translate, 0, 5)),
                record(FIN | OP_PING, "ping".getBytes(StandardCharsets.UTF_8)),
                record(OP_CONTINUATION, Arrays.copyOfRange(translate, 5, 9)),
                record(FIN | OP_CONTINUATION, Arrays.copyOfRange(translate, 9, translate.length))));
        byte[] h = frames(SessionOracle.hello());
        Files.write(seeds.resolve("seed-frame-over-two-messages"), concat(record(binary, Arrays.copyOf(h, 7)),
                record(binary, Arrays.copyOfRange(h, 7, h.length)), record(binary, frames(new Message.Ping(1, 7)))));
        Files.write(seeds.resolve("seed-ws-ping-pong"), concat(record(FIN | OP_PING, new byte[0]), hello,
                record(FIN | OP_PONG, new byte[] {1}), record(FIN | OP_PING, new byte[] {1, 2, 3})));
        Files.write(seeds.resolve("seed-client-close"), concat(hello, record(binary, translate),
                record(FIN | OP_CLOSE, new byte[] {0x03, (byte) 0xE8, 'b', 'y', 'e'})));
        Files.write(seeds.resolve("seed-close-invalid-status"), concat(hello, record(FIN | OP_CLOSE, new byte[] {0x03, (byte) 0xED})));
        Files.write(seeds.resolve("seed-text"), concat(hello, record(FIN | OP_TEXT, "hello".getBytes(StandardCharsets.UTF_8))));
        Files.write(seeds.resolve("seed-text-not-utf8"), concat(hello, record(FIN | OP_TEXT, new byte[] {(byte) 0xC3, 0x28})));
        Files.write(seeds.resolve("seed-unmasked"), record(binary, false, -1, h));
        Files.write(seeds.resolve("seed-rsv"), concat(hello, record(0x40 | binary, translate)));
        Files.write(seeds.resolve("seed-reserved-opcode"), concat(hello, record(FIN | 0x3, translate)));
        Files.write(seeds.resolve("seed-continuation-outside"), concat(hello, record(FIN | OP_CONTINUATION, translate)));
        Files.write(seeds.resolve("seed-oversize-length"), concat(hello, record(binary, true, 1L << 20, translate)));
        Files.write(seeds.resolve("seed-negative-length"), concat(hello, record(binary, true, Long.MIN_VALUE, translate)));
        Files.write(seeds.resolve("seed-length-promises-more"), concat(hello, record(binary, true, 300, translate)));
        Files.write(seeds.resolve("seed-length-not-minimal"), concat(hello, record(binary, true, translate.length, translate)));
        Files.write(seeds.resolve("seed-ping-first"), record(binary, frames(new Message.Ping(1, 7))));
        Files.write(seeds.resolve("seed-garbage-after-hello"), concat(hello, record(binary, new byte[] {9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9})));
        Files.write(seeds.resolve("seed-prefix-over-limit"), record(binary, ByteBuffer.allocate(8).order(FrameLayout.BYTE_ORDER)
                .putInt(FrameLayout.PRE_HANDSHAKE_MAX_PAYLOAD_BYTES + 1).putInt(0).array()));
        Files.write(seeds.resolve("seed-wrong-token"), record(binary, frames(new Message.Hello(0, 1, ProtocolVersion.CURRENT,
                "fuzz", TOKEN.replace('9', '8')))));
    }
}
