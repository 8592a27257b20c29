package org.shiftformer.trainer.autodiff;

/**
 * Straight-through ops for quantization-aware training: a forward value computed elsewhere (by the exact
 * integer ops of SPEC.md) with the gradient of a float surrogate.
 */
public final class StraightThrough {

    private StraightThrough() {
    }

    /**
     * A tensor whose values are {@code exact} (same shape as {@code surrogate}) and whose gradient flows to
     * {@code surrogate} unchanged: {@code y = surrogate + stopgrad(exact - surrogate)}, without the float
     * rounding of that sum.
     */
    public static Tensor replace(Tensor surrogate, float[] exact) {
        Shapes.check(exact.length == surrogate.size(), "exact values %s != surrogate size %s", exact.length,
                surrogate.size());
        return Tensor.result(exact, surrogate.shape, t -> surrogate.addToGrad(t.grad), surrogate);
    }

    /**
     * Quantizes to {@code bits}-bit signed integers at the fixed scale {@code 2^exponent} (no trained
     * threshold: int32 biases at {@code eIn + eW}, LayerNorm gamma and beta): {@code q = SAT(floor(x/s + 0.5)) ·
     * s}, computed in double; the gradient passes where the rounded value is in range. {@code ints}
     * receives the integers (may be null).
     */
    public static Tensor quantizeFixed(Tensor x, int exponent, int bits, long[] ints) {
        Shapes.check(bits >= 2 && bits <= 32, "bits must be in [2, 32]: %s", bits);
        double s = Math.scalb(1.0, exponent);
        double lo = -Math.scalb(1.0, bits - 1);
        double hi = Math.scalb(1.0, bits - 1) - 1;
        int n = x.size();
        float[] out = new float[n];
        boolean[] inside = new boolean[n];
        for (int i = 0; i < n; i++) {
            double r = FakeQuant.roundHalfUp(x.data[i] / s);
            inside[i] = r >= lo && r <= hi;
            double c = Math.min(hi, Math.max(lo, r));
            out[i] = (float) (c * s);
            if (ints != null) {
                ints[i] = (long) c;
            }
        }
        return Tensor.result(out, x.shape, t -> {
            float[] g = t.grad;
            float[] gx = x.grad();
            for (int i = 0; i < n; i++) {
                if (inside[i]) {
                    gx[i] += g[i];
                }
            }
        }, x);
    }
}
