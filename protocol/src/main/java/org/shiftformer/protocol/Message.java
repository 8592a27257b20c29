package org.shiftformer.protocol;

import java.util.Arrays;
import java.util.Objects;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.BackendIdentity;
import org.shiftformer.proto.stream.Body;

/**
 * One frame of the streaming protocol as an immutable Java value: one record per member of the
 * {@code Body} union of stream.fbs (PROTOCOL.md gives the meaning of every field). {@link MessageReader}
 * makes them from verified frames, {@link MessageWriter} turns them back into frames.
 *
 * <p>Wire types map to Java as follows: {@code ulong} and {@code long} to {@code long} (request ids and
 * nonces are opaque bit patterns; print them with {@link Long#toUnsignedString(long)}); {@code uint} to
 * {@code int} in {@code [0, 2^31)} (PROTOCOL.md requires senders to stay below 2^31, and the reader
 * rejects larger values); {@code ushort} to {@code int} in {@code [0, 65535]}. Absent strings read as
 * {@code ""}; absent tables as {@code null}. Arrays are owned by the record: they are not copied, and
 * must not be modified.
 *
 * <p>The constructors check only what the wire could not carry (a negative {@code uint}, a {@code
 * ushort} above 65535, a null string); whether a request makes sense is the server's question.
 */
public sealed interface Message {
    /** The frame's request id: the client-chosen id of a translate request, or 0 for the connection. */
    long requestId();

    /** The body type, a constant of {@link Body} (the number on the wire). */
    int type();

    /** The body type's name in stream.fbs, e.g. {@code "TranslateRequest"}. */
    default String typeName() {
        return Body.name(type());
    }

    // ---- parts of messages -----------------------------------------------------------------------

    /**
     * Decoding parameters as they travel: SPEC.md's {@code alpha_q8} rather than a double, so that
     * every language sends exactly the value the server decodes with.
     *
     * @param beamWidth    1 for greedy; in a request, 1 is also the default
     * @param maxNewTokens generated tokens including the EOS; in a request 0 means the model's maximum
     * @param alphaQ8      GNMT length penalty {@code floor(alpha * 256 + 0.5)}, 0..512
     */
    record Params(int beamWidth, int maxNewTokens, int alphaQ8) {
        /** What an absent {@code params} table means. */
        public static final Params DEFAULTS = new Params(1, 0, 0);
        /** Largest {@code alpha_q8} (alpha 2.0). */
        public static final int MAX_ALPHA_Q8 = 512;

        public Params {
            ushort("DecodeParams.beam_width", beamWidth);
            uint("DecodeParams.max_new_tokens", maxNewTokens);
            ushort("DecodeParams.alpha_q8", alphaQ8);
        }

        /** The parameters actually used by {@code params}, for the echo in {@code Done}. */
        public static Params of(DecodeParams params) {
            return new Params(params.beamWidth(), params.maxNewTokens(), params.alphaQ8());
        }

