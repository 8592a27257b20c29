package org.shiftformer.api.spec;

import org.shiftformer.api.DType;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The scalar reference of every integer op in SPEC.md, written straight from it and kept obviously
 * correct rather than fast. Fast kernels and every backend are tested against these, bit for bit.
 * Section numbers refer to SPEC.md. uint8 values travel in {@code byte[]} and are read with
 * {@code & 0xFF}.
 */
public final class IntOps {
    /** Smallest generated log-probability in Q16 (SPEC.md 5.1). */
    public static final long LOGP_FLOOR_Q16 = -(1L << 22);
    /** Smallest and largest static shift a model may use (SPEC.md 1.1). */
    public static final int MIN_SHIFT = -24;
    public static final int MAX_SHIFT = 62;

    private IntOps() {
    }

    // ---- 1.1 rounding and shifting -------------------------------------------------------------

    /** {@code RSH(a, k) = (a + 2^(k-1)) >> k} for k > 0, {@code a} for k = 0: round half up. */
    public static long rsh(long a, int k) {
        if (k < 0 || k > MAX_SHIFT) {
            throw new IllegalArgumentException("RSH shift " + k + " outside [0, " + MAX_SHIFT + "]");
        }
        return k == 0 ? a : (a + (1L << (k - 1))) >> k;
    }

    /** {@code SHIFT(a, k)}: RSH for k >= 0, exact left shift by {@code -k} for k < 0. */
    public static long shift(long a, int k) {
        if (k >= 0) {
            return rsh(a, k);
        }
        if (k < MIN_SHIFT) {
            throw new IllegalArgumentException("SHIFT " + k + " below " + MIN_SHIFT);
        }
        return a << -k;
    }

    // ---- 1.2 saturation ------------------------------------------------------------------------

    /** {@code SAT_T(a)}. */
    public static int sat(long a, DType t) {
        return (int) Math.min(Math.max(a, t.min()), t.max());
    }

    /** {@code REQUANT_T(acc, k) = SAT_T(SHIFT(acc, k))}. */
    public static int requant(long acc, int k, DType t) {
        return sat(shift(acc, k), t);
    }

    /** Requantizes {@code len} accumulators to int8 or uint8 (stored as bytes). */
    public static void requantize(int[] acc, int accOff, int len, int k, DType out, byte[] dst, int dstOff) {
        for (int i = 0; i < len; i++) {
            dst[dstOff + i] = (byte) requant(acc[accOff + i], k, out);
        }
    }

    // ---- 3.1 embedding ---------------------------------------------------------------------------

    /**
     * One embedded position: {@code out[j] = SAT16(SHIFT(E[tok][j], eOut-(eE+s)) + SHIFT(P[pos][j], eOut-eP))}.
     */
    public static void embed(byte[] table, int eE, int scaleLog2, byte[] pos, int eP, int d, int token, int position,
                             int eOut, short[] out, int outOff) {
        for (int j = 0; j < d; j++) {
            long v = shift(table[token * d + j], eOut - (eE + scaleLog2)) + shift(pos[position * d + j], eOut - eP);
            out[outOff + j] = (short) sat(v, DType.INT16);
        }
    }

    // ---- 3.2 linear --------------------------------------------------------------------------------

    /**
     * {@code acc[n] = b[n] + sum_k x[k] * W[n][k]} for one input row; {@code W} is {@code [N, K]} row-major,
     * {@code bias} may be null (the tied logits).
     */
    public static void linear(byte[] x, int xOff, boolean unsignedInput, int k, byte[] w, int n, int[] bias,
                              int[] acc, int accOff) {
        for (int o = 0; o < n; o++) {
            long sum = bias == null ? 0 : bias[o];
            for (int i = 0; i < k; i++) {
                int xv = unsignedInput ? x[xOff + i] & 0xFF : x[xOff + i];
                sum += (long) xv * w[o * k + i];
            }
            acc[accOff + o] = toInt32(sum);
        }
    }

    /** Dot product of two int8 rows of length {@code len} (QK^T, SPEC.md 3.3). */
    public static int dot(byte[] a, int aOff, byte[] b, int bOff, int len) {
        long sum = 0;
        for (int i = 0; i < len; i++) {
            sum += a[aOff + i] * b[bOff + i];
        }
        return toInt32(sum);
    }

    private static int toInt32(long v) {
        if (v != (int) v) {
            throw new ShiftformerException(ErrorCode.INTERNAL,
                    "int32 accumulator overflow (" + v + "): the load-time bound of SPEC.md section 8 was not enforced");
        }
        return (int) v;
    }

    // ---- 3.4 softmax ------------------------------------------------------------------------------

