package org.shiftformer.api.backend;

import java.util.List;
import java.util.Objects;
import org.shiftformer.api.ModelConfig;

/**
 * A {@link LoadedModel} that forwards every call to another one: the base of decorators (tests,
 * benchmarks, instrumentation) that override only what they change.
 */
public abstract class ForwardingLoadedModel implements LoadedModel {
    private final LoadedModel delegate;

    protected ForwardingLoadedModel(LoadedModel delegate) {
        this.delegate = Objects.requireNonNull(delegate, "delegate");
    }

    /** The model calls are forwarded to. */
    protected final LoadedModel delegate() {
        return delegate;
    }

    @Override
    public ModelConfig config() {
        return delegate.config();
    }

    @Override
    public int logitsExponent() {
        return delegate.logitsExponent();
    }

    @Override
    public EncodeResult encode(List<int[]> sources, LayerTap tap) {
        return delegate.encode(sources, tap);
    }

    @Override
    public DecoderState newDecoder(EncodedSource source, int capacity) {
        return delegate.newDecoder(source, capacity);
    }

    @Override
    public StepCost decodeStep(List<DecoderState> states, int[] tokens, int[] logits, LayerTap tap) {
        return delegate.decodeStep(states, tokens, logits, tap);
    }

    @Override
    public void close() {
        delegate.close();
    }
}
