package org.shiftformer.sim.kernel;

import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import org.shiftformer.api.spec.Tables;

/**
 * The element-wise and row-wise ops of SPEC.md (requantize, residual, layer norm, softmax) without
 * allocation: callers pass scratch arrays. Requantization is vectorised; the others are O(row) beside
 * O(row x width) matmuls, so they are tight scalar loops in {@code int}/{@code long} arithmetic whose
 * intermediates are bounded as SPEC.md section 8 states.
 */
public final class ElementKernels {
    private static final VectorSpecies<Integer> I256 = IntVector.SPECIES_256;
    private static final VectorSpecies<Byte> B64 = ByteVector.SPECIES_64;

    private ElementKernels() {
    }

    // ---- REQUANT (SPEC.md 1.2) -----------------------------------------------------------------

    /**
     * {@code out[i] = SAT_T(SHIFT(acc[i], k))}, T = uint8 when {@code unsignedOut}, else int8.
     *
     * <p>In int32 lanes without overflow: for {@code 0 < k < 32}, {@code RSH(a, k) = (a >> k) + ((a >> (k-1)) & 1)}
     * (the rounding carry is bit {@code k-1}); for {@code k >= 32} every int32 rounds to 0; for {@code k < 0}
     * the input is first clamped to {@code [-256, 256]} and shifted by {@code min(-k, 8)}, which keeps
     * every saturated result saturated the same way and every unsaturated one exact.
     */
    public static void requantize(int[] acc, int accOff, int len, int k, boolean unsignedOut, byte[] out, int outOff) {
        int lo = unsignedOut ? 0 : -128;
        int hi = unsignedOut ? 255 : 127;
        if (k >= 32) {
            java.util.Arrays.fill(out, outOff, outOff + len, (byte) 0);
            return;
        }
        int i = 0;
        if (k > 0) {
            i = requantRight(acc, accOff, len, k, lo, hi, out, outOff);
        } else if (k < 0) {
            i = requantLeft(acc, accOff, len, Math.min(-k, 8), lo, hi, out, outOff);
        } else {
            i = requantLeft(acc, accOff, len, 0, lo, hi, out, outOff);
        }
        for (; i < len; i++) {
            out[outOff + i] = (byte) requant(acc[accOff + i], k, lo, hi);
        }
    }

    private static int requantRight(int[] acc, int accOff, int len, int k, int lo, int hi, byte[] out, int outOff) {
        int i = 0;
        for (; i + 8 <= len; i += 8) {
            IntVector a = IntVector.fromArray(I256, acc, accOff + i);
            IntVector v = a.lanewise(VectorOperators.ASHR, k).add(a.lanewise(VectorOperators.ASHR, k - 1).and(1));
            ((ByteVector) v.max(lo).min(hi).convertShape(VectorOperators.I2B, B64, 0)).intoArray(out, outOff + i);
        }
        return i;
    }

    private static int requantLeft(int[] acc, int accOff, int len, int m, int lo, int hi, byte[] out, int outOff) {
        int i = 0;
        for (; i + 8 <= len; i += 8) {
            IntVector a = IntVector.fromArray(I256, acc, accOff + i).max(-256).min(256);
            ((ByteVector) a.lanewise(VectorOperators.LSHL, m).max(lo).min(hi).convertShape(VectorOperators.I2B, B64, 0))
                    .intoArray(out, outOff + i);
        }
        return i;
    }

    /** Scalar {@code SAT(SHIFT(v, k))} into {@code [lo, hi]} for {@code k} in [-24, 62] and |v| < 2^38. */
    public static int requant(long v, int k, int lo, int hi) {
        long s;
        if (k > 0) {
            s = (v + (1L << (k - 1))) >> k;
        } else {
            s = v << -k;
        }
        return (int) Math.min(Math.max(s, lo), hi);
    }

    // ---- RESIDUAL (SPEC.md 3.5) ----------------------------------------------------------------

