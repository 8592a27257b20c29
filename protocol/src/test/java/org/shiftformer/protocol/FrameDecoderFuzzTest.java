package org.shiftformer.protocol;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.code_intelligence.jazzer.junit.FuzzTest;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.util.ResourceLeakDetector;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Jazzer fuzz target of the inbound codec ({@link FrameDecoder} then {@link MessageDecoder}, on an
 * {@link EmbeddedChannel} whose last handler does what the server does with an error: record it and
 * close). Every input is a byte stream from a client; it must decode into messages or end with one
 * {@link ErrorCode#PROTOCOL_ERROR} naming the problem (never the reader's "verifier gap" safety net,
 * never another exception), and release every buffer.
 *
 * <p>Properties checked per input:
 * <ul>
 *   <li>the stream read at once and the stream read in small pieces (the cumulation path) give the
 *       same messages and the same error;</li>
 *   <li>at most one error per connection, and the connection is closed after it;</li>
 *   <li>every decoded message survives a round trip (MessageWriter, then MessageReader) unchanged;</li>
 *   <li>the input read as one frame ({@link MessageReader#read(ByteBuffer)}, length prefix set to its
 *       length so the reader gets past the framing) is a message or a PROTOCOL_ERROR;</li>
 *   <li>the input buffers end with a reference count of 0, and Netty's leak detector (paranoid on the
 *       corpus, see {@link LeakCheck}; sampled while fuzzing) reports nothing at the end.</li>
 * </ul>
 *
 * <p>Without {@code JAZZER_FUZZ} this runs the committed corpus ({@code FrameDecoderFuzzTestInputs/frames}
 * in the test resources: a valid frame of every message type, and every crash ever found) with the unit
 * tests; {@code mvn verify} also fuzzes it for a fixed time (FUZZING.md).
 */
class FrameDecoderFuzzTest {
    private static final boolean FUZZING = System.getenv("JAZZER_FUZZ") != null && !System.getenv("JAZZER_FUZZ").isEmpty();

    static {
        LeakCheck.install(); // before any buffer is allocated: see LeakCheck
        if (FUZZING) {
            // Paranoid tracking records a stack trace per buffer access and cuts the executions fourfold;
            // while fuzzing, the reference counts checked per input catch a leak of the decoder (a leaked
            // frame slice keeps its input, or the cumulation of the whole-stream read, alive).
            ResourceLeakDetector.setLevel(ResourceLeakDetector.Level.SIMPLE);
        }
    }

    /** The smallest limit a peer may announce: the length-prefix check is reachable by short inputs. */
    private static final int LIMIT = FrameLayout.MIN_MAX_PAYLOAD_BYTES;
    private static final FuzzCounters COUNTERS = new FuzzCounters("frames", "messages", "protocol errors");

    @AfterAll
    static void report() {
        COUNTERS.print();
        LeakCheck.assertNoLeaks();
    }

    @FuzzTest(maxDuration = "25s")
    void frames(byte[] stream) {
        COUNTERS.execution();
        Outcome whole = decode(stream, stream.length);
        Outcome pieces = decode(stream, 1 + Math.floorMod(Arrays.hashCode(stream), 13));
        assertEquals(whole, pieces, "the same bytes in smaller reads decode differently");
        for (Message m : whole.messages()) {
            assertEquals(m, MessageReader.read(new MessageWriter().encode(m)), () -> "round trip of " + m);
        }
        COUNTERS.add(0, whole.messages().size());
        COUNTERS.add(1, whole.error() == null ? 0 : 1);
        readAsOneFrame(stream);
    }

    /** What a connection made of a byte stream: its messages, then its error (or null). */
    record Outcome(List<Message> messages, String error) {
    }

