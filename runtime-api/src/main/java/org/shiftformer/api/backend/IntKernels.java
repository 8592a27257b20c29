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

    /** {@code out[i] = REQUANT_T(acc[i], shift)} for T int8 or uint8. */
    void requantize(int[] acc, int len, int shift, DType outType, byte[] out);

    /** SOFTMAX2 of {@code rows} rows of width {@code len}; row r has valid prefix {@code validLen[r]}. */
    void softmax2(int[] scores, int rows, int len, int[] validLen, int scoreExp, int[] lut, byte[] probs);

    /** LAYERNORM of {@code rows} int16 rows of width {@code d}. */
    void layerNorm(short[] x, int rows, int d, short[] gamma, int[] beta, int gammaExp, int outExp, byte[] out);

    /** RESIDUAL over {@code len} elements. */
    void residual(short[] r, int rExp, int[] acc, int accExp, int outExp, int len, short[] out);
}
