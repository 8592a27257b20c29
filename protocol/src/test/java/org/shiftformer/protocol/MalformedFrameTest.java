package org.shiftformer.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.proto.stream.Body;

/**
 * Malformed input of every kind gives a {@link ShiftformerException} with {@link ErrorCode#PROTOCOL_ERROR}
 * naming the problem, never another exception, never a leaked buffer.
 */
class MalformedFrameTest {
    static {
        LeakCheck.install();
    }

    private static final int LIMIT = FrameLayout.MIN_MAX_PAYLOAD_BYTES;

    @AfterAll
    static void noBufferLeaked() {
        LeakCheck.assertNoLeaks();
    }

    // ---- helpers ------------------------------------------------------------------------------------

    private static EmbeddedChannel channel() {
        EmbeddedChannel ch = new EmbeddedChannel();
        ProtocolCodec.addTo(ch.pipeline(), LIMIT);
        return ch;
    }

    private static byte[] frame(Message m) {
        ByteBuffer bb = new MessageWriter().encode(m);
        byte[] out = new byte[bb.remaining()];
        bb.get(out);
        return out;
    }

    /**
     * Feeds {@code bytes} to a fresh channel. Returns the decoded message, or null if nothing came out;
     * throws what the pipeline raised. Every buffer is released either way.
     */
    private static Message feed(byte[] bytes) {
        EmbeddedChannel ch = channel();
        ByteBuf in = ByteBufAllocator.DEFAULT.buffer(bytes.length).writeBytes(bytes);
        try {
            ch.writeInbound(in);
            return ch.readInbound();
        } finally {
            ch.finishAndReleaseAll();
            assertEquals(0, in.refCnt(), "input buffer not released");
        }
    }

