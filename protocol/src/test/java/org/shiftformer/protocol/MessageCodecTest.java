package org.shiftformer.protocol;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.embedded.EmbeddedChannel;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.proto.stream.Body;
import org.shiftformer.proto.stream.Frame;

/** Encoder and decoder together: every message type survives the trip, however the bytes arrive. */
class MessageCodecTest {
    static {
        LeakCheck.install();
    }

    private static final int LIMIT = FrameLayout.DEFAULT_MAX_PAYLOAD_BYTES;

    @AfterAll
    static void noBufferLeaked() {
        LeakCheck.assertNoLeaks();
    }

    private static EmbeddedChannel channel() {
        EmbeddedChannel ch = new EmbeddedChannel();
        ProtocolCodec.addTo(ch.pipeline(), LIMIT);
        return ch;
    }

    /** The frames of {@code messages}, as the encoder writes them, in one byte array. */
    private static byte[] encodeAll(List<Message> messages) {
        EmbeddedChannel ch = channel();
        ByteBuf all = Unpooled.buffer();
        try {
            for (Message m : messages) {
                assertTrue(ch.writeOutbound(m));
                ByteBuf frame = ch.readOutbound();
                all.writeBytes(frame);
                frame.release();
                assertEquals(0, frame.refCnt());
            }
            assertFalse(ch.finishAndReleaseAll());
            return ByteBufUtil.getBytes(all);
        } finally {
            all.release();
        }
    }

    /** Feeds {@code chunks} to a fresh channel and returns every message it decoded. */
    private static List<Message> decodeChunks(List<byte[]> chunks) {
        EmbeddedChannel ch = channel();
        List<ByteBuf> inputs = new ArrayList<>();
        for (byte[] c : chunks) {
            ByteBuf in = ByteBufAllocator.DEFAULT.buffer(c.length).writeBytes(c);
            inputs.add(in);
            ch.writeInbound(in);
        }
        List<Message> out = new ArrayList<>();
        for (Object m; (m = ch.readInbound()) != null; ) {
            out.add((Message) m);
        }
        assertFalse(ch.finishAndReleaseAll());
        for (ByteBuf in : inputs) {
            assertEquals(0, in.refCnt(), "an input buffer was not released");
        }
        return out;
    }

    @Test
    void everyMessageTypeSurvivesTheRoundTrip() {
        List<Message> messages = Samples.all();
        Set<Integer> types = new HashSet<>();
        EmbeddedChannel ch = channel();
        for (Message m : messages) {
            types.add(m.type());
            assertTrue(ch.writeOutbound(m));
            ByteBuf frame = ch.readOutbound();
            assertEquals(frame.readableBytes() - FrameLayout.LENGTH_BYTES, frame.getUnsignedIntLE(frame.readerIndex()),
                    "length prefix of " + m.typeName());
            assertTrue(ch.writeInbound(frame));
            Message back = ch.readInbound();
            assertEquals(m, back);
            assertEquals(m.type(), back.type());
            assertEquals(0, frame.refCnt(), "the decoder must release the frame");
        }
        assertEquals(Body.names.length - 1, types.size(), "a body type has no sample");
        assertFalse(ch.finishAndReleaseAll());
    }

    @Test
    void framesAreStockSizePrefixedFlatBuffers() {
        // What any FlatBuffers runtime does with a frame: read the size prefix, check the identifier,
        // read the root. No shiftformer code involved.
        MessageWriter writer = new MessageWriter();
        ByteBuffer bb = writer.encode(new Message.Token(77, 300, "two", 5, 1234));
        ByteBuffer payload = com.google.flatbuffers.ByteBufferUtil.removeSizePrefix(bb);
        assertEquals(bb.remaining() - 4, com.google.flatbuffers.ByteBufferUtil.getSizePrefix(bb));
        assertTrue(Frame.FrameBufferHasIdentifier(payload));
        Frame f = Frame.getRootAsFrame(payload);
        assertEquals(77, f.requestId());
        assertEquals(Body.Token, f.bodyType());
        org.shiftformer.proto.stream.Token t = (org.shiftformer.proto.stream.Token) f.body(new org.shiftformer.proto.stream.Token());
        assertEquals(300, t.token());
        assertEquals(5, t.index());
        assertEquals(1234, t.deviceCycles());
        assertEquals(3, t.textLength());
        assertEquals('w', t.text(1));
    }

