package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Supplier;
import org.shiftformer.protocol.FrameLayout;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.MessageReader;
import org.shiftformer.protocol.MessageWriter;

/**
 * A WebSocket client over a plain socket for the server tests (test code, RFC 6455 written out by hand so
 * that a test controls every byte and the socket's buffers): the upgrade of {@code GET /ws} on the admin
 * port, masked frames out, and the server's frames read by {@link ServerFrames}, which checks them. Every
 * read is bounded by the socket timeout.
 */
final class WsClient implements FrameSource, AutoCloseable {
    static final int OP_CONTINUATION = 0x0;
    static final int OP_TEXT = 0x1;
    static final int OP_BINARY = 0x2;
    static final int OP_CLOSE = 0x8;
    static final int OP_PING = 0x9;
    static final int OP_PONG = 0xA;
    static final int FIN = 0x80;
    /** The masking key of RFC 6455's examples, for every frame this client writes. */
    static final byte[] KEY = {0x37, (byte) 0xfa, 0x21, 0x3d};

    final Socket socket;
    private final InputStream in;
    private final OutputStream out;
    private final MessageWriter writer = new MessageWriter();
    final ServerFrames frames;
    private int taken;

    private WsClient(Socket socket, ServerFrames frames) throws IOException {
        this.socket = socket;
        this.frames = frames;
        in = socket.getInputStream();
        out = socket.getOutputStream();
    }

    /**
     * Connects to the admin port {@code admin} and upgrades {@code GET /ws} (fails unless 101).
     *
     * @param receiveBufferBytes socket receive buffer, or 0 for the system's
     */
    static WsClient open(InetSocketAddress admin, int receiveBufferBytes, int readTimeoutMs) throws IOException {
        Socket socket = new Socket();
        if (receiveBufferBytes > 0) {
            socket.setReceiveBufferSize(receiveBufferBytes);
        }
        socket.setTcpNoDelay(true);
        socket.connect(admin, readTimeoutMs);
        socket.setSoTimeout(readTimeoutMs);
        WsClient c = new WsClient(socket, new ServerFrames(() -> "on " + socket));
        c.out.write(upgradeRequest(admin));
        c.out.flush();
        c.frames.feed(readUpgradeResponse(c.in));
        return c;
    }

    static WsClient open(InetSocketAddress admin) throws IOException {
        return open(admin, 0, TestClient.READ_TIMEOUT_MS);
    }

    /** The upgrade request, as a browser would send it without an Origin. */
    static byte[] upgradeRequest(InetSocketAddress admin) {
        return ("GET /ws HTTP/1.1\r\nHost: 127.0.0.1:" + admin.getPort() + "\r\nUpgrade: websocket\r\n"
                + "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
                .getBytes(StandardCharsets.US_ASCII);
    }

    /** Reads the response head; fails unless it is 101. Returns what came after the head (WebSocket bytes). */
    static byte[] readUpgradeResponse(InputStream in) throws IOException {
        ByteArrayOutputStream got = new ByteArrayOutputStream();
        byte[] buf = new byte[4096];
        while (true) {
            byte[] b = got.toByteArray();
            for (int i = 0; i + 3 < b.length; i++) {
                if (b[i] == '\r' && b[i + 1] == '\n' && b[i + 2] == '\r' && b[i + 3] == '\n') {
                    String head = new String(b, 0, i, StandardCharsets.ISO_8859_1);
                    assertTrue(head.startsWith("HTTP/1.1 101 "), () -> "the upgrade was refused: " + head);
                    return Arrays.copyOfRange(b, i + 4, b.length);
                }
            }
            int n = in.read(buf);
            if (n < 0) {
                fail("the server closed before answering the upgrade: " + got);
            }
            got.write(buf, 0, n);
        }
    }

    /** A client frame: {@code b0} (FIN, RSV, opcode) as given, the length in its shortest form, masked with {@link #KEY}. */
    static byte[] frame(int b0, byte[] payload) {
        ByteArrayOutputStream f = new ByteArrayOutputStream();
        f.write(b0);
        header(f, payload.length, true);
        f.writeBytes(KEY);
        for (int i = 0; i < payload.length; i++) {
            f.write(payload[i] ^ KEY[i & 3]);
        }
        return f.toByteArray();
    }

    /** The mask bit and the payload length in its shortest form (RFC 6455 5.2). */
    static void header(ByteArrayOutputStream f, long length, boolean masked) {
        int mask = masked ? 0x80 : 0;
        if (length <= 125) {
            f.write(mask | (int) length);
        } else if (length <= 0xFFFF) {
            f.write(mask | 126);
            f.write((int) (length >> 8));
            f.write((int) length);
        } else {
            f.write(mask | 127);
            f.writeBytes(ByteBuffer.allocate(8).putLong(length).array());
        }
    }

    /** One binary message holding {@code m}'s frame. */
    void send(Message m) throws IOException {
        sendRaw(frame(FIN | OP_BINARY, TestClient.frame(writer, m)));
    }

    /** {@code messages}' frames in one binary message: they really arrive together. */
    void sendAll(List<Message> messages) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        for (Message m : messages) {
            all.writeBytes(TestClient.frame(writer, m));
        }
        sendRaw(frame(FIN | OP_BINARY, all.toByteArray()));
    }

    void sendRaw(byte[] wire) throws IOException {
        out.write(wire);
        out.flush();
    }