    /** Asserts that {@code bytes} are rejected as a protocol error whose message contains {@code fragment}. */
    private static ShiftformerException assertRejected(byte[] bytes, String fragment) {
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> feed(bytes));
        assertEquals(ErrorCode.PROTOCOL_ERROR, e.code(), e::getMessage);
        assertTrue(e.getMessage().startsWith("frame: ") && e.getMessage().contains(fragment),
                () -> "expected \"" + fragment + "\" in: " + e.getMessage());
        assertFalse(e.getMessage().contains(MessageReader.VERIFIER_GAP), e::getMessage);
        return e;
    }

    private static ByteBuffer le(byte[] f) {
        return ByteBuffer.wrap(f).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** Position of the root table (FlatBuffers rule: uoffset at frame byte 4, relative to itself). */
    private static int root(byte[] f) {
        return FrameLayout.ROOT_OFFSET + le(f).getInt(FrameLayout.ROOT_OFFSET);
    }

    private static int vtable(byte[] f, int table) {
        return table - le(f).getInt(table);
    }

    /** Position of field {@code id} of the table at {@code table}. */
    private static int field(byte[] f, int table, int id) {
        int off = le(f).getShort(vtable(f, table) + 4 + 2 * id) & 0xFFFF;
        assertTrue(off != 0, "field " + id + " is absent");
        return table + off;
    }

    /** Target of the uoffset at {@code pos}. */
    private static int target(byte[] f, int pos) {
        return pos + le(f).getInt(pos);
    }

    private static int body(byte[] f) {
        return target(f, field(f, root(f), 2));
    }

    private static void putInt(byte[] f, int pos, int value) {
        le(f).putInt(pos, value);
    }

    private static void putShort(byte[] f, int pos, int value) {
        le(f).putShort(pos, (short) value);
    }

    // ---- framing ------------------------------------------------------------------------------------

    @Test
    void oversizedLengthPrefixFailsAsSoonAsThePrefixArrives() {
        // Only the four prefix bytes: the decoder must not wait for (or allocate) the 4 GiB it announces.
        assertRejected(new byte[] {(byte) 0xFF, (byte) 0xFF, (byte) 0xFF, (byte) 0xFF},
                "length prefix 4294967295 exceeds the limit of " + LIMIT + " bytes");
        byte[] justOver = new byte[4];
        putInt(justOver, 0, LIMIT + 1);
        assertRejected(justOver, "length prefix " + (LIMIT + 1) + " exceeds the limit");
    }

    @Test
    void lengthPrefixBelowTheMinimumIsRejected() {
        for (int len = 0; len < FrameLayout.MIN_PAYLOAD_BYTES; len++) {
            byte[] f = new byte[4 + len];
            putInt(f, 0, len);
            assertRejected(f, "length prefix " + len + " is below the minimum of " + FrameLayout.MIN_PAYLOAD_BYTES);
        }
    }

    @Test
    void framesAtTheLimitAreAccepted() {
        // Grow an Error message until its payload is exactly the limit.
        int payload = FrameLayout.payloadBytes(frame(new Message.Error(1, 1, "")).length);
        String text = "y".repeat(LIMIT - payload);
        byte[] f = frame(new Message.Error(1, 1, text));
        int size = FrameLayout.payloadBytes(f.length);
        // Padding may round the size; trim the text until the payload fits the limit exactly or just under.
        while (size > LIMIT) {
            text = text.substring(1);
            f = frame(new Message.Error(1, 1, text));
            size = FrameLayout.payloadBytes(f.length);
        }
        assertTrue(size > LIMIT - 8, "payload " + size);
        assertEquals(new Message.Error(1, 1, text), feed(f));
    }

    @Test
    void bytesAfterAnErrorAreDiscarded() {
        EmbeddedChannel ch = channel();
        ByteBuf bad = ByteBufAllocator.DEFAULT.buffer().writeIntLE(-1);
        assertThrows(ShiftformerException.class, () -> ch.writeInbound(bad));
        ByteBuf good = ByteBufAllocator.DEFAULT.buffer().writeBytes(frame(new Message.Ping(0, 1)));
        assertFalse(ch.writeInbound(good), "nothing is decoded once the stream is broken");
        assertNull(ch.readInbound());
        assertFalse(ch.finishAndReleaseAll());
        assertEquals(0, bad.refCnt());
        assertEquals(0, good.refCnt());
    }

    @Test
    void lengthPrefixDisagreeingWithTheFrameIsRejectedByTheReader() {
        byte[] f = frame(new Message.Ping(0, 1));
        putInt(f, 0, FrameLayout.payloadBytes(f.length) + 4);
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> MessageReader.read(ByteBuffer.wrap(f)));
        assertEquals(ErrorCode.PROTOCOL_ERROR, e.code());
        assertTrue(e.getMessage().contains("length prefix says"), e.getMessage());
    }

    // ---- identifier and union -----------------------------------------------------------------------

    @Test
    void wrongFileIdentifierIsRejected() {
        byte[] f = frame(new Message.Ping(0, 1));
        f[FrameLayout.IDENTIFIER_OFFSET + 3] = 'M'; // the artifact's SFTM
        assertRejected(f, "file identifier is 53 46 54 4d, expected \"SFTS\"");
    }

    @Test
    void unknownUnionTypeIsRejectedNamingTheType() {
        for (int type : new int[] {Body.names.length, 99, 255}) {
            byte[] f = frame(new Message.Ping(0, 1));
            f[field(f, root(f), 1)] = (byte) type;
            assertRejected(f, "unknown message type " + type);
        }
    }

    @Test
    void frameWithoutBodyIsRejected() {
        byte[] f = frame(new Message.Ping(0, 1));
        f[field(f, root(f), 1)] = Body.NONE;
        assertRejected(f, "frame has no body");
        byte[] g = frame(new Message.Ping(0, 1));
        putShort(g, vtable(g, root(g)) + 4 + 2 * 2, 0); // body field absent, type present
        assertRejected(g, "Frame.body is missing");
    }

    // ---- crafted offsets ----------------------------------------------------------------------------

    @Test
    void rootOffsetPastTheEndIsRejected() {
        byte[] f = frame(new Message.Ping(0, 1));
        putInt(f, FrameLayout.ROOT_OFFSET, 0x7FFF_FFF0);
        assertRejected(f, "Frame root: offset at 4 points to byte");
    }

    @Test
    void rootOffsetZeroIsRejected() {
        byte[] f = frame(new Message.Ping(0, 1));
        putInt(f, FrameLayout.ROOT_OFFSET, 0);
        assertRejected(f, "Frame root: offset at 4 is 0");
    }

    @Test
    void misalignedRootTableIsRejected() {
        byte[] f = frame(new Message.Ping(0, 1));
        putInt(f, FrameLayout.ROOT_OFFSET, le(f).getInt(FrameLayout.ROOT_OFFSET) + 1);
        assertRejected(f, "is not aligned to 4 bytes");
    }

    @Test
    void vtableOutsideTheFrameIsRejected() {
        byte[] f = frame(new Message.Ping(0, 1));
        int root = root(f);
        putInt(f, root, -1_000_000); // vtable = root + 1e6
        assertRejected(f, "Frame: vtable at " + (root + 1_000_000) + " lies outside the buffer");
        byte[] g = frame(new Message.Ping(0, 1));
        putInt(g, root(g), root(g) + 8); // vtable at a negative position
        assertRejected(g, "lies outside the buffer");
    }

    @Test
    void malformedVtableSizesAreRejected() {
        byte[] f = frame(new Message.Ping(0, 1));
        putShort(f, vtable(f, root(f)), 5);
        assertRejected(f, "vtable size 5 is not an even number");
        byte[] g = frame(new Message.Ping(0, 1));
        putShort(g, vtable(g, root(g)) + 2, 30_000);
        assertRejected(g, "extend past the end of the buffer");
        byte[] h = frame(new Message.Ping(0, 1));
        putShort(h, vtable(h, root(h)), 0x8000); // read as a negative short by the Java runtime
        assertRejected(h, "vtable size 32768 is not an even number in [4, 32767]");
    }

    @Test
    void fieldOffsetOutsideItsTableIsRejected() {
        byte[] f = frame(new Message.Ping(0, 1));
        int vt = vtable(f, root(f));
        int inline = le(f).getShort(vt + 2);
        putShort(f, vt + 4 + 2 * 2, inline); // body's uoffset starts at the table's end
        assertRejected(f, "Frame.body: field at table offset " + inline);
    }

    @Test
    void bodyOffsetPastTheEndIsRejected() {
        byte[] f = frame(new Message.Ping(0, 1));
        putInt(f, field(f, root(f), 2), 1 << 20);
        assertRejected(f, "Frame.body: offset at");
    }

    @Test
    void stringRunningPastTheEndIsRejected() {
        byte[] f = frame(new Message.Hello(0, 1, 1, "client"));
        int name = target(f, field(f, body(f), 2));
        putInt(f, name, 1_000_000);
        assertRejected(f, "Hello.client_name: 1000000 elements");
        byte[] g = frame(new Message.Hello(0, 1, 1, "client"));
        putInt(g, target(g, field(g, body(g), 2)), f.length); // fits the 1024 limit, not the frame
        assertRejected(g, "extends past the end of the buffer");
    }

    @Test
    void stringWithoutTerminatorIsRejected() {
        byte[] f = frame(new Message.Hello(0, 1, 1, "client"));
        int name = target(f, field(f, body(f), 2));
        f[name + 4 + "client".length()] = 'x';
        assertRejected(f, "Hello.client_name: string of 6 bytes at " + name + " is not NUL-terminated");
    }

    @Test
    void invalidUtf8IsRejected() {
        byte[] f = frame(new Message.Error(1, 1, "abc"));
        f[target(f, field(f, body(f), 1)) + 5] = (byte) 0xC0; // overlong lead byte
        assertRejected(f, "Error.message: string at");
        byte[] g = frame(new Message.Token(1, 5, "äb", 0, 0));
        int text = target(g, field(g, body(g), 1));
        g[text + 4 + 1] = 'x'; // ä = C3 A4: break the continuation byte
        assertRejected(g, "Token.text: 3 bytes at " + text + " are not valid UTF-8 (byte 0)");
    }

    @Test
    void tokenTextNeedsNoTerminator() {
        // [ubyte] written by a stock runtime's createByteVector has no NUL after it: still a valid frame.
        com.google.flatbuffers.FlatBufferBuilder b = new com.google.flatbuffers.FlatBufferBuilder(64);
        int text = b.createByteVector(new byte[] {'o', 'n', 'e'});
        org.shiftformer.proto.stream.Token.startToken(b);
        org.shiftformer.proto.stream.Token.addToken(b, 5);
        org.shiftformer.proto.stream.Token.addText(b, text);
        int body = org.shiftformer.proto.stream.Token.endToken(b);
        org.shiftformer.proto.stream.Frame.startFrame(b);
        org.shiftformer.proto.stream.Frame.addRequestId(b, 3);
        org.shiftformer.proto.stream.Frame.addBodyType(b, Body.Token);
        org.shiftformer.proto.stream.Frame.addBody(b, body);
        org.shiftformer.proto.stream.Frame.finishSizePrefixedFrameBuffer(b, org.shiftformer.proto.stream.Frame.endFrame(b));
        ByteBuffer bb = b.dataBuffer();
        byte[] f = new byte[bb.remaining()];
        bb.get(f);
        assertEquals(new Message.Token(3, 5, "one", 0, 0), feed(f));
    }

    @Test
    void vectorLongerThanTheFrameIsRejected() {
        byte[] f = frame(new Message.TranslateRequest(1, null, new int[] {1, 2, 3}, null, 0, true));
        putInt(f, target(f, field(f, body(f), 1)), 0x4000_0000);
        assertRejected(f, "TranslateRequest.tokens: vector of 1073741824 elements of 4 bytes");
    }

    @Test
    void uintAbove2To31IsRejected() {
        byte[] f = frame(new Message.Token(1, 5, "a", 7, 0));
        putInt(f, field(f, body(f), 2), -1);
        assertRejected(f, "Token.index 4294967295 is not below 2^31");
        byte[] g = frame(new Message.TranslateRequest(1, "a", null, null, 5, true));
        putInt(g, field(g, body(g), 3), 0x8000_0000);
        assertRejected(g, "TranslateRequest.deadline_ms 2147483648 is not below 2^31");
    }

    @Test
    void nestedTableOffsetsAreVerified() {
        byte[] f = frame(new Message.Welcome(0, 1, "s", "v", LIMIT, 4, 4,
                new Message.ModelSummary(Samples.SHA, Samples.SIM, 10, 20)));
        int summary = target(f, field(f, body(f), 6));
        int backend = field(f, summary, 1);
        putInt(f, backend, 1 << 24);
        assertRejected(f, "Welcome.model.backend: offset at " + backend);
    }

    // ---- fuzzing ------------------------------------------------------------------------------------

    /** Random payloads behind a consistent length prefix, half of them with the right identifier. */
    @Test
    void randomPayloadsGiveOnlyProtocolErrors() {
        SplittableRandom random = new SplittableRandom(20261125);
        int rejected = 0;
        for (int i = 0; i < 3000; i++) {
            int payload = FrameLayout.MIN_PAYLOAD_BYTES + random.nextInt(200);
            byte[] f = new byte[4 + payload];
            random.nextBytes(f);
            putInt(f, 0, payload);
            if (random.nextBoolean()) {
                System.arraycopy(new byte[] {'S', 'F', 'T', 'S'}, 0, f, FrameLayout.IDENTIFIER_OFFSET, 4);
                if (random.nextBoolean()) { // a plausible root offset, so the walk gets further
                    putInt(f, FrameLayout.ROOT_OFFSET, 4 * (2 + random.nextInt(payload / 4)));
                }
            }
            rejected += outcome(f, "random payload " + i);
        }
        assertTrue(rejected > 2900, rejected + " of 3000 random payloads rejected");
    }

    /**
     * A channel with the codec and, at its end, a handler that does what the server does with an error:
     * record it and close the connection.
     */
    private static EmbeddedChannel closingChannel(List<Throwable> errors) {
        EmbeddedChannel ch = channel();
        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                errors.add(cause);
                ctx.close();
            }
        });
        return ch;
    }

    @Test
    void framesAfterABadFrameOfTheSameReadAreDiscardedOnceTheConnectionCloses() {
        byte[] bad = frame(new Message.Ping(0, 1));
        bad[FrameLayout.IDENTIFIER_OFFSET] = 'X';
        byte[] good = frame(new Message.Ping(0, 2));
        List<Throwable> errors = new ArrayList<>();
        EmbeddedChannel ch = closingChannel(errors);
        ByteBuf in = ByteBufAllocator.DEFAULT.buffer().writeBytes(bad).writeBytes(good).writeBytes(bad);
        ch.writeInbound(in);
        assertNull(ch.readInbound(), "the good frame after the bad one is not decoded");
        assertEquals(1, errors.size(), () -> "one error, then silence: " + errors);
        assertEquals(ErrorCode.PROTOCOL_ERROR, ((ShiftformerException) errors.getFirst()).code());
        assertFalse(ch.isOpen());
        ch.finishAndReleaseAll();
        assertEquals(0, in.refCnt());
    }

    /** Fully random byte streams (random length prefixes too), to a channel that closes on the first error. */
    @Test
    void randomStreamsGiveOnlyProtocolErrors() {
        SplittableRandom random = new SplittableRandom(7);
        int rejected = 0;
        for (int i = 0; i < 2000; i++) {
            byte[] bytes = new byte[4 + random.nextInt(64)];
            random.nextBytes(bytes);
            if (random.nextInt(4) == 0) { // sometimes a length within the limit, so a frame gets cut
                putInt(bytes, 0, random.nextInt(64));
            }
            List<Throwable> errors = new ArrayList<>();
            EmbeddedChannel ch = closingChannel(errors);
            ByteBuf in = ByteBufAllocator.DEFAULT.buffer().writeBytes(bytes);
            ch.writeInbound(in);
            assertTrue(errors.size() <= 1, () -> "at most one error per connection: " + errors);
            for (Throwable t : errors) {
                ShiftformerException e = assertInstanceOf(ShiftformerException.class, t);
                assertEquals(ErrorCode.PROTOCOL_ERROR, e.code(), e::getMessage);
                assertFalse(e.getMessage().contains(MessageReader.VERIFIER_GAP), e::getMessage);
            }
            rejected += errors.size();
            ch.finishAndReleaseAll();
            assertEquals(0, in.refCnt());
        }
        assertTrue(rejected > 1500, rejected + " of 2000 random streams rejected");
    }

    private static <T> T assertInstanceOf(Class<T> type, Object o) {
        assertTrue(type.isInstance(o), () -> "expected " + type.getSimpleName() + ", got " + o);
        return type.cast(o);
    }

    /** Valid frames of every type with a few bytes changed: decoded or rejected, nothing else. */
    @Test
    void mutatedFramesGiveMessagesOrProtocolErrors() {
        SplittableRandom random = new SplittableRandom(42);
        List<Message> samples = Samples.all();
        int rejected = 0;
        int cases = 4000;
        for (int i = 0; i < cases; i++) {
            byte[] f = frame(samples.get(random.nextInt(samples.size())));
            int flips = 1 + random.nextInt(4);
            for (int k = 0; k < flips; k++) {
                int pos = FrameLayout.PAYLOAD_OFFSET + random.nextInt(f.length - FrameLayout.PAYLOAD_OFFSET);
                f[pos] = switch (random.nextInt(4)) {
                    case 0 -> (byte) random.nextInt(256);
                    case 1 -> (byte) (f[pos] ^ (1 << random.nextInt(8)));
                    case 2 -> (byte) 0xFF;
                    default -> 0;
                };
            }
            rejected += outcome(f, "mutation " + i);
        }
        // Both outcomes must occur, or the test would prove nothing.
        assertTrue(rejected > cases / 10 && rejected < cases, rejected + " of " + cases + " mutations rejected");
    }

    /** Feeds one frame; 1 if rejected with a proper PROTOCOL_ERROR, 0 if decoded; fails on anything else. */
    private static int outcome(byte[] f, String what) {
        try {
            Message m = feed(f);
            if (m == null) {
                fail(what + ": a complete frame produced nothing");
            }
            return 0;
        } catch (ShiftformerException e) {
            assertEquals(ErrorCode.PROTOCOL_ERROR, e.code(), () -> what + ": " + e);
            assertFalse(e.getMessage().contains(MessageReader.VERIFIER_GAP), () -> what + ": " + e);
            return 1;
        }
    }
}
