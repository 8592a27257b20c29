package org.shiftformer.api.backend;

import org.shiftformer.api.DType;

/**
 * Op-level kernels of SPEC.md section 3, batched over rows, that a backend exposes so the conformance
 * kit can compare each op with the scalar reference ({@link org.shiftformer.api.spec.ReferenceKernels}).
 * uint8 values travel in {@code byte[]}.
 */
public interface IntKernels {
    /**
     * LINEAR without requantization: {@code acc[r*n + o] = bias[o] + sum_i x[r*k + i] * w[o*k + i]}.
     *
     * @param bias may be null (the tied logits)
     */
    void linear(byte[] x, int rows, int k, boolean unsignedInput, byte[] w, int n, int[] bias, int[] acc);

    /**
     * LINEAR against one weight matrix for many calls: {@code prepareLinear(w, n, k, u, bias).apply(x, rows, acc)}
     * equals {@code linear(x, rows, k, u, w, n, bias, acc)} bit for bit. A backend whose {@link #linear} packs
     * the weights on every call packs them here once (the QAT trainer calls a layer's weights once per row
     * chunk and per decoded token). {@code w} and {@code bias} must not change while the result is in use;
     * the result is thread-safe when {@link #linear} is.
     */
    default PreparedLinear prepareLinear(byte[] w, int n, int k, boolean unsignedInput, int[] bias) {
        return (x, rows, acc) -> linear(x, rows, k, unsignedInput, w, n, bias, acc);
    }

    /** A weight matrix made ready by {@link #prepareLinear}. */
    @FunctionalInterface
    interface PreparedLinear {
        /** {@code acc[r*n + o] = bias[o] + sum_i x[r*k + i] * w[o*k + i]} for {@code rows} rows. */
        void apply(byte[] x, int rows, int[] acc);
    }

    /** {@code out[i] = REQUANT_T(acc[i], shift)} for T int8 or uint8. */
    void requantize(int[] acc, int len, int shift, DType outType, byte[] out);

    /** SOFTMAX2 of {@code rows} rows of width {@code len}; row r has valid prefix {@code validLen[r]}. */
    void softmax2(int[] scores, int rows, int len, int[] validLen, int scoreExp, int[] lut, byte[] probs);

    /** LAYERNORM of {@code rows} int16 rows of width {@code d}. */
    void layerNorm(short[] x, int rows, int d, short[] gamma, int[] beta, int gammaExp, int outExp, byte[] out);

    /** RESIDUAL over {@code len} elements. */
    void residual(short[] r, int rExp, int[] acc, int accExp, int outExp, int len, short[] out);
}
