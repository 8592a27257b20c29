package org.shiftformer.core.decode;

import java.util.ArrayList;
import java.util.List;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.backend.StepCost;

/**
 * Runs decoding strategies over a {@link LoadedModel}: encodes a batch, then steps every unfinished
 * sequence's live hypotheses together in one batched decoder step until all are done.
 */
public final class Decoding {
    private Decoding() {
    }

    /** A search for {@code source} with {@code params}. */
    public static SequenceSearch search(LoadedModel model, EncodedSource source, DecodeParams params, int sequence,
                                        TokenListener listener) {
        return search(model, source, params, sequence, listener, null);
    }

    /** A search for {@code source} with {@code params}, whose steps {@code observer} (may be null) sees. */
    public static SequenceSearch search(LoadedModel model, EncodedSource source, DecodeParams params, int sequence,
                                        TokenListener listener, StepObserver observer) {
        return params.beamWidth() == 1
                ? new GreedySearch(model, source, params, sequence, listener, observer)
                : new BeamSearch(model, source, params, sequence, listener, observer);
    }

    /** Decodes every source; results in input order. */
    public static List<DecodeResult> decode(LoadedModel model, List<int[]> sources, DecodeParams params,
                                            TokenListener listener) {
        return decode(model, sources, params, listener, null);
    }

    /** Decodes every source, {@code observer} (may be null) seeing every step; results in input order. */
    public static List<DecodeResult> decode(LoadedModel model, List<int[]> sources, DecodeParams params,
                                            TokenListener listener, StepObserver observer) {
        EncodeResult enc = model.encode(sources, null);
        List<SequenceSearch> searches = new ArrayList<>(sources.size());
        try {
            long encodeShare = enc.cost().deviceCycles() / Math.max(1, sources.size());
            for (int s = 0; s < sources.size(); s++) {
                searches.add(search(model, enc.sources().get(s), params, s, listener, observer));
            }
            int vocab = model.config().vocabSize();
            List<DecoderState> states = new ArrayList<>();
            int[] tokens = new int[0];
            int[] logits = new int[0];
            boolean first = true;
            while (true) {
                states.clear();
                int rows = 0;
                for (SequenceSearch s : searches) {
                    if (!s.done()) {
                        rows += s.states().size();
                    }
                }
                if (rows == 0) {
                    break;
                }
                if (tokens.length < rows) {
                    tokens = new int[rows];
                    logits = new int[rows * vocab];
                }
                for (SequenceSearch s : searches) {
                    if (!s.done()) {
                        int[] t = s.tokens();
                        System.arraycopy(t, 0, tokens, states.size(), t.length);
                        states.addAll(s.states());
                    }
                }
                StepCost cost = model.decodeStep(states, tokens, logits, null);
                int row = 0;
                for (SequenceSearch s : searches) {
                    if (!s.done()) {
                        int n = s.states().size();
                        long share = cost.deviceCycles() * n / rows + (first ? encodeShare : 0);
                        s.advance(logits, row * vocab, share);
                        row += n;
                    }
                }
                first = false;
            }
            List<DecodeResult> results = new ArrayList<>(searches.size());
            for (SequenceSearch s : searches) {
                results.add(s.result());
            }
            return results;
        } finally {
            for (SequenceSearch s : searches) {
                s.close();
            }
            for (EncodedSource src : enc.sources()) {
                src.close();
            }
        }
    }

    static int checkMaxNew(ModelConfig cfg, int maxNew) {
        if (maxNew > cfg.maxPositions() - 1) {
            throw new ShiftformerException(ErrorCode.MODEL_LIMIT_EXCEEDED, "max new tokens " + maxNew
                    + " exceeds the model's limit of " + (cfg.maxPositions() - 1) + " (max_positions - 1)");
        }
        return maxNew;
    }
}
