package org.shiftformer.api.spec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.DType;

/** Hand-computed cases straight from SPEC.md. */
class IntOpsTest {
    @Test
    void rshRoundsHalfUpNotAwayFromZeroNorToEven() {
        assertEquals(2, IntOps.rsh(3, 1));   // 1.5 -> 2
        assertEquals(-1, IntOps.rsh(-3, 1)); // -1.5 -> -1 (up), not -2
        assertEquals(1, IntOps.rsh(5, 2));   // 1.25 -> 1
        assertEquals(2, IntOps.rsh(6, 2));   // 1.5 -> 2
        assertEquals(-1, IntOps.rsh(-6, 2)); // -1.5 -> -1
        assertEquals(-2, IntOps.rsh(-7, 2)); // -1.75 -> -2
    }

    @Test
    void rshTieAtTwoAndAHalfGoesUp() {
        assertEquals(3, IntOps.rsh(10, 2));
        assertEquals(-2, IntOps.rsh(-10, 2)); // -2.5 -> -2
    }

    @Test
    void shiftLeftIsExactAndRangeIsEnforced() {
        assertEquals(12, IntOps.shift(3, -2));
        assertEquals(-3L << 24, IntOps.shift(-3, -24));
        assertThrows(IllegalArgumentException.class, () -> IntOps.shift(1, -25));
        assertThrows(IllegalArgumentException.class, () -> IntOps.rsh(1, 63));
    }

    @Test
    void requantSaturatesPerType() {
        assertEquals(127, IntOps.requant(1_000_000, 2, DType.INT8));
        assertEquals(-128, IntOps.requant(-1_000_000, 2, DType.INT8));
        assertEquals(0, IntOps.requant(-5, 0, DType.UINT8)); // the fused ReLU
        assertEquals(255, IntOps.requant(4096, 3, DType.UINT8));
        assertEquals(-32768, IntOps.sat(-40000, DType.INT16));
    }

    @Test
    void softmaxOfTwoEqualScoresIsOneHalfEach() {
        byte[] p = new byte[3];
        IntOps.softmax2(new int[] {7, 7, 1000}, 0, 3, 2, -10, Tables.exp2Lut(), p, 0);
        assertArrayEquals(new byte[] {(byte) 128, (byte) 128, 0}, p);
    }

    @Test
    void softmaxOfOneValidPositionSaturatesTo255AndFullyMaskedRowIsZero() {
        byte[] p = new byte[2];
        IntOps.softmax2(new int[] {-5, 9}, 0, 2, 1, -3, Tables.exp2Lut(), p, 0);
        assertArrayEquals(new byte[] {(byte) 255, 0}, p);
        IntOps.softmax2(new int[] {-5, 9}, 0, 2, 0, -3, Tables.exp2Lut(), p, 0);
        assertArrayEquals(new byte[] {0, 0}, p);
    }

    @Test
    void softmaxOfScoresOneBitApartIsTwoThirdsAndOneThird() {
        // eS = 0: scores are base-2 logits; 2^0 / (2^0 + 2^-1) = 2/3 -> 171, 1/3 -> 85
        byte[] p = new byte[2];
        IntOps.softmax2(new int[] {4, 3}, 0, 2, 2, 0, Tables.exp2Lut(), p, 0);
        assertEquals(171, p[0] & 0xFF);
        assertEquals(85, p[1] & 0xFF);
    }

    @Test
    void layerNormOfPlusMinusOneIsPlusMinusOne() {
        byte[] out = new byte[2];
        IntOps.layerNorm(new short[] {1, -1}, 0, 2, new short[] {4096, 4096}, new int[] {0, 0}, -12, -5, out, 0);
        assertArrayEquals(new byte[] {32, -32}, out); // 1.0 at 2^-5
    }

    @Test
    void layerNormOfConstantRowIsBeta() {
        byte[] out = new byte[4];
        IntOps.layerNorm(new short[] {9, 9, 9, 9}, 0, 4, new short[] {4096, 4096, 4096, 4096},
                new int[] {1 << 19, -(1 << 19), 0, 3 << 19}, -12, -5, out, 0);
        assertArrayEquals(new byte[] {1, -1, 0, 3}, out);
    }

