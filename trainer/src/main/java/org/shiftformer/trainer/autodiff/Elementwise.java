package org.shiftformer.trainer.autodiff;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * Vectorised elementwise loops of the fused ops, over an index or row range (the callers split ranges over
 * the kernel threads). Each lane computes exactly the scalar expression written in its comment, in float,
 * so the results equal the scalar loops bit for bit.
 */
final class Elementwise {

    private static final VectorSpecies<Float> SP = FloatVector.SPECIES_PREFERRED;

    private Elementwise() {
    }

    /** Rows {@code [r0, r1)} of {@code [rows, n]}: {@code v = out + bias[c]} (if bias), then {@code max(v, 0)} (if relu). */
    static void biasRelu(float[] out, int r0, int r1, int n, float[] bias, boolean relu) {
        int upper = SP.loopBound(n);
        for (int r = r0; r < r1; r++) {
            int o = r * n;
            int c = 0;
            for (; c < upper; c += SP.length()) {
                FloatVector v = FloatVector.fromArray(SP, out, o + c);
                if (bias != null) {
                    v = v.add(FloatVector.fromArray(SP, bias, c));
                }
                if (relu) {
                    v = v.max(0f);
                }
                v.intoArray(out, o + c);
            }
            for (; c < n; c++) {
                float v = bias != null ? out[o + c] + bias[c] : out[o + c];
                out[o + c] = relu ? Math.max(v, 0f) : v;
            }
        }
    }

    /** {@code dst[i] = out[i] > 0 ? g[i] : 0} for i in {@code [from, to)}. */
    static void reluGrad(float[] out, float[] g, float[] dst, int from, int to) {
        int i = from;
        int upper = from + SP.loopBound(to - from);
        for (; i < upper; i += SP.length()) {
            VectorMask<Float> on = FloatVector.fromArray(SP, out, i).compare(VectorOperators.GT, 0f);
            FloatVector.zero(SP).blend(FloatVector.fromArray(SP, g, i), on).intoArray(dst, i);
        }
        for (; i < to; i++) {
            dst[i] = out[i] > 0f ? g[i] : 0f;
        }
    }

    /**
     * Rows {@code [r0, r1)} of {@code [rows, n]}, {@code out} holding {@code y}:
     * {@code out = r + ((y + bias[c]) · mask)} (bias and mask optional).
     */
    static void residual(float[] out, int r0, int r1, int n, float[] bias, float[] mask, float[] r) {
        int upper = SP.loopBound(n);
        for (int row = r0; row < r1; row++) {
            int o = row * n;
            int c = 0;
            for (; c < upper; c += SP.length()) {
                FloatVector v = FloatVector.fromArray(SP, out, o + c);
                if (bias != null) {
                    v = v.add(FloatVector.fromArray(SP, bias, c));
                }
                if (mask != null) {
                    v = v.mul(FloatVector.fromArray(SP, mask, o + c));
                }
                FloatVector.fromArray(SP, r, o + c).add(v).intoArray(out, o + c);
            }
            for (; c < n; c++) {
                float v = bias != null ? out[o + c] + bias[c] : out[o + c];
                if (mask != null) {
                    v = v * mask[o + c];
                }
                out[o + c] = r[o + c] + v;
            }
        }
    }

    /** {@code dst[i] += g[i]} for i in {@code [from, to)}. */
    static void addInto(float[] dst, float[] g, int from, int to) {
        int i = from;
        int upper = from + SP.loopBound(to - from);
        for (; i < upper; i += SP.length()) {
            FloatVector.fromArray(SP, dst, i).add(FloatVector.fromArray(SP, g, i)).intoArray(dst, i);
        }
        for (; i < to; i++) {
            dst[i] += g[i];
        }
    }

    /** {@code dst[i] = a[i] · b[i]} for i in {@code [from, to)}. */
    static void mul(float[] a, float[] b, float[] dst, int from, int to) {
        int i = from;
        int upper = from + SP.loopBound(to - from);
        for (; i < upper; i += SP.length()) {
            FloatVector.fromArray(SP, a, i).mul(FloatVector.fromArray(SP, b, i)).intoArray(dst, i);
        }
        for (; i < to; i++) {
            dst[i] = a[i] * b[i];
        }
    }
}
