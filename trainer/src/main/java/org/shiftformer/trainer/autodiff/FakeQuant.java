package org.shiftformer.trainer.autodiff;

/**
 * TQT power-of-two fake-quantizer (trainer/README.md, `FakeQuant`; Jain et al. "Trained Quantization Thresholds").
 *
 * <p>Forward, with a trained threshold {@code log2t} (a 1-element tensor):
 * <pre>
 *   signed b-bit:   s = 2^(ceil(log2t) - (b-1)),  n = -2^(b-1), p = 2^(b-1) - 1
 *   unsigned b-bit: s = 2^(ceil(log2t) - b),      n = 0,        p = 2^b - 1
 *   r = round_half_up(x / s) = floor(x/s + 0.5)   (in double: x/s is exact, s a power of two)
 *   q = clamp(r, n, p) · s
 * </pre>
 * Backward (the clip is tested on the rounded value {@code r}):
 * <pre>
 *   dq/dx     = 1 if n <= r <= p, else 0
 *   dq/dlog2t = s·ln2·(r - x/s) inside,  s·ln2·n if r < n,  s·ln2·p if r > p
 * </pre>
 * The gradient of {@code log2t} sums over all elements in double, in index order.
 */
public final class FakeQuant {

    private FakeQuant() {
    }

    /** The scale {@code s} (a power of two) for a threshold {@code log2t}. */
    public static double scale(float log2t, int bits, boolean signed) {
        checkBits(bits);
        return Math.scalb(1.0, (int) Math.ceil(log2t) - (signed ? bits - 1 : bits));
    }

    /** The integer exponent {@code e} of {@code s = 2^e}: the tensor's exponent at inference (SPEC.md 1). */
    public static int exponent(float log2t, int bits, boolean signed) {
        checkBits(bits);
        return (int) Math.ceil(log2t) - (signed ? bits - 1 : bits);
    }

    /** Exact round half up of a double: {@code floor(v + 0.5)} with the addition in double. */
    public static double roundHalfUp(double v) {
        return Math.floor(v + 0.5);
    }

    public static Tensor apply(Tensor x, Tensor log2t, int bits, boolean signed) {
        checkBits(bits);
        Shapes.check(log2t.size() == 1, "log2t must have one element: %s", log2t);
        float lt = log2t.data[0];
        Shapes.check(Float.isFinite(lt), "log2t must be finite: %s", lt);
        double s = scale(lt, bits, signed);
        double lo = signed ? -Math.scalb(1.0, bits - 1) : 0.0;
        double hi = signed ? Math.scalb(1.0, bits - 1) - 1 : Math.scalb(1.0, bits) - 1;
        int n = x.size();
        float[] out = new float[n];
        // region per element: -1 below, 0 inside, +1 above; frac = r - x/s inside
        byte[] region = new byte[n];
        float[] frac = new float[n];
        for (int i = 0; i < n; i++) {
            double v = x.data[i] / s; // exact: s is a power of two (barring float underflow/overflow)
            double r = roundHalfUp(v);
            if (r < lo) {
                region[i] = -1;
                out[i] = (float) (lo * s);
            } else if (r > hi) {
                region[i] = 1;
                out[i] = (float) (hi * s);
            } else {
                frac[i] = (float) (r - v);
                out[i] = (float) (r * s);
            }
        }
        double sLn2 = s * Ops.LN2;
        return Tensor.result(out, x.shape, t -> {
            float[] g = t.grad;
            if (x.requiresGrad) {
                float[] gx = x.grad();
                for (int i = 0; i < n; i++) {
                    if (region[i] == 0) {
                        gx[i] += g[i];
                    }
                }
            }
            if (log2t.requiresGrad) {
                double acc = 0;
                for (int i = 0; i < n; i++) {
                    double local = region[i] == 0 ? frac[i] : (region[i] < 0 ? lo : hi);
                    acc += g[i] * sLn2 * local;
                }
                log2t.grad()[0] += (float) acc;
            }
        }, x, log2t);
    }

    private static void checkBits(int bits) {
        Shapes.check(bits >= 2 && bits <= 32, "bits must be in [2, 32]: %s", bits);
    }
}
