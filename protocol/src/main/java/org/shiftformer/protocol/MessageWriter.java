package org.shiftformer.protocol;

import com.google.flatbuffers.FlatBufferBuilder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.ByteBuffer;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.BackendIdentity;
import org.shiftformer.proto.stream.Backend;
import org.shiftformer.proto.stream.Cancel;
import org.shiftformer.proto.stream.Cancelled;
import org.shiftformer.proto.stream.DecodeParams;
import org.shiftformer.proto.stream.Done;
import org.shiftformer.proto.stream.Error;
import org.shiftformer.proto.stream.Frame;
import org.shiftformer.proto.stream.Hello;
import org.shiftformer.proto.stream.ModelInfo;
import org.shiftformer.proto.stream.ModelInfoRequest;
import org.shiftformer.proto.stream.ModelSummary;
import org.shiftformer.proto.stream.Ping;
import org.shiftformer.proto.stream.Pong;
import org.shiftformer.proto.stream.Token;
import org.shiftformer.proto.stream.TranslateRequest;
import org.shiftformer.proto.stream.Welcome;

/**
 * Turns a {@link Message} into one frame: a FlatBuffers size-prefixed buffer (FrameLayout) built with
 * one reused {@link FlatBufferBuilder}, so encoding a message allocates nothing but the outgoing buffer
 * (strings are encoded straight into the builder). Not thread-safe: use one writer per thread or
 * channel ({@link MessageEncoder} keeps one per event-loop thread).
 *
 * <p>Field values at their schema default are left out of the frame, as FlatBuffers writers do; strings
 * that are part of a message are always written, even when empty.
 */
public final class MessageWriter {
    /** Initial builder capacity: a Token frame is well under 100 bytes. */
    static final int INITIAL_BUILDER_BYTES = 1024;
    /** A builder grown beyond this by one big message is dropped afterwards rather than kept. */
    static final int MAX_RETAINED_BUILDER_BYTES = 1 << 20;

    private FlatBufferBuilder builder = new FlatBufferBuilder(INITIAL_BUILDER_BYTES);

