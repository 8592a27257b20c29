package org.shiftformer.sim.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.spec.ReferenceKernels;

/** The exact int8 GEMM against the scalar reference: random shapes, full-range and extreme values, biases at the int32 bound. */
class Int8GemmPropertiesTest {

    /** Value patterns: 0 full range, 1 extremes only, 2 small, 3 mostly -128. */
    static byte[] values(SplittableRandom rnd, int count, int mode, boolean unsigned) {
        byte[] b = new byte[count];
        for (int i = 0; i < count; i++) {
            int v = switch (mode) {
                case 1 -> unsigned ? (rnd.nextBoolean() ? 255 : 0) : (rnd.nextBoolean() ? 127 : -128);
                case 2 -> rnd.nextInt(-3, 4);
                case 3 -> rnd.nextInt(8) == 0 ? rnd.nextInt(-128, 128) : (unsigned ? 255 : -128);
                default -> rnd.nextInt(-128, 128);
            };
            b[i] = (byte) v;
        }
        return b;
    }

    /** Biases: 0 none, 1 small, 2 at +room, 3 at -room, where room keeps |b| + xmax * sum|W| <= 2^31 - 1. */
    static int[] biases(SplittableRandom rnd, byte[] w, int n, int k, boolean unsigned, int mode) {
        if (mode == 0) {
            return null;
        }
        int[] b = new int[n];
        for (int o = 0; o < n; o++) {
            long sum = 0;
            for (int i = 0; i < k; i++) {
                sum += Math.abs(w[o * k + i]);
            }
            long room = Integer.MAX_VALUE - (unsigned ? 255L : 128L) * sum;
            b[o] = (int) switch (mode) {
                case 1 -> Math.max(-room, Math.min(room, rnd.nextInt(-100000, 100001)));
                case 2 -> room;
                default -> -room;
            };
        }
        return b;
    }

    private static void check(int rows, int k, int n, boolean unsigned, int xMode, int wMode, int biasMode, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        byte[] x = values(rnd, rows * k, xMode, unsigned);
        byte[] w = values(rnd, n * k, wMode, false);
        int[] bias = biases(rnd, w, n, k, unsigned, biasMode);
        int[] expected = new int[rows * n];
        int[] actual = new int[rows * n];
        ReferenceKernels.INSTANCE.linear(x, rows, k, unsigned, w, n, bias, expected);
        SimKernels.INSTANCE.linear(x, rows, k, unsigned, w, n, bias, actual);
        assertArrayEquals(expected, actual, () -> "rows=" + rows + " k=" + k + " n=" + n + " unsigned=" + unsigned);
        // packed once, applied twice (the QAT trainer's use): the same accumulators each time
        var prepared = SimKernels.INSTANCE.prepareLinear(w, n, k, unsigned, bias);
        for (int call = 0; call < 2; call++) {
            int[] again = new int[rows * n];
            prepared.apply(x, rows, again);
            assertArrayEquals(expected, again, () -> "prepared: rows=" + rows + " k=" + k + " n=" + n);
        }
    }

    @Property(tries = 400)
    void linearEqualsReferenceOnRandomShapes(@ForAll @IntRange(min = 1, max = 9) int rows,
                                             @ForAll @IntRange(min = 1, max = 300) int k,
                                             @ForAll @IntRange(min = 1, max = 70) int n,
                                             @ForAll boolean unsigned,
                                             @ForAll @IntRange(min = 0, max = 3) int xMode,
                                             @ForAll @IntRange(min = 0, max = 3) int wMode,
                                             @ForAll @IntRange(min = 0, max = 3) int biasMode,
                                             @ForAll long seed) {
        check(rows, k, n, unsigned, xMode, wMode, biasMode, seed);
    }

