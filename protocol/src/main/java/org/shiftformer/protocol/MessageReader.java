package org.shiftformer.protocol;

import com.google.flatbuffers.Utf8;
import io.netty.buffer.ByteBuf;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.BackendIdentity;
import org.shiftformer.proto.stream.Backend;
import org.shiftformer.proto.stream.Body;
import org.shiftformer.proto.stream.Cancelled;
import org.shiftformer.proto.stream.DecodeParams;
import org.shiftformer.proto.stream.Done;
import org.shiftformer.proto.stream.Error;
import org.shiftformer.proto.stream.Frame;
import org.shiftformer.proto.stream.Hello;
import org.shiftformer.proto.stream.ModelInfo;
import org.shiftformer.proto.stream.ModelSummary;
import org.shiftformer.proto.stream.Ping;
import org.shiftformer.proto.stream.Pong;
import org.shiftformer.proto.stream.Token;
import org.shiftformer.proto.stream.TranslateRequest;
import org.shiftformer.proto.stream.Welcome;
import org.shiftformer.protocol.flatbuffers.FlatBufferVerifier;

/**
 * Turns one frame into a {@link Message}: checks the length prefix and the identifier, verifies the
 * FlatBuffer ({@link StreamVerifier}), then reads it through the generated accessors, straight from the
 * frame's memory (a view, not a copy). Stateless and thread-safe.
 *
 * <p>Every malformed frame gives a {@link ShiftformerException} with {@link ErrorCode#PROTOCOL_ERROR}
 * naming what is wrong. Nothing else escapes: should the verifier ever miss something that makes an
 * accessor fail, the failure is reported as a PROTOCOL_ERROR "verifier gap" with the original as its
 * cause (the fuzz tests fail on that message).
 */
public final class MessageReader {
    /** Prefix of every error message: what was being read. */
    static final String SOURCE = "frame";
    /** Marks a failure the verifier should have caught (a bug). */
    static final String VERIFIER_GAP = "verifier gap";

    private MessageReader() {
    }

    /**
     * Reads the frame in {@code frame}'s readable bytes (length prefix included, exactly one frame, as
     * {@link FrameDecoder} emits it). Neither moves its indices nor releases it; the message holds no
     * reference to it.
     *
     * @throws ShiftformerException {@link ErrorCode#PROTOCOL_ERROR} if the frame is malformed
     */
    public static Message read(ByteBuf frame) {
        // A view of the frame's memory; a copy only if the frame is spread over several buffers.
        return read(frame.nioBuffer(frame.readerIndex(), frame.readableBytes()));
    }

    /**
     * Reads the frame held in {@code frame} between its position and its limit (length prefix
     * included). Does not change the buffer's position, limit or order.
     *
     * @throws ShiftformerException {@link ErrorCode#PROTOCOL_ERROR} if the frame is malformed
     */
    public static Message read(ByteBuffer frame) {
        ByteBuffer bytes = frame.slice().order(FrameLayout.BYTE_ORDER);
        int frameBytes = bytes.limit();
        int minFrame = FrameLayout.frameBytes(FrameLayout.MIN_PAYLOAD_BYTES);
        if (frameBytes < minFrame) {
            throw protocolError("frame of " + frameBytes + " bytes is shorter than the minimum of " + minFrame);
        }
        long declared = Integer.toUnsignedLong(bytes.getInt(FrameLayout.LENGTH_OFFSET));
        if (declared != FrameLayout.payloadBytes(frameBytes)) {
            throw protocolError("length prefix says " + declared + " payload bytes, the frame holds "
                    + FrameLayout.payloadBytes(frameBytes));
        }
        checkIdentifier(bytes);
        FlatBufferVerifier verifier = new FlatBufferVerifier(SOURCE, MemorySegment.ofBuffer(bytes),
                ErrorCode.PROTOCOL_ERROR, StreamVerifier.MAX_DEPTH, StreamVerifier.MAX_TABLES);
        try {
            int type = StreamVerifier.verify(verifier);
            bytes.position(FrameLayout.ROOT_OFFSET);
            Frame root = Frame.getRootAsFrame(bytes);
            return body(root, type);
        } catch (ShiftformerException e) {
            if (e.code() == ErrorCode.PROTOCOL_ERROR) {
                throw e;
            }
            throw gap(e);
        } catch (RuntimeException e) {
            throw gap(e);
        }
    }

    private static ShiftformerException gap(RuntimeException e) {
        return new ShiftformerException(ErrorCode.PROTOCOL_ERROR, SOURCE + ": " + VERIFIER_GAP + ": " + e, e);
    }

    private static void checkIdentifier(ByteBuffer frame) {
        int at = FrameLayout.IDENTIFIER_OFFSET;
        for (int i = 0; i < FrameLayout.IDENTIFIER_BYTES; i++) {
            if (frame.get(at + i) != FrameLayout.identifierByte(i)) {
                StringBuilder found = new StringBuilder();
                for (int k = 0; k < FrameLayout.IDENTIFIER_BYTES; k++) {
                    found.append(k == 0 ? "" : " ").append(String.format("%02x", frame.get(at + k) & 0xFF));
                }
                throw protocolError("not a shiftformer frame: file identifier is " + found + ", expected \""
                        + FrameLayout.IDENTIFIER + "\"");
            }
        }
    }