    /**
     * Masked base-2 softmax of {@code s[off .. off+len)} at exponent {@code eS}, where positions
     * {@code [0, validLen)} are valid (both masks of SPEC.md section 4 are prefixes). Writes uint8
     * probabilities at exponent -8 into {@code p}.
     */
    public static void softmax2(int[] s, int off, int len, int validLen, int eS, int[] lut, byte[] p, int pOff) {
        boolean[] valid = new boolean[len];
        for (int j = 0; j < Math.min(validLen, len); j++) {
            valid[j] = true;
        }
        softmax2Masked(s, off, len, valid, eS, lut, p, pOff);
    }

    /** SPEC.md 3.4 with an arbitrary mask. */
    public static void softmax2Masked(int[] s, int off, int len, boolean[] valid, int eS, int[] lut, byte[] p, int pOff) {
        long m = Long.MIN_VALUE;
        for (int j = 0; j < len; j++) {
            if (valid[j]) {
                m = Math.max(m, s[off + j]);
            }
        }
        if (m == Long.MIN_VALUE) {
            for (int j = 0; j < len; j++) {
                p[pOff + j] = 0;
            }
            return;
        }
        int k = -(eS + Tables.SOFTMAX_FRAC_BITS);
        long[] e = new long[len];
        long sum = 0;
        for (int j = 0; j < len; j++) {
            if (valid[j]) {
                long d = m - s[off + j];
                long u = shift(d, k);
                e[j] = rsh(lut[(int) (u & 63)], (int) Math.min(u >> 6, 62));
                sum += e[j];
            }
        }
        long r = (1L << 40) / sum;
        for (int j = 0; j < len; j++) {
            p[pOff + j] = valid[j] ? (byte) Math.min(255, rsh(e[j] * r, 32)) : 0;
        }
    }

    /**
     * {@code acc[t] = sum_j p[j] * V[j][t]} over {@code len} positions for the {@code width} columns
     * starting at {@code col} of a {@code [*, stride]} int8 matrix (attention·V, SPEC.md 3.3).
     */
    public static void attendValues(byte[] p, int pOff, int len, byte[] v, int stride, int col, int width,
                                    int[] acc, int accOff) {
        for (int t = 0; t < width; t++) {
            long sum = 0;
            for (int j = 0; j < len; j++) {
                sum += (long) (p[pOff + j] & 0xFF) * v[j * stride + col + t];
            }
            acc[accOff + t] = toInt32(sum);
        }
    }

    // ---- 3.5 residual ------------------------------------------------------------------------------

    /** {@code out = SAT16(SHIFT(r, eOut-eR) + SHIFT(acc, eOut-eAcc))}, element-wise over {@code len}. */
    public static void residual(short[] r, int rOff, int eR, int[] acc, int accOff, int eAcc, int eOut, int len,
                                short[] out, int outOff) {
        for (int i = 0; i < len; i++) {
            long v = shift(r[rOff + i], eOut - eR) + shift(acc[accOff + i], eOut - eAcc);
            out[outOff + i] = (short) sat(v, DType.INT16);
        }
    }

    // ---- 3.7 layer norm ----------------------------------------------------------------------------

    /** Integer LayerNorm of one int16 row of width {@code d} to int8 at {@code eOut}. */
    public static void layerNorm(short[] x, int xOff, int d, short[] gamma, int[] beta, int eG, int eOut,
                                 byte[] out, int outOff) {
        long sum = 0;
        for (int i = 0; i < d; i++) {
            sum += x[xOff + i];
        }
        long[] c = new long[d];
        long q = 0;
        for (int i = 0; i < d; i++) {
            c[i] = (long) d * x[xOff + i] - sum;
            q += c[i] * c[i];
        }
        long sig = isqrt(q / d);
        long r = sig == 0 ? 0 : (1L << 40) / sig;
        int k = eOut - (eG - 12);
        for (int i = 0; i < d; i++) {
            long n = sig == 0 ? 0 : rsh(c[i] * r, 28);
            long y = n * gamma[i] + beta[i];
            out[outOff + i] = (byte) requant(y, k, DType.INT8);
        }
    }

    /** Exact floor square root of {@code v >= 0}: the {@code s} with {@code s*s <= v < (s+1)*(s+1)}. */
    public static long isqrt(long v) {
        if (v < 0) {
            throw new IllegalArgumentException("isqrt of negative " + v);
        }
        // The double root is within one of the answer; correct it with overflow-free comparisons
        // (s * s > v  <=>  s > v / s for s > 0).
        long s = (long) Math.sqrt((double) v);
        while (s > 0 && s > v / s) {
            s--;
        }
        while (s + 1 <= v / (s + 1)) {
            s++;
        }
        return s;
    }