    /**
     * {@code out[i] = SAT16(SHIFT(r[i], kr) + SHIFT(acc[i], ka))} with {@code kr = eOut - eR},
     * {@code ka = eOut - eAcc}; {@code out} may be {@code r} (in place).
     */
    public static void residual(short[] r, int rOff, int kr, int[] acc, int accOff, int ka, int len, short[] out,
                                int outOff) {
        long hr = kr > 0 ? 1L << (kr - 1) : 0;
        long ha = ka > 0 ? 1L << (ka - 1) : 0;
        int sr = Math.max(kr, 0);
        int sa = Math.max(ka, 0);
        int lr = Math.max(-kr, 0);
        int la = Math.max(-ka, 0);
        for (int i = 0; i < len; i++) {
            // for k >= 0: (v + half) >> k (half = 0 when k = 0); for k < 0: v << -k
            long x = (((long) r[rOff + i] << lr) + hr) >> sr;
            long y = (((long) acc[accOff + i] << la) + ha) >> sa;
            long s = x + y;
            out[outOff + i] = (short) Math.min(Math.max(s, -32768), 32767);
        }
    }

    // ---- LAYERNORM (SPEC.md 3.7) ---------------------------------------------------------------

    /**
     * Integer LayerNorm of one int16 row of width {@code d} to int8 at {@code eOut}.
     *
     * @param c scratch of at least {@code d} longs
     */
    public static void layerNorm(short[] x, int xOff, int d, short[] gamma, int[] beta, int eG, int eOut, byte[] out,
                                 int outOff, long[] c) {
        long sum = 0;
        for (int i = 0; i < d; i++) {
            sum += x[xOff + i];
        }
        long q = 0;
        for (int i = 0; i < d; i++) {
            long ci = (long) d * x[xOff + i] - sum;
            c[i] = ci;
            q += ci * ci;
        }
        long sig = isqrt(q / d);
        int k = eOut - (eG - 12);
        if (sig == 0) {
            for (int i = 0; i < d; i++) {
                out[outOff + i] = (byte) requant(beta[i], k, -128, 127);
            }
            return;
        }
        long r = (1L << 40) / sig;
        for (int i = 0; i < d; i++) {
            long n = (c[i] * r + (1L << 27)) >> 28;
            out[outOff + i] = (byte) requant(n * gamma[i] + beta[i], k, -128, 127);
        }
    }

    /** Exact floor square root of {@code v >= 0}. */
    public static long isqrt(long v) {
        long s = (long) Math.sqrt((double) v);
        while (s * s > v) {
            s--;
        }
        while ((s + 1) * (s + 1) <= v) {
            s++;
        }
        return s;
    }

    // ---- SOFTMAX2 (SPEC.md 3.4) ----------------------------------------------------------------

    /**
     * Masked base-2 softmax of {@code s[off .. off+len)} at exponent {@code eS} with valid prefix
     * {@code [0, validLen)}; uint8 probabilities at exponent -8 into {@code p}.
     *
     * @param e scratch of at least {@code len} ints (each {@code e[j] <= 65536})
     */
    public static void softmax2(int[] s, int off, int len, int validLen, int eS, int[] lut, byte[] p, int pOff, int[] e) {
        int valid = Math.max(0, Math.min(validLen, len));
        if (valid == 0) {
            java.util.Arrays.fill(p, pOff, pOff + len, (byte) 0);
            return;
        }
        int m = Integer.MIN_VALUE;
        for (int j = 0; j < valid; j++) {
            m = Math.max(m, s[off + j]);
        }
        int k = -(eS + Tables.SOFTMAX_FRAC_BITS);
        int sr = Math.max(k, 0);
        int sl = Math.max(-k, 0);
        long half = k > 0 ? 1L << (k - 1) : 0;
        long sum = 0;
        for (int j = 0; j < valid; j++) {
            long dd = (long) m - s[off + j];
            long u = ((dd << sl) + half) >> sr;
            int sh = (int) Math.min(u >> 6, 62);
            long lv = lut[(int) (u & 63)];
            int ej = (int) (sh == 0 ? lv : (lv + (1L << (sh - 1))) >> sh);
            e[j] = ej;
            sum += ej;
        }
        long r = (1L << 40) / sum;
        for (int j = 0; j < valid; j++) {
            p[pOff + j] = (byte) Math.min(255, (e[j] * r + (1L << 31)) >> 32);
        }
        for (int j = valid; j < len; j++) {
            p[pOff + j] = 0;
        }
    }
}
