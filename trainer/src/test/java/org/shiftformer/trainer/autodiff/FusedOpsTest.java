package org.shiftformer.trainer.autodiff;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;

/**
 * The fused ops (one tape entry instead of several) against the compositions they replace: the same bits in
 * value and in every gradient, which is what keeps training unchanged.
 */
class FusedOpsTest {

    private static int[] bits(float[] a) {
        int[] b = new int[a.length];
        for (int i = 0; i < a.length; i++) {
            b[i] = Float.floatToRawIntBits(a[i]);
        }
        return b;
    }

    /** Runs {@code f} with output gradient {@code seed}; returns the output and the inputs' gradients. */
    private static float[][] run(Supplier<Tensor> f, float[] seed, List<Tensor> inputs) {
        inputs.forEach(Tensor::zeroGrad);
        Tensor y = f.get();
        y.backward(seed);
        float[][] out = new float[inputs.size() + 1][];
        out[0] = y.data().clone();
        for (int i = 0; i < inputs.size(); i++) {
            out[i + 1] = inputs.get(i).grad().clone();
        }
        return out;
    }

    private static void assertSameBits(float[][] want, float[][] got, String what) {
        for (int i = 0; i < want.length; i++) {
            assertArrayEquals(bits(want[i]), bits(got[i]), what + (i == 0 ? ": value" : ": gradient of input " + i));
        }
    }

    @Test
    void linearWithBiasAndReluEqualsTheComposition() {
        SplittableRandom r = new SplittableRandom(11);
        for (boolean relu : new boolean[] {false, true}) {
            Tensor x = GradCheck.param(r, 1.0, 3, 7, 40); // 21 rows (not a multiple of a tile), K 40
            Tensor w = GradCheck.param(r, 1.0, 37, 40);   // N 37: a partial vector at the end of each row
            Tensor b = GradCheck.param(r, 1.0, 37);
            float[] seed = GradCheck.param(r, 1.0, 3, 7, 37).data();
            float[][] want = run(() -> {
                Tensor y = Ops.add(Ops.matmulBT(x, w), b);
                return relu ? Ops.relu(y) : y;
            }, seed, List.of(x, w, b));
            float[][] got = run(() -> Ops.linear(x, w, b, relu), seed, List.of(x, w, b));
            assertSameBits(want, got, "linear relu=" + relu);
        }
    }

    @Test
    void residualWithDropoutEqualsTheComposition() {
        SplittableRandom r = new SplittableRandom(12);
        for (float p : new float[] {0f, 0.1f, 0.5f}) {
            Tensor res = GradCheck.param(r, 1.0, 4, 5, 37);
            Tensor x = GradCheck.param(r, 1.0, 4, 5, 24);
            Tensor w = GradCheck.param(r, 1.0, 37, 24);
            Tensor b = GradCheck.param(r, 1.0, 37);
            float[] seed = GradCheck.param(r, 1.0, 4, 5, 37).data();
            long dropSeed = 99;
            float[][] want = run(() -> {
                Tensor branch = Ops.add(Ops.matmulBT(x, w), b);
                return Ops.add(res, p == 0f ? branch : Ops.dropout(branch, p, dropSeed, true));
            }, seed, List.of(res, x, w, b));
            float[][] got = run(() -> Ops.residual(res, x, w, b, p, dropSeed), seed, List.of(res, x, w, b));
            assertSameBits(want, got, "residual p=" + p);
        }
    }

    @Test
    void dropoutMaskIsSplittableRandomsSequence() {
        for (long seed : new long[] {0L, 1L, -7L, 0x9E3779B97F4A7C15L}) {
            for (float p : new float[] {0.1f, 0.5f}) {
                int n = 100_003; // split over the kernel threads
                float[] mask = Ops.dropoutMask(n, p, seed);
                SplittableRandom rnd = new SplittableRandom(seed);
                float keep = 1f / (1f - p);
                for (int i = 0; i < n; i++) {
                    assertEquals(rnd.nextDouble() < p ? 0f : keep, mask[i], 0f, "seed " + seed + " element " + i);
                }
            }
        }
    }

    /**
     * Attention whose P·V uses given probabilities (QAT's exact ones): the value and V's gradient are those of
     * {@code matmul(StraightThrough.replace(P, exact), V)}; Q's and K's go through the softmax's own P.
     */
    @Test
    void attentionWithExactProbabilitiesEqualsTheStraightThroughComposition() {
        SplittableRandom r = new SplittableRandom(13);
        int b = 3;
        int heads = 2;
        int tq = 5;
        int tk = 6;
        int d = 8;
        int[] lens = {6, 2, 0};
        Tensor q = GradCheck.param(r, 1.0, b, tq, d);
        Tensor k = GradCheck.param(r, 1.0, b, tk, d);
        Tensor v = GradCheck.param(r, 1.0, b, tk, d);
        float[] exact = new float[b * heads * tq * tk];
        for (int i = 0; i < exact.length; i++) {
            exact[i] = (float) r.nextDouble();
        }
        float[] seed = GradCheck.param(r, 1.0, b, tq, d).data();
        float[][] got = run(() -> Ops.attention(q, k, v, heads, lens, false, scores -> exact), seed, List.of(q, k, v));
        float[][] want = run(() -> {
            Tensor qh = Ops.transpose(Ops.reshape(q, b, tq, heads, d / heads), 1, 2);
            Tensor kh = Ops.transpose(Ops.reshape(k, b, tk, heads, d / heads), 1, 2);
            Tensor vh = Ops.transpose(Ops.reshape(v, b, tk, heads, d / heads), 1, 2);
            Tensor p = Ops.softmax(Ops.matmulBT(qh, kh), RowMask.keyPadding(lens, heads, tq), null, true);
            Tensor ctx = Ops.matmul(StraightThrough.replace(p, exact), vh);
            return Ops.reshape(Ops.transpose(ctx, 1, 2), b, tq, d);
        }, seed, List.of(q, k, v));
        assertArrayEquals(bits(want[0]), bits(got[0]), "value");
        assertArrayEquals(bits(want[3]), bits(got[3]), "gradient of V");
        for (int t = 1; t <= 2; t++) { // through exp2 vs pow(2, .) softmaxes: equal to rounding
            for (int i = 0; i < want[t].length; i++) {
                assertEquals(want[t][i], got[t][i], 1e-5f, "gradient of input " + t + " at " + i);
            }
        }
    }
}
