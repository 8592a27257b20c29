package org.shiftformer.trainer.model;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.shiftformer.trainer.autodiff.Ops;
import org.shiftformer.trainer.autodiff.Tensor;

/**
 * {@link Numerics} in plain float32 autodiff: the float model of SPEC.md section 2, used for float
 * training and evaluation. LayerNorm uses {@link #LN_EPS} (the integer LayerNorm has none; the float
 * epsilon only guards a constant row).
 *
 * <p>Optional dropout (float training only): applied to the branch of every RESIDUAL ({@code x · wᵀ + b})
 * before the add, never inside a branch, so switching it off gives exactly the SPEC.md function. Each
 * residual call draws its mask seed from a {@link SplittableRandom} seeded at construction, so one step's
 * masks depend only on that seed and the call order, which the model fixes.
 */
public final class FloatNumerics implements Numerics {

    /** The float LayerNorm epsilon. */
    public static final float LN_EPS = 1e-5f;

    private static final FloatNumerics PLAIN = new FloatNumerics(0f, 0L);

    private final float dropout;
    private final SplittableRandom seeds;

    private FloatNumerics(float dropout, long seed) {
        if (!(dropout >= 0f && dropout < 1f)) {
            throw new IllegalArgumentException("dropout must be in [0, 1): " + dropout);
        }
        this.dropout = dropout;
        this.seeds = new SplittableRandom(seed);
    }

    /** No dropout: the exact float function (evaluation, gradient checks). */
    public static FloatNumerics plain() {
        return PLAIN;
    }

    /** Residual-branch dropout with probability {@code p}, masks drawn from {@code seed} (one instance per step). */
    public static FloatNumerics training(float p, long seed) {
        return p == 0f ? PLAIN : new FloatNumerics(p, seed);
    }

    /** The dropout probability (0 for {@link #plain()}). */
    public float dropout() {
        return dropout;
    }

    @Override
    public Tensor embed(Tensor table, Tensor positions, int[] ids, int batch, int len, int scaleLog2, String stream) {
        int d = table.dim(1);
        if (ids.length != batch * len) {
            throw new IllegalArgumentException(stream + ".embed: " + ids.length + " ids for batch " + batch + " x " + len);
        }
        if (len > positions.dim(0)) {
            throw new IllegalArgumentException(stream + ".embed: length " + len + " exceeds the "
                    + positions.dim(0) + " positions");
        }
        Tensor e = Ops.reshape(Ops.scale(Ops.embedding(table, ids), (float) Math.scalb(1.0, scaleLog2)), batch, len, d);
        Tensor p = Tensor.of(Arrays.copyOf(positions.data(), len * d), len, d);
        return Ops.add(e, p);
    }

    @Override
    public Tensor embedAt(Tensor table, Tensor positions, int[] ids, int batch, int position, int scaleLog2,
                          String stream) {
        int d = table.dim(1);
        if (ids.length != batch) {
            throw new IllegalArgumentException(stream + ".embed: " + ids.length + " ids for batch " + batch);
        }
        if (position < 0 || position >= positions.dim(0)) {
            throw new IllegalArgumentException(stream + ".embed: position " + position + " outside the "
                    + positions.dim(0) + " positions");
        }
        // the same ops as embed's row `position`: E[id] · 2^s + P[position], elementwise
        Tensor e = Ops.reshape(Ops.scale(Ops.embedding(table, ids), (float) Math.scalb(1.0, scaleLog2)), batch, 1, d);
        Tensor p = Tensor.of(Arrays.copyOfRange(positions.data(), position * d, (position + 1) * d), 1, d);
        return Ops.add(e, p);
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, String prefix) {
        return Ops.layerNorm(x, gamma, beta, LN_EPS);
    }

    @Override
    public Tensor linear(Tensor x, Tensor w, Tensor b, boolean relu, String prefix) {
        return Ops.linear(x, w, b, relu);
    }

    @Override
    public Tensor residual(Tensor r, Tensor x, Tensor w, Tensor b, String prefix) {
        // r + dropout(x·wᵀ + b) in one op (Ops.residual: the same values and mask as add/dropout/linear)
        return Ops.residual(r, x, w, b, dropout, dropout > 0f ? seeds.nextLong() : 0L);
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, int[] keyLengths, boolean causal, String prefix) {
        return Ops.attention(q, k, v, heads, keyLengths, causal);
    }

    @Override
    public Tensor logits(Tensor f, Tensor table) {
        return Ops.matmulBT(f, table);
    }
}
