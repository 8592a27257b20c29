package org.shiftformer.sim.kernel;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.SplittableRandom;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.DType;
import org.shiftformer.api.spec.IntOps;
import org.shiftformer.api.spec.ReferenceKernels;
import org.shiftformer.api.spec.Tables;

/** Requantize, residual, layer norm and softmax against the scalar reference, with ties and saturation. */
class ElementKernelsPropertiesTest {

    private static int accValue(SplittableRandom rnd, int shift, int mode) {
        return switch (mode) {
            case 0 -> rnd.nextInt();
            case 1 -> rnd.nextInt(-1000, 1001);
            case 2 -> { // a rounding tie: an odd multiple of 2^(k-1), positive or negative
                if (shift <= 0 || shift > 31) {
                    yield rnd.nextInt(-300, 301);
                }
                long odd = 2L * rnd.nextInt(-(1 << Math.max(0, 31 - shift)), 1 << Math.max(0, 31 - shift)) + 1;
                long v = odd << (shift - 1);
                yield (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, v));
            }
            case 3 -> rnd.nextBoolean() ? Integer.MAX_VALUE : Integer.MIN_VALUE;
            case 4 -> rnd.nextInt(-2, 3);
            default -> rnd.nextInt(-200000, 200001);
        };
    }

    @Property(tries = 600)
    void requantizeEqualsReference(@ForAll @IntRange(min = -24, max = 62) int shift,
                                   @ForAll @IntRange(min = 1, max = 70) int len,
                                   @ForAll @IntRange(min = 0, max = 5) int mode,
                                   @ForAll boolean unsigned,
                                   @ForAll long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] acc = new int[len];
        for (int i = 0; i < len; i++) {
            acc[i] = accValue(rnd, shift, mode);
        }
        DType t = unsigned ? DType.UINT8 : DType.INT8;
        byte[] expected = new byte[len];
        byte[] actual = new byte[len];
        ReferenceKernels.INSTANCE.requantize(acc, len, shift, t, expected);
        SimKernels.INSTANCE.requantize(acc, len, shift, t, actual);
        assertArrayEquals(expected, actual, () -> "shift " + shift + " " + t);
    }

    @Test
    void requantizeRoundsEveryTieUpIncludingNegativeTies() {
        for (int shift = 1; shift <= 31; shift++) {
            int[] acc = new int[24];
            for (int i = 0; i < acc.length; i++) {
                long odd = 2L * (i - 12) + 1;
                acc[i] = (int) Math.max(Integer.MIN_VALUE, Math.min(Integer.MAX_VALUE, odd << (shift - 1)));
            }
            for (DType t : new DType[] {DType.INT8, DType.UINT8}) {
                byte[] expected = new byte[acc.length];
                byte[] actual = new byte[acc.length];
                ReferenceKernels.INSTANCE.requantize(acc, acc.length, shift, t, expected);
                SimKernels.INSTANCE.requantize(acc, acc.length, shift, t, actual);
                assertArrayEquals(expected, actual, "shift " + shift + " " + t);
            }
        }
        // RSH(-3, 1) = -1 and RSH(3, 1) = 2 (SPEC.md 1.1)
        byte[] out = new byte[16];
        int[] acc = {-3, 3, -3, 3, -3, 3, -3, 3, -3, 3, -3, 3, -3, 3, -3, 3};
        SimKernels.INSTANCE.requantize(acc, 16, 1, DType.INT8, out);
        org.junit.jupiter.api.Assertions.assertEquals(-1, out[8]);
        org.junit.jupiter.api.Assertions.assertEquals(2, out[9]);
    }

    @Property(tries = 400)
    void residualEqualsReference(@ForAll @IntRange(min = 1, max = 90) int len,
                                 @ForAll @IntRange(min = -24, max = 40) int kr,
                                 @ForAll @IntRange(min = -24, max = 62) int ka,
                                 @ForAll @IntRange(min = 0, max = 3) int mode,
                                 @ForAll long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        short[] r = new short[len];
        int[] acc = new int[len];
        for (int i = 0; i < len; i++) {
            r[i] = (short) (mode == 1 ? (rnd.nextBoolean() ? 32767 : -32768) : rnd.nextInt(-32768, 32768));
            acc[i] = accValue(rnd, ka, mode == 2 ? 2 : (mode == 3 ? 3 : 0));
        }
        int outExp = 0;
        short[] expected = new short[len];
        short[] actual = new short[len];
        ReferenceKernels.INSTANCE.residual(r, outExp - kr, acc, outExp - ka, outExp, len, expected);
        SimKernels.INSTANCE.residual(r, outExp - kr, acc, outExp - ka, outExp, len, actual);
        assertArrayEquals(expected, actual);
    }

    @Property(tries = 300)
    void layerNormEqualsReference(@ForAll @IntRange(min = 1, max = 10) int log2d,
                                  @ForAll @IntRange(min = 1, max = 3) int rows,
                                  @ForAll @IntRange(min = 0, max = 4) int mode,
                                  @ForAll @IntRange(min = -10, max = 39) int outShift,
                                  @ForAll long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int d = 1 << log2d;
        short[] x = new short[rows * d];
        for (int i = 0; i < x.length; i++) {
            x[i] = (short) switch (mode) {
                case 0 -> rnd.nextInt(-32768, 32768);
                case 1 -> rnd.nextBoolean() ? 32767 : -32768;
                case 2 -> 77;
                case 3 -> rnd.nextInt(-2, 3);
                default -> rnd.nextInt(-2000, 2000);
            };
        }
        short[] gamma = new short[d];
        int[] beta = new int[d];
        for (int i = 0; i < d; i++) {
            gamma[i] = (short) rnd.nextInt(-32768, 32768);
            beta[i] = rnd.nextInt();
        }
        int gExp = -14;
        int outExp = gExp - 12 + outShift;
        byte[] expected = new byte[rows * d];
        byte[] actual = new byte[rows * d];
        ReferenceKernels.INSTANCE.layerNorm(x, rows, d, gamma, beta, gExp, outExp, expected);
        SimKernels.INSTANCE.layerNorm(x, rows, d, gamma, beta, gExp, outExp, actual);
        assertArrayEquals(expected, actual);
    }

    @Property(tries = 400)
    void softmaxEqualsReference(@ForAll @IntRange(min = 1, max = 300) int len,
                                @ForAll @IntRange(min = -30, max = 18) int eS,
                                @ForAll @IntRange(min = 0, max = 4) int mode,
                                @ForAll @IntRange(min = -1, max = 301) int validLen,
                                @ForAll long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int[] s = new int[len];
        int spread = mode == 0 ? 1 << rnd.nextInt(1, 31) : mode == 1 ? 4 : 1 << rnd.nextInt(1, 16);
        for (int i = 0; i < len; i++) {
            s[i] = mode == 3 ? (rnd.nextBoolean() ? Integer.MAX_VALUE : Integer.MIN_VALUE)
                    : mode == 4 ? 12345 : rnd.nextInt(-spread, spread);
        }
        int[] lut = Tables.exp2Lut();
        byte[] expected = new byte[len];
        byte[] actual = new byte[len];
        ReferenceKernels.INSTANCE.softmax2(s, 1, len, new int[] {validLen}, eS, lut, expected);
        SimKernels.INSTANCE.softmax2(s, 1, len, new int[] {validLen}, eS, lut, actual);
        assertArrayEquals(expected, actual);
    }

    @Property(tries = 300)
    void scoresAndAttentionValuesEqualReference(@ForAll @IntRange(min = 1, max = 130) int dk,
                                                @ForAll @IntRange(min = 1, max = 90) int keys,
                                                @ForAll @IntRange(min = 0, max = 3) int mode,
                                                @ForAll long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int stride = dk + rnd.nextInt(0, 9);
        byte[] q = Int8GemmPropertiesTest.values(rnd, stride, mode, false);
        byte[] k = Int8GemmPropertiesTest.values(rnd, keys * stride, mode, false);
        int[] expected = new int[keys];
        for (int j = 0; j < keys; j++) {
            expected[j] = IntOps.dot(q, 1, k, j * stride + 1, Math.min(dk, stride - 1));
        }
        int[] actual = new int[keys];
        SimKernels.INSTANCE.scores(q, 1, k, 1, stride, Math.min(dk, stride - 1), keys, actual, 0);
        assertArrayEquals(expected, actual, "scores");

        byte[] p = Int8GemmPropertiesTest.values(rnd, keys, mode, true);
        int col = stride - dk;
        int[] pvExpected = new int[dk];
        int[] pvActual = new int[dk];
        IntOps.attendValues(p, 0, keys, k, stride, col, dk, pvExpected, 0);
        SimKernels.INSTANCE.attendValues(p, 0, keys, k, stride, col, dk, pvActual, 0);
        assertArrayEquals(pvExpected, pvActual, "attention values");
    }
}
