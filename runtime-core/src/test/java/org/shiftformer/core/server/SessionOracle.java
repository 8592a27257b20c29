package org.shiftformer.core.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.protocol.FrameLayout;
import org.shiftformer.protocol.Message;
import org.shiftformer.protocol.MessageReader;
import org.shiftformer.protocol.MessageWriter;
import org.shiftformer.protocol.ProtocolVersion;

/**
 * What the two session fuzz targets share ({@link HandshakeFuzzTest} over TCP, {@link WebSocketFuzzTest} over
 * WebSocket): the server they send sessions to ({@link FuzzServer}), the client's own reading of the
 * protocol bytes it sent ({@link ClientView}: what the server must make of them) and the check of what the
 * server answered against it ({@link #check}).
 */
final class SessionOracle {
    /** The one token of the server's tokens file: a Hello needs it (the seeds carry it; mutations break it). */
    static final String TOKEN = "fuzz-token-0123456789";
    static final int MAX_FRAME_BYTES = FrameLayout.DEFAULT_MAX_PAYLOAD_BYTES;
    static final int PRE_HANDSHAKE = Math.min(MAX_FRAME_BYTES, FrameLayout.PRE_HANDSHAKE_MAX_PAYLOAD_BYTES);
    /** Bound of every wait for the server. */
    static final int READ_TIMEOUT_MS = Integer.getInteger("rt", 20_000);

    private SessionOracle() {
    }

