package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import org.shiftformer.protocol.FrameLayout;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.MessageReader;
import org.shiftformer.protocol.MessageWriter;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * A small blocking client over a plain socket, with the real codec classes ({@link MessageWriter},
 * {@link MessageReader}): test code, not the public client. Every read is bounded by the socket timeout.
 */
final class TestClient implements FrameSource, AutoCloseable {
    static final int READ_TIMEOUT_MS = 15_000;

    private final Socket socket;
    private final DataInputStream in;
    private final OutputStream out;
    private final MessageWriter writer = new MessageWriter();

    TestClient(InetSocketAddress address) throws IOException {
        this(address, 0);
    }

    /** @param receiveBufferBytes socket receive buffer, or 0 for the system's */
    TestClient(InetSocketAddress address, int receiveBufferBytes) throws IOException {
        this(plain(address, receiveBufferBytes));
    }

    private static Socket plain(InetSocketAddress address, int receiveBufferBytes) throws IOException {
        Socket socket = new Socket();
        if (receiveBufferBytes > 0) {
            socket.setReceiveBufferSize(receiveBufferBytes);
        }
        socket.connect(address, 5_000);
        return socket;
    }

    /**
     * Over TLS with {@code tls} (the JDK's {@link SSLSocket}), checking the server's certificate for
     * 127.0.0.1 as HTTPS does; the handshake runs at the first read or write.
     */
    static TestClient tls(InetSocketAddress address, SSLContext tls) throws IOException {
        SSLSocket socket = (SSLSocket) tls.getSocketFactory().createSocket();
        SSLParameters params = socket.getSSLParameters();
        params.setEndpointIdentificationAlgorithm("HTTPS");
        socket.setSSLParameters(params);
        socket.connect(address, 5_000);
        return new TestClient(socket);
    }

    private TestClient(Socket connected) throws IOException {
        socket = connected;
        socket.setSoTimeout(READ_TIMEOUT_MS);
        socket.setTcpNoDelay(true);
        in = new DataInputStream(socket.getInputStream());
        out = socket.getOutputStream();
    }

    /** Connects and completes the Hello / Welcome exchange. */
    static TestClient connect(InetSocketAddress address) throws IOException {
        TestClient c = new TestClient(address);
        c.send(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "test-client"));
        assertInstanceOf(Message.Welcome.class, c.read());
        return c;
    }

    static byte[] frame(MessageWriter writer, Message m) {
        ByteBuffer bb = writer.encode(m);
        byte[] b = new byte[bb.remaining()];
        bb.get(b);
        return b;
    }

    byte[] frame(Message m) {
        return frame(writer, m);
    }

    void send(Message m) throws IOException {
        sendRaw(frame(m));
    }

    void sendRaw(byte[] bytes) throws IOException {
        out.write(bytes);
        out.flush();
    }

    /** Bytes that can be read now without blocking. */
    int available() throws IOException {
        return in.available();
    }

    /** Reads one frame (fails on timeout or EOF). */
    @Override
    public Message read() throws IOException {
        byte[] prefix = new byte[FrameLayout.LENGTH_BYTES];
        in.readFully(prefix);
        int len = ByteBuffer.wrap(prefix).order(FrameLayout.BYTE_ORDER).getInt();
        assertTrue(len >= FrameLayout.MIN_PAYLOAD_BYTES && len <= FrameLayout.DEFAULT_MAX_PAYLOAD_BYTES, "length " + len);
        byte[] frame = new byte[FrameLayout.LENGTH_BYTES + len];
        System.arraycopy(prefix, 0, frame, 0, prefix.length);
        in.readFully(frame, prefix.length, len);
        return MessageReader.read(ByteBuffer.wrap(frame));
    }

    static boolean isTerminal(Message m) {
        return m.requestId() != 0 && (m instanceof Message.Done || m instanceof Message.Error
                || m instanceof Message.Cancelled);
    }

    /** True if the server closes the connection (EOF or reset) before the read timeout; frames before it are skipped. */
    boolean closedByServer() throws IOException {
        try {
            while (true) {
                read();
            }
        } catch (EOFException | SocketException | SSLException e) {
            return true; // SSLException: the server ended the TLS session (an alert)
        } catch (SocketTimeoutException e) {
            return false;
        }
    }

    /**
     * Reads to the end of the stream, skipping frames: true at an orderly close (FIN), false on a reset,
     * which destroys whatever the client had not read yet.
     */
    boolean endsInOrderlyClose() throws IOException {
        try {
            while (in.read() != -1) {
                // skip
            }
            return true;
        } catch (SocketException e) {
            return false;
        }
    }

    /** Drops the connection: an abortive close (RST), not the FIN the server would take for a half-close. */
    void abort() throws IOException {
        socket.setSoLinger(true, 0);
        socket.close();
    }

    /** Half-close: shuts down the write side (the server sees end of input), keeps reading. */
    void shutdownOutput() throws IOException {
        socket.shutdownOutput();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
