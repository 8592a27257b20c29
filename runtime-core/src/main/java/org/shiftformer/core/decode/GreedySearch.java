package org.shiftformer.core.decode;

import java.util.Arrays;
import java.util.List;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.spec.IntOps;

/** Greedy decoding (SPEC.md 3.8 and 5): argmax of the int32 logits, ties to the lowest id. */
public final class GreedySearch implements SequenceSearch {
    private final ModelConfig cfg;
    private final int sequence;
    private final TokenListener listener;
    private final StepObserver observer;
    private final int maxNew;
    private final DecoderState state;
    private final List<DecoderState> states;
    private final int[] next = new int[1];
    private int[] out;
    private int count;
    private int steps;
    private long cycles;
    private long cyclesSinceToken;
    private boolean eos;
    private boolean done;

    public GreedySearch(LoadedModel model, EncodedSource source, DecodeParams params, int sequence, TokenListener listener) {
        this(model, source, params, sequence, listener, null);
    }

    /** With {@code observer} (may be null) seeing every step's logits and choice. */
    public GreedySearch(LoadedModel model, EncodedSource source, DecodeParams params, int sequence, TokenListener listener,
                        StepObserver observer) {
        this.cfg = model.config();
        this.sequence = sequence;
        this.listener = listener;
        this.observer = observer;
        this.maxNew = Decoding.checkMaxNew(cfg, params.maxNewTokens());
        this.state = model.newDecoder(source, maxNew);
        this.states = List.of(state);
        this.out = new int[Math.min(maxNew, 64)];
        next[0] = cfg.bosId();
    }

    @Override
    public List<DecoderState> states() {
        return done ? List.of() : states;
    }

    @Override
    public int[] tokens() {
        return next;
    }

    @Override
    public void advance(int[] logits, int offset, long deviceCycles) {
        steps++;
        cycles += deviceCycles;
        cyclesSinceToken += deviceCycles;
        int token = IntOps.argmax(logits, offset, cfg.vocabSize(), cfg.padId(), cfg.bosId());
        if (observer != null) {
            boolean last = token == cfg.eosId() || steps == maxNew;
            observer.onStep(sequence, steps - 1, logits, offset, new long[] {0},
                    List.of(new StepObserver.Choice(0, token, 0, last ? -1 : 0)));
        }
        if (token == cfg.eosId()) {
            eos = true;
            done = true;
            return;
        }
        if (count == out.length) {
            out = Arrays.copyOf(out, out.length * 2);
        }
        out[count] = token;
        listener.onToken(sequence, token, count, cyclesSinceToken);
        cyclesSinceToken = 0;
        count++;
        next[0] = token;
        if (steps == maxNew) {
            done = true;
        }
    }

    @Override
    public boolean done() {
        return done;
    }

    @Override
    public DecodeResult result() {
        return new DecodeResult(Arrays.copyOf(out, count), 0, eos, steps, cycles);
    }

    @Override
    public void close() {
        state.close();
    }
}
