package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.core.server.ServerFixture.assertDone;
import static org.shiftformer.core.server.ServerFixture.assertEachDone;
import static org.shiftformer.core.server.ServerFixture.await;
import static org.shiftformer.core.server.ServerFixture.awaitAllEnded;
import static org.shiftformer.core.server.ServerFixture.awaitStalled;
import static org.shiftformer.core.server.ServerFixture.limitCount;
import static org.shiftformer.core.server.ServerFixture.request;
import static org.shiftformer.core.server.ServerFixture.requests;

import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.net.http.WebSocketHandshakeException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.MessageReader;
import org.shiftformer.protocol.MessageWriter;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * The protocol over WebSocket on the admin port ({@code GET /ws}, PROTOCOL.md section 12), with the JDK's
 * WebSocket client: the same handshake and streams as on TCP (tokens equal), the same limits (a request
 * before Hello, an oversized frame before Welcome, a text message, a message over the frame limit), origins
 * checked against cross-site hijacking, and a client that stops reading ends CANCELLED by the stall timeout
 * while another one is served. The limit tests of the TCP port ({@link FairnessTest}, {@link
 * ConnectionLimitsTest}) again with browsers ({@link WsClient}, whose socket buffers a test sets): several
 * that never read slow only themselves, one that never says Hello (or never finishes the upgrade) is
 * closed, a flood of connections or of requests is refused request by request or connection by
 * connection, each with its one terminal frame or connection Error.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class WebSocketTest {
    static {
        LeakCheck.install();
    }

    private static final int[] SOURCE = {5, 6, 7};
    private static final int MAX_NEW = 8;

    @TempDir
    static Path dir;
    private static ServerFixture fx;
    private static int[] expected;

    @BeforeAll
    static void model() {
        fx = new ServerFixture(dir, 23, "ws");
        expected = fx.expectedTokens(SOURCE, MAX_NEW);
    }

    @AfterAll
    static void close() {
        fx.backend.close();
        LeakCheck.assertNoLeaks();
    }

    /** A WebSocket client whose incoming messages are decoded protocol frames (or "close CODE reason"). */
    private static final class Ws implements WebSocket.Listener {
        final LinkedBlockingQueue<Object> in = new LinkedBlockingQueue<>();
        private final MessageWriter writer = new MessageWriter();
        private final boolean reads;
        private java.io.ByteArrayOutputStream partial = new java.io.ByteArrayOutputStream();
        WebSocket ws;

        Ws(boolean reads) {
            this.reads = reads;
        }

        static Ws open(ShiftformerServer server, String origin, boolean reads) {
            Ws w = new Ws(reads);
            WebSocket.Builder b = HttpClient.newHttpClient().newWebSocketBuilder();
            if (origin != null) {
                b.header("Origin", origin);
            }
            w.ws = b.buildAsync(URI.create("ws://127.0.0.1:" + server.adminAddress().getPort() + "/ws"), w).join();
            return w;
        }

        @Override
        public void onOpen(WebSocket webSocket) {
            webSocket.request(reads ? Long.MAX_VALUE : 1);
        }

        @Override
        public CompletionStage<?> onBinary(WebSocket webSocket, ByteBuffer data, boolean last) {
            byte[] b = new byte[data.remaining()];
            data.get(b);
            partial.writeBytes(b);
            if (last) {
                in.add(MessageReader.read(ByteBuffer.wrap(partial.toByteArray())));
                partial = new java.io.ByteArrayOutputStream();
            }
            return null;
        }

        @Override
        public CompletionStage<?> onClose(WebSocket webSocket, int statusCode, String reason) {
            in.add("close " + statusCode + " " + reason);
            return null;
        }

        @Override
        public void onError(WebSocket webSocket, Throwable error) {
            in.add("error " + error);
        }

        void send(Message m) {
            ws.sendBinary(writer.encode(m), true).join();
        }

        Object next() throws InterruptedException {
            Object o = in.poll(30, TimeUnit.SECONDS);
            assertTrue(o != null, "nothing arrived within 30 s");
            return o;
        }

        /** Frames until the terminal frame of {@code id}. */
        List<Message> stream(long id) throws InterruptedException {
            List<Message> out = new ArrayList<>();
            while (true) {
                Message m = assertInstanceOf(Message.class, next());
                out.add(m);
                if (m.requestId() == id && TestClient.isTerminal(m)) {
                    return out;
                }
            }
        }
    }

    private static Message hello(Ws w) throws InterruptedException {
        w.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "ws-test"));
        return assertInstanceOf(Message.class, w.next());
    }

    @Test
    void theProtocolRunsOverAWebSocketAsOverTcp() throws Exception {
        try (ShiftformerServer server = fx.start(ServerFixture.config().conclude(), fx.noEos())) {
            Ws w = Ws.open(server, null, true);
            assertInstanceOf(Message.Welcome.class, hello(w));
            w.send(request(1, SOURCE, MAX_NEW));
            List<Message> frames = w.stream(1);
            ServerFixture.assertDone(1, frames, expected);
            w.send(new Message.Ping(0, 77));
            assertEquals(77, assertInstanceOf(Message.Pong.class, w.next()).nonce());
            // a cancel ends a long request with its own terminal frame
            w.send(request(2, SOURCE, ServerFixture.MAX_NEW));
            w.send(new Message.Cancel(2));
            Message last = w.stream(2).getLast();
            assertTrue(last instanceof Message.Cancelled || last instanceof Message.Done, last.toString());
            assertTrue(server.connectionCount() >= 1);
            w.ws.sendClose(WebSocket.NORMAL_CLOSURE, "bye").join();
            ServerFixture.await("the connection is gone", 10_000, () -> server.connectionCount() == 0);
        }
    }

    @Test
    void originsOfOtherPagesAreRefusedUnlessAllowed() throws Exception {
        try (ShiftformerServer server = fx.start(ServerFixture.config().webSocket(true, "https://console.example.net")
                .conclude(), fx.noEos())) {
            int port = server.adminAddress().getPort();
            CompletionException e = assertThrows(CompletionException.class, () -> Ws.open(server, "https://evil.example", true));
            assertEquals(403, assertInstanceOf(WebSocketHandshakeException.class, e.getCause()).getResponse().statusCode());
            for (String ok : new String[] {"http://127.0.0.1:" + port, "https://console.example.net"}) {
                Ws w = Ws.open(server, ok, true);
                assertInstanceOf(Message.Welcome.class, hello(w));
                w.ws.abort();
            }
        }
        try (ShiftformerServer server = fx.start(ServerFixture.config().webSocket(false, "").conclude(), fx.noEos())) {
            CompletionException e = assertThrows(CompletionException.class, () -> Ws.open(server, null, true));
            assertEquals(404, assertInstanceOf(WebSocketHandshakeException.class, e.getCause()).getResponse().statusCode(),
                    "webSocket=false: /ws is not an endpoint");
        }
    }

    @Test
    void theLimitsOfTcpHoldOnAWebSocket() throws Exception {
        try (ShiftformerServer server = fx.start(ServerFixture.config().conclude(), fx.noEos())) {
            Ws early = Ws.open(server, null, true);
            early.send(request(1, SOURCE, MAX_NEW));
            Message.Error e = assertInstanceOf(Message.Error.class, early.next());
            assertEquals(ErrorCode.PROTOCOL_ERROR.value(), e.code());
            assertTrue(e.message().contains("expected Hello"), e.message());
            assertTrue(String.valueOf(early.next()).startsWith("close "), "closed after the connection error");

            Ws big = Ws.open(server, null, true);
            big.ws.sendBinary(ByteBuffer.wrap(new byte[] {0, 0, 2, 0}), true).join(); // a 131072-byte prefix
            Message.Error tooBig = assertInstanceOf(Message.Error.class, big.next());
            assertTrue(tooBig.message().contains("exceeds the limit of 65536 bytes before the handshake"), tooBig.message());

            Ws text = Ws.open(server, null, true);
            text.ws.sendText("hello", true).join();
            Message.Error notBinary = assertInstanceOf(Message.Error.class, text.next());
            assertEquals(ErrorCode.PROTOCOL_ERROR.value(), notBinary.code());
            assertTrue(notBinary.message().contains("a text message"), notBinary.message());
            assertEquals("close 1003 the shiftformer protocol is binary messages only", text.next());

            Ws huge = Ws.open(server, null, true);
            assertInstanceOf(Message.Welcome.class, hello(huge));
            ByteBuffer over = ByteBuffer.allocate(server.config().maxFrameBytes() + 5)
                    .order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt(0, server.config().maxFrameBytes() + 1);
            huge.ws.sendBinary(over, true);
            // One message over the limit, refused by the WebSocket layer as soon as its header arrives: an Error
            // naming it, then Close 1009 (message too big). The server reads the rest of the message while it
            // closes: closing with unread input would reset the connection, and the client would see neither
            // (the reset is what this test caught on a loaded machine before LingeringClose).
            Message.Error tooLong = assertInstanceOf(Message.Error.class, huge.next());
            assertEquals(ErrorCode.PROTOCOL_ERROR.value(), tooLong.code());
            assertTrue(tooLong.message().contains("websocket: Max frame length of " + (server.config().maxFrameBytes() + 4)),
                    tooLong.message());
            assertTrue(String.valueOf(huge.next()).startsWith("close 1009 "), "then Close 1009");
            ServerFixture.await("the refused connections are gone", 10_000, () -> server.connectionCount() == 0);
        }
    }

    @Test
    void aBrowserThatStopsReadingEndsCancelledWhileAnotherIsServed() throws Exception {
        ServerConfig cfg = ServerFixture.config().stallTimeoutMs(500).socketSendBufferBytes(4096).conclude();
        try (ShiftformerServer server = fx.start(cfg, fx.noEos(1))) {
            Ws stuck = Ws.open(server, null, false); // takes one message, then never reads again
            stuck.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "stuck"));
            for (long id = 1; id <= 200; id++) {
                stuck.send(request(id, SOURCE, ServerFixture.MAX_NEW));
            }
            ServerFixture.await("the stall timeout", 60_000, () -> server.stats().limitHits(ServerStats.Limit.STALL_TIMEOUT) > 0);
            Ws ok = Ws.open(server, null, true);
            assertInstanceOf(Message.Welcome.class, hello(ok));
            ok.send(request(7, SOURCE, MAX_NEW));
            ServerFixture.assertDone(7, ok.stream(7), expected);
        }
    }

    // ---- the limits of the TCP port, with browsers -------------------------------------------------------

    /** Reads the connection Error (request id 0) that must come next, then the server's Close; returns its status. */
    private static int connectionError(WsClient c, ErrorCode code, String mentions) throws IOException {
        Message m = c.read();
        Message.Error e = assertInstanceOf(Message.Error.class, m, () -> "expected a connection Error, got " + m);
        assertEquals(0, e.requestId());
        assertEquals(code, e.errorCode(), e::message);
        assertTrue(e.message().contains(mentions), e::message);
        return c.readToClose();
    }

    /** A browser with a 4 KiB receive buffer that says Hello, sends {@code n} requests in one message, then reads nothing. */
    private static WsClient nonReader(ShiftformerServer server, int n, int[] source) throws IOException {
        WsClient c = WsClient.open(server.adminAddress(), 4096, TestClient.READ_TIMEOUT_MS);
        c.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "never reads"));
        assertInstanceOf(Message.Welcome.class, c.read());
        c.sendAll(requests(1, n, source, ServerFixture.MAX_NEW));
        return c;
    }

    /**
     * FairnessTest's starvation case with browsers: four that send many requests running to max_new_tokens
     * and never read must not starve one that reads (its tokens and Done arrive while they are stalled); then
     * they read, and every one of their requests ends with exactly its Done, bit-exact.
     */
    @Test
    void severalBrowsersThatStopReadingDoNotStarveOneThatReads() throws Exception {
        int stalledBrowsers = 4;
        int n = 24;
        ServerConfig cfg = ServerFixture.config().writeBufferHighWaterMark(4096).socketSendBufferBytes(4096)
                .maxBatchRows(8).maxLiveRows(16).conclude();
        int[] source = {5, 6, 7};
        int[] full = fx.expectedTokens(source, ServerFixture.MAX_NEW);
        try (ShiftformerServer server = fx.start(cfg, fx.noEos())) {
            List<WsClient> stalled = new ArrayList<>();
            try {
                for (int k = 0; k < stalledBrowsers; k++) {
                    stalled.add(nonReader(server, n, source));
                }
                await("the stalled browsers' requests accepted", 30_000,
                        () -> server.stats().accepted() >= (long) stalledBrowsers * n / 2);
                awaitStalled(server);
                int live = server.scheduler().activeSequences(); // rows held by stalled streams (greedy: one each)
                try (WsClient good = WsClient.open(server.adminAddress())) {
                    good.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "reads"));
                    assertInstanceOf(Message.Welcome.class, good.read());
                    good.sendAll(requests(1, 3, source, ServerFixture.MAX_NEW));
                    Map<Long, List<Message>> frames = good.readTerminals(3); // the read timeout bounds the wait
                    assertEachDone(frames, 3, full);
                }
                if (live + 3 > cfg.maxLiveRows()) { // the stalls may leave rows free: then nothing needs parking
                    assertTrue(server.stats().parked() > 0, "stalled streams gave their rows up: " + server.stats());
                }
                for (WsClient c : stalled) {
                    Map<Long, List<Message>> frames = c.readTerminals(n);
                    assertEquals(n, frames.size());
                    assertEachDone(frames, n, full);
                }
                awaitAllEnded(server);
                assertEquals((long) stalledBrowsers * n + 3, server.stats().done());
            } finally {
                for (WsClient c : stalled) {
                    c.close();
                }
            }
        }
    }

    /**
     * A browser that upgrades and never says Hello, or sends only part of one, gets the handshake timeout's
     * connection Error naming the setting and then a Close (1000); one that never finishes its upgrade request
     * gets 408 within the admin port's idle timeout (RequestDeadline) and is closed, and holds no protocol
     * connection meanwhile. A prompt Hello
     * is served past the timeout.
     */
    @Test
    void aBrowserThatNeverSaysHelloIsClosedAfterTheHandshakeTimeout() throws Exception {
        ServerConfig cfg = ServerFixture.config().handshakeTimeoutMs(300).adminIdleTimeoutMs(300).conclude();
        try (ShiftformerServer server = fx.start(cfg, fx.noEos());
             WsClient silent = WsClient.open(server.adminAddress());
             WsClient partial = WsClient.open(server.adminAddress());
             Socket unfinished = new Socket()) {
            unfinished.connect(server.adminAddress(), 5_000);
            unfinished.setSoTimeout(TestClient.READ_TIMEOUT_MS);
            byte[] upgrade = WsClient.upgradeRequest(server.adminAddress());
            unfinished.getOutputStream().write(upgrade, 0, upgrade.length - 2); // no blank line: never complete
            byte[] hello = SessionOracle.frames(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "slow"));
            partial.sendRaw(WsClient.frame(WsClient.FIN | WsClient.OP_BINARY, java.util.Arrays.copyOf(hello, 6)));
            assertEquals(1000, connectionError(silent, ErrorCode.PROTOCOL_ERROR, ServerConfig.HANDSHAKE_TIMEOUT_MS_PROP));
            assertEquals(1000, connectionError(partial, ErrorCode.PROTOCOL_ERROR, ServerConfig.HANDSHAKE_TIMEOUT_MS_PROP));
            assertEquals(2, server.stats().limitHits(ServerStats.Limit.HANDSHAKE_TIMEOUT));
            assertEquals(2, limitCount(server, ServerStats.Limit.HANDSHAKE_TIMEOUT));
            InputStream in = unfinished.getInputStream();
            String answer = new String(in.readAllBytes(), StandardCharsets.UTF_8); // to the server's close
            assertTrue(answer.startsWith("HTTP/1.1 408 ") && answer.contains(ServerConfig.ADMIN_IDLE_TIMEOUT_MS_PROP),
                    "the unfinished upgrade gets 408 naming the setting, then close: " + answer);
            assertEquals(1, limitCount(server, ServerStats.Limit.ADMIN_REQUEST_TIMEOUT));
            try (WsClient c = WsClient.open(server.adminAddress())) { // a prompt Hello is served
                c.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "prompt"));
                assertInstanceOf(Message.Welcome.class, c.read());
                Thread.sleep(600); // past both timeouts: a welcomed connection stays
                c.send(new Message.Ping(0, 7));
                assertEquals(new Message.Pong(0, 7), c.read());
            }
            assertEquals(2, server.stats().limitHits(ServerStats.Limit.HANDSHAKE_TIMEOUT));
        }
    }

    /**
     * Browsers count against maxConnections together with TCP clients: with a TCP client and a browser
     * connected, a second browser gets Error OVERLOADED naming the setting, then a Close; the others are
     * still served.
     */
    @Test
    void browsersOverTheConnectionLimitAreRefused() throws Exception {
        try (ShiftformerServer server = fx.start(ServerFixture.config().maxConnections(2).conclude(), fx.noEos());
             TestClient tcp = TestClient.connect(server.localAddress());
             WsClient a = WsClient.open(server.adminAddress());
             WsClient b = WsClient.open(server.adminAddress())) {
            a.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "a"));
            assertInstanceOf(Message.Welcome.class, a.read());
            assertEquals(1000, connectionError(b, ErrorCode.OVERLOADED, ServerConfig.MAX_CONNECTIONS_PROP));
            assertEquals(1, server.stats().limitHits(ServerStats.Limit.MAX_CONNECTIONS));
            a.send(new Message.Ping(0, 1));
            assertEquals(new Message.Pong(0, 1), a.read());
            tcp.send(new Message.Ping(0, 2));
            assertEquals(new Message.Pong(0, 2), tcp.read());
        }
    }

    /**
     * adminMaxConnections counts the admin port's HTTP connections: an upgraded browser leaves that count
     * for maxConnections'. With a limit of 1, three browsers in a row upgrade and are served while connected,
     * and a probe still gets its answer; a second plain HTTP connection while one is open gets 503 naming
     * the setting.
     */
    @Test
    void upgradedBrowsersLeaveTheAdminConnectionCount() throws Exception {
        try (ShiftformerServer server = fx.start(ServerFixture.config().adminMaxConnections(1).conclude(), fx.noEos());
             WsClient a = WsClient.open(server.adminAddress());
             WsClient b = WsClient.open(server.adminAddress());
             WsClient c = WsClient.open(server.adminAddress())) {
            for (WsClient w : new WsClient[] {a, b, c}) {
                w.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "browser"));
                assertInstanceOf(Message.Welcome.class, w.read());
            }
            // A plain connection gets the slot once the probes before it have closed (their close is counted
            // when the server sees it), and keeps it: kept alive.
            Socket held = null;
            for (long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10); held == null; ) {
                Socket s = adminGet(server);
                String status = readStatusLine(s.getInputStream());
                if (status.startsWith("HTTP/1.1 200 ")) {
                    held = s;
                } else {
                    s.close();
                    assertTrue(System.nanoTime() - end < 0, "no admin slot within 10 s: " + status);
                    Thread.sleep(20);
                }
            }
            try (Socket kept = held; Socket over = adminGet(server)) {
                String answer = new String(over.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
                assertTrue(answer.startsWith("HTTP/1.1 503 ") && answer.contains(ServerConfig.ADMIN_MAX_CONNECTIONS_PROP),
                        answer);
            }
            assertEquals(1, limitCount(server, ServerStats.Limit.ADMIN_MAX_CONNECTIONS));
            c.send(new Message.Ping(0, 3));
            assertEquals(new Message.Pong(0, 3), c.read());
        }
    }

    /** A raw keep-alive GET /health/live on the admin port, reads bounded by 10 s. */
    private static Socket adminGet(ShiftformerServer server) throws IOException {
        Socket s = new Socket(server.adminAddress().getAddress(), server.adminAddress().getPort());
        s.setSoTimeout(10_000);
        s.getOutputStream().write("GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        return s;
    }

    private static String readStatusLine(InputStream in) throws IOException {
        StringBuilder line = new StringBuilder();
        for (int b = in.read(); b >= 0 && b != '\n'; b = in.read()) {
            line.append((char) b);
        }
        return line.toString();
    }

    /**
     * A flood from one browser: 60 requests in one message against maxInFlight 4, then more while they run.
     * Every request ends with exactly one terminal frame: its Done, bit-exact, or Error OVERLOADED naming the
     * limit; another browser is served meanwhile; nothing is left in flight.
     */
    @Test
    void aFloodOfRequestsFromOneBrowserEndsEachWithOneTerminalFrame() throws Exception {
        int n = 60;
        int[] source = {4, 5, 6};
        int[] expected = fx.expectedTokens(source, MAX_NEW);
        try (ShiftformerServer server = fx.start(ServerFixture.config().maxInFlight(4).conclude(), fx.noEos(2));
             WsClient flood = WsClient.open(server.adminAddress());
             WsClient other = WsClient.open(server.adminAddress())) {
            flood.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "flood"));
            assertInstanceOf(Message.Welcome.class, flood.read());
            flood.sendAll(requests(1, n / 2, source, MAX_NEW));
            flood.sendAll(requests(n / 2 + 1, n, source, MAX_NEW));
            other.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "other"));
            assertInstanceOf(Message.Welcome.class, other.read());
            other.send(request(1, source, MAX_NEW));
            assertDone(1, other.readTerminals(1).get(1L), expected);
            Map<Long, List<Message>> frames = flood.readTerminals(n);
            assertEquals(n, frames.size(), "one terminal frame for each request id");
            int done = 0;
            for (long id = 1; id <= n; id++) {
                List<Message> f = frames.get(id);
                if (ServerFixture.terminal(id, f) instanceof Message.Error e) {
                    assertEquals(ErrorCode.OVERLOADED, e.errorCode(), e::message);
                    assertTrue(e.message().contains("the limit is 4"), e::message);
                    assertEquals(1, f.size(), "a refused request streams nothing");
                } else {
                    assertDone(id, f, expected);
                    done++;
                }
            }
            assertTrue(done >= 4 && done < n, "4 at a time are served and the rest refused: " + done + " done");
            awaitAllEnded(server);
        }
    }
}
