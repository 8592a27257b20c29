package org.shiftformer.trainer.autodiff;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.trainer.autodiff.GradCheck.check;
import static org.shiftformer.trainer.autodiff.GradCheck.param;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Every op's gradient against central finite differences (see {@link GradCheck} for the tolerance). */
class OpsGradTest {

    private final SplittableRandom rnd = new SplittableRandom(42);

    @Test
    void matmul2d() {
        Tensor a = param(rnd, 1, 3, 5);
        Tensor b = param(rnd, 1, 5, 4);
        check("mm2d", () -> Ops.matmul(a, b), List.of(a, b));
    }

    @Test
    void matmulVectorPathsAndTails() {
        // N = 37 covers the 2-vector panels, a 1-vector panel (AVX2: 8 lanes) and a scalar tail; M = 9 a row tail.
        Tensor a = param(rnd, 1, 9, 13);
        Tensor b = param(rnd, 1, 13, 37);
        check("mmTails", () -> Ops.matmul(a, b), List.of(a, b));
    }

    @Test
    void matmulSharedWeightOverLeadingDims() {
        Tensor a = param(rnd, 1, 2, 3, 5);
        Tensor b = param(rnd, 1, 5, 4);
        check("mmShared", () -> Ops.matmul(a, b), List.of(a, b));
    }

    @Test
    void matmulBatched() {
        Tensor a = param(rnd, 1, 2, 3, 5);
        Tensor b = param(rnd, 1, 2, 5, 4);
        check("mmBatched", () -> Ops.matmul(a, b), List.of(a, b));
    }

    @Test
    void matmulTransposedWeight() {
        Tensor x = param(rnd, 1, 2, 3, 6);
        Tensor w = param(rnd, 1, 4, 6); // [out, in]
        check("mmBT", () -> Ops.matmulBT(x, w), List.of(x, w));
    }

    @Test
    void matmulBatchedTransposed() {
        Tensor q = param(rnd, 1, 2, 3, 5);
        Tensor k = param(rnd, 1, 2, 4, 5);
        check("mmBTBatched", () -> Ops.matmulBT(q, k), List.of(q, k));
    }

    @Test
    void matmulBTLargeEnoughToRunInParallel() {
        Tensor x = param(rnd, 1, 40, 48);
        Tensor w = param(rnd, 1, 40, 48);
        check("mmBTParallel", () -> Ops.matmulBT(x, w), List.of(x, w), GradCheck.H, GradCheck.RTOL, GradCheck.ATOL, 15);
    }

    @Test
    void linearWithBias() {
        Tensor x = param(rnd, 1, 4, 6);
        Tensor w = param(rnd, 1, 3, 6);
        Tensor b = param(rnd, 1, 3);
        check("linear", () -> Ops.linear(x, w, b), List.of(x, w, b));
    }

    @Test
    void addSameShapeAndBroadcast() {
        Tensor a = param(rnd, 1, 2, 3, 4);
        Tensor b = param(rnd, 1, 2, 3, 4);
        Tensor c = param(rnd, 1, 3, 4);
        check("add", () -> Ops.add(Ops.add(a, b), c), List.of(a, b, c));
        assertThrows(IllegalArgumentException.class, () -> Ops.add(a, param(rnd, 1, 4, 3)));
    }

    @Test
    void mulScaleAndReuse() {
        Tensor a = param(rnd, 1, 3, 4);
        Tensor b = param(rnd, 1, 3, 4);
        // a is used three times: its gradient must accumulate all uses.
        check("mul", () -> Ops.scale(Ops.mul(Ops.mul(a, b), a), -1.5f), List.of(a, b));
        check("square", () -> Ops.add(Ops.mul(a, a), a), List.of(a));
    }

    @Test
    void relu() {
        float[] d = new float[24];
        for (int i = 0; i < d.length; i++) { // keep |x| >= 0.1 > h: finite differences never straddle the kink
            double v = 0.1 + rnd.nextDouble();
            d[i] = (float) (rnd.nextBoolean() ? v : -v);
        }
        Tensor x = Tensor.param(d, 4, 6);
        check("relu", () -> Ops.relu(x), List.of(x));
    }

    @Test
    void layerNorm() {
        Tensor x = param(rnd, 2, 3, 8);
        Tensor g = param(rnd, 1, 8);
        Tensor b = param(rnd, 1, 8);
        check("layerNorm", () -> Ops.layerNorm(x, g, b, 1e-5f), List.of(x, g, b));
    }

    @Test
    void softmaxNatural() {
        Tensor x = param(rnd, 2, 3, 7);
        check("softmax", () -> Ops.softmax(x), List.of(x));
    }

    @Test
    void softmaxAdditiveMask() {
        Tensor x = param(rnd, 2, 2, 3, 5);
        float[] add = new float[3 * 5];
        for (int i = 0; i < add.length; i++) {
            add[i] = (float) rnd.nextDouble() * -3f;
        }
        add[4] = Float.NEGATIVE_INFINITY;
        check("softmaxAdd", () -> Ops.softmax(x, null, add, false), List.of(x));
        Tensor y = Ops.softmax(x, null, add, false);
        assertEquals(0f, y.data()[4]);
    }