    /**
     * Encodes {@code message} into a new buffer from {@code alloc} holding exactly one frame.
     *
     * @param maxPayloadBytes the receiving peer's limit on the length prefix
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} if the frame would exceed the limit
     *                              or a string holds an unpaired surrogate
     */
    public ByteBuf write(Message message, ByteBufAllocator alloc, int maxPayloadBytes) {
        boolean keepBuilder = false;
        try {
            ByteBuffer frame = encode(message);
            int frameBytes = frame.remaining();
            int payload = FrameLayout.payloadBytes(frameBytes);
            if (payload > maxPayloadBytes) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, message.typeName() + " frame of " + payload
                        + " payload bytes exceeds the limit of " + maxPayloadBytes);
            }
            ByteBuf out = alloc.ioBuffer(frameBytes);
            out.writeBytes(frame);
            keepBuilder = frameBytes <= MAX_RETAINED_BUILDER_BYTES;
            return out;
        } finally {
            if (!keepBuilder) { // grown by a big message, or left mid-build by a failure
                builder = new FlatBufferBuilder(INITIAL_BUILDER_BYTES);
            }
        }
    }

    /**
     * Encodes {@code message} as one frame (length prefix included) between the returned buffer's
     * position and limit. The buffer belongs to this writer and is valid until its next call.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} if a string holds an unpaired surrogate
     */
    public ByteBuffer encode(Message message) {
        FlatBufferBuilder b = builder;
        b.clear();
        try {
            int body = switch (message) {
                case Message.Hello m -> hello(b, m);
                case Message.Welcome m -> welcome(b, m);
                case Message.ModelInfoRequest m -> {
                    ModelInfoRequest.startModelInfoRequest(b);
                    yield ModelInfoRequest.endModelInfoRequest(b);
                }
                case Message.ModelInfo m -> modelInfo(b, m);
                case Message.TranslateRequest m -> translateRequest(b, m);
                case Message.Token m -> token(b, m);
                case Message.Done m -> done(b, m);
                case Message.Error m -> {
                    int text = b.createString(m.message());
                    Error.startError(b);
                    Error.addCode(b, m.code());
                    Error.addMessage(b, text);
                    yield Error.endError(b);
                }
                case Message.Cancel m -> {
                    Cancel.startCancel(b);
                    yield Cancel.endCancel(b);
                }
                case Message.Cancelled m -> {
                    Cancelled.startCancelled(b);
                    Cancelled.addTokenCount(b, m.tokenCount());
                    yield Cancelled.endCancelled(b);
                }
                case Message.Ping m -> {
                    Ping.startPing(b);
                    Ping.addNonce(b, m.nonce());
                    yield Ping.endPing(b);
                }
                case Message.Pong m -> {
                    Pong.startPong(b);
                    Pong.addNonce(b, m.nonce());
                    yield Pong.endPong(b);
                }
            };
            Frame.startFrame(b);
            Frame.addRequestId(b, message.requestId());
            Frame.addBody(b, body);
            Frame.addBodyType(b, (byte) message.type());
            Frame.finishSizePrefixedFrameBuffer(b, Frame.endFrame(b));
            return b.dataBuffer();
        } catch (IllegalArgumentException e) { // flatbuffers' Utf8: an unpaired surrogate
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "cannot encode " + message.typeName() + ": " + e.getMessage(), e);
        }
    }

    private static int hello(FlatBufferBuilder b, Message.Hello m) {
        int name = b.createString(m.clientName());
        int token = m.token() == null ? 0 : b.createString(m.token());
        Hello.startHello(b);
        Hello.addMinVersion(b, m.minVersion());
        Hello.addMaxVersion(b, m.maxVersion());
        Hello.addClientName(b, name);
        if (token != 0) {
            Hello.addToken(b, token);
        }
        return Hello.endHello(b);
    }

    private static int welcome(FlatBufferBuilder b, Message.Welcome m) {
        int serverName = b.createString(m.serverName());
        int serverVersion = b.createString(m.serverVersion());
        int model = 0;
        if (m.model() != null) {
            Message.ModelSummary s = m.model();
            int sha = b.createString(s.sha256());
            int backend = backend(b, s.backend());
            ModelSummary.startModelSummary(b);
            ModelSummary.addSha256(b, sha);
            if (backend != 0) {
                ModelSummary.addBackend(b, backend);
            }
            ModelSummary.addVocabSize(b, s.vocabSize());
            ModelSummary.addMaxPositions(b, s.maxPositions());
            model = ModelSummary.endModelSummary(b);
        }
        Welcome.startWelcome(b);
        Welcome.addVersion(b, m.version());
        Welcome.addServerName(b, serverName);
        Welcome.addServerVersion(b, serverVersion);
        Welcome.addMaxFrameBytes(b, m.maxFrameBytes());
        Welcome.addMaxInFlight(b, m.maxInFlight());
        Welcome.addMaxBeamWidth(b, m.maxBeamWidth());
        if (model != 0) {
            Welcome.addModel(b, model);
        }
        return Welcome.endWelcome(b);
    }

    private static int modelInfo(FlatBufferBuilder b, Message.ModelInfo m) {
        int config = m.config() == null ? 0 : config(b, m.config());
        int sha = b.createString(m.sha256());
        int backend = backend(b, m.backend());
        int kind = b.createString(m.tokenizerKind());
        int trainer = b.createString(m.trainer());
        ModelInfo.startModelInfo(b);
        if (config != 0) {
            ModelInfo.addConfig(b, config);
        }
        ModelInfo.addSha256(b, sha);
        if (backend != 0) {
            ModelInfo.addBackend(b, backend);
        }
        ModelInfo.addTokenizerKind(b, kind);
        ModelInfo.addTrainer(b, trainer);
        return ModelInfo.endModelInfo(b);
    }

    private static int config(FlatBufferBuilder b, ModelConfig c) {
        org.shiftformer.proto.stream.ModelConfig.startModelConfig(b);
        org.shiftformer.proto.stream.ModelConfig.addDModel(b, c.dModel());
        org.shiftformer.proto.stream.ModelConfig.addHeads(b, c.heads());
        org.shiftformer.proto.stream.ModelConfig.addDFf(b, c.dFf());
        org.shiftformer.proto.stream.ModelConfig.addEncoderLayers(b, c.encoderLayers());
        org.shiftformer.proto.stream.ModelConfig.addDecoderLayers(b, c.decoderLayers());
        org.shiftformer.proto.stream.ModelConfig.addVocabSize(b, c.vocabSize());
        org.shiftformer.proto.stream.ModelConfig.addMaxPositions(b, c.maxPositions());
        org.shiftformer.proto.stream.ModelConfig.addEmbedScaleLog2(b, c.embedScaleLog2());
        org.shiftformer.proto.stream.ModelConfig.addPadId(b, c.padId());
        org.shiftformer.proto.stream.ModelConfig.addBosId(b, c.bosId());
        org.shiftformer.proto.stream.ModelConfig.addEosId(b, c.eosId());
        return org.shiftformer.proto.stream.ModelConfig.endModelConfig(b);
    }

    private static int translateRequest(FlatBufferBuilder b, Message.TranslateRequest m) {
        int text = m.text() == null ? 0 : b.createString(m.text());
        int tokens = m.tokens() == null ? 0 : intVector(b, m.tokens());
        int params = params(b, m.params());
        int resume = m.resumeTokens() == null ? 0 : intVector(b, m.resumeTokens());
        int sha = m.modelSha256() == null ? 0 : b.createString(m.modelSha256());
        TranslateRequest.startTranslateRequest(b);
        if (text != 0) {
            TranslateRequest.addText(b, text);
        }
        if (tokens != 0) {
            TranslateRequest.addTokens(b, tokens);
        }
        if (params != 0) {
            TranslateRequest.addParams(b, params);
        }
        TranslateRequest.addDeadlineMs(b, m.deadlineMs());
        TranslateRequest.addStream(b, m.stream());
        if (resume != 0) {
            TranslateRequest.addResumeTokens(b, resume);
        }
        if (sha != 0) {
            TranslateRequest.addModelSha256(b, sha);
        }
        return TranslateRequest.endTranslateRequest(b);
    }

    private static int token(FlatBufferBuilder b, Message.Token m) {
        // A string is a [ubyte] vector followed by a NUL: createString encodes the UTF-8 straight into the
        // builder, and a [ubyte] reader sees exactly the text's bytes.
        int text = b.createString(m.text());
        Token.startToken(b);
        Token.addToken(b, m.token());
        Token.addText(b, text);
        Token.addIndex(b, m.index());
        Token.addDeviceCycles(b, m.deviceCycles());
        return Token.endToken(b);
    }

    private static int done(FlatBufferBuilder b, Message.Done m) {
        int backend = backend(b, m.backend());
        int sha = b.createString(m.modelSha256());
        int params = params(b, m.params());
        int tokens = intVector(b, m.tokens());
        int text = b.createString(m.text());
        int tail = b.createString(m.textTail()); // a [ubyte], see token()
        Done.startDone(b);
        Done.addTokenCount(b, m.tokenCount());
        Done.addFinishedByEos(b, m.finishedByEos());
        Done.addScore(b, m.score());
        Done.addQueueNs(b, m.queueNs());
        Done.addFirstTokenNs(b, m.firstTokenNs());
        Done.addTotalNs(b, m.totalNs());
        Done.addDeviceCycles(b, m.deviceCycles());
        if (backend != 0) {
            Done.addBackend(b, backend);
        }
        Done.addModelSha256(b, sha);
        if (params != 0) {
            Done.addParams(b, params);
        }
        Done.addTokens(b, tokens);
        Done.addText(b, text);
        Done.addTextTail(b, tail);
        Done.addResumedFrom(b, m.resumedFrom());
        return Done.endDone(b);
    }

    /** The Backend table of {@code id}, or 0 (no offset) for null. */
    private static int backend(FlatBufferBuilder b, BackendIdentity id) {
        if (id == null) {
            return 0;
        }
        int name = b.createString(orEmpty(id.backend()));
        int device = b.createString(orEmpty(id.device()));
        int version = b.createString(orEmpty(id.version()));
        Backend.startBackend(b);
        Backend.addName(b, name);
        Backend.addDevice(b, device);
        Backend.addVersion(b, version);
        return Backend.endBackend(b);
    }

    /** The DecodeParams table of {@code p}, or 0 (no offset) for null. */
    private static int params(FlatBufferBuilder b, Message.Params p) {
        if (p == null) {
            return 0;
        }
        DecodeParams.startDecodeParams(b);
        DecodeParams.addBeamWidth(b, p.beamWidth());
        DecodeParams.addMaxNewTokens(b, p.maxNewTokens());
        DecodeParams.addAlphaQ8(b, p.alphaQ8());
        return DecodeParams.endDecodeParams(b);
    }

    private static String orEmpty(String s) {
        return s == null ? "" : s;
    }

    private static int intVector(FlatBufferBuilder b, int[] values) {
        b.startVector(4, values.length, 4);
        for (int i = values.length - 1; i >= 0; i--) {
            b.addInt(values[i]);
        }
        return b.endVector();
    }
}
