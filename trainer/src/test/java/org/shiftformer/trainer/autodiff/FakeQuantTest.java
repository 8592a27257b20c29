package org.shiftformer.trainer.autodiff;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/** TQT fake-quantizer against hand-computed values of the formulas in trainer/README.md (`FakeQuant`). */
class FakeQuantTest {

    private static final double LN2 = Math.log(2);

    /** Runs q = FQ(x) on one element with upstream gradient g; returns {q, dq/dx·g, dq/dlog2t·g}. */
    private static double[] run(float x, float log2t, int bits, boolean signed, float g) {
        Tensor tx = Tensor.param(new float[] {x}, 1);
        Tensor lt = Tensor.param(new float[] {log2t}, 1);
        Tensor q = FakeQuant.apply(tx, lt, bits, signed);
        q.backward(new float[] {g});
        return new double[] {q.item(), tx.grad()[0], lt.grad()[0]};
    }

    private static void expect(double[] got, double q, double dx, double dlt) {
        assertEquals(q, got[0], 0.0, "q");
        assertEquals(dx, got[1], 0.0, "dq/dx");
        assertEquals(dlt, got[2], Math.abs(dlt) * 1e-6 + 1e-12, "dq/dlog2t");
    }

    @Test
    void insideRange() {
        // x = 0.3, log2t = 0, int8: s = 2^(0 - 7) = 1/128; x/s = 38.4 (0.3f * 128 exactly) -> r = 38
        double s = 1.0 / 128;
        double v = 0.3f * 128.0;
        expect(run(0.3f, 0f, 8, true, 1f), 38 * s, 1, s * LN2 * (38 - v));
        assertEquals(1.0 / 128, FakeQuant.scale(0f, 8, true));
        assertEquals(-7, FakeQuant.exponent(0f, 8, true));
    }

    @Test
    void ceilOfLog2t() {
        // log2t = 0.5 -> ceil 1 -> s = 2^-6; log2t = -0.5 -> ceil 0 -> s = 2^-7; log2t = 1 -> 2^-6
        assertEquals(1.0 / 64, FakeQuant.scale(0.5f, 8, true));
        assertEquals(1.0 / 128, FakeQuant.scale(-0.5f, 8, true));
        assertEquals(1.0 / 64, FakeQuant.scale(1f, 8, true));
        assertEquals(1.0 / 256, FakeQuant.scale(0f, 8, false));
        double s = 1.0 / 64;
        double v = 0.3f * 64.0; // 19.2 -> 19
        expect(run(0.3f, 0.5f, 8, true, 1f), 19 * s, 1, s * LN2 * (19 - v));
    }

    @Test
    void belowAndAboveRangeSigned() {
        double s = 1.0 / 128;
        // x = 2: x/s = 256 > 127 -> q = 127 s, dq/dx = 0, dq/dlog2t = s ln2 * 127
        expect(run(2f, 0f, 8, true, 1f), 127 * s, 0, s * LN2 * 127);
        // x = -2: -256 < -128 -> q = -1, dq/dlog2t = s ln2 * (-128)
        expect(run(-2f, 0f, 8, true, 1f), -1, 0, s * LN2 * -128);
        // upstream gradient scales both
        expect(run(-2f, 0f, 8, true, 0.5f), -1, 0, 0.5 * s * LN2 * -128);
    }

    @Test
    void clipIsTestedOnTheRoundedValue() {
        double s = 1.0 / 128;
        // x/s = -128.5 rounds half up to -128: inside, gradient passes, dq/dlog2t = s ln2 (−128 − (−128.5))
        expect(run((float) (-128.5 * s), 0f, 8, true, 1f), -1, 1, s * LN2 * 0.5);
        // x/s = 126.5 -> 127 inside; x/s = 127.5 -> 128 above
        expect(run((float) (126.5 * s), 0f, 8, true, 1f), 127 * s, 1, s * LN2 * 0.5);
        expect(run((float) (127.5 * s), 0f, 8, true, 1f), 127 * s, 0, s * LN2 * 127);
        // x/s = -128.6 -> -129 below
        expect(run((float) (-128.6 * s), 0f, 8, true, 1f), -1, 0, s * LN2 * -128);
        // exactly at the bounds: inside, zero log2t gradient
        expect(run(-1f, 0f, 8, true, 1f), -1, 1, 0);
    }

