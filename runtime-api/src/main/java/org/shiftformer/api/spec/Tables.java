package org.shiftformer.api.spec;

/**
 * The constant tables of SPEC.md (appendix A). Each is computed once in double precision and rounded
 * half up; every entry is far enough from a tie that any correct double implementation agrees, and a
 * test checks the values printed in SPEC.md against these.
 */
public final class Tables {
    /** Fractional bits of the softmax exponent (SPEC.md 3.4). */
    public static final int SOFTMAX_FRAC_BITS = 6;
    /** {@code floor(log2(e) * 2^24 + 0.5)}. */
    public static final long LOG2E_Q24 = 24204406L;

    private static final int[] EXP2_LUT = build(64, i -> 65536.0 * Math.pow(2.0, -i / 64.0));
    private static final long[] BEXP = buildLong(256, i -> 1073741824.0 * Math.pow(2.0, -i / 256.0));
    private static final int[] BLOG = build(256, i -> 65536.0 * (Math.log1p(i / 256.0) / Math.log(2.0)));

    private Tables() {
    }

    /** The 64-entry softmax table {@code floor(65536 * 2^(-f/64) + 0.5)}. */
    public static int[] exp2Lut() {
        return EXP2_LUT.clone();
    }

    static int exp2Lut(int f) {
        return EXP2_LUT[f];
    }

    /** The 256-entry Q30 table {@code floor(2^30 * 2^(-i/256) + 0.5)}. */
    public static long[] bexp() {
        return BEXP.clone();
    }

    static long bexp(int i) {
        return BEXP[i];
    }

    /** The 256-entry Q16 table {@code floor(65536 * log2(1 + i/256) + 0.5)}. */
    public static int[] blog() {
        return BLOG.clone();
    }

    static int blog(int i) {
        return BLOG[i];
    }

    private interface Fn {
        double at(int i);
    }

    private static int[] build(int n, Fn f) {
        int[] t = new int[n];
        for (int i = 0; i < n; i++) {
            t[i] = (int) Math.floor(f.at(i) + 0.5);
        }
        return t;
    }

    private static long[] buildLong(int n, Fn f) {
        long[] t = new long[n];
        for (int i = 0; i < n; i++) {
            t[i] = (long) Math.floor(f.at(i) + 0.5);
        }
        return t;
    }
}
