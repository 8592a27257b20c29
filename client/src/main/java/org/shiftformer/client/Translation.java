package org.shiftformer.client;

import java.util.Arrays;
import java.util.Objects;
import org.shiftformer.api.backend.BackendIdentity;
import org.shiftformer.protocol.Message;

/**
 * The final result of a request: its Done frame (PROTOCOL.md section 4). Times are nanoseconds measured
 * by the server from its receipt of the request.
 *
 * @param requestId     the request's id (unsigned)
 * @param tokens        every output token id, without the EOS
 * @param text          the whole translation
 * @param finishedByEos false when the length limit stopped it
 * @param score         beam: length-normalized Q16 base-2 log-probability; greedy: 0
 * @param queueNs       receipt to first decoder step
 * @param firstTokenNs  receipt to first token (0 if none)
 * @param totalNs       receipt to the Done frame
 * @param deviceCycles  modelled device cycles attributed to the request
 * @param backend       who computed it (null if the server did not say)
 * @param modelSha256   which model computed it
 * @param params        the decoding parameters used, defaults resolved (null if the server did not say)
 * @param resumedFrom   the tokens the request resumed after ({@link TranslationRequest#resume}); 0 otherwise
 */
public record Translation(long requestId, int[] tokens, String text, boolean finishedByEos, long score, long queueNs,
                          long firstTokenNs, long totalNs, long deviceCycles, BackendIdentity backend,
                          String modelSha256, Message.Params params, int resumedFrom) {
    public Translation {
        tokens = Objects.requireNonNull(tokens, "tokens").clone();
        Objects.requireNonNull(text, "text");
        Objects.requireNonNull(modelSha256, "modelSha256");
    }

    static Translation of(Message.Done d) {
        return new Translation(d.requestId(), d.tokens(), d.text(), d.finishedByEos(), d.score(), d.queueNs(),
                d.firstTokenNs(), d.totalNs(), d.deviceCycles(), d.backend(), d.modelSha256(), d.params(), d.resumedFrom());
    }

    /** Output token ids (a copy). */
    @Override
    public int[] tokens() {
        return tokens.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Translation t && requestId == t.requestId && Arrays.equals(tokens, t.tokens)
                && text.equals(t.text) && finishedByEos == t.finishedByEos && score == t.score && queueNs == t.queueNs
                && firstTokenNs == t.firstTokenNs && totalNs == t.totalNs && deviceCycles == t.deviceCycles
                && Objects.equals(backend, t.backend) && modelSha256.equals(t.modelSha256)
                && Objects.equals(params, t.params) && resumedFrom == t.resumedFrom;
    }

    @Override
    public int hashCode() {
        return Objects.hash(requestId, Arrays.hashCode(tokens), text, finishedByEos, score, totalNs, modelSha256);
    }

    @Override
    public String toString() {
        return "Translation[requestId=" + Long.toUnsignedString(requestId) + ", tokens=" + Arrays.toString(tokens)
                + ", text=" + text + ", finishedByEos=" + finishedByEos + ", score=" + score + ", totalNs=" + totalNs
                + ", deviceCycles=" + deviceCycles + ", backend=" + backend + ", params=" + params + "]";
    }
}
