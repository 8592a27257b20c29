package org.shiftformer.trainer.model;

import org.shiftformer.trainer.autodiff.Tensor;

/**
 * A {@link Numerics} that forwards every call, the interface's defaults included (a numerics such as QAT
 * overrides them), to {@code delegate}: tests override what they watch or change, usually {@link #logits}.
 */
public class ForwardingNumerics implements Numerics {
    protected final Numerics delegate;

    public ForwardingNumerics(Numerics delegate) {
        this.delegate = delegate;
    }

    @Override
    public Tensor embed(Tensor table, Tensor positions, int[] ids, int batch, int len, int scaleLog2, String stream) {
        return delegate.embed(table, positions, ids, batch, len, scaleLog2, stream);
    }

    @Override
    public Tensor embedAt(Tensor table, Tensor positions, int[] ids, int batch, int position, int scaleLog2,
                          String stream) {
        return delegate.embedAt(table, positions, ids, batch, position, scaleLog2, stream);
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, String prefix) {
        return delegate.layerNorm(x, gamma, beta, prefix);
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor b, boolean relu, String prefix) {
        return delegate.linear(x, w, b, relu, prefix);
    }

    @Override
    public Tensor residual(Tensor r, Tensor x, Tensor w, Tensor b, String prefix) {
        return delegate.residual(r, x, w, b, prefix);
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, int[] keyLengths, boolean causal, String prefix) {
        return delegate.attention(q, k, v, heads, keyLengths, causal, prefix);
    }

    @Override
    public Tensor logits(Tensor f, Tensor table) {
        return delegate.logits(f, table);
    }

    @Override
    public Tensor lastPosition(Tensor f) {
        return delegate.lastPosition(f);
    }

    @Override
    public boolean incrementalDecoding() {
        return delegate.incrementalDecoding();
    }

    @Override
    public Tensor appendPositions(Tensor cache, Tensor next) {
        return delegate.appendPositions(cache, next);
    }

    @Override
    public Tensor keepSequences(Tensor t, int[] which) {
        return delegate.keepSequences(t, which);
    }
}