    @Test
    void roundHalfUpTies() {
        double s = 1.0 / 128;
        // 2.5 -> 3 (not 2 as half-even), -2.5 -> -2 (not -3 as half-away-from-zero)
        expect(run((float) (2.5 * s), 0f, 8, true, 1f), 3 * s, 1, s * LN2 * 0.5);
        expect(run((float) (-2.5 * s), 0f, 8, true, 1f), -2 * s, 1, s * LN2 * 0.5);
        expect(run((float) (-0.5 * s), 0f, 8, true, 1f), 0, 1, s * LN2 * 0.5);
        assertEquals(3.0, FakeQuant.roundHalfUp(2.5));
        assertEquals(-2.0, FakeQuant.roundHalfUp(-2.5));
    }

    @Test
    void float32TieTrapIsAvoided() {
        // The largest float below 0.5: in float32, 0.49999997f + 0.5f rounds to 1.0f, so floor(x + 0.5f) = 1.
        float x = Math.nextDown(0.5f);
        assertEquals(1f, (float) Math.floor(x + 0.5f), "the trap exists in float32");
        // log2t = 7, int8 signed: s = 2^0 = 1 -> x/s = 0.49999997 must round to 0
        expect(run(x, 7f, 8, true, 1f), 0, 1, LN2 * (0 - (double) x));
        // Above 2^24 float32 cannot represent x + 0.5 at all; double is exact: 16777217 * 2^-8 ... with s = 2^-8
        // a 24-bit odd integer times s stays exact.
        float big = 8388607.5f; // 2^23 - 0.5: representable, a tie at s = 1 (log2t = 24, 25-bit signed)
        expect(run(big, 24f, 25, true, 1f), 8388608, 1, LN2 * 0.5);
    }

    @Test
    void unsigned() {
        double s = 1.0 / 256; // log2t = 0, uint8: s = 2^(0 - 8)
        // negative -> below 0: q = 0, dq/dlog2t = s ln2 * 0
        expect(run(-0.1f, 0f, 8, false, 1f), 0, 0, 0);
        // 1.5 -> 384 > 255: q = 255 s, dq/dlog2t = s ln2 * 255
        expect(run(1.5f, 0f, 8, false, 1f), 255 * s, 0, s * LN2 * 255);
        double v = 0.3f * 256.0; // 76.8 -> 77
        expect(run(0.3f, 0f, 8, false, 1f), 77 * s, 1, s * LN2 * (77 - v));
    }

