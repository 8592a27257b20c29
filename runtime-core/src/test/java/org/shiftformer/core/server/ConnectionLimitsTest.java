package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.core.server.ServerFixture.MAX_NEW;
import static org.shiftformer.core.server.ServerFixture.assertEachDone;
import static org.shiftformer.core.server.ServerFixture.await;
import static org.shiftformer.core.server.ServerFixture.awaitAllEnded;
import static org.shiftformer.core.server.ServerFixture.config;
import static org.shiftformer.core.server.ServerFixture.limitCount;
import static org.shiftformer.core.server.ServerFixture.request;
import static org.shiftformer.core.server.ServerFixture.requests;
import static org.shiftformer.core.server.ServerFixture.sendAll;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.protocol.FrameLayout;
import org.shiftformer.protocol.LeakCheck;
import org.shiftformer.protocol.Message;

/**
 * Issue 11 item 2, connections that never finish the handshake, against a real server on 127.0.0.1 with raw
 * sockets: the pre-handshake frame limit PROTOCOL.md states, the handshake and idle timeouts, the connection
 * limits (overall and per address) and half-close. Each limit is checked through its metric too. Waits are
 * bounded by the socket read timeout; timeouts under test are short, and nothing asserts how fast.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class ConnectionLimitsTest {
    static {
        LeakCheck.install(); // before any buffer is allocated: see LeakCheck
    }

    @TempDir
    static Path dir;
    private static ServerFixture fx;

    @BeforeAll
    static void writeModel() {
        fx = new ServerFixture(dir, 31, "ConnectionLimitsTest");
    }

    @AfterAll
    static void noBufferLeaked() {
        LeakCheck.assertNoLeaks();
    }

    /** Reads the connection Error (request id 0) that must come next, and then the close. */
    private static Message.Error connectionError(TestClient c, ErrorCode code, String mentions) throws IOException {
        Message m = c.read();
        Message.Error e = assertInstanceOf(Message.Error.class, m, () -> "expected a connection Error, got " + m);
        assertEquals(0, e.requestId());
        assertEquals(code, e.errorCode(), e::message);
        assertTrue(e.message().contains(mentions), e::message);
        assertTrue(c.closedByServer(), "the server closes the connection after its Error");
        return e;
    }

    private static byte[] lengthPrefix(long payload) {
        return ByteBuffer.allocate(4).order(FrameLayout.BYTE_ORDER).putInt((int) payload).array();
    }

    // ---- before the handshake -----------------------------------------------------------------------

    /**
     * PROTOCOL.md section 1: at most 65,536 payload bytes before the Welcome, and a larger prefix is rejected
     * as soon as its 4 bytes have arrived (the old server accepted prefixes up to max_frame_bytes, 1 MiB, and
     * waited for the body). After the Welcome the announced limit holds.
     */
    @Test
    void aFrameAboveThePreHandshakeLimitIsRejectedAtOnce() throws Exception {
        try (ShiftformerServer server = fx.start(config().conclude(), fx.noEos())) {
            try (TestClient c = new TestClient(server.localAddress())) {
                c.sendRaw(lengthPrefix(FrameLayout.PRE_HANDSHAKE_MAX_PAYLOAD_BYTES + 1));
                connectionError(c, ErrorCode.PROTOCOL_ERROR, "exceeds the limit of 65536 bytes before the handshake");
            }
            assertEquals(1, server.stats().limitHits(ServerStats.Limit.PRE_HANDSHAKE_BYTES));
            assertEquals(1, limitCount(server, ServerStats.Limit.PRE_HANDSHAKE_BYTES));
            try (TestClient c = new TestClient(server.localAddress())) {
                c.sendRaw(lengthPrefix(FrameLayout.PRE_HANDSHAKE_MAX_PAYLOAD_BYTES)); // at the limit: waits for the body
                c.send(new Message.Ping(0, 1)); // 40-odd bytes of the body, not a frame of their own
                c.close();
            }
            try (TestClient c = TestClient.connect(server.localAddress())) {
                // After the Welcome, max_frame_bytes: a frame of 100,000 bytes is read (and, not being a valid
                // Frame, is a protocol error about its content, not its length).
                byte[] big = new byte[4 + 100_000];
                System.arraycopy(lengthPrefix(100_000), 0, big, 0, 4);
                c.sendRaw(big);
                Message.Error e = assertInstanceOf(Message.Error.class, c.read());
                assertTrue(!e.message().contains("exceeds the limit"), e::message);
            }
            assertEquals(1, server.stats().limitHits(ServerStats.Limit.PRE_HANDSHAKE_BYTES));
        }
    }

    /** A connection that sends no Hello, or only part of one, is closed after handshakeTimeoutMs with an Error naming it. */
    @Test
    void aConnectionWithoutHelloIsClosedAfterTheHandshakeTimeout() throws Exception {
        try (ShiftformerServer server = fx.start(config().handshakeTimeoutMs(300).conclude(), fx.noEos())) {
            try (TestClient silent = new TestClient(server.localAddress());
                 TestClient partial = new TestClient(server.localAddress())) {
                byte[] hello = partial.frame(new Message.Hello(0, 1, 1, "slow"));
                partial.sendRaw(Arrays.copyOf(hello, 6)); // 2 bytes a second would take far longer than 300 ms
                connectionError(silent, ErrorCode.PROTOCOL_ERROR, ServerConfig.HANDSHAKE_TIMEOUT_MS_PROP);
                connectionError(partial, ErrorCode.PROTOCOL_ERROR, ServerConfig.HANDSHAKE_TIMEOUT_MS_PROP);
            }
            assertEquals(2, server.stats().limitHits(ServerStats.Limit.HANDSHAKE_TIMEOUT));
            assertEquals(2, limitCount(server, ServerStats.Limit.HANDSHAKE_TIMEOUT));
            try (TestClient c = TestClient.connect(server.localAddress())) { // a prompt Hello is served
                Thread.sleep(600); // past the handshake timeout: a welcomed connection stays
                c.send(new Message.Ping(0, 7));
                assertEquals(new Message.Pong(0, 7), c.read());
            }
            assertEquals(2, server.stats().limitHits(ServerStats.Limit.HANDSHAKE_TIMEOUT));
        }
    }

    /**
     * A welcomed connection with nothing in flight that stays silent for idleTimeoutMs is closed with an Error
     * naming the setting; one whose request runs longer than that (31 steps of at least 50 ms) is not.
     */
    @Test
    void anIdleConnectionIsClosedButNotOneWithARequestInFlight() throws Exception {
        ServerConfig cfg = config().idleTimeoutMs(500).conclude();
        int[] source = {4, 5};
        int[] expected = fx.expectedTokens(source, MAX_NEW);
        try (ShiftformerServer server = fx.start(cfg, fx.noEos(50));
             TestClient c = TestClient.connect(server.localAddress())) {
            c.send(request(1, source, MAX_NEW));
            Map<Long, java.util.List<Message>> frames = c.readTerminals(1);
            Message.Done done = assertInstanceOf(Message.Done.class, frames.get(1L).get(frames.get(1L).size() - 1));
            assertArrayEquals(expected, done.tokens(), "the request ran to its end although it outlasted the idle timeout");
            assertEquals(0, server.stats().limitHits(ServerStats.Limit.IDLE_TIMEOUT));
            connectionError(c, ErrorCode.CANCELLED, ServerConfig.IDLE_TIMEOUT_MS_PROP);
            assertEquals(1, server.stats().limitHits(ServerStats.Limit.IDLE_TIMEOUT));
            assertEquals(1, limitCount(server, ServerStats.Limit.IDLE_TIMEOUT));
        }
    }

    /**
     * A client that sends requests and never reads ends up holding nothing: the stall timeout ends its
     * requests, and the idle timeout then closes its connection although the Error frames cannot drain (on
     * the old code the connection and its streams stayed as long as the client did).
     */
    @Test
    void aConnectionThatNeverReadsIsClosedInTheEnd() throws Exception {
        ServerConfig cfg = config().stallTimeoutMs(500).idleTimeoutMs(1_000).writeBufferHighWaterMark(4096)
                .socketSendBufferBytes(4096).conclude();
        int[] source = {2, 3};
        try (ShiftformerServer server = fx.start(cfg, fx.noEos());
             TestClient c = new TestClient(server.localAddress(), 4096)) {
            c.send(new Message.Hello(0, 1, 1, "never reads"));
            assertInstanceOf(Message.Welcome.class, c.read());
            sendAll(c, requests(1, 40, source, MAX_NEW));
            await("the connection closed", 60_000, () -> server.connectionCount() == 0);
            assertTrue(server.stats().limitHits(ServerStats.Limit.STALL_TIMEOUT) > 0, server.stats()::toString);
            assertEquals(1, server.stats().limitHits(ServerStats.Limit.IDLE_TIMEOUT));
            awaitAllEnded(server);
        }
    }

    // ---- connection limits --------------------------------------------------------------------------

    /** One connection over maxConnections gets Error OVERLOADED naming the setting and is closed; a slot freed is reused. */
    @Test
    void connectionsOverTheLimitAreRefused() throws Exception {
        try (ShiftformerServer server = fx.start(config().maxConnections(2).conclude(), fx.noEos())) {
            TestClient a = TestClient.connect(server.localAddress());
            try (TestClient b = TestClient.connect(server.localAddress());
                 TestClient c = new TestClient(server.localAddress())) {
                connectionError(c, ErrorCode.OVERLOADED, ServerConfig.MAX_CONNECTIONS_PROP);
                assertEquals(1, server.stats().limitHits(ServerStats.Limit.MAX_CONNECTIONS));
                assertEquals(1, limitCount(server, ServerStats.Limit.MAX_CONNECTIONS));
                a.close();
                await("the closed connection's slot freed", 10_000, () -> server.connectionCount() == 1);
                Thread.sleep(100); // the refused connection's close is counted too
                try (TestClient d = TestClient.connect(server.localAddress())) {
                    d.send(new Message.Ping(0, 3));
                    assertEquals(new Message.Pong(0, 3), d.read());
                }
                b.send(new Message.Ping(0, 4));
                assertEquals(new Message.Pong(0, 4), b.read());
            }
        }
    }

    @Test
    void connectionsOverThePerAddressLimitAreRefused() throws Exception {
        try (ShiftformerServer server = fx.start(config().maxConnectionsPerAddress(2).conclude(), fx.noEos());
             TestClient a = TestClient.connect(server.localAddress());
             TestClient b = TestClient.connect(server.localAddress());
             TestClient c = new TestClient(server.localAddress())) {
            connectionError(c, ErrorCode.OVERLOADED, ServerConfig.MAX_CONNECTIONS_PER_ADDRESS_PROP);
            assertEquals(1, server.stats().limitHits(ServerStats.Limit.MAX_CONNECTIONS_PER_ADDRESS));
            assertEquals(1, limitCount(server, ServerStats.Limit.MAX_CONNECTIONS_PER_ADDRESS));
            a.send(new Message.Ping(0, 1));
            assertEquals(new Message.Pong(0, 1), a.read());
        }
    }

    // ---- half-close ---------------------------------------------------------------------------------

    /**
     * A client that sends its requests and then shuts down its write side gets every one of them finished
     * (tokens, then Done), and then the server closes the connection (on the old code it closed at once, with
     * no token and no terminal frame).
     */
    @Test
    void aHalfClosedConnectionGetsItsRequestsFinishedThenClosed() throws Exception {
        int[] source = {6, 7, 8};
        int[] expected = fx.expectedTokens(source, MAX_NEW);
        try (ShiftformerServer server = fx.start(config().conclude(), fx.noEos());
             TestClient c = TestClient.connect(server.localAddress())) {
            sendAll(c, requests(1, 3, source, MAX_NEW));
            c.shutdownOutput();
            Map<Long, java.util.List<Message>> frames = c.readTerminals(3);
            assertEachDone(frames, 3, expected);
            assertTrue(c.closedByServer(), "the server closes once the last request has ended");
            awaitAllEnded(server);
            assertEquals(3, server.stats().done());
        }
    }
}
