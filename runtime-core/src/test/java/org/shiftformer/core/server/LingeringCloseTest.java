package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.core.server.ServerFixture.await;
import static org.shiftformer.core.server.ServerFixture.config;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
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
 * {@link LingeringClose}: a client the server closes while it is still sending must still read the server's
 * last frame. Closing a socket with unread input makes the kernel send a reset, and a client that gets the
 * reset loses what it had not read yet: the connection Error that says why. These clients keep sending
 * after their error; each must read the Error and then an orderly end of stream, every time.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class LingeringCloseTest {
    static {
        LeakCheck.install(); // before any buffer is allocated: see LeakCheck
    }

    private static final int ROUNDS = 8;

    @TempDir
    static Path dir;
    private static ServerFixture fx;

    @BeforeAll
    static void writeModel() {
        fx = new ServerFixture(dir, 33, "LingeringCloseTest");
    }

    @AfterAll
    static void noBufferLeaked() {
        LeakCheck.assertNoLeaks();
    }

    /** Sends {@code bytes} of zeros from another thread, ignoring the server's close. */
    private static Thread keepSending(TestClient c, int bytes) {
        Thread t = Thread.ofVirtual().start(() -> {
            byte[] chunk = new byte[16 * 1024];
            try {
                for (int sent = 0; sent < bytes; sent += chunk.length) {
                    c.sendRaw(chunk);
                }
            } catch (IOException e) {
                // the server closed: expected once it stops lingering
            }
        });
        return t;
    }

    private static void assertErrorThenOrderlyClose(TestClient c, String mentions) throws IOException {
        Message m = c.read();
        Message.Error e = assertInstanceOf(Message.Error.class, m, () -> "expected the connection Error, got " + m);
        assertEquals(0, e.requestId());
        assertTrue(e.message().contains(mentions), e::message);
        assertTrue(c.endsInOrderlyClose(), "the server's FIN, not a reset, after its Error");
    }

    /** A frame over max_frame_bytes, its body still arriving: Error, then FIN (the body is read and dropped). */
    @Test
    void aClientSendingAnOversizedFrameReadsTheError() throws Exception {
        try (ShiftformerServer server = fx.start(config().conclude(), fx.noEos())) {
            for (int round = 0; round < ROUNDS; round++) {
                try (TestClient c = TestClient.connect(server.localAddress())) {
                    c.sendRaw(ByteBuffer.allocate(4).order(FrameLayout.BYTE_ORDER)
                            .putInt(0, server.config().maxFrameBytes() + 1).array());
                    Thread sender = keepSending(c, 2 * server.config().maxFrameBytes());
                    assertErrorThenOrderlyClose(c, "exceeds the limit of " + server.config().maxFrameBytes());
                    sender.join();
                }
            }
            await("every connection closed", 10_000, () -> server.connectionCount() == 0);
        }
    }

    /** A bad frame followed by more bytes (a client pipelining after its mistake). */
    @Test
    void aClientPipeliningAfterABadFrameReadsTheError() throws Exception {
        try (ShiftformerServer server = fx.start(config().conclude(), fx.noEos())) {
            for (int round = 0; round < ROUNDS; round++) {
                try (TestClient c = TestClient.connect(server.localAddress())) {
                    byte[] bad = c.frame(new Message.Ping(0, 1));
                    bad[4] ^= 0x55; // the file identifier: not a shiftformer frame
                    c.sendRaw(bad);
                    Thread sender = keepSending(c, 1 << 20);
                    assertErrorThenOrderlyClose(c, "frame: ");
                    sender.join();
                }
            }
        }
    }

    /** A client that never stops sending is closed after the linger, not held forever. */
    @Test
    void aClientThatNeverStopsIsClosedAfterTheLinger() throws Exception {
        try (ShiftformerServer server = fx.start(config().conclude(), fx.noEos());
             TestClient c = TestClient.connect(server.localAddress())) {
            c.sendRaw(ByteBuffer.allocate(4).order(FrameLayout.BYTE_ORDER)
                    .putInt(0, server.config().maxFrameBytes() + 1).array());
            Thread sender = keepSending(c, Integer.MAX_VALUE);
            Message.Error e = assertInstanceOf(Message.Error.class, c.read());
            assertEquals(ErrorCode.PROTOCOL_ERROR, e.errorCode());
            await("closed after the linger", 10_000 + LingeringClose.LINGER_MS, () -> server.connectionCount() == 0);
            sender.join(10_000);
            assertTrue(!sender.isAlive(), "the sender saw the close");
        }
    }

    /** A refused connection (over maxConnections) whose Hello was already sent still reads OVERLOADED. */
    @Test
    void aRefusedClientWhoseHelloIsOnTheWayReadsWhy() throws Exception {
        try (ShiftformerServer server = fx.start(config().maxConnections(1).conclude(), fx.noEos());
             TestClient first = TestClient.connect(server.localAddress())) {
            for (int round = 0; round < ROUNDS; round++) {
                try (TestClient c = new TestClient(server.localAddress())) {
                    c.send(new Message.Hello(0, 1, 2, "refused"));
                    Thread sender = keepSending(c, 256 * 1024);
                    assertErrorThenOrderlyClose(c, ServerConfig.MAX_CONNECTIONS_PROP);
                    sender.join();
                }
            }
            assertEquals(1, server.connectionCount());
        }
    }
}