    // ---- 3.8 greedy -------------------------------------------------------------------------------

    /** Argmax over {@code len} logits excluding {@code padId} and {@code bosId}; ties go to the lowest index. */
    public static int argmax(int[] logits, int off, int len, int padId, int bosId) {
        int best = -1;
        for (int v = 0; v < len; v++) {
            if (v == padId || v == bosId) {
                continue;
            }
            if (best < 0 || logits[off + v] > logits[off + best]) {
                best = v;
            }
        }
        return best;
    }

    // ---- 5.1 beam scoring -----------------------------------------------------------------------

    /** {@code LOG2_Q16(x)} for an integer {@code x >= 1}. */
    public static long log2Q16(long x) {
        if (x < 1) {
            throw new IllegalArgumentException("LOG2_Q16 of " + x);
        }
        int n = 63 - Long.numberOfLeadingZeros(x);
        int idx = (int) ((n >= 8 ? x >> (n - 8) : x << (8 - n)) & 255);
        return (long) n * 65536 + Tables.blog(idx);
    }

    /** {@code EXP2NEG_Q30(a) = 2^(-a / 65536)} in Q30 for {@code a >= 0}. */
    public static long exp2NegQ30(long a) {
        if (a < 0) {
            throw new IllegalArgumentException("EXP2NEG_Q30 of " + a);
        }
        return rsh(Tables.bexp((int) ((a >> 8) & 255)), (int) Math.min(a >> 16, 62));
    }

    /**
     * Base-2 log-probabilities in Q16 of {@code V} logits at exponent {@code eL}; pad and bos get
     * {@link Long#MIN_VALUE} (never candidates).
     */
    public static void logProbs(int[] logits, int off, int vocab, int eL, int padId, int bosId, long[] out, int outOff) {
        long m = Long.MIN_VALUE;
        for (int v = 0; v < vocab; v++) {
            if (v != padId && v != bosId) {
                m = Math.max(m, logits[off + v]);
            }
        }
        int k = 8 - eL;
        long s = 0;
        for (int v = 0; v < vocab; v++) {
            if (v != padId && v != bosId) {
                long t = shift((logits[off + v] - m) * Tables.LOG2E_Q24, k);
                out[outOff + v] = t;
                s += exp2NegQ30(-t);
            }
        }
        long lse = log2Q16(s) - 30L * 65536;
        for (int v = 0; v < vocab; v++) {
            if (v == padId || v == bosId) {
                out[outOff + v] = Long.MIN_VALUE;
            } else {
                out[outOff + v] = Math.max(LOGP_FLOOR_Q16, Math.min(0, out[outOff + v] - lse));
            }
        }
    }

    /** {@code alpha_q8 = floor(alpha * 256 + 0.5)}, checked to lie in [0, 512]. */
    public static int alphaQ8(double alpha) {
        if (!(alpha >= 0 && alpha <= 2)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "length penalty alpha " + alpha + " must be in [0, 2]");
        }
        return (int) Math.floor(alpha * 256 + 0.5);
    }

    /** The smallest beam score {@code NORM} accepts: {@code -2^48} (SPEC.md section 8; real scores are above {@code -2^35}). */
    public static final long MIN_BEAM_SCORE = -(1L << 48);

    /**
     * {@code NORM(score, len)}: the GNMT length-normalized score in Q16. The product {@code score · e} needs
     * up to 66 bits, so it is computed exactly as SPEC.md section 8 shows, split at bit 16: with
     * {@code score = h · 2^16 + l}, {@code RSH(score · e, 30) = (h · e + ((l · e + 2^29) >> 16)) >> 14}.
     *
     * @throws IllegalArgumentException for a score outside {@code [MIN_BEAM_SCORE, 0]}
     */
    public static long normalize(long score, int length, int alphaQ8) {
        if (score > 0 || score < MIN_BEAM_SCORE) {
            throw new IllegalArgumentException("beam score " + score + " outside [" + MIN_BEAM_SCORE + ", 0]");
        }
        if (alphaQ8 == 0) {
            return score;
        }
        long lpl = rsh(alphaQ8 * (log2Q16(5L + length) - log2Q16(6)), 8);
        long e = exp2NegQ30(lpl);                           // [0, 2^30]
        long high = (score >> 16) * e;                      // |.| <= 2^32 · 2^30
        long low = (score & 0xFFFF) * e + (1L << 29);       // [2^29, 2^46 + 2^29)
        return (high + (low >> 16)) >> 14;
    }
}