    /**
     * A real server for fuzzing on 127.0.0.1: a small random model on the reference backend, a tokens file of
     * one token ({@link #TOKEN}, so the {@code Authenticator} is in the path), at most 4 new tokens per request,
     * and the server's warnings recorded (a warning fails the input that caused it).
     */
    static final class FuzzServer implements AutoCloseable {
        private static final Logger SERVER_LOG = Logger.getLogger("org.shiftformer");
        final ShiftformerServer server;
        private final Path dir;
        private final List<String> warnings = new ArrayList<>();
        private final Handler recorder = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
                    synchronized (warnings) {
                        warnings.add(r.getLoggerName() + ": " + r.getMessage());
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

        /** Starts it; {@code adminPort} is {@link ServerConfig#ADMIN_DISABLED} or 0 (an ephemeral port). */
        FuzzServer(String name, int adminPort) {
            try {
                dir = Files.createTempDirectory(name + "-fuzz");
                Path tokens = dir.resolve("tokens");
                Files.writeString(tokens, "fuzz " + TOKEN + "\n");
                ServerFixture fixture = new ServerFixture(dir, 11, name);
                SERVER_LOG.addHandler(recorder);
                server = fixture.start(ServerConfig.builder().port(0).adminPort(adminPort).tokensFile(tokens)
                        .bindAddress("127.0.0.1").drainTimeoutMs(2_000).maxFrameBytes(MAX_FRAME_BYTES)
                        .maxConnections(10_000).maxConnectionsPerAddress(10_000).defaultMaxNewTokens(4)
                        .idleTimeoutMs(60_000).handshakeTimeoutMs(10_000).conclude(),
                        fixture.backend.load(fixture.artifact.model()));
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        /** Fails if the server logged a warning (since the last call). */
        void assertNoWarnings(String where) {
            synchronized (warnings) {
                List<String> w = List.copyOf(warnings);
                warnings.clear();
                assertEquals(List.of(), w, () -> "the server logged warnings; " + where);
            }
        }

        @Override
        public void close() throws IOException {
            server.close();
            SERVER_LOG.removeHandler(recorder);
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
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
        /**
         * No frame of the input is a connection error by itself, nor may be one (a TranslateRequest whose id
         * came before): the server answers every request unless something else ends the connection.
         */
        final boolean clean;
        /** The input was cut by an error below the protocol (see the constructor), and that is the first error. */
        final boolean cutFirst;

        /** {@code input}, all the client sent. */
        ClientView(byte[] input) {
            this(input, false);
        }

        /**
         * {@code input}; with {@code cut}, the server read these bytes and then met an error of the layer
         * underneath (a WebSocket message it refuses): a connection error right after them, unless one came
         * before.
         */
        ClientView(byte[] input, boolean cut) {
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
                    break; // a truncated frame at the end: the server waits for the rest
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
            boolean clean = frames.isEmpty();
            if (validHello) {
                clean = true;
                for (Message m : frames.subList(1, frames.size())) {
                    clean &= !endsConnection(m) && !(m instanceof Message.TranslateRequest r
                            && prefixTranslates.containsKey(r.requestId()));
                    switch (m) {
                        case Message.TranslateRequest r -> count(translates, prefixTranslates, r.requestId(), clean);
                        case Message.Ping p -> count(pings, prefixPings, p.requestId(), clean);
                        case Message.ModelInfoRequest i -> count(infos, prefixInfos, i.requestId(), clean);
                        case null, default -> {
                        }
                    }
                }
            }
            this.clean = clean;
            this.cutFirst = cut && clean;
            if (cutFirst) {
                frames.add(null); // what the server read ends in an error, as if with a frame that does not read
            }
        }

        /**
         * A frame the server answers with a connection error whatever came before: one that does not read, a
         * second Hello, a server-to-client message, a TranslateRequest with id 0. (A TranslateRequest whose id
         * is already in the input ends the clean prefix too: it is a connection error if the first is still
         * in flight.)
         */
        static boolean endsConnection(Message m) {
            return switch (m) {
                case null -> true;
                case Message.TranslateRequest r -> r.requestId() == 0;
                case Message.Ping p -> false;
                case Message.ModelInfoRequest i -> false;
                case Message.Cancel c -> false;
                default -> true;
            };
        }

        /** Whether the server must end the connection with an error (not only may). */
        boolean errorCertain() {
            return validHello ? frames.subList(1, frames.size()).stream().anyMatch(ClientView::endsConnection)
                    : !frames.isEmpty();
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

        /**
         * Whether {@code out} holds every answer the input asks for: the Welcome, a terminal frame per
         * TranslateRequest, a Pong per Ping and a ModelInfo per ModelInfoRequest.
         */
        boolean answeredBy(List<Message> out) {
            if (!validHello) {
                return true;
            }
            if (out.isEmpty() || !(out.getFirst() instanceof Message.Welcome)) {
                return false;
            }
            Map<Long, Integer> terminals = new HashMap<>();
            Map<Long, Integer> pongs = new HashMap<>();
            Map<Long, Integer> answers = new HashMap<>();
            for (Message m : out) {
                switch (m) {
                    case Message.Done d -> terminals.merge(d.requestId(), 1, Integer::sum);
                    case Message.Cancelled c -> terminals.merge(c.requestId(), 1, Integer::sum);
                    case Message.Error e -> terminals.merge(e.requestId(), 1, Integer::sum);
                    case Message.Pong p -> pongs.merge(p.requestId(), 1, Integer::sum);
                    case Message.ModelInfo i -> answers.merge(i.requestId(), 1, Integer::sum);
                    default -> {
                    }
                }
            }
            return atLeast(terminals, translates) && atLeast(pongs, pings) && atLeast(answers, infos);
        }

        private static boolean atLeast(Map<Long, Integer> got, Map<Long, Integer> wanted) {
            return wanted.entrySet().stream().allMatch(e -> got.getOrDefault(e.getKey(), 0) >= e.getValue());
        }
    }

    /** What {@link #check} saw: a valid Hello in the input, a connection error (an Error with request id 0) last. */
    record Outcome(boolean welcomed, boolean connectionError) {
    }

    /**
     * Checks {@code out}, the server's frames, against {@code in}.
     *
     * @param reset    the connection was reset: only the frames that arrived are checked
     * @param complete the client waited for everything (it did not end the session itself before its
     *                 requests were answered): without a connection error, every request got exactly its answer
     */
    static Outcome check(ClientView in, List<Message> out, boolean reset, boolean complete, String where) {
        for (int i = 0; i < out.size(); i++) {
            Message m = out.get(i);
            if (m instanceof Message.Error e) {
                assertTrue(e.code() != ErrorCode.INTERNAL.value(), () -> "an INTERNAL error; " + where);
                if (e.requestId() == 0) {
                    assertEquals(out.size() - 1, i, () -> "frames after the connection error; " + where);
                    assertTrue(!e.message().isBlank(), () -> "a connection error that does not say why; " + where);
                }
            }
        }
        boolean connectionError = !out.isEmpty() && out.getLast() instanceof Message.Error e && e.requestId() == 0;
        if (!in.validHello) {
            // Before a Welcome: nothing but one Error with request id 0; nothing at all only without a complete first frame.
            assertTrue(out.isEmpty() || (out.size() == 1 && connectionError),
                    () -> "before a Welcome, the server sent more than one Error for request 0; " + where);
            if (!in.frames.isEmpty() && !reset) {
                assertTrue(connectionError, () -> "a complete first frame that is not a valid Hello got no Error; " + where);
            }
            return new Outcome(false, connectionError);
        }
        Outcome outcome = new Outcome(true, connectionError);
        if (out.isEmpty() && reset) {
            return outcome;
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
            if (!reset && complete) {
                // Every request got its answer, and the server closed only after the last.
                assertEquals(in.translates, terminals, () -> "terminal frames per request id; " + where);
                assertEquals(in.pings, pongs, () -> "Pongs per request id; " + where);
                assertEquals(in.infos, infos, () -> "ModelInfos per request id; " + where);
            }
            return outcome;
        }
        tokensSinceTerminal.forEach((id, open) -> assertTrue(!open,
                () -> "request " + id + " got Token frames but no terminal frame before the connection error; " + where));
        if (!reset) {
            in.prefixTranslates.forEach((id, n) -> assertTrue(terminals.getOrDefault(id, 0) >= n,
                    () -> "request " + id + ", read before the connection error, got no terminal frame; " + where));
            in.prefixPings.forEach((id, n) -> assertTrue(pongs.getOrDefault(id, 0) >= n,
                    () -> "Ping " + id + ", read before the connection error, got no Pong; " + where));
            in.prefixInfos.forEach((id, n) -> assertTrue(infos.getOrDefault(id, 0) >= n,
                    () -> "ModelInfoRequest " + id + ", read before the connection error, got no ModelInfo; " + where));
        }
        return outcome;
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

    /** The frames of {@code messages} (length prefixes included), one after another. */
    static byte[] frames(Message... messages) {
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

    /** The Hello of the seeds: the token, the current version. */
    static Message.Hello hello() {
        return new Message.Hello(0, 1, ProtocolVersion.CURRENT, "fuzz", TOKEN);
    }
}