    @Test
    void isqrtIsExactAtSquareBoundaries() {
        assertEquals(0, IntOps.isqrt(0));
        assertEquals(1, IntOps.isqrt(3));
        assertEquals(2, IntOps.isqrt(4));
        assertEquals(1L << 31, IntOps.isqrt(1L << 62));
        assertEquals((1L << 31) - 1, IntOps.isqrt((1L << 62) - 1));
        assertEquals(3037000499L, IntOps.isqrt(Long.MAX_VALUE));
        long s = 999_999_999L;
        assertEquals(s, IntOps.isqrt(s * s));
        assertEquals(s - 1, IntOps.isqrt(s * s - 1));
    }

    @Test
    void argmaxSkipsPadAndBosAndBreaksTiesLow() {
        assertEquals(3, IntOps.argmax(new int[] {100, 100, 5, 9, 9}, 0, 5, 0, 1));
        assertEquals(2, IntOps.argmax(new int[] {100, 100, 5, 5, 5}, 0, 5, 0, 1));
    }

    @Test
    void log2AndExp2TablesGiveExactPowersOfTwo() {
        assertEquals(0, IntOps.log2Q16(1));
        assertEquals(65536, IntOps.log2Q16(2));
        assertEquals(31L * 65536, IntOps.log2Q16(1L << 31));
        assertEquals(65536 + Tables.blog(128), IntOps.log2Q16(3));
        assertEquals(1L << 30, IntOps.exp2NegQ30(0));
        assertEquals(1L << 29, IntOps.exp2NegQ30(65536));
    }

    @Test
    void logProbsOfTwoEqualCandidatesAreMinusOneBit() {
        long[] lp = new long[4];
        IntOps.logProbs(new int[] {999, 999, 40, 40}, 0, 4, -3, 0, 1, lp, 0);
        assertEquals(Long.MIN_VALUE, lp[0]);
        assertEquals(Long.MIN_VALUE, lp[1]);
        assertEquals(-65536, lp[2]);
        assertEquals(-65536, lp[3]);
    }

    @Test
    void lengthNormalizationWithAlphaOneDividesByLengthTerm() {
        assertEquals(-1000, IntOps.normalize(-1000, 7, 0));
        // alpha = 1, len = 7: lp = (5+7)/6 = 2 exactly -> score / 2
        assertEquals(-500, IntOps.normalize(-1000, 7, 256));
        assertEquals(256, IntOps.alphaQ8(1.0));
        assertEquals(154, IntOps.alphaQ8(0.6));
    }

    /** SPEC.md 5.1 NORM with the product computed in arbitrary precision, as the definition reads. */
    private static long normByDefinition(long score, int length, int alphaQ8) {
        long lpl = IntOps.rsh(alphaQ8 * (IntOps.log2Q16(5L + length) - IntOps.log2Q16(6)), 8);
        java.math.BigInteger p = java.math.BigInteger.valueOf(score).multiply(java.math.BigInteger.valueOf(IntOps.exp2NegQ30(lpl)));
        return p.add(java.math.BigInteger.ONE.shiftLeft(29)).shiftRight(30).longValueExact();
    }

    @Test
    void lengthNormalizationIsExactWhereTheProductNeedsMoreThan64Bits() {
        // The extreme of SPEC.md section 8: max_positions 8192, so 8191 tokens each at the clamp -2^22,
        // and the smallest positive alpha, whose factor is still almost 2^30: the product is about -2^65.
        long score = -8191L * (1 << 22);
        long expected = normByDefinition(score, 8191, 1);
        assertEquals(-33437811594L, expected); // computed independently (Python, tables from the SPEC formulas)
        assertEquals(expected, IntOps.normalize(score, 8191, 1));
        assertEquals(normByDefinition(IntOps.MIN_BEAM_SCORE, 8191, 1), IntOps.normalize(IntOps.MIN_BEAM_SCORE, 8191, 1));
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(7);
        for (int i = 0; i < 200_000; i++) {
            long s = i % 2 == 0 ? -rnd.nextLong(1L << 35) : -rnd.nextLong(1L << 20);
            int len = 1 + rnd.nextInt(8191);
            int alpha = rnd.nextInt(513);
            long want = alpha == 0 ? s : normByDefinition(s, len, alpha);
            assertEquals(want, IntOps.normalize(s, len, alpha), () -> "score " + s + " len " + len + " alpha_q8 " + alpha);
        }
        assertThrows(IllegalArgumentException.class, () -> IntOps.normalize(1, 3, 0));
        assertThrows(IllegalArgumentException.class, () -> IntOps.normalize(IntOps.MIN_BEAM_SCORE - 1, 3, 0));
    }
}