    @Test
    void thresholdGradientSumsOverElements() {
        float[] xs = {0.3f, 2f, -2f, (float) (2.5 / 128), 0f};
        float[] g = {1f, -1f, 0.25f, 2f, 3f};
        Tensor x = Tensor.param(xs.clone(), 5);
        Tensor lt = Tensor.param(new float[] {0f}, 1);
        FakeQuant.apply(x, lt, 8, true).backward(g);
        double s = 1.0 / 128;
        double expect = g[0] * s * LN2 * (38 - 0.3f * 128.0) + g[1] * s * LN2 * 127 + g[2] * s * LN2 * -128
                + g[3] * s * LN2 * 0.5 + 0;
        assertEquals(expect, lt.grad()[0], 1e-7);
        float[] dx = x.grad();
        assertEquals(1f, dx[0]);
        assertEquals(0f, dx[1]);
        assertEquals(0f, dx[2]);
        assertEquals(2f, dx[3]);
        assertEquals(3f, dx[4]);
    }
    /**
     * The vectorised path (long tensors) against the double formulas of the class comment, element by
     * element: values and dq/dx bit for bit, dq/dlog2t (summed in another order) to rounding.
     */
    @Test
    void vectorPathEqualsTheDoubleFormulas() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(5);
        for (int bits : new int[] {8, 16}) {
            for (boolean signed : new boolean[] {true, false}) {
                for (float log2t : new float[] {0f, -3.5f, 2.25f}) {
                    double s = FakeQuant.scale(log2t, bits, signed);
                    double lo = signed ? -Math.scalb(1.0, bits - 1) : 0;
                    double hi = signed ? Math.scalb(1.0, bits - 1) - 1 : Math.scalb(1.0, bits) - 1;
                    int n = 1003; // vector lanes and a scalar tail
                    float[] xs = new float[n];
                    float[] g = new float[n];
                    for (int i = 0; i < n; i++) {
                        double v = switch (i % 8) { // ties, the range edges and their neighbours, plain values
                            case 0 -> Math.floor(rnd.nextDouble(lo - 3, hi + 3)) + 0.5;
                            case 1 -> lo - 0.5;
                            case 2 -> hi + 0.5;
                            case 3 -> Math.nextDown((float) (hi + 0.5));
                            case 4 -> Math.nextDown((float) (lo - 0.5));
                            case 5 -> Math.nextDown(0.5f) * (rnd.nextBoolean() ? 1 : -1);
                            default -> rnd.nextDouble(lo - 0.2 * (hi - lo), hi + 0.2 * (hi - lo));
                        };
                        xs[i] = (float) (v * s);
                        g[i] = (float) rnd.nextDouble(-1, 1);
                    }
                    xs[7] = -0f;
                    xs[15] = Float.POSITIVE_INFINITY;
                    xs[23] = Float.NEGATIVE_INFINITY;
                    xs[31] = Float.NaN;
                    xs[39] = Float.MIN_VALUE;
                    Tensor x = Tensor.param(xs.clone(), n);
                    Tensor lt = Tensor.param(new float[] {log2t}, 1);
                    Tensor q = FakeQuant.apply(x, lt, bits, signed);
                    q.backward(g);
                    double expectT = 0;
                    for (int i = 0; i < n; i++) {
                        double v = xs[i] / s;
                        double r = FakeQuant.roundHalfUp(v);
                        boolean inside = !(r < lo) && !(r > hi);
                        float want = (float) ((r < lo ? lo : r > hi ? hi : r) * s);
                        String at = "bits " + bits + " signed " + signed + " log2t " + log2t + " x " + xs[i];
                        assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(q.data()[i]), at);
                        assertEquals(inside ? g[i] : 0f, x.grad()[i], 0f, at);
                        expectT += g[i] * s * LN2 * (inside ? (float) (r - v) : (r < lo ? lo : hi));
                    }
                    if (Double.isNaN(expectT)) {
                        assertEquals(Float.NaN, lt.grad()[0]);
                    }
                    // without the NaN element: the sums agree to rounding
                    xs[31] = 0f;
                    Tensor x2 = Tensor.param(xs.clone(), n);
                    Tensor lt2 = Tensor.param(new float[] {log2t}, 1);
                    FakeQuant.apply(x2, lt2, bits, signed).backward(g);
                    double sum = 0;
                    double mag = 0;
                    for (int i = 0; i < n; i++) {
                        double v = xs[i] / s;
                        double r = FakeQuant.roundHalfUp(v);
                        boolean inside = !(r < lo) && !(r > hi);
                        double term = g[i] * s * LN2 * (inside ? (float) (r - v) : (r < lo ? lo : hi));
                        sum += term;
                        mag += Math.abs(term);
                    }
                    assertEquals(sum, lt2.grad()[0], 1e-6 * mag + 1e-12);
                }
            }
        }
    }

    @Test
    void int8IntegersAreTheValuesOverTheScale() {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(6);
        float[] w = new float[517];
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) rnd.nextDouble(-1.5, 1.5);
        }
        Tensor lt = Tensor.param(new float[] {0.3f}, 1);
        byte[] ints = new byte[w.length];
        Tensor q = FakeQuant.applyInts(Tensor.param(w, w.length), lt, 8, true, ints);
        double s = FakeQuant.scale(0.3f, 8, true);
        for (int i = 0; i < w.length; i++) {
            double r = Math.max(-128, Math.min(127, FakeQuant.roundHalfUp(w[i] / s)));
            assertEquals((byte) r, ints[i]);
            assertEquals((float) (r * s), q.data()[i], 0f);
        }
    }
}
