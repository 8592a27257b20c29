package org.shiftformer.sim.kernel;

import org.shiftformer.api.DType;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.IntKernels;

/**
 * The fast kernels of backend-sim behind the op-level SPI, for the conformance kit. Stateless and
 * thread-safe: {@link #linear} packs the weights on every call (the engine packs them once at load);
 * {@link #prepareLinear} packs them once for many calls (the QAT trainer).
 */
public final class SimKernels implements IntKernels {
    public static final SimKernels INSTANCE = new SimKernels();

    @Override
    public void linear(byte[] x, int rows, int k, boolean unsignedInput, byte[] w, int n, int[] bias, int[] acc) {
        apply(PackedWeights.pack(w, 0, n, k, bias, unsignedInput), x, rows, acc);
    }

    @Override
    public PreparedLinear prepareLinear(byte[] w, int n, int k, boolean unsignedInput, int[] bias) {
        PackedWeights pw = PackedWeights.pack(w, 0, n, k, bias, unsignedInput);
        return (x, rows, acc) -> apply(pw, x, rows, acc);
    }

    private static void apply(PackedWeights pw, byte[] x, int rows, int[] acc) {
        int[] xp = new int[Math.max(1, rows) * Int8Gemm.pairStride(pw.k())];
        Int8Gemm.linear(x, 0, pw.k(), rows, pw, acc, 0, pw.n(), xp, new int[32]);
    }

    @Override
    public void requantize(int[] acc, int len, int shift, DType outType, byte[] out) {
        if (outType != DType.INT8 && outType != DType.UINT8) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "requantize to " + outType + ": only INT8 and UINT8");
        }
        ElementKernels.requantize(acc, 0, len, shift, outType == DType.UINT8, out, 0);
    }

    @Override
    public void softmax2(int[] scores, int rows, int len, int[] validLen, int scoreExp, int[] lut, byte[] probs) {
        int[] e = new int[len];
        for (int r = 0; r < rows; r++) {
            ElementKernels.softmax2(scores, r * len, len, validLen[r], scoreExp, lut, probs, r * len, e);
        }
    }

    @Override
    public void layerNorm(short[] x, int rows, int d, short[] gamma, int[] beta, int gammaExp, int outExp, byte[] out) {
        long[] c = new long[d];
        for (int r = 0; r < rows; r++) {
            ElementKernels.layerNorm(x, r * d, d, gamma, beta, gammaExp, outExp, out, r * d, c);
        }
    }

    @Override
    public void residual(short[] r, int rExp, int[] acc, int accExp, int outExp, int len, short[] out) {
        ElementKernels.residual(r, 0, outExp - rExp, acc, 0, outExp - accExp, len, out, 0);
    }

    /**
     * Attention scores of one query head slice against {@code keys} keys (SPEC.md 3.3):
     * {@code out[j] = sum_{t < dk} q[qOff + t] * K[j][kOff + t]}, keys given row-major with stride
     * {@code kStride} (transposed internally; the engine keeps its caches transposed instead).
     */
    public void scores(byte[] q, int qOff, byte[] k, int kOff, int kStride, int dk, int keys, int[] out, int outOff) {
        byte[] kt = new byte[dk * keys];
        for (int j = 0; j < keys; j++) {
            AttentionKernels.scatterColumn(k, kOff + j * kStride, dk, kt, 0, keys, j);
        }
        AttentionKernels.vecMat(q, qOff, dk, false, kt, 0, keys, keys, out, outOff);
    }

    /**
     * Attention·V (SPEC.md 3.3): {@code acc[t] = sum_{j < len} p[j] * V[j][col + t]} for {@code t < width},
     * the same contract as {@link org.shiftformer.api.spec.IntOps#attendValues}.
     */
    public void attendValues(byte[] p, int pOff, int len, byte[] v, int stride, int col, int width, int[] acc, int accOff) {
        AttentionKernels.vecMat(p, pOff, len, true, v, col, stride, width, acc, accOff);
    }
}