    @Property(tries = 40)
    void linearEqualsReferenceOnWideGemvAndLongReductions(@ForAll @IntRange(min = 1, max = 3) int rows,
                                                          @ForAll @IntRange(min = 250, max = 1100) int k,
                                                          @ForAll @IntRange(min = 30, max = 300) int n,
                                                          @ForAll boolean unsigned,
                                                          @ForAll @IntRange(min = 0, max = 3) int mode,
                                                          @ForAll long seed) {
        check(rows, k, n, unsigned, mode, mode, mode, seed);
    }

    @Test
    void allMinusOneTwentyEightIsExactInEveryInt16Lane() {
        // the one s8 x s8 product that does not fit a signed int16 pair sum: (-128)(-128) + (-128)(-128) = 32768
        for (int k : new int[] {1, 2, 3, 4, 5, 7, 8, 64, 255, 256, 1024}) {
            for (int rows : new int[] {1, 4, 5}) {
                int n = 37;
                byte[] x = new byte[rows * k];
                byte[] w = new byte[n * k];
                java.util.Arrays.fill(x, (byte) -128);
                java.util.Arrays.fill(w, (byte) -128);
                int[] expected = new int[rows * n];
                int[] actual = new int[rows * n];
                ReferenceKernels.INSTANCE.linear(x, rows, k, false, w, n, null, expected);
                SimKernels.INSTANCE.linear(x, rows, k, false, w, n, null, actual);
                assertArrayEquals(expected, actual, "k=" + k + " rows=" + rows);
            }
        }
    }

    @Test
    void unsignedFullRangeAgainstMinusOneTwentyEight() {
        // 255 * -128 per product: the most negative uint8 x int8 accumulator, at K = 65793 it meets the int32 bound
        int k = 4096;
        int n = 9;
        for (int rows : new int[] {1, 4}) {
            byte[] x = new byte[rows * k];
            byte[] w = new byte[n * k];
            java.util.Arrays.fill(x, (byte) 255);
            java.util.Arrays.fill(w, (byte) -128);
            int[] bias = new int[n];
            java.util.Arrays.fill(bias, (int) -(Integer.MAX_VALUE - 255L * 128 * k));
            int[] expected = new int[rows * n];
            int[] actual = new int[rows * n];
            ReferenceKernels.INSTANCE.linear(x, rows, k, true, w, n, bias, expected);
            SimKernels.INSTANCE.linear(x, rows, k, true, w, n, bias, actual);
            assertArrayEquals(expected, actual);
            org.junit.jupiter.api.Assertions.assertEquals(-Integer.MAX_VALUE, actual[0]);
        }
    }

    @Test
    void prepackedGemmWritesIntoStridedOutputAndLeavesTheRestAlone() {
        SplittableRandom rnd = new SplittableRandom(9);
        int rows = 6;
        int k = 45;
        int n = 21;
        byte[] x = values(rnd, rows * k, 0, false);
        byte[] w = values(rnd, n * k, 0, false);
        int[] bias = biases(rnd, w, n, k, false, 1);
        PackedWeights pw = PackedWeights.pack(w, 0, n, k, bias, false);
        int stride = 30;
        int[] out = new int[5 + rows * stride];
        java.util.Arrays.fill(out, 0x5a5a5a5a);
        int[] xp = new int[rows * Int8Gemm.pairStride(k)];
        Int8Gemm.linear(x, 0, k, rows, pw, out, 5, stride, xp, new int[32]);
        int[] expected = new int[rows * n];
        ReferenceKernels.INSTANCE.linear(x, rows, k, false, w, n, bias, expected);
        for (int r = 0; r < rows; r++) {
            for (int o = 0; o < stride; o++) {
                int got = out[5 + r * stride + o];
                if (o < n) {
                    org.junit.jupiter.api.Assertions.assertEquals(expected[r * n + o], got, "r=" + r + " o=" + o);
                } else {
                    org.junit.jupiter.api.Assertions.assertEquals(0x5a5a5a5a, got, "padding overwritten at r=" + r + " o=" + o);
                }
            }
        }
    }
}