    static ShiftformerException protocolError(String message) {
        return new ShiftformerException(ErrorCode.PROTOCOL_ERROR, SOURCE + ": " + message);
    }

    private static Message body(Frame frame, int type) {
        long id = frame.requestId();
        return switch (type) {
            case Body.Hello -> {
                Hello h = (Hello) frame.body(new Hello());
                yield new Message.Hello(id, h.minVersion(), h.maxVersion(), str(h.clientName()), h.token());
            }
            case Body.Welcome -> {
                Welcome w = (Welcome) frame.body(new Welcome());
                yield new Message.Welcome(id, w.version(), str(w.serverName()), str(w.serverVersion()),
                        uint(w.maxFrameBytes(), "Welcome.max_frame_bytes"), uint(w.maxInFlight(), "Welcome.max_in_flight"),
                        w.maxBeamWidth(), summary(w.model()));
            }
            case Body.ModelInfoRequest -> new Message.ModelInfoRequest(id);
            case Body.ModelInfo -> {
                ModelInfo m = (ModelInfo) frame.body(new ModelInfo());
                yield new Message.ModelInfo(id, config(m.config()), str(m.sha256()), backend(m.backend()),
                        str(m.tokenizerKind()), str(m.trainer()));
            }
            case Body.TranslateRequest -> {
                TranslateRequest r = (TranslateRequest) frame.body(new TranslateRequest());
                int[] tokens = null;
                if (r.tokensVector() != null) {
                    tokens = new int[r.tokensLength()];
                    for (int i = 0; i < tokens.length; i++) {
                        tokens[i] = r.tokens(i);
                    }
                }
                int[] resume = null;
                if (r.resumeTokensVector() != null) {
                    resume = new int[r.resumeTokensLength()];
                    for (int i = 0; i < resume.length; i++) {
                        resume[i] = r.resumeTokens(i);
                    }
                }
                yield new Message.TranslateRequest(id, r.text(), tokens, params(r.params()),
                        uint(r.deadlineMs(), "TranslateRequest.deadline_ms"), r.stream(), resume, r.modelSha256());
            }
            case Body.Token -> {
                Token t = (Token) frame.body(new Token());
                yield new Message.Token(id, t.token(), utf8(t.textAsByteBuffer()), uint(t.index(), "Token.index"),
                        t.deviceCycles());
            }
            case Body.Done -> {
                Done d = (Done) frame.body(new Done());
                int[] tokens = new int[d.tokensLength()];
                for (int i = 0; i < tokens.length; i++) {
                    tokens[i] = d.tokens(i);
                }
                yield new Message.Done(id, uint(d.tokenCount(), "Done.token_count"), d.finishedByEos(), d.score(),
                        d.queueNs(), d.firstTokenNs(), d.totalNs(), d.deviceCycles(), backend(d.backend()),
                        str(d.modelSha256()), params(d.params()), tokens, str(d.text()), utf8(d.textTailAsByteBuffer()),
                        uint(d.resumedFrom(), "Done.resumed_from"));
            }
            case Body.Error -> {
                Error e = (Error) frame.body(new Error());
                yield new Message.Error(id, e.code(), str(e.message()));
            }
            case Body.Cancel -> new Message.Cancel(id);
            case Body.Cancelled -> {
                Cancelled c = (Cancelled) frame.body(new Cancelled());
                yield new Message.Cancelled(id, uint(c.tokenCount(), "Cancelled.token_count"));
            }
            case Body.Ping -> new Message.Ping(id, ((Ping) frame.body(new Ping())).nonce());
            case Body.Pong -> new Message.Pong(id, ((Pong) frame.body(new Pong())).nonce());
            default -> throw new IllegalStateException("verified body type " + type + " has no reader");
        };
    }

    private static Message.ModelSummary summary(ModelSummary s) {
        if (s == null) {
            return null;
        }
        return new Message.ModelSummary(str(s.sha256()), backend(s.backend()),
                uint(s.vocabSize(), "ModelSummary.vocab_size"), uint(s.maxPositions(), "ModelSummary.max_positions"));
    }

    private static BackendIdentity backend(Backend b) {
        return b == null ? null : new BackendIdentity(str(b.name()), str(b.device()), str(b.version()));
    }

    private static Message.Params params(DecodeParams p) {
        return p == null ? null
                : new Message.Params(p.beamWidth(), uint(p.maxNewTokens(), "DecodeParams.max_new_tokens"), p.alphaQ8());
    }

    private static ModelConfig config(org.shiftformer.proto.stream.ModelConfig c) {
        return c == null ? null
                : new ModelConfig(c.dModel(), c.heads(), c.dFf(), c.encoderLayers(), c.decoderLayers(), c.vocabSize(),
                        c.maxPositions(), c.embedScaleLog2(), c.padId(), c.bosId(), c.eosId());
    }

    private static String str(String s) {
        return s == null ? "" : s;
    }

    /** A verified {@code [ubyte]} of UTF-8 as a string ("" when absent). */
    private static String utf8(ByteBuffer bytes) {
        return bytes == null ? "" : Utf8.getDefault().decodeUtf8(bytes, bytes.position(), bytes.remaining());
    }

    /** A {@code uint} that a sender must keep below 2^31 (PROTOCOL.md, "Field types"). */
    private static int uint(long value, String field) {
        if (value > Integer.MAX_VALUE) {
            throw protocolError(field + " " + value + " is not below 2^31");
        }
        return (int) value;
    }
}
