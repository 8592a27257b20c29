package org.shiftformer.core.engine;

import java.util.ArrayList;
import java.util.List;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.core.decode.DecodeResult;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.StepObserver;
import org.shiftformer.core.decode.TokenListener;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;
import org.shiftformer.core.tokenizer.StreamingDecoder;

/** Text in, text out: tokenizes sources (SPEC.md section 7), decodes them, and streams text pieces. */
public final class Translator {
    private final LoadedModel model;
    private final ByteBpeTokenizer tokenizer;

    /** Receives decoded text as it becomes final. */
    @FunctionalInterface
    public interface TextListener {
        void onText(int sequence, int token, String piece, long deviceCycles);
    }

    /** One translation. */
    public record Translation(String text, int[] tokens, DecodeResult result) {
    }

    public Translator(LoadedModel model, ByteBpeTokenizer tokenizer) {
        if (tokenizer.vocabSize() != model.config().vocabSize()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "tokenizer has " + tokenizer.vocabSize()
                    + " ids but the model's vocabulary is " + model.config().vocabSize());
        }
        this.model = model;
        this.tokenizer = tokenizer;
    }

    /** The encoder input for {@code text}: its ids followed by EOS. */
    public int[] sourceIds(String text) {
        int[] ids = tokenizer.encode(text);
        int max = model.config().maxPositions();
        if (ids.length + 1 > max) {
            throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED,
                    "source of " + ids.length + " tokens plus EOS exceeds the model's max_positions " + max + " (at most "
                            + (max - 1) + " source tokens)");
        }
        int[] src = java.util.Arrays.copyOf(ids, ids.length + 1);
        src[ids.length] = model.config().eosId();
        return src;
    }

    /** Translates every text in one batch, streaming pieces to {@code listener} (may be null). */
    public List<Translation> translate(List<String> texts, DecodeParams params, TextListener listener) {
        return translate(texts, params, listener, null);
    }

    /**
     * Translates every text in one batch, streaming pieces to {@code listener} (may be null), with
     * {@code observer} (may be null) seeing every decoder step's logits and choice.
     */
    public List<Translation> translate(List<String> texts, DecodeParams params, TextListener listener,
                                       StepObserver observer) {
        List<int[]> sources = new ArrayList<>(texts.size());
        List<StreamingDecoder> streams = new ArrayList<>(texts.size());
        for (String t : texts) {
            sources.add(sourceIds(t));
            streams.add(tokenizer.newStreamingDecoder());
        }
        TokenListener tl = listener == null ? TokenListener.NONE : (seq, token, index, cycles) ->
                listener.onText(seq, token, streams.get(seq).push(token), cycles);
        List<DecodeResult> results = Decoding.decode(model, sources, params, tl, observer);
        List<Translation> out = new ArrayList<>(results.size());
        for (int s = 0; s < results.size(); s++) {
            String tail = streams.get(s).finish();
            if (listener != null && !tail.isEmpty()) {
                listener.onText(s, -1, tail, 0);
            }
            int[] tokens = results.get(s).tokens();
            out.add(new Translation(tokenizer.decode(tokens), tokens, results.get(s)));
        }
        return out;
    }
}