    /** The next protocol message (WebSocket pings and pongs are skipped); fails at the Close, the end or a timeout. */
    @Override
    public Message read() throws IOException {
        while (taken == frames.messages.size()) {
            assertTrue(frames.closes.isEmpty(), () -> "the server closed (" + frames.closes + ") after " + frames.messages);
            assertTrue(readMore(), () -> "the connection ended after " + frames.messages);
        }
        return frames.messages.get(taken++);
    }

    /** Reads what is there (blocking for at least one byte); false at the end of the stream. */
    boolean readMore() throws IOException {
        byte[] buf = new byte[8192];
        int n = in.read(buf);
        if (n < 0) {
            frames.end();
            return false;
        }
        frames.feed(Arrays.copyOf(buf, n));
        return true;
    }

    /** Reads until the server closes; returns the status of its Close frame (-1: no status, 0: no Close frame). */
    int readToClose() throws IOException {
        while (readMore()) {
            // the frames collect what arrives
        }
        return frames.closes.isEmpty() ? 0 : frames.closes.getFirst();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }

    /**
     * The server's frames, read as they arrive and checked: every frame final, unmasked, without reserved
     * bits, a binary message, a Pong or a Close; each binary message exactly one protocol frame (PROTOCOL.md
     * section 12); nothing after the Close.
     */
    static final class ServerFrames {
        final List<Message> messages = new ArrayList<>();
        final List<byte[]> pongs = new ArrayList<>();
        /** Status codes of the Close frames (-1 for one without a status). */
        final List<Integer> closes = new ArrayList<>();
        private final Supplier<String> where;
        private byte[] pending = new byte[0];

        ServerFrames(Supplier<String> where) {
            this.where = where;
        }

        void feed(byte[] bytes) {
            byte[] b = new byte[pending.length + bytes.length];
            System.arraycopy(pending, 0, b, 0, pending.length);
            System.arraycopy(bytes, 0, b, pending.length, bytes.length);
            int at = 0;
            while (true) {
                int used = frame(b, at);
                if (used == 0) {
                    break;
                }
                at += used;
            }
            pending = Arrays.copyOfRange(b, at, b.length);
        }

        /** The stream ended: fails if it ended inside a frame. */
        void end() {
            assertEquals(0, pending.length, () -> "the server's stream ended inside a WebSocket frame; " + where.get());
        }

        /** Reads one frame at {@code at}; returns its size, or 0 if it is not complete yet. */
        private int frame(byte[] b, int at) {
            if (b.length - at < 2) {
                return 0;
            }
            int b0 = b[at] & 0xFF;
            int b1 = b[at + 1] & 0xFF;
            int pos = at + 2;
            long len = b1 & 0x7F;
            if (len == 126) {
                if (b.length - pos < 2) {
                    return 0;
                }
                len = ((b[pos] & 0xFF) << 8) | (b[pos + 1] & 0xFF);
                pos += 2;
            } else if (len == 127) {
                if (b.length - pos < 8) {
                    return 0;
                }
                len = ByteBuffer.wrap(b, pos, 8).getLong();
                pos += 8;
            }
            long length = len;
            int opcode = b0 & 0x0F;
            assertTrue((b0 & 0xF0) == FIN && (b1 & 0x80) == 0, () -> "the server sent a frame that is not final, "
                    + "has reserved bits or is masked: " + Integer.toHexString(b0) + " " + Integer.toHexString(b1)
                    + "; " + where.get());
            assertTrue(closes.isEmpty(), () -> "the server sent a frame (opcode " + opcode + ") after its Close; "
                    + where.get());
            assertTrue(length >= 0 && length <= FrameLayout.LENGTH_BYTES + SessionOracle.MAX_FRAME_BYTES,
                    () -> "the server sent a frame of " + length + " bytes; " + where.get());
            if (b.length - pos < length) {
                return 0;
            }
            byte[] payload = Arrays.copyOfRange(b, pos, pos + (int) length);
            switch (opcode) {
                case OP_BINARY -> messages.add(message(payload));
                case OP_PONG -> pongs.add(payload);
                case OP_CLOSE -> {
                    assertTrue(payload.length != 1, () -> "a Close with a one-byte body; " + where.get());
                    closes.add(payload.length == 0 ? -1 : ((payload[0] & 0xFF) << 8) | (payload[1] & 0xFF));
                }
                default -> fail("the server sent opcode " + opcode + "; " + where.get());
            }
            return pos + (int) length - at;
        }

        /** One binary message: exactly one protocol frame, length prefix included. */
        private Message message(byte[] payload) {
            assertTrue(payload.length >= FrameLayout.LENGTH_BYTES, () -> "a binary message of " + payload.length
                    + " bytes; " + where.get());
            ByteBuffer bb = ByteBuffer.wrap(payload).order(FrameLayout.BYTE_ORDER);
            long prefix = Integer.toUnsignedLong(bb.getInt(FrameLayout.LENGTH_OFFSET));
            assertEquals(payload.length - FrameLayout.LENGTH_BYTES, prefix,
                    () -> "a binary message that is not exactly one protocol frame; " + where.get());
            try {
                return MessageReader.read(bb);
            } catch (RuntimeException e) {
                return fail("the server wrote a frame its own reader rejects after " + messages + ": " + e
                        + "; " + where.get(), e);
            }
        }
    }
}