        /**
         * Checks these requested parameters against the model and the server and resolves the defaults.
         *
         * @param maxPositions the model's {@code max_positions}
         * @param maxBeamWidth the largest beam the server accepts (announced in {@code Welcome})
         * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} for a beam width or alpha out of
         *                              range, {@link ErrorCode#MODEL_LIMIT_EXCEEDED} for more new tokens
         *                              than the model has positions
         */
        public DecodeParams resolve(int maxPositions, int maxBeamWidth) {
            if (beamWidth < 1 || beamWidth > maxBeamWidth) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                        "beam_width " + beamWidth + " must be in [1, " + maxBeamWidth + "]");
            }
            if (alphaQ8 > MAX_ALPHA_Q8) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                        "alpha_q8 " + alphaQ8 + " must be in [0, " + MAX_ALPHA_Q8 + "]");
            }
            int limit = maxPositions - 1;
            if (maxNewTokens > limit) {
                throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED, "max_new_tokens " + maxNewTokens
                        + " exceeds the model's limit of " + limit + " (max_positions - 1)");
            }
            // alpha_q8 / 256 maps back to the same alpha_q8 exactly: floor(alpha_q8 + 0.5) == alpha_q8.
            return new DecodeParams(beamWidth, maxNewTokens == 0 ? limit : maxNewTokens, alphaQ8 / 256.0);
        }
    }

    /**
     * What a client needs to know about the served model before it sends a request.
     *
     * @param sha256       the artifact's SHA-256, 64 lowercase hex digits
     * @param backend      who computes (null if not sent)
     * @param vocabSize    the model's vocabulary size
     * @param maxPositions the model's {@code max_positions}
     */
    record ModelSummary(String sha256, BackendIdentity backend, int vocabSize, int maxPositions) {
        public ModelSummary {
            Objects.requireNonNull(sha256, "sha256");
            uint("ModelSummary.vocab_size", vocabSize);
            uint("ModelSummary.max_positions", maxPositions);
        }
    }

    // ---- messages ---------------------------------------------------------------------------------

    /**
     * Client to server, the first frame: the protocol versions the client speaks, and the bearer token
     * when the server requires one ({@code token} null: none sent). {@link #toString()} never shows the
     * token.
     */
    record Hello(long requestId, int minVersion, int maxVersion, String clientName, String token) implements Message {
        public Hello {
            ushort("Hello.min_version", minVersion);
            ushort("Hello.max_version", maxVersion);
            Objects.requireNonNull(clientName, "clientName");
        }

        /** A Hello without a token. */
        public Hello(long requestId, int minVersion, int maxVersion, String clientName) {
            this(requestId, minVersion, maxVersion, clientName, null);
        }

        @Override
        public String toString() {
            return "Hello[requestId=" + requestId + ", minVersion=" + minVersion + ", maxVersion=" + maxVersion
                    + ", clientName=" + clientName + ", token=" + (token == null ? "none" : "(" + token.length()
                    + " chars, not shown)") + "]";
        }

        @Override
        public int type() {
            return Body.Hello;
        }
    }

    /** Server to client, the answer to {@link Hello}: the chosen version, the server's limits and model. */
    record Welcome(long requestId, int version, String serverName, String serverVersion, int maxFrameBytes,
                   int maxInFlight, int maxBeamWidth, ModelSummary model) implements Message {
        public Welcome {
            ushort("Welcome.version", version);
            Objects.requireNonNull(serverName, "serverName");
            Objects.requireNonNull(serverVersion, "serverVersion");
            uint("Welcome.max_frame_bytes", maxFrameBytes);
            uint("Welcome.max_in_flight", maxInFlight);
            ushort("Welcome.max_beam_width", maxBeamWidth);
        }

        @Override
        public int type() {
            return Body.Welcome;
        }
    }

    /** Client to server: asks for {@link ModelInfo}. */
    record ModelInfoRequest(long requestId) implements Message {
        @Override
        public int type() {
            return Body.ModelInfoRequest;
        }
    }

    /**
     * Server to client: the served model.
     *
     * @param config        the model's hyper-parameters (null if not sent)
     * @param sha256        the artifact's SHA-256, 64 lowercase hex digits
     * @param backend       who computes (null if not sent)
     * @param tokenizerKind e.g. {@code "byte-bpe"}
     * @param trainer       provenance: what produced the model
     */
    record ModelInfo(long requestId, ModelConfig config, String sha256, BackendIdentity backend,
                     String tokenizerKind, String trainer) implements Message {
        public ModelInfo {
            Objects.requireNonNull(sha256, "sha256");
            Objects.requireNonNull(tokenizerKind, "tokenizerKind");
            Objects.requireNonNull(trainer, "trainer");
        }

        @Override
        public int type() {
            return Body.ModelInfo;
        }
    }

    /**
     * Client to server: translate one source, given as {@code text} or as {@code tokens} (exactly one
     * of them should be non-null; the server checks).
     *
     * @param text       source text, or null
     * @param tokens     source token ids without the EOS, or null
     * @param params     requested decoding parameters, or null for every default
     * @param deadlineMs relative deadline in milliseconds, 0 for none
     * @param stream     false: no {@link Token} frames, the result comes in {@link Done} only
     */
    record TranslateRequest(long requestId, String text, int[] tokens, Params params, int deadlineMs,
                            boolean stream, int[] resumeTokens, String modelSha256) implements Message {
        public TranslateRequest {
            uint("TranslateRequest.deadline_ms", deadlineMs);
        }

        /** A request without the version 2 fields: nothing to resume, any model. */
        public TranslateRequest(long requestId, String text, int[] tokens, Params params, int deadlineMs, boolean stream) {
            this(requestId, text, tokens, params, deadlineMs, stream, null, null);
        }

        /** Whether it uses a field of protocol version 2 ({@code resume_tokens}, {@code model_sha256}). */
        public boolean usesVersion2() {
            return resumeTokens != null || modelSha256 != null;
        }

        /** The requested parameters, {@link Params#DEFAULTS} when none were sent. */
        public Params paramsOrDefaults() {
            return params == null ? Params.DEFAULTS : params;
        }

        @Override
        public int type() {
            return Body.TranslateRequest;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof TranslateRequest r && requestId == r.requestId && Objects.equals(text, r.text)
                    && Arrays.equals(tokens, r.tokens) && Objects.equals(params, r.params)
                    && deadlineMs == r.deadlineMs && stream == r.stream && Arrays.equals(resumeTokens, r.resumeTokens)
                    && Objects.equals(modelSha256, r.modelSha256);
        }

        @Override
        public int hashCode() {
            return Objects.hash(requestId, text, Arrays.hashCode(tokens), params, deadlineMs, stream,
                    Arrays.hashCode(resumeTokens), modelSha256);
        }

        @Override
        public String toString() {
            return "TranslateRequest[requestId=" + Long.toUnsignedString(requestId) + ", text=" + text + ", tokens="
                    + Arrays.toString(tokens) + ", params=" + params + ", deadlineMs=" + deadlineMs + ", stream="
                    + stream + (resumeTokens == null ? "" : ", resumeTokens=" + Arrays.toString(resumeTokens))
                    + (modelSha256 == null ? "" : ", modelSha256=" + modelSha256) + "]";
        }
    }

    /**
     * Server to client: one output token.
     *
     * @param token        token id (never EOS)
     * @param text         the text that became complete with this token (may be empty)
     * @param index        position of the token in the output, 0-based
     * @param deviceCycles modelled device cycles since the previous token
     */
    record Token(long requestId, int token, String text, int index, long deviceCycles) implements Message {
        public Token {
            Objects.requireNonNull(text, "text");
            uint("Token.index", index);
        }

        @Override
        public int type() {
            return Body.Token;
        }
    }

    /**
     * Server to client, terminal: the request completed. Times are nanoseconds from the server's receipt
     * of the request.
     *
     * @param tokenCount    output tokens without the EOS
     * @param finishedByEos false when max_new_tokens stopped it
     * @param score         beam: length-normalized Q16 base-2 log-probability; greedy: 0
     * @param queueNs       receipt to first decoder step
     * @param firstTokenNs  receipt to first token (0 if none)
     * @param totalNs       receipt to this frame
     * @param deviceCycles  modelled device cycles attributed to the request
     * @param backend       who computed it (null if not sent)
     * @param modelSha256   which model computed it
     * @param params        the parameters used, defaults resolved (null if not sent)
     * @param tokens        every output token id without the EOS (empty if not sent)
     * @param text          the whole translation
     * @param textTail      text not yet sent in {@link Token} frames
     */
    record Done(long requestId, int tokenCount, boolean finishedByEos, long score, long queueNs, long firstTokenNs,
                long totalNs, long deviceCycles, BackendIdentity backend, String modelSha256, Params params,
                int[] tokens, String text, String textTail, int resumedFrom) implements Message {
        public Done {
            uint("Done.token_count", tokenCount);
            uint("Done.resumed_from", resumedFrom);
            Objects.requireNonNull(modelSha256, "modelSha256");
            Objects.requireNonNull(tokens, "tokens");
            Objects.requireNonNull(text, "text");
            Objects.requireNonNull(textTail, "textTail");
        }

        @Override
        public int type() {
            return Body.Done;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Done d && requestId == d.requestId && tokenCount == d.tokenCount
                    && finishedByEos == d.finishedByEos && score == d.score && queueNs == d.queueNs
                    && firstTokenNs == d.firstTokenNs && totalNs == d.totalNs && deviceCycles == d.deviceCycles
                    && Objects.equals(backend, d.backend) && modelSha256.equals(d.modelSha256)
                    && Objects.equals(params, d.params) && Arrays.equals(tokens, d.tokens) && text.equals(d.text)
                    && textTail.equals(d.textTail) && resumedFrom == d.resumedFrom;
        }

        /** A Done of a stream that was not resumed. */
        public Done(long requestId, int tokenCount, boolean finishedByEos, long score, long queueNs, long firstTokenNs,
                    long totalNs, long deviceCycles, BackendIdentity backend, String modelSha256, Params params,
                    int[] tokens, String text, String textTail) {
            this(requestId, tokenCount, finishedByEos, score, queueNs, firstTokenNs, totalNs, deviceCycles, backend,
                    modelSha256, params, tokens, text, textTail, 0);
        }

        @Override
        public int hashCode() {
            return Objects.hash(requestId, tokenCount, finishedByEos, score, queueNs, firstTokenNs, totalNs,
                    deviceCycles, backend, modelSha256, params, Arrays.hashCode(tokens), text, textTail, resumedFrom);
        }

        @Override
        public String toString() {
            return "Done[requestId=" + Long.toUnsignedString(requestId) + ", tokenCount=" + tokenCount
                    + ", finishedByEos=" + finishedByEos + ", score=" + score + ", queueNs=" + queueNs
                    + ", firstTokenNs=" + firstTokenNs + ", totalNs=" + totalNs + ", deviceCycles=" + deviceCycles
                    + ", backend=" + backend + ", modelSha256=" + modelSha256 + ", params=" + params + ", tokens="
                    + Arrays.toString(tokens) + ", text=" + text + ", textTail=" + textTail
                    + (resumedFrom == 0 ? "" : ", resumedFrom=" + resumedFrom) + "]";
        }
    }

    /**
     * Server to client: with a request id, the terminal frame of that request; with request id 0, a
     * connection-level error after which the server closes the connection.
     *
     * @param code    the {@link ErrorCode#value()} (kept as a number: a newer server may send a code this
     *                build does not know)
     * @param message names what is wrong
     */
    record Error(long requestId, int code, String message) implements Message {
        public Error {
            Objects.requireNonNull(message, "message");
        }

        /** The error of {@code e} for request {@code requestId}. */
        public static Error of(long requestId, ShiftformerException e) {
            return new Error(requestId, e.code().value(), String.valueOf(e.getMessage()));
        }

        /** The code as this build knows it ({@link ErrorCode#INTERNAL} for an unknown value). */
        public ErrorCode errorCode() {
            return ErrorCode.fromValue(code);
        }

        /** This error as an exception, e.g. for a client to throw. */
        public ShiftformerException toException() {
            return new ShiftformerException(errorCode(), message);
        }

        @Override
        public int type() {
            return Body.Error;
        }
    }

    /** Client to server: stop the request with this id. */
    record Cancel(long requestId) implements Message {
        @Override
        public int type() {
            return Body.Cancel;
        }
    }

    /**
     * Server to client, terminal: the request stopped because of its {@link Cancel}.
     *
     * @param tokenCount {@link Token} frames sent for the request before it stopped
     */
    record Cancelled(long requestId, int tokenCount) implements Message {
        public Cancelled {
            uint("Cancelled.token_count", tokenCount);
        }

        @Override
        public int type() {
            return Body.Cancelled;
        }
    }

    /** Client to server: answered by a {@link Pong} with the same nonce. */
    record Ping(long requestId, long nonce) implements Message {
        @Override
        public int type() {
            return Body.Ping;
        }
    }

    /** Server to client: the answer to {@link Ping}. */
    record Pong(long requestId, long nonce) implements Message {
        @Override
        public int type() {
            return Body.Pong;
        }
    }

    // ---- range checks of the wire types -------------------------------------------------------------

    private static void uint(String field, int value) {
        if (value < 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, field + " " + value + " must be >= 0");
        }
    }

    private static void ushort(String field, int value) {
        if (value < 0 || value > 0xFFFF) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, field + " " + value + " must be in [0, 65535]");
        }
    }
}
