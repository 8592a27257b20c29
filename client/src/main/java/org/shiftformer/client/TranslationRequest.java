package org.shiftformer.client;

import java.time.Duration;
import java.util.Arrays;
import java.util.Objects;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.protocol.Message;

/**
 * One translation to ask the server for: the source (text, tokenized by the server, or token ids without
 * the trailing EOS) and the decoding parameters PROTOCOL.md section 4 allows. Immutable; the {@code with}
 * methods return a changed copy:
 *
 * <pre>{@code
 * TranslationRequest.text("zweihundertdreiundvierzig").beam(4).lengthPenalty(0.6).maxNewTokens(24)
 *         .deadline(Duration.ofSeconds(5))
 * }</pre>
 *
 * The client checks what the wire cannot carry (a beam width above 65535, alpha outside [0, 2], a deadline
 * of 2^31 ms or more); whether the server accepts a value (its maximum beam width, the model's positions,
 * token ids inside the vocabulary) is the server's answer, an error with its {@link ErrorCode}.
 *
 * @param text         source text, or null when {@code tokens} is given
 * @param tokens       source token ids without the EOS, or null when {@code text} is given
 * @param beamWidth    1 is greedy, more is beam search
 * @param maxNewTokens generated tokens including the EOS; 0 asks for the server's default (the model's maximum)
 * @param alphaQ8      GNMT length penalty as it travels: {@code floor(alpha * 256 + 0.5)}, 0..512
 * @param deadline     relative deadline the server enforces, {@link Duration#ZERO} for none (then the
 *                     client's {@link ClientOptions#defaultDeadline()} applies)
 * @param stream       false asks the server for no Token frames: the result comes with Done only
 * @param resumeTokens output tokens already received from an interrupted stream of this request, or null
 *                     ({@link #resume}; protocol version 2)
 * @param modelSha256  the model that must decode it, or null for the server's (protocol version 2)
 */
