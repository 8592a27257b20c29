package org.shiftformer.trainer.optim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class LrScheduleTest {

    @Test
    void warmsUpLinearlyThenDecaysAlongACosine() {
        LrSchedule s = LrSchedule.warmupCosine(2e-3, 400, 2400, 1e-5);
        assertEquals(2e-3 / 400, s.lr(1), 1e-15);
        assertEquals(1e-3, s.lr(200), 1e-15);
        assertEquals(2e-3, s.lr(400), 1e-15);
        // Half-way through the decay the cosine is at 0: the mean of peak and min.
        assertEquals((2e-3 + 1e-5) / 2, s.lr(1400), 1e-15);
        // A quarter: min + (peak-min)(1 + cos(π/4))/2.
        assertEquals(1e-5 + (2e-3 - 1e-5) * (1 + Math.sqrt(0.5)) / 2, s.lr(900), 1e-15);
        assertEquals(1e-5, s.lr(2400), 1e-15);
        assertEquals(1e-5, s.lr(5000), 1e-15);
        for (long t = 401; t < 2400; t++) {
            if (!(s.lr(t) <= s.lr(t - 1))) {
                throw new AssertionError("not decreasing at " + t);
            }
        }
    }

    @Test
    void noWarmUpStartsTheCosineAtStepOne() {
        assertEquals((1 + Math.cos(Math.PI / 10)) / 2, LrSchedule.warmupCosine(1.0, 0, 10, 0).lr(1), 1e-15);
        assertEquals(0.5, LrSchedule.warmupCosine(1.0, 0, 10, 0).lr(5), 1e-15);
    }

    @Test
    void rejectsInconsistentSettings() {
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.warmupCosine(0, 1, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.warmupCosine(1, 11, 10, 0));
        assertThrows(IllegalArgumentException.class, () -> LrSchedule.warmupCosine(1, 1, 10, 2));
    }
}