    /** Feeds {@code stream} to a fresh channel in reads of at most {@code piece} bytes. */
    private static Outcome decode(byte[] stream, int piece) {
        List<Throwable> errors = new ArrayList<>();
        EmbeddedChannel ch = new EmbeddedChannel();
        ProtocolCodec.addTo(ch.pipeline(), LIMIT);
        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
            @Override
            public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                errors.add(cause);
                ctx.close();
            }
        });
        List<ByteBuf> inputs = new ArrayList<>();
        List<Message> messages = new ArrayList<>();
        try {
            for (int at = 0; at < stream.length && ch.isOpen(); at += piece) {
                int n = Math.min(piece, stream.length - at);
                ByteBuf in = ByteBufAllocator.DEFAULT.buffer(n).writeBytes(stream, at, n);
                inputs.add(in);
                ch.writeInbound(in);
                for (Object m; (m = ch.readInbound()) != null; ) {
                    messages.add(assertInstanceOf(Message.class, m));
                }
            }
        } finally {
            ch.finishAndReleaseAll();
        }
        for (ByteBuf in : inputs) {
            assertEquals(0, in.refCnt(), "an input buffer was not released");
        }
        assertTrue(errors.size() <= 1, () -> "more than one error on one connection: " + errors);
        if (errors.isEmpty()) {
            return new Outcome(messages, null);
        }
        ShiftformerException e = assertInstanceOf(ShiftformerException.class, errors.getFirst(),
                () -> "not a ShiftformerException: " + errors.getFirst());
        assertClean(e);
        assertFalse(ch.isOpen(), "the connection stays open after an error");
        return new Outcome(messages, e.getMessage());
    }

    /** The input as one frame whose length prefix is right: a message or a PROTOCOL_ERROR. */
    private static void readAsOneFrame(byte[] stream) {
        if (stream.length < FrameLayout.LENGTH_BYTES) {
            return;
        }
        ByteBuffer frame = ByteBuffer.wrap(stream.clone()).order(FrameLayout.BYTE_ORDER);
        frame.putInt(FrameLayout.LENGTH_OFFSET, FrameLayout.payloadBytes(stream.length));
        try {
            Message m = MessageReader.read(frame);
            assertEquals(m, MessageReader.read(new MessageWriter().encode(m)), () -> "round trip of " + m);
        } catch (ShiftformerException e) {
            assertClean(e);
        }
    }

    /**
     * Rewrites the committed seeds (only with {@code -Dgroups=fuzz-seeds}, FUZZING.md): one valid frame of every
     * message of {@link Samples#all()}, and a stream of several frames as a client sends them.
     */
    @Test
    @Tag("fuzz-seeds") // excluded from normal runs (runtime-core/pom.xml): it rewrites committed files
    void writeSeeds() throws IOException {
        Path dir = Path.of("src/test/resources/org/shiftformer/protocol/FrameDecoderFuzzTestInputs/frames");
        Files.createDirectories(dir);
        MessageWriter writer = new MessageWriter();
        List<Message> samples = Samples.all();
        for (int i = 0; i < samples.size(); i++) {
            Message m = samples.get(i);
            Files.write(dir.resolve(String.format("seed-%02d-%s", i, m.typeName())), bytes(writer.encode(m)));
        }
        ByteArrayOutputStream session = new ByteArrayOutputStream();
        for (Message m : List.of(new Message.Hello(0, 1, ProtocolVersion.CURRENT, "fuzz"), new Message.ModelInfoRequest(0),
                new Message.TranslateRequest(1, "zweiundvierzig", null, null, 0, true), new Message.Ping(0, 7),
                new Message.Cancel(1))) {
            session.writeBytes(bytes(writer.encode(m)));
        }
        Files.write(dir.resolve("seed-session"), session.toByteArray());
    }

    private static byte[] bytes(ByteBuffer bb) {
        byte[] b = new byte[bb.remaining()];
        bb.get(b);
        return b;
    }

    private static void assertClean(ShiftformerException e) {
        // The safety net by its form (its message starts "frame: verifier gap: "), not by the words anywhere:
        // a message may quote bytes of the input.
        if (e.code() != ErrorCode.PROTOCOL_ERROR
                || e.getMessage().startsWith(MessageReader.SOURCE + ": " + MessageReader.VERIFIER_GAP)
                || !e.getMessage().startsWith(MessageReader.SOURCE + ": ")) {
            fail("not a clean protocol error: " + e, e);
        }
    }
}