public record TranslationRequest(String text, int[] tokens, int beamWidth, int maxNewTokens, int alphaQ8,
                                 Duration deadline, boolean stream, int[] resumeTokens, String modelSha256) {
    /** Largest deadline the wire carries ({@code deadline_ms} is a uint below 2^31). */
    public static final long MAX_DEADLINE_MS = Integer.MAX_VALUE;

    public TranslationRequest {
        if ((text == null) == (tokens == null)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "a translation request needs exactly one of text and tokens");
        }
        if (tokens != null) {
            tokens = tokens.clone();
        }
        if (resumeTokens != null) {
            resumeTokens = resumeTokens.clone();
        }
        if (beamWidth < 1 || beamWidth > 0xFFFF) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "beam width " + beamWidth + " must be in [1, 65535]");
        }
        if (maxNewTokens < 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "max new tokens " + maxNewTokens + " must be >= 0");
        }
        if (alphaQ8 < 0 || alphaQ8 > Message.Params.MAX_ALPHA_Q8) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "alpha_q8 " + alphaQ8 + " must be in [0, " + Message.Params.MAX_ALPHA_Q8 + "] (alpha 0..2)");
        }
        Objects.requireNonNull(deadline, "deadline");
        if (deadline.isNegative() || deadline.toMillis() > MAX_DEADLINE_MS) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "deadline " + deadline + " must be in [0, " + MAX_DEADLINE_MS + "] ms");
        }
    }

    /** Greedy translation of {@code text}, the server's default length, no deadline, streamed. */
    public static TranslationRequest text(String text) {
        return new TranslationRequest(Objects.requireNonNull(text, "text"), null, 1, 0, 0, Duration.ZERO, true, null, null);
    }

    /** Greedy translation of source token ids (without the EOS, which the server appends). */
    public static TranslationRequest tokens(int... tokens) {
        return new TranslationRequest(null, Objects.requireNonNull(tokens, "tokens"), 1, 0, 0, Duration.ZERO, true, null, null);
    }

    /** Source token ids (a copy), or null. */
    @Override
    public int[] tokens() {
        return tokens == null ? null : tokens.clone();
    }

    /** Beam search of this width (1: greedy). */
    public TranslationRequest beam(int width) {
        return new TranslationRequest(text, tokens, width, maxNewTokens, alphaQ8, deadline, stream, resumeTokens, modelSha256);
    }

    /** Greedy decoding (beam width 1, no length penalty). */
    public TranslationRequest greedy() {
        return new TranslationRequest(text, tokens, 1, maxNewTokens, 0, deadline, stream, resumeTokens, modelSha256);
    }

    /** At most this many generated tokens, EOS included; 0 for the server's default. */
    public TranslationRequest maxNewTokens(int max) {
        return new TranslationRequest(text, tokens, beamWidth, max, alphaQ8, deadline, stream, resumeTokens, modelSha256);
    }

    /** GNMT length penalty alpha in [0, 2] (beam search), sent as {@code floor(alpha * 256 + 0.5)}. */
    public TranslationRequest lengthPenalty(double alpha) {
        if (!(alpha >= 0 && alpha <= 2)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "length penalty " + alpha + " must be in [0, 2]");
        }
        return new TranslationRequest(text, tokens, beamWidth, maxNewTokens, (int) Math.floor(alpha * 256 + 0.5),
                deadline, stream, resumeTokens, modelSha256);
    }

    /** The server ends the request with DEADLINE_EXCEEDED once this much time has passed since it received it. */
    public TranslationRequest deadline(Duration deadline) {
        return new TranslationRequest(text, tokens, beamWidth, maxNewTokens, alphaQ8, deadline, stream, resumeTokens, modelSha256);
    }

    /** False: no Token frames, the whole result comes with Done. */
    public TranslationRequest stream(boolean stream) {
        return new TranslationRequest(text, tokens, beamWidth, maxNewTokens, alphaQ8, deadline, stream, resumeTokens, modelSha256);
    }

    /**
     * The same request, continuing an interrupted stream (PROTOCOL.md 4, "Resuming a stream"): the server
     * decodes it again, checks that its first tokens are {@code have}, and streams only the tokens after
     * them, with their original indexes; the result is the whole translation. {@code modelSha256} (from
     * {@link Translation#modelSha256()}, {@link ShiftformerClient#modelInfo()} or the interrupted stream's
     * server) makes a server with another model refuse with MODEL_MISMATCH; null accepts any. Needs a
     * server that speaks protocol version 2 (the request fails with INVALID_ARGUMENT otherwise).
     */
    public TranslationRequest resume(int[] have, String modelSha256) {
        return new TranslationRequest(text, tokens, beamWidth, maxNewTokens, alphaQ8, deadline, stream,
                Objects.requireNonNull(have, "have"), modelSha256);
    }

    /** Tokens to resume after (a copy), or null. */
    @Override
    public int[] resumeTokens() {
        return resumeTokens == null ? null : resumeTokens.clone();
    }

    /** Whether this request resumes a stream or names a model (protocol version 2). */
    boolean usesVersion2() {
        return resumeTokens != null || modelSha256 != null;
    }

    /** The frame for request {@code requestId}; {@code defaultDeadline} applies when this request has none. */
    Message.TranslateRequest toMessage(long requestId, Duration defaultDeadline) {
        Message.Params params = new Message.Params(beamWidth, maxNewTokens, alphaQ8);
        Duration d = deadline.isZero() ? defaultDeadline : deadline;
        return new Message.TranslateRequest(requestId, text, tokens, params.equals(Message.Params.DEFAULTS) ? null : params,
                (int) Math.min(MAX_DEADLINE_MS, d.toMillis()), stream, resumeTokens, modelSha256);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TranslationRequest r && Objects.equals(text, r.text) && Arrays.equals(tokens, r.tokens)
                && beamWidth == r.beamWidth && maxNewTokens == r.maxNewTokens && alphaQ8 == r.alphaQ8
                && deadline.equals(r.deadline) && stream == r.stream && Arrays.equals(resumeTokens, r.resumeTokens)
                && Objects.equals(modelSha256, r.modelSha256);
    }

    @Override
    public int hashCode() {
        return Objects.hash(text, Arrays.hashCode(tokens), beamWidth, maxNewTokens, alphaQ8, deadline, stream, resumeTokens, modelSha256);
    }

    @Override
    public String toString() {
        return "TranslationRequest[" + (text != null ? "text=" + text : "tokens=" + Arrays.toString(tokens))
                + ", beamWidth=" + beamWidth + ", maxNewTokens=" + maxNewTokens + ", alphaQ8=" + alphaQ8
                + ", deadline=" + deadline + ", stream=" + stream
                + (resumeTokens == null ? "" : ", resumeTokens=" + Arrays.toString(resumeTokens))
                + (modelSha256 == null ? "" : ", modelSha256=" + modelSha256) + "]";
    }
}
