package org.shiftformer.trainer.optim;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.shiftformer.trainer.autodiff.Tensor;

class AdamWTest {

    @Test
    void firstStepsMatchTheHandComputedUpdate() {
        Tensor w = Tensor.param(new float[] {1f, -2f}, 2);
        AdamW adam = new AdamW(List.of(new ParamGroup("w", List.of(w), LrSchedule.constant(0.1), 0)), 0.9, 0.98,
                1e-8, 0);
        // Step 1: m = 0.1 g, v = 0.02 g²; bias-corrected m̂ = g, v̂ = g², so the step is lr · sign(g) (up to eps).
        w.grad()[0] = 0.5f;
        w.grad()[1] = -3f;
        adam.step();
        assertEquals(1f - 0.1f, w.data()[0], 1e-6f);
        assertEquals(-2f + 0.1f, w.data()[1], 1e-6f);
        float[][] mv = adam.moments(w);
        assertArrayEquals(new float[] {0.05f, -0.3f}, mv[0], 1e-7f);
        assertArrayEquals(new float[] {0.005f, 0.18f}, mv[1], 1e-7f);
        // Step 2 with g = (0.25, 0): m = (0.9·0.05 + 0.1·0.25, 0.9·(-0.3)) = (0.07, -0.27),
        // v = (0.98·0.005 + 0.02·0.0625, 0.98·0.18) = (0.00615, 0.1764); m̂ = m/0.19, v̂ = v/(1-0.98²) = v/0.0396.
        w.zeroGrad();
        w.grad()[0] = 0.25f;
        adam.step();
        double u0 = (0.07 / 0.19) / (Math.sqrt(0.00615 / 0.0396) + 1e-8);
        double u1 = (-0.27 / 0.19) / (Math.sqrt(0.1764 / 0.0396) + 1e-8);
        assertEquals(0.9 - 0.1 * u0, w.data()[0], 1e-6);
        assertEquals(-1.9 - 0.1 * u1, w.data()[1], 1e-6);
        assertEquals(2, adam.stepCount());
    }

    @Test
    void weightDecayIsDecoupledAndScaledByTheLearningRate() {
        Tensor w = Tensor.param(new float[] {2f}, 1);
        AdamW adam = new AdamW(List.of(new ParamGroup("w", List.of(w), LrSchedule.constant(0.01), 0.5)), 0.9, 0.98,
                1e-8, 0);
        w.grad(); // zero gradient: only the decay acts
        adam.step();
        assertEquals(2f - 0.01f * 0.5f * 2f, w.data()[0], 1e-7f);
    }

    @Test
    void clippingScalesAllGroupsByTheGlobalNorm() {
        Tensor a = Tensor.param(new float[] {0f}, 1);
        Tensor b = Tensor.param(new float[] {0f}, 1);
        AdamW adam = new AdamW(List.of(new ParamGroup("a", List.of(a), LrSchedule.constant(1), 0),
                new ParamGroup("b", List.of(b), LrSchedule.constant(1), 0)), 0.0, 0.0, 1e-30, 1.0);
        a.grad()[0] = 3f;
        b.grad()[0] = 4f;
        adam.step();
        assertEquals(5.0, adam.lastGradNorm(), 1e-12);
        // beta1 = beta2 = 0: m = g·clip, v = (g·clip)², so the step is sign(g) whatever the clip; check the moments.
        assertEquals(0.6f, adam.moments(a)[0][0], 1e-7f);
        assertEquals(0.8f, adam.moments(b)[0][0], 1e-7f);
        assertEquals(-1f, a.data()[0], 1e-6f);
    }

    @Test
    void groupsUseTheirOwnSchedules() {
        Tensor a = Tensor.param(new float[] {0f}, 1);
        Tensor b = Tensor.param(new float[] {0f}, 1);
        AdamW adam = AdamW.standard(List.of(new ParamGroup("weights", List.of(a), LrSchedule.constant(2e-4), 0),
                new ParamGroup("thresholds", List.of(b), LrSchedule.constant(1e-3), 0)));
        a.grad()[0] = 1f;
        b.grad()[0] = 1f;
        adam.step();
        assertEquals(-2e-4f, a.data()[0], 1e-9f);
        assertEquals(-1e-3f, b.data()[0], 1e-9f);
        assertEquals(1e-3, adam.nextLr(1));
    }

    @Test
    void rejectsBadSettingsAndDuplicates() {
        Tensor a = Tensor.param(new float[] {0f}, 1);
        ParamGroup g = new ParamGroup("a", List.of(a), LrSchedule.constant(1), 0);
        assertThrows(IllegalArgumentException.class, () -> new AdamW(List.of(g), 1.0, 0.98, 1e-9, 0));
        assertThrows(IllegalArgumentException.class, () -> new AdamW(List.of(g, g), 0.9, 0.98, 1e-9, 0));
        assertThrows(IllegalArgumentException.class,
                () -> new ParamGroup("c", List.of(Tensor.of(new float[1], 1)), LrSchedule.constant(1), 0));
    }
}