    @Test
    void softmaxBooleanMaskBase2() {
        Tensor x = param(rnd, 2, 2, 4, 5);
        int[] lens = {3, 0};           // batch 1 has no valid key: its rows must be all zeros
        RowMask m = RowMask.causal(4).and(RowMask.keyPadding(lens, 1, 4));
        for (boolean base2 : new boolean[] {false, true}) {
            check("softmaxMask" + base2, () -> Ops.softmax(x, m, null, base2), List.of(x));
            Tensor y = Ops.softmax(x, m, null, base2);
            for (int r = 0; r < 8; r++) {
                double s = 0;
                for (int j = 0; j < 5; j++) {
                    float p = y.data()[r * 5 + j];
                    if (!m.valid(r, j)) {
                        assertEquals(0f, p, "masked position is exactly zero");
                    }
                    s += p;
                }
                assertEquals(r < 4 ? 1.0 : 0.0, s, 1e-6, "row " + r);
            }
        }
    }

    @Test
    void softmaxBase2IsPowersOfTwo() {
        Tensor x = Tensor.of(new float[] {0f, 1f, 3f}, 1, 3);
        Tensor y = Ops.softmax(x, null, null, true);
        assertArrayEquals(new float[] {1f / 11, 2f / 11, 8f / 11}, y.data(), 1e-7f);
    }

    @Test
    void embeddingWithRepeatedIds() {
        Tensor table = param(rnd, 1, 5, 3);
        int[] ids = {1, 4, 1, 0, 1};
        check("embedding", () -> Ops.embedding(table, ids), List.of(table));
        table.zeroGrad();
        Ops.sum(Ops.embedding(table, ids)).backward();
        assertEquals(3f, table.grad()[3], "id 1 gathered three times");
        assertEquals(0f, table.grad()[6], "id 2 never gathered");
    }

    @Test
    void dropoutIsSeededAndDifferentiable() {
        Tensor x = param(rnd, 1, 6, 8);
        check("dropout", () -> Ops.dropout(x, 0.3f, 7L, true), List.of(x));
        assertArrayEquals(Ops.dropout(x, 0.3f, 7L, true).data(), Ops.dropout(x, 0.3f, 7L, true).data());
        assertFalse(java.util.Arrays.equals(Ops.dropout(x, 0.3f, 7L, true).data(),
                Ops.dropout(x, 0.3f, 8L, true).data()));
        assertTrue(Ops.dropout(x, 0.3f, 7L, false) == x, "identity when not training");
        int zeros = 0;
        for (float v : Ops.dropout(x, 0.3f, 7L, true).data()) {
            zeros += v == 0f ? 1 : 0;
        }
        assertTrue(zeros > 3 && zeros < 30, "about 30% dropped: " + zeros);
    }

    @Test
    void reshapeAndTranspose() {
        Tensor x = param(rnd, 1, 2, 3, 4, 5);
        check("transpose12", () -> Ops.transpose(x, 1, 2), List.of(x));
        check("transpose03", () -> Ops.transpose(Ops.reshape(x, 6, -1, 5), 0, -1), List.of(x));
        Tensor t = Ops.transpose(x, 1, 2);
        assertArrayEquals(new int[] {2, 4, 3, 5}, t.shape());
        // t[b][i][j][c] == x[b][j][i][c]
        assertEquals(x.data()[((1 * 3 + 2) * 4 + 3) * 5 + 4], t.data()[((1 * 4 + 3) * 3 + 2) * 5 + 4]);
    }

    @Test
    void crossEntropyWithSmoothingAndIgnore() {
        Tensor logits = param(rnd, 2, 5, 7);
        int[] targets = {3, 0, 6, 0, 2}; // 0 = pad, ignored
        for (float eps : new float[] {0f, 0.1f}) {
            check("ce" + eps, () -> Ops.crossEntropy(logits, targets, eps, 0), List.of(logits));
        }
        // ignored rows get no gradient, and the mean is over the 3 kept rows
        logits.zeroGrad();
        Ops.crossEntropy(logits, targets, 0.1f, 0).backward();
        for (int v = 0; v < 7; v++) {
            assertEquals(0f, logits.grad()[7 + v]);
        }
        Tensor single = Tensor.param(new float[] {0f, 0f}, 1, 2);
        assertEquals(Math.log(2), Ops.crossEntropy(single, new int[] {1}, 0f, -1).item(), 1e-6);
        assertEquals(0f, Ops.crossEntropy(single, new int[] {0}, 0f, 0).item(), "all rows ignored");
    }

    @Test
    void fakeQuantPassesGradientInsideRange() {
        Tensor x = param(rnd, 0.5, 4, 4);
        Tensor lt = Tensor.param(new float[] {0f}, 1);
        // Through a smooth consumer, dq/dx = 1 inside: the gradient equals the consumer's at q.
        x.zeroGrad();
        Tensor q = FakeQuant.apply(x, lt, 8, true);
        Ops.sum(Ops.mul(q, q)).backward();
        for (int i = 0; i < 16; i++) {
            assertEquals(2 * q.data()[i], x.grad()[i], 1e-7);
        }
    }

    @Test
    void gradModeZeroGradAndAccumulation() {
        Tensor a = param(rnd, 1, 2, 2);
        try (var _ = Tensor.noGrad()) {
            Tensor y = Ops.mul(a, a);
            assertFalse(y.requiresGrad());
            assertThrows(IllegalStateException.class, () -> Ops.sum(y).backward());
        }
        assertTrue(Tensor.isGradEnabled());
        Ops.sum(a).backward();
        Ops.sum(a).backward();
        assertEquals(2f, a.grad()[0], "two backward passes accumulate");
        a.zeroGrad();
        assertEquals(0f, a.grad()[0]);
        assertThrows(IllegalStateException.class, () -> Ops.mul(a, a).backward(), "non-scalar loss");
        Tensor c = Tensor.of(new float[] {1f, 2f, 3f, 4f}, 2, 2);
        assertFalse(Ops.add(c, c).requiresGrad());
        assertNotEquals(null, Ops.add(a, c).data());
    }
}
