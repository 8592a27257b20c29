package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.DatapathCycles;

/** Run timeouts follow from the modelled run time ({@link DatapathCycles} on the slowest card). */
class KernelTimeModelTest {
    static final ModelConfig BASE = new ModelConfig(512, 8, 2048, 6, 6, 8000, 512, 4, 0, 1, 2);

    @Test
    void timeoutIsFourTimesTheEstimateAtLeastTenSecondsUnlessSet() {
        assertEquals(10_000, KernelTimeModel.timeoutMs(0, 1_000_000), "floor");
        assertEquals(12_000, KernelTimeModel.timeoutMs(0, 3_000_000_000L), "4 x 3 s");
        assertEquals(250, KernelTimeModel.timeoutMs(250, 3_000_000_000L), "the setting wins");
        assertEquals(Integer.MAX_VALUE, KernelTimeModel.timeoutMs(0, Long.MAX_VALUE), "capped at what xrtRunWaitFor takes");
    }

    @Test
    void theEstimateIsTheSlowestCardsTimeOfTheKernelsLoopNest() {
        int[] lengths = new int[8];
        Arrays.fill(lengths, 512);
        DatapathCycles run = DatapathCycles.encode(BASE, lengths, false);
        long ns = KernelTimeModel.nanos(run);
        for (DatapathCycles.Card card : DatapathCycles.Card.values()) {
            assertTrue(ns >= card.nanos(run), card + ": " + card.nanos(run) + " > " + ns);
        }
        assertTrue(ns >= run.cycles() * 1000L / 300, "at least the loop nest at 300 MHz");
        // a base encoder run of 8 full-length sources: its timeout covers 4 x the estimate
        assertTrue(KernelTimeModel.timeoutMs(0, ns) * 1_000_000L >= 4 * ns);
    }
}