    @Test
    void absentOptionalPartsReadAsDefaults() {
        // A minimal request as another language might write it: only the text.
        com.google.flatbuffers.FlatBufferBuilder b = new com.google.flatbuffers.FlatBufferBuilder(64);
        int text = b.createString("drei");
        org.shiftformer.proto.stream.TranslateRequest.startTranslateRequest(b);
        org.shiftformer.proto.stream.TranslateRequest.addText(b, text);
        int body = org.shiftformer.proto.stream.TranslateRequest.endTranslateRequest(b);
        Frame.startFrame(b);
        Frame.addRequestId(b, 9);
        Frame.addBodyType(b, Body.TranslateRequest);
        Frame.addBody(b, body);
        Frame.finishSizePrefixedFrameBuffer(b, Frame.endFrame(b));
        Message m = MessageReader.read(b.dataBuffer());
        Message.TranslateRequest r = assertInstanceOf(Message.TranslateRequest.class, m);
        assertEquals(9, r.requestId());
        assertEquals("drei", r.text());
        assertNull(r.tokens());
        assertNull(r.params());
        assertEquals(Message.Params.DEFAULTS, r.paramsOrDefaults());
        assertEquals(0, r.deadlineMs());
        assertTrue(r.stream(), "stream defaults to true");
    }

    private static <T> T assertInstanceOf(Class<T> type, Object o) {
        assertTrue(type.isInstance(o), () -> "expected " + type.getSimpleName() + ", got " + o);
        return type.cast(o);
    }

    @Test
    void coalescedFramesInOneBufferAllDecode() {
        List<Message> messages = Samples.all();
        byte[] all = encodeAll(messages);
        assertEquals(messages, decodeChunks(List.of(all)));
    }

    @Test
    void framesSplitAtEveryByteBoundaryDecode() {
        // Every frame, after the one before it, cut in two at every byte: every boundary of every frame
        // type, and every boundary between two frames.
        List<Message> messages = Samples.all();
        for (int i = 0; i < messages.size(); i++) {
            List<Message> pair = messages.subList(Math.max(0, i - 1), i + 1);
            byte[] bytes = encodeAll(pair);
            for (int cut = 1; cut < bytes.length; cut++) {
                byte[] head = java.util.Arrays.copyOfRange(bytes, 0, cut);
                byte[] tail = java.util.Arrays.copyOfRange(bytes, cut, bytes.length);
                assertEquals(pair, decodeChunks(List.of(head, tail)), "frames " + pair + " split at byte " + cut);
            }
        }
    }

    @Test
    void framesArrivingOneByteAtATimeDecode() {
        List<Message> messages = Samples.all();
        byte[] all = encodeAll(messages);
        List<byte[]> bytes = new ArrayList<>(all.length);
        for (byte b : all) {
            bytes.add(new byte[] {b});
        }
        assertEquals(messages, decodeChunks(bytes));
    }

    @Test
    void truncatedFrameStaysPendingUntilTheRestArrives() {
        byte[] frame = encodeAll(List.of(new Message.Ping(0, 42)));
        EmbeddedChannel ch = channel();
        ByteBuf head = Unpooled.copiedBuffer(frame, 0, frame.length - 1);
        assertFalse(ch.writeInbound(head), "no message before the last byte");
        assertNull(ch.readInbound());
        ByteBuf last = Unpooled.copiedBuffer(frame, frame.length - 1, 1);
        assertTrue(ch.writeInbound(last));
        assertEquals(new Message.Ping(0, 42), ch.readInbound());
        assertFalse(ch.finishAndReleaseAll());
        assertEquals(0, head.refCnt());
        assertEquals(0, last.refCnt());
    }

    @Test
    void pendingBytesAreReleasedWhenTheChannelCloses() {
        byte[] frame = encodeAll(List.of(new Message.Ping(0, 42)));
        EmbeddedChannel ch = channel();
        ByteBuf head = ByteBufAllocator.DEFAULT.buffer().writeBytes(frame, 0, frame.length - 3);
        assertFalse(ch.writeInbound(head));
        assertEquals(1, head.refCnt(), "held by the frame decoder");
        assertFalse(ch.finishAndReleaseAll());
        assertEquals(0, head.refCnt());
    }

