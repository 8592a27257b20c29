package org.shiftformer.sim.kernel;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The two attention products of SPEC.md 3.3 as one vector-times-matrix kernel over int32 lanes:
 * {@code out[j] = sum_{i < len} a[i] * B[i][j]}, {@code a} int8 or uint8, {@code B} int8 with a row
 * stride. Scores {@code Q K^T} use it with {@code a} = a query's head slice and {@code B} = the keys
 * stored transposed ({@code K^T}, one row per key column, so keys are contiguous); attention·V uses it
 * with {@code a} = a probability row and {@code B} = the value rows. Products are exact in int32 lanes
 * and the sums are bounded by SPEC.md section 8 ({@code d_k <= 131071}, positions {@code <= 65793}).
 */
public final class AttentionKernels {
    private static final VectorSpecies<Integer> I256 = IntVector.SPECIES_256;
    private static final VectorSpecies<Byte> B64 = ByteVector.SPECIES_64;

    private AttentionKernels() {
    }

    /**
     * {@code out[outOff + j] = sum_{i < len} a[aOff + i] * b[bOff + i * bStride + j]} for {@code j < width}.
     * Columns are computed 8 at a time while {@code j + 8 <= width}, the rest one by one; a caller whose
     * rows are padded may pass a {@code width} rounded up to 8 and ignore the extra outputs.
     */
    public static void vecMat(byte[] a, int aOff, int len, boolean aUnsigned, byte[] b, int bOff, int bStride,
                              int width, int[] out, int outOff) {
        int j = 0;
        for (; j + 8 <= width; j += 8) {
            if (aUnsigned) {
                out8Unsigned(a, aOff, len, b, bOff + j, bStride, out, outOff + j);
            } else {
                out8Signed(a, aOff, len, b, bOff + j, bStride, out, outOff + j);
            }
        }
        int mask = aUnsigned ? 0xFF : -1;
        for (; j < width; j++) {
            int s = 0;
            for (int i = 0; i < len; i++) {
                s += (a[aOff + i] & mask) * b[bOff + i * bStride + j];
            }
            out[outOff + j] = s;
        }
    }

    private static void out8Signed(byte[] a, int aOff, int len, byte[] b, int bOff, int bStride, int[] out, int oo) {
        IntVector acc0 = IntVector.zero(I256);
        IntVector acc1 = acc0;
        int i = 0;
        for (; i + 2 <= len; i += 2) {
            acc0 = acc0.add(((IntVector) ByteVector.fromArray(B64, b, bOff + i * bStride).convertShape(VectorOperators.B2I, I256, 0)).mul(a[aOff + i]));
            acc1 = acc1.add(((IntVector) ByteVector.fromArray(B64, b, bOff + (i + 1) * bStride).convertShape(VectorOperators.B2I, I256, 0)).mul(a[aOff + i + 1]));
        }
        if (i < len) {
            acc0 = acc0.add(((IntVector) ByteVector.fromArray(B64, b, bOff + i * bStride).convertShape(VectorOperators.B2I, I256, 0)).mul(a[aOff + i]));
        }
        acc0.add(acc1).intoArray(out, oo);
    }

    private static void out8Unsigned(byte[] a, int aOff, int len, byte[] b, int bOff, int bStride, int[] out, int oo) {
        IntVector acc0 = IntVector.zero(I256);
        IntVector acc1 = acc0;
        int i = 0;
        for (; i + 2 <= len; i += 2) {
            acc0 = acc0.add(((IntVector) ByteVector.fromArray(B64, b, bOff + i * bStride).convertShape(VectorOperators.B2I, I256, 0)).mul(a[aOff + i] & 0xFF));
            acc1 = acc1.add(((IntVector) ByteVector.fromArray(B64, b, bOff + (i + 1) * bStride).convertShape(VectorOperators.B2I, I256, 0)).mul(a[aOff + i + 1] & 0xFF));
        }
        if (i < len) {
            acc0 = acc0.add(((IntVector) ByteVector.fromArray(B64, b, bOff + i * bStride).convertShape(VectorOperators.B2I, I256, 0)).mul(a[aOff + i] & 0xFF));
        }
        acc0.add(acc1).intoArray(out, oo);
    }

    /**
     * Writes row {@code src[srcOff .. srcOff + width)} as column {@code col} of a transposed matrix:
     * {@code dst[dstOff + c * dstStride + col] = src[srcOff + c]} (appending a key to a {@code K^T} cache).
     */
    public static void scatterColumn(byte[] src, int srcOff, int width, byte[] dst, int dstOff, int dstStride, int col) {
        int p = dstOff + col;
        for (int c = 0; c < width; c++) {
            dst[p] = src[srcOff + c];
            p += dstStride;
        }
    }
}
