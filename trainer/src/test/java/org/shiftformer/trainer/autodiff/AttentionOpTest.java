package org.shiftformer.trainer.autodiff;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The fused {@link Ops#attention} against the composition of the separate ops, and its gradients. */
class AttentionOpTest {

    private static Tensor composed(Tensor q, Tensor k, Tensor v, int heads, int[] lens, boolean causal) {
        int b = q.dim(0);
        int tq = q.dim(1);
        int tk = k.dim(1);
        int d = q.dim(2);
        Tensor qh = Ops.transpose(Ops.reshape(q, b, tq, heads, d / heads), 1, 2);
        Tensor kh = Ops.transpose(Ops.reshape(k, b, tk, heads, d / heads), 1, 2);
        Tensor vh = Ops.transpose(Ops.reshape(v, b, tk, heads, d / heads), 1, 2);
        RowMask mask = RowMask.keyPadding(lens, heads, tq);
        if (causal) {
            mask = mask.and(RowMask.causal(tq));
        }
        Tensor p = Ops.softmax(Ops.matmulBT(qh, kh), mask, null, true);
        return Ops.reshape(Ops.transpose(Ops.matmul(p, vh), 1, 2), b, tq, d);
    }

    @Test
    void equalsTheComposedOpsInValueAndGradient() {
        for (boolean causal : new boolean[] {false, true}) {
            SplittableRandom r = new SplittableRandom(causal ? 1 : 2);
            int tq = 5;
            int tk = causal ? 5 : 7;
            // Lengths include 0 (a fully masked row gives zeros) and the full length.
            int[] lens = causal ? new int[] {5, 3, 0} : new int[] {7, 2, 0};
            Tensor q = GradCheck.param(r, 1.0, 3, tq, 8);
            Tensor k = GradCheck.param(r, 1.0, 3, tk, 8);
            Tensor v = GradCheck.param(r, 1.0, 3, tk, 8);
            Tensor seed = GradCheck.param(r, 1.0, 3, tq, 8);
            Tensor fused = Ops.attention(q, k, v, 2, lens, causal);
            fused.backward(seed.data());
            float[][] gf = {q.grad().clone(), k.grad().clone(), v.grad().clone()};
            q.zeroGrad();
            k.zeroGrad();
            v.zeroGrad();
            Tensor ref = composed(q, k, v, 2, lens, causal);
            ref.backward(seed.data());
            float[][] gr = {q.grad(), k.grad(), v.grad()};
            for (int i = 0; i < ref.size(); i++) {
                assertEquals(ref.data()[i], fused.data()[i], 1e-6f, "value " + i);
            }
            for (int t = 0; t < 3; t++) {
                for (int i = 0; i < gr[t].length; i++) {
                    assertEquals(gr[t][i], gf[t][i], 1e-5f, "gradient of input " + t + " at " + i);
                }
            }
            // Batch row 2 has no valid key: its output is exactly zero.
            for (int i = 2 * tq * 8; i < 3 * tq * 8; i++) {
                assertEquals(0f, fused.data()[i]);
            }
        }
    }

    @Test
    void gradientMatchesFiniteDifferences() {
        SplittableRandom r = new SplittableRandom(3);
        Tensor q = GradCheck.param(r, 1.0, 2, 4, 8);
        Tensor k = GradCheck.param(r, 1.0, 2, 6, 8);
        Tensor v = GradCheck.param(r, 1.0, 2, 6, 8);
        GradCheck.check("attention", () -> Ops.attention(q, k, v, 4, new int[] {6, 3}, false), List.of(q, k, v));
        Tensor qc = GradCheck.param(r, 1.0, 2, 5, 8);
        Tensor kc = GradCheck.param(r, 1.0, 2, 5, 8);
        Tensor vc = GradCheck.param(r, 1.0, 2, 5, 8);
        GradCheck.check("causal attention", () -> Ops.attention(qc, kc, vc, 2, new int[] {5, 5}, true),
                List.of(qc, kc, vc));
    }
}
