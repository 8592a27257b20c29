package org.shiftformer.sim.kernel;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.ShortVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Exact int8 x int8 (and uint8 x int8) to int32 matrix multiplication with {@code jdk.incubator.vector}:
 * {@code out[r][o] = b[o] + sum_i x[r][i] * W[o][i]}, weights prepacked by {@link PackedWeights}.
 *
 * <h2>Why it is exact</h2>
 * The Vector API has no widening dot product, and {@code vpmaddubsw}-style u8 x s8 pairs saturate.
 * This kernel multiplies in 16-bit lanes ({@code vpmullw}) where every value provably fits:
 * <ol>
 * <li>uint8 inputs are shifted to int8 first ({@code x - 128}, a sign-bit flip); the lost
 *     {@code 128 * sum_i W[o][i]} is a constant per output, folded into {@code adj} at pack time. So
 *     every product is int8 x int8, in {@code [-16256, 16384]}, exact in an int16 lane.</li>
 * <li>An int32 broadcast of an input pair {@code (x[k], x[k+1])} viewed as 16 int16 lanes times 16
 *     packed weights gives, in the int16 lanes {@code 2j, 2j+1}, the products of output {@code j} with
 *     inputs {@code k} and {@code k+1}. Two such product vectors (inputs {@code 4q..4q+3}) are added
 *     lane-wise together with {@link #OFFSET} = 32512: each int16 lane then holds the sum of two
 *     products plus 32512, which lies in {@code [-32512 + 32512, 32768 + 32512] = [0, 65280]}: read as an
 *     <em>unsigned</em> 16-bit number the lane is exact (16-bit addition is exact modulo 2^16 and the
 *     true value lies in {@code [0, 2^16)}).</li>
 * <li>Viewed as int32, lane {@code j} is {@code t = lo + 65536 * hi} with {@code lo, hi} those unsigned
 *     halves. The kernel accumulates {@code A += t} (wrapping int32) and {@code B += t >>> 16} (= hi,
 *     exact). Then {@code A - 65535 * B = sum(lo + hi)} modulo 2^32: four products plus
 *     {@code 2 * OFFSET} per quad.</li>
 * <li>The result {@code A - 65535 * B + adj}, {@code adj = b - 2 * OFFSET * quads (+ 128 * sum W)}, equals
 *     the true accumulator modulo 2^32; the loader proved the true accumulator fits int32 (SPEC.md
 *     section 8), so it is the true accumulator. No saturating instruction is used anywhere.</li>
 * </ol>
 * Seven vector operations per 32 multiply-accumulates (two {@code vpmullw}, two {@code vpaddw}, one
 * shift, two {@code vpaddd}) instead of three per 8 with 32-bit lanes.
 *
 * <h2>Structure</h2>
 * Each micro-kernel is its own small method (C2 stops inlining vector helpers in large methods, then
 * boxes vectors and runs ten times slower). {@link #k4x8} computes 4 rows x 8 outputs reusing each
 * weight load four times, from the int16 copy of the weights; {@link #k1x32} 1 row x 32 outputs for GEMV-shaped calls; {@link #k1x8} the
 * rest. The driver walks output blocks outermost so that a block's weights stay in L1 while every row
 * block uses them.
 */
public final class Int8Gemm {
    /** Added to every int16 lane holding two products: maps {@code [-32512, 32768]} onto {@code [0, 65280]}. */
    public static final int OFFSET = 32512;

    private static final VectorSpecies<Byte> B128 = ByteVector.SPECIES_128;
    private static final VectorSpecies<Short> S256 = ShortVector.SPECIES_256;
    private static final VectorSpecies<Integer> I256 = IntVector.SPECIES_256;
    private static final int QB = PackedWeights.QUAD_BYTES;

    private Int8Gemm() {
    }

    /** Ints of pair-packed input per row for a reduction length {@code k}: {@code 2 * ceil(k / 4)}. */
    public static int pairStride(int k) {
        return 2 * PackedWeights.quadsFor(k);
    }

    /**
     * Packs {@code rows} input rows of length {@code k} (row {@code r} at {@code x[xOff + r * xStride]}) into
     * int16 pairs: {@code xp[r * pairStride(k) + p] = (x[2p] & 0xFFFF) | (x[2p + 1] << 16)}, int8 values
     * (uint8 inputs minus 128), zero past {@code k}.
     */
    public static void pairRows(byte[] x, int xOff, int xStride, int rows, int k, boolean unsignedInput, int[] xp) {
        pairRows(x, xOff, xStride, rows, k, unsignedInput, xp, 0);
    }

    /** {@link #pairRows(byte[], int, int, int, int, boolean, int[])} writing row {@code r} at {@code xp[xpOff + r * pairStride(k)]}. */
    public static void pairRows(byte[] x, int xOff, int xStride, int rows, int k, boolean unsignedInput, int[] xp, int xpOff) {
        int ps = pairStride(k);
        for (int r = 0; r < rows; r++) {
            pairColumns(x, xOff + r * xStride, 0, k, k, unsignedInput, xp, xpOff + r * ps);
        }
    }

    /**
     * Packs columns {@code [c0, c1)} ({@code c0} even) of one input row of length {@code k} at {@code x[xOff]}
     * into its pair-packed row at {@code xp[xpOff]}, exactly as {@link #pairRows} would; when
     * {@code c1 >= k} the zero padding of the row past {@code k} is written too. Disjoint column ranges of
     * one row may be packed independently (by different threads).
     */
    public static void pairColumns(byte[] x, int xOff, int c0, int c1, int k, boolean unsignedInput, int[] xp, int xpOff) {
        int flip = unsignedInput ? 0x80 : 0;
        int end = Math.min(c1, k);
        int p = c0 >>> 1;
        for (; 2 * p + 1 < end; p++) {
            int lo = (byte) (x[xOff + 2 * p] ^ flip);
            int hi = (byte) (x[xOff + 2 * p + 1] ^ flip);
            xp[xpOff + p] = (lo & 0xFFFF) | (hi << 16);
        }
        if (2 * p < end) {
            // the last, odd column of the row (c1 >= k here, since c1 is k or even)
            xp[xpOff + p] = ((byte) (x[xOff + 2 * p] ^ flip)) & 0xFFFF;
            p++;
        }
        if (c1 >= k) {
            int ps = pairStride(k);
            for (; p < ps; p++) {
                xp[xpOff + p] = 0;
            }
        }
    }

    /**
     * {@code out[outOff + r * outStride + o] = b[o] + sum_i x[r][i] * W[o][i]} for {@code r < rows},
     * {@code o < w.n()}, from pair-packed rows {@code xp} (stride {@link #pairStride}).
     *
     * @param tail scratch of at least 32 ints for the last, partial output block
     */
    public static void gemm(int[] xp, int rows, PackedWeights w, int[] out, int outOff, int outStride, int[] tail) {
        gemmBlocks(xp, rows, w, 0, w.nBlocks(), out, outOff, outStride, tail);
    }

    /**
     * {@link #gemm} restricted to the output blocks {@code [nbFrom, nbTo)} (outputs {@code [8 nbFrom, min(8 nbTo, n))}).
     * Every output is the exact accumulator whichever kernel computes it, so any partition of the blocks
     * (across calls or threads) gives the same ints; callers that split a one-row product keep block
     * boundaries at multiples of 4 so the 32-wide kernel stays in use.
     */
    public static void gemmBlocks(int[] xp, int rows, PackedWeights w, int nbFrom, int nbTo, int[] out, int outOff,
                                  int outStride, int[] tail) {
        int quads = w.quads();
        int xs = 2 * quads;
        int bs = quads * QB;
        int n = w.n();
        int fullBlocks = n / PackedWeights.BLOCK;
        byte[] wd = w.data();
        short[] ws = w.wide();
        int[] adj = w.adj();
        if (rows <= 0 || nbFrom >= nbTo) {
            return;
        }
        if (nbFrom < 0 || nbTo > w.nBlocks() || xp.length < rows * xs || out.length < outOff + (rows - 1) * outStride + n
                || tail.length < 32) {
            throw new ShiftformerException(ErrorCode.INTERNAL, "gemm buffers too small for " + rows + "x" + w.k() + "x" + n
                    + " (blocks " + nbFrom + ".." + nbTo + ")");
        }
        int full = Math.min(nbTo, fullBlocks);
        if (rows < 4) {
            for (int r = 0; r < rows; r++) {
                int nb = nbFrom;
                for (; nb + 4 <= full; nb += 4) {
                    k1x32(xp, r * xs, wd, nb * bs, bs, quads, adj, nb * 8, out, outOff + r * outStride + nb * 8);
                }
                for (; nb < full; nb++) {
                    k1x8(xp, r * xs, wd, nb * bs, quads, adj, nb * 8, out, outOff + r * outStride + nb * 8);
                }
            }
        } else {
            for (int nb = nbFrom; nb < full; nb++) {
                int r = 0;
                for (; r + 4 <= rows; r += 4) {
                    k4x8(xp, r * xs, xs, ws, nb * bs, quads, adj, nb * 8, out, outOff + r * outStride + nb * 8, outStride);
                }
                for (; r < rows; r++) {
                    k1x8(xp, r * xs, wd, nb * bs, quads, adj, nb * 8, out, outOff + r * outStride + nb * 8);
                }
            }
        }
        if (nbTo > fullBlocks) {
            int nb = fullBlocks;
            int width = n - nb * 8;
            for (int r = 0; r < rows; r++) {
                k1x8(xp, r * xs, wd, nb * bs, quads, adj, nb * 8, tail, 0);
                System.arraycopy(tail, 0, out, outOff + r * outStride + nb * 8, width);
            }
        }
    }

    /**
     * Convenience: pair-packs {@code rows} rows of {@code x} into {@code xpScratch} and runs {@link #gemm}.
     */
    public static void linear(byte[] x, int xOff, int xStride, int rows, PackedWeights w, int[] out, int outOff,
                              int outStride, int[] xpScratch, int[] tail) {
        pairRows(x, xOff, xStride, rows, w.k(), w.unsignedInput(), xpScratch);
        gemm(xpScratch, rows, w, out, outOff, outStride, tail);
    }

    // ---- micro-kernels ----------------------------------------------------------------------------
    // No helper takes or returns a vector: once a helper is compiled on its own into a big method C2
    // stops inlining it ("already compiled into a big method"), the vectors crossing the call are boxed
    // and the kernel allocates megabytes per call and runs five times slower (measured).

    static void k1x8(int[] xp, int xo, byte[] wd, int wo, int quads, int[] adj, int adjOff, int[] out, int oo) {
        IntVector a = IntVector.zero(I256);
        IntVector b = IntVector.zero(I256);
        ShortVector off = ShortVector.broadcast(S256, (short) OFFSET);
        for (int q = 0; q < quads; q++) {
            int o = wo + q * QB;
            ShortVector wa = (ShortVector) ByteVector.fromArray(B128, wd, o).convertShape(VectorOperators.B2S, S256, 0);
            ShortVector wb = (ShortVector) ByteVector.fromArray(B128, wd, o + 16).convertShape(VectorOperators.B2S, S256, 0);
            ShortVector xa = IntVector.broadcast(I256, xp[xo + 2 * q]).reinterpretAsShorts();
            ShortVector xb = IntVector.broadcast(I256, xp[xo + 2 * q + 1]).reinterpretAsShorts();
            IntVector t = xa.mul(wa).add(xb.mul(wb)).add(off).reinterpretAsInts();
            a = a.add(t);
            b = b.add(t.lanewise(VectorOperators.LSHR, 16));
        }
        // A - 65535 * B + adj
        a.sub(b.lanewise(VectorOperators.LSHL, 16)).add(b).add(IntVector.fromArray(I256, adj, adjOff)).intoArray(out, oo);
    }

    static void k1x32(int[] xp, int xo, byte[] wd, int wo, int bs, int quads, int[] adj, int adjOff, int[] out, int oo) {
        IntVector a0 = IntVector.zero(I256);
        IntVector b0 = IntVector.zero(I256);
        IntVector a1 = IntVector.zero(I256);
        IntVector b1 = IntVector.zero(I256);
        IntVector a2 = IntVector.zero(I256);
        IntVector b2 = IntVector.zero(I256);
        IntVector a3 = IntVector.zero(I256);
        IntVector b3 = IntVector.zero(I256);
        ShortVector off = ShortVector.broadcast(S256, (short) OFFSET);
        for (int q = 0; q < quads; q++) {
            ShortVector xa = IntVector.broadcast(I256, xp[xo + 2 * q]).reinterpretAsShorts();
            ShortVector xb = IntVector.broadcast(I256, xp[xo + 2 * q + 1]).reinterpretAsShorts();
            int o = wo + q * QB;
            IntVector t = xa.mul((ShortVector) ByteVector.fromArray(B128, wd, o).convertShape(VectorOperators.B2S, S256, 0))
                    .add(xb.mul((ShortVector) ByteVector.fromArray(B128, wd, o + 16).convertShape(VectorOperators.B2S, S256, 0)))
                    .add(off).reinterpretAsInts();
            a0 = a0.add(t);
            b0 = b0.add(t.lanewise(VectorOperators.LSHR, 16));
            o += bs;
            t = xa.mul((ShortVector) ByteVector.fromArray(B128, wd, o).convertShape(VectorOperators.B2S, S256, 0))
                    .add(xb.mul((ShortVector) ByteVector.fromArray(B128, wd, o + 16).convertShape(VectorOperators.B2S, S256, 0)))
                    .add(off).reinterpretAsInts();
            a1 = a1.add(t);
            b1 = b1.add(t.lanewise(VectorOperators.LSHR, 16));
            o += bs;
            t = xa.mul((ShortVector) ByteVector.fromArray(B128, wd, o).convertShape(VectorOperators.B2S, S256, 0))
                    .add(xb.mul((ShortVector) ByteVector.fromArray(B128, wd, o + 16).convertShape(VectorOperators.B2S, S256, 0)))
                    .add(off).reinterpretAsInts();
            a2 = a2.add(t);
            b2 = b2.add(t.lanewise(VectorOperators.LSHR, 16));
            o += bs;
            t = xa.mul((ShortVector) ByteVector.fromArray(B128, wd, o).convertShape(VectorOperators.B2S, S256, 0))
                    .add(xb.mul((ShortVector) ByteVector.fromArray(B128, wd, o + 16).convertShape(VectorOperators.B2S, S256, 0)))
                    .add(off).reinterpretAsInts();
            a3 = a3.add(t);
            b3 = b3.add(t.lanewise(VectorOperators.LSHR, 16));
        }
        a0.sub(b0.lanewise(VectorOperators.LSHL, 16)).add(b0).add(IntVector.fromArray(I256, adj, adjOff)).intoArray(out, oo);
        a1.sub(b1.lanewise(VectorOperators.LSHL, 16)).add(b1).add(IntVector.fromArray(I256, adj, adjOff + 8)).intoArray(out, oo + 8);
        a2.sub(b2.lanewise(VectorOperators.LSHL, 16)).add(b2).add(IntVector.fromArray(I256, adj, adjOff + 16)).intoArray(out, oo + 16);
        a3.sub(b3.lanewise(VectorOperators.LSHL, 16)).add(b3).add(IntVector.fromArray(I256, adj, adjOff + 24)).intoArray(out, oo + 24);
    }

    static void k4x8(int[] xp, int xo, int xs, short[] ws, int wo, int quads, int[] adj, int adjOff, int[] out, int oo,
                     int os) {
        IntVector a0 = IntVector.zero(I256);
        IntVector b0 = IntVector.zero(I256);
        IntVector a1 = IntVector.zero(I256);
        IntVector b1 = IntVector.zero(I256);
        IntVector a2 = IntVector.zero(I256);
        IntVector b2 = IntVector.zero(I256);
        IntVector a3 = IntVector.zero(I256);
        IntVector b3 = IntVector.zero(I256);
        ShortVector off = ShortVector.broadcast(S256, (short) OFFSET);
        for (int q = 0; q < quads; q++) {
            int o = wo + q * QB;
            ShortVector wa = ShortVector.fromArray(S256, ws, o);
            ShortVector wb = ShortVector.fromArray(S256, ws, o + 16);
            int xi = xo + 2 * q;
            IntVector t = IntVector.broadcast(I256, xp[xi]).reinterpretAsShorts().mul(wa)
                    .add(IntVector.broadcast(I256, xp[xi + 1]).reinterpretAsShorts().mul(wb)).add(off).reinterpretAsInts();
            a0 = a0.add(t);
            b0 = b0.add(t.lanewise(VectorOperators.LSHR, 16));
            xi += xs;
            t = IntVector.broadcast(I256, xp[xi]).reinterpretAsShorts().mul(wa)
                    .add(IntVector.broadcast(I256, xp[xi + 1]).reinterpretAsShorts().mul(wb)).add(off).reinterpretAsInts();
            a1 = a1.add(t);
            b1 = b1.add(t.lanewise(VectorOperators.LSHR, 16));
            xi += xs;
            t = IntVector.broadcast(I256, xp[xi]).reinterpretAsShorts().mul(wa)
                    .add(IntVector.broadcast(I256, xp[xi + 1]).reinterpretAsShorts().mul(wb)).add(off).reinterpretAsInts();
            a2 = a2.add(t);
            b2 = b2.add(t.lanewise(VectorOperators.LSHR, 16));
            xi += xs;
            t = IntVector.broadcast(I256, xp[xi]).reinterpretAsShorts().mul(wa)
                    .add(IntVector.broadcast(I256, xp[xi + 1]).reinterpretAsShorts().mul(wb)).add(off).reinterpretAsInts();
            a3 = a3.add(t);
            b3 = b3.add(t.lanewise(VectorOperators.LSHR, 16));
        }
        IntVector adjV = IntVector.fromArray(I256, adj, adjOff);
        a0.sub(b0.lanewise(VectorOperators.LSHL, 16)).add(b0).add(adjV).intoArray(out, oo);
        a1.sub(b1.lanewise(VectorOperators.LSHL, 16)).add(b1).add(adjV).intoArray(out, oo + os);
        a2.sub(b2.lanewise(VectorOperators.LSHL, 16)).add(b2).add(adjV).intoArray(out, oo + 2 * os);
        a3.sub(b3.lanewise(VectorOperators.LSHL, 16)).add(b3).add(adjV).intoArray(out, oo + 3 * os);
    }
}
