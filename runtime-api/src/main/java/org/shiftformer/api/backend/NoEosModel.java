package org.shiftformer.api.backend;

import java.util.List;

/**
 * A {@link LoadedModel} decorator for tests and benchmarks: EOS is masked out of every step's logits, so
 * each greedy or beam decode runs exactly to its length limit, and, with {@code stepDelayMs > 0}, every
 * decoder step first sleeps, so that a test can act while a stream is live. Everything else is the
 * delegate's; closing closes it.
 */
public final class NoEosModel extends ForwardingLoadedModel {
    private final int stepDelayMs;

    /** EOS suppressed, no delay. */
    public NoEosModel(LoadedModel delegate) {
        this(delegate, 0);
    }

    /** EOS suppressed and {@code stepDelayMs} of sleep before each decoder step. */
    public NoEosModel(LoadedModel delegate, int stepDelayMs) {
        super(delegate);
        if (stepDelayMs < 0) {
            throw new IllegalArgumentException("step delay " + stepDelayMs + " ms must be >= 0");
        }
        this.stepDelayMs = stepDelayMs;
    }

    @Override
    public StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap) {
        if (stepDelayMs > 0) {
            try {
                Thread.sleep(stepDelayMs);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        StepCost cost = super.decodeStep(states, tokens, logits, tap);
        int vocab = config().vocabSize();
        int eos = config().eosId();
        for (int i = 0; i < states.size(); i++) {
            logits[i * vocab + eos] = Integer.MIN_VALUE;
        }
        return cost;
    }
}
