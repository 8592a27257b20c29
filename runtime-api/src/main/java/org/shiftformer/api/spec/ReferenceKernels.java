package org.shiftformer.api.spec;

import org.shiftformer.api.DType;
import org.shiftformer.api.backend.IntKernels;

/** {@link IntKernels} by the scalar reference ops: the yardstick of the conformance kit. */
public final class ReferenceKernels implements IntKernels {
    public static final ReferenceKernels INSTANCE = new ReferenceKernels();

    private ReferenceKernels() {
    }

    @Override
    public void linear(byte[] x, int rows, int k, boolean unsignedInput, byte[] w, int n, int[] bias, int[] acc) {
        for (int r = 0; r < rows; r++) {
            IntOps.linear(x, r * k, unsignedInput, k, w, n, bias, acc, r * n);
        }
    }

    @Override
    public void requantize(int[] acc, int len, int shift, DType outType, byte[] out) {
        IntOps.requantize(acc, 0, len, shift, outType, out, 0);
    }

    @Override
    public void softmax2(int[] scores, int rows, int len, int[] validLen, int scoreExp, int[] lut, byte[] probs) {
        for (int r = 0; r < rows; r++) {
            IntOps.softmax2(scores, r * len, len, validLen[r], scoreExp, lut, probs, r * len);
        }
    }

    @Override
    public void layerNorm(short[] x, int rows, int d, short[] gamma, int[] beta, int gammaExp, int outExp, byte[] out) {
        for (int r = 0; r < rows; r++) {
            IntOps.layerNorm(x, r * d, d, gamma, beta, gammaExp, outExp, out, r * d);
        }
    }

    @Override
    public void residual(short[] r, int rExp, int[] acc, int accExp, int outExp, int len, short[] out) {
        IntOps.residual(r, 0, rExp, acc, 0, accExp, outExp, len, out, 0);
    }
}
