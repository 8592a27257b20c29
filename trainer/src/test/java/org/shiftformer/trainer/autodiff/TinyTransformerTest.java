package org.shiftformer.trainer.autodiff;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** End-to-end gradient check and thread-count determinism of a whole tiny Transformer block. */
class TinyTransformerTest {

    private final int defaultThreads = MatMul.threads();

    @AfterEach
    void restoreThreads() {
        MatMul.setThreads(defaultThreads);
    }

    @Test
    void wholeBlockGradientMatchesFiniteDifferences() {
        TinyBlock m = new TinyBlock(11, 2, 5, 8, 2, 16, 11);
        // h = 1e-3: small enough that one perturbed weight rarely moves a ReLU pre-activation across 0
        // (the FD error there is first order); float32 noise on the O(1) loss is ~1e-7 / 2e-3 = 5e-5.
        GradCheck.check("tinyBlock", m::loss, m.params(), 1e-3, 2e-2, 2e-3, 12);
    }

    @Test
    void lossDecreasesAlongNegativeGradient() {
        TinyBlock m = new TinyBlock(5, 2, 6, 8, 2, 16, 11);
        float[] before = m.lossAndGrads();
        for (Tensor p : m.params()) {
            float[] g = p.grad();
            for (int i = 0; i < g.length; i++) {
                p.data()[i] -= 0.05f * g[i];
            }
        }
        float after = m.loss().item();
        assertTrue(after < before[0], before[0] + " -> " + after);
    }

    @Test
    void sameBitsForEveryThreadCount() {
        float[] ref = null;
        for (int threads : new int[] {1, 2, 3}) {
            MatMul.setThreads(threads);
            // large enough that the matmuls take the parallel path
            TinyBlock m = new TinyBlock(21, 4, 24, 64, 4, 256, 50);
            float[] g = m.lossAndGrads();
            if (ref == null) {
                ref = g;
            } else {
                int[] a = new int[g.length];
                int[] b = new int[g.length];
                for (int i = 0; i < g.length; i++) {
                    a[i] = Float.floatToRawIntBits(ref[i]);
                    b[i] = Float.floatToRawIntBits(g[i]);
                }
                assertArrayEquals(a, b, "threads " + threads);
            }
        }
    }
}