    /**
     * The worked example of PROTOCOL.md: Cancel of request 7. If the writer's layout changes, update the
     * document with the new bytes.
     */
    @Test
    void workedExampleOfProtocolMdIsWhatTheWriterProduces() {
        byte[] frame = encodeAll(List.of(new Message.Cancel(7)));
        assertEquals(PROTOCOL_MD_EXAMPLE, ByteBufUtil.hexDump(frame));
        assertEquals(new Message.Cancel(7), decodeChunks(List.of(hex(PROTOCOL_MD_EXAMPLE))).getFirst());
    }

    /** PROTOCOL.md, "Worked example". */
    static final String PROTOCOL_MD_EXAMPLE = "34000000" + "18000000" + "53465453" + "000000000000"
            + "0a0014000c0007000800" + "0a000000" + "000000" + "09" + "10000000" + "0700000000000000" + "04000400"
            + "04000000";

    private static byte[] hex(String s) {
        return ByteBufUtil.decodeHexDump(s);
    }

    @Test
    void frameOverTheLimitIsNotWritten() {
        EmbeddedChannel ch = new EmbeddedChannel();
        ProtocolCodec.addTo(ch.pipeline(), FrameLayout.MIN_MAX_PAYLOAD_BYTES);
        String big = "x".repeat(FrameLayout.MIN_MAX_PAYLOAD_BYTES);
        ChannelFuture f = ch.writeAndFlush(new Message.Error(1, ErrorCode.INTERNAL.value(), big));
        assertFalse(f.isSuccess());
        ShiftformerException e = assertInstanceOf(ShiftformerException.class, f.cause());
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("exceeds the limit of " + FrameLayout.MIN_MAX_PAYLOAD_BYTES), e.getMessage());
        assertNull(ch.readOutbound(), "nothing written");
        // The next message is fine: the writer recovered.
        assertTrue(ch.writeOutbound(new Message.Ping(0, 1)));
        ByteBuf frame = ch.readOutbound();
        assertEquals(new Message.Ping(0, 1), MessageReader.read(frame));
        frame.release();
        assertFalse(ch.finishAndReleaseAll());
    }

    @Test
    void unpairedSurrogateIsRejectedByTheWriter() {
        MessageWriter writer = new MessageWriter();
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> writer.encode(new Message.Token(1, 5, "a\uD800b", 0, 0)));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().startsWith("cannot encode Token"), e.getMessage());
        ByteBuffer ok = writer.encode(new Message.Ping(0, 3));
        assertEquals(new Message.Ping(0, 3), MessageReader.read(ok));
    }

    @Test
    void encodingATokenAllocatesNothingBeyondTheFrame() {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        MessageWriter writer = new MessageWriter();
        Message.Token token = new Message.Token(123_456_789L, 4711, "hundert", 17, 98_765);
        long tid = Thread.currentThread().threadId();
        int n = 10_000;
        long allocated = Long.MAX_VALUE;
        // rounds until the encoder runs C2-compiled (until then it allocates what C2's escape analysis removes): on a
        // busy machine that may take several rounds; a real allocation per token never goes away
        for (int round = 0; round < 30 && allocated >= 64 * 1024; round++) {
            long before = mx.getThreadAllocatedBytes(tid);
            long sum = 0;
            for (int i = 0; i < n; i++) {
                sum += writer.encode(token).remaining();
            }
            allocated = mx.getThreadAllocatedBytes(tid) - before;
            assertTrue(sum > 0);
        }
        assertTrue(allocated < 64 * 1024, "encoding " + n + " tokens allocated " + allocated + " bytes");
    }

    @Test
    void nonFrameObjectsPassThroughBothWays() {
        EmbeddedChannel ch = channel();
        assertTrue(ch.writeOutbound("not a message"));
        assertEquals("not a message", ch.readOutbound());
        ch.pipeline().remove(ProtocolCodec.FRAME_DECODER);
        assertTrue(ch.writeInbound(42));
        assertEquals(42, (Integer) ch.readInbound());
        assertFalse(ch.finishAndReleaseAll());
    }

    @Test
    void sharedHandlersAreSharable() {
        assertTrue(MessageDecoder.INSTANCE.isSharable());
        assertTrue(new MessageEncoder(LIMIT).isSharable());
        assertFalse(new FrameDecoder(LIMIT).isSharable());
        EmbeddedChannel a = channel();
        EmbeddedChannel b = channel();
        assertSame(a.pipeline().get(ProtocolCodec.MESSAGE_DECODER), b.pipeline().get(ProtocolCodec.MESSAGE_DECODER));
        a.finishAndReleaseAll();
        b.finishAndReleaseAll();
    }

    @Test
    void limitsOutsideTheirRangeAreRejectedNamingTheSetting() {
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> new FrameDecoder(100));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().startsWith("max frame bytes 100 must be in ["), e.getMessage());
        assertThrows(ShiftformerException.class, () -> new MessageEncoder(FrameLayout.MAX_MAX_PAYLOAD_BYTES + 1));
    }

    @Test
    void leakDetectorReportsALeakedBuffer() throws InterruptedException {
        // Proves that LeakCheck would catch a leak in the other tests.
        LeakCheck.collect();
        leakOneBuffer();
        List<String> leaks = List.of();
        for (int i = 0; i < 50 && leaks.isEmpty(); i++) {
            leaks = LeakCheck.collect();
            Thread.sleep(20);
        }
        assertFalse(leaks.isEmpty(), "a deliberately leaked buffer was not reported: was Netty's ByteBuf leak detector"
                + " created before LeakCheck installed its factory?");
        assertTrue(leaks.getFirst().contains("leakOneBuffer"), leaks.getFirst());
    }

    private static void leakOneBuffer() {
        ByteBuf leaked = ByteBufAllocator.DEFAULT.buffer(16);
        leaked.writeLong(1);
        leaked.touch("leakOneBuffer");
    }

    @Test
    void paramsResolveDefaultsAndCheckLimits() {
        assertEquals(new org.shiftformer.api.DecodeParams(1, 127, 0),
                Message.Params.DEFAULTS.resolve(128, 8));
        org.shiftformer.api.DecodeParams p = new Message.Params(4, 20, 154).resolve(128, 8);
        assertEquals(4, p.beamWidth());
        assertEquals(20, p.maxNewTokens());
        assertEquals(154, p.alphaQ8(), "alpha_q8 survives the trip through a double exactly");
        assertEquals(new Message.Params(4, 20, 154), Message.Params.of(p));
        for (int q = 0; q <= Message.Params.MAX_ALPHA_Q8; q++) {
            assertEquals(q, new Message.Params(2, 1, q).resolve(16, 8).alphaQ8());
        }
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(ShiftformerException.class, () -> new Message.Params(9, 0, 0).resolve(128, 8)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(ShiftformerException.class, () -> new Message.Params(0, 0, 0).resolve(128, 8)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(ShiftformerException.class, () -> new Message.Params(1, 0, 513).resolve(128, 8)).code());
        ShiftformerException tooLong = assertThrows(ShiftformerException.class,
                () -> new Message.Params(1, 128, 0).resolve(128, 8));
        assertEquals(ErrorCode.MODEL_LIMIT_EXCEEDED, tooLong.code());
        assertTrue(tooLong.getMessage().contains("limit of 127"), tooLong.getMessage());
    }

    @Test
    void errorMessagesCarryStableCodes() {
        Message.Error e = Message.Error.of(5, new ShiftformerException(ErrorCode.OVERLOADED, "64 requests in flight"));
        assertEquals(9, e.code());
        assertEquals(ErrorCode.OVERLOADED, e.errorCode());
        assertEquals(ErrorCode.INTERNAL, new Message.Error(5, 999, "?").errorCode(), "unknown codes map to INTERNAL");
        assertEquals(ErrorCode.OVERLOADED, e.toException().code());
        assertArrayEquals(new int[0], new Message.Done(1, 0, true, 0, 0, 0, 0, 0, null, "", null, new int[0], "", "").tokens());
    }
}
