package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;

/**
 * The modelled run times of the as-written kernel agree with FPGA-REVIEW.md section 4.1's estimates, and
 * the derived timeouts follow from them (figures quoted in backend-fpga-pcie/README.md).
 */
class KernelTimeModelTest {
    static final ModelConfig TINY = new ModelConfig(64, 2, 256, 2, 2, 512, 256, 3, 0, 1, 2);
    static final ModelConfig SMALL = new ModelConfig(256, 4, 1024, 3, 3, 1000, 256, 4, 0, 1, 2);
    static final ModelConfig BASE = new ModelConfig(512, 8, 2048, 6, 6, 8000, 512, 4, 0, 1, 2);

    private static double decodeMs(ModelConfig c, int batch, int t, int s) {
        int[] pos = new int[batch];
        int[] src = new int[batch];
        java.util.Arrays.fill(pos, t - 1);
        java.util.Arrays.fill(src, s);
        return KernelTimeModel.nanos(KernelTimeModel.decodeStepCycles(c, pos, src)) / 1e6;
    }

    private static double encodeMs(ModelConfig c, int sources, int n) {
        int[] lengths = new int[sources];
        java.util.Arrays.fill(lengths, n);
        return KernelTimeModel.nanos(KernelTimeModel.encodeCycles(c, lengths)) / 1e6;
    }

    private static void near(double reviewMs, double modelMs, String what) {
        assertTrue(modelMs > reviewMs * 0.6 && modelMs < reviewMs * 1.4,
                what + ": model " + modelMs + " ms, review " + reviewMs + " ms");
    }

    @Test
    void agreesWithTheReviewsEstimates() {
        near(2.5, decodeMs(TINY, 1, 32, 32), "tiny decode B=1");
        near(20, decodeMs(SMALL, 1, 32, 32), "small decode B=1");
        near(130, decodeMs(BASE, 1, 32, 32), "base decode B=1");
        near(7_500, decodeMs(BASE, 64, 32, 32), "base decode B=64");
        near(3_200, encodeMs(BASE, 1, 32), "base encode 1 source n=32");
        near(25_000, encodeMs(BASE, 8, 32), "base encode 8 sources n=32");
        near(66_000, encodeMs(BASE, 1, 512), "base encode 1 source n=512");
        near(39_000, encodeMs(SMALL, 8, 256), "small encode 8 sources n=256");
        // batching buys nothing on this kernel: B rows cost B times one row
        assertEquals(64 * decodeMs(BASE, 1, 32, 32), decodeMs(BASE, 64, 32, 32), 1e-3);
    }

    @Test
    void timeoutIsFourTimesTheEstimateAtLeastTenSecondsUnlessSet() {
        assertEquals(10_000, KernelTimeModel.timeoutMs(0, 1_000_000), "floor");
        assertEquals(12_000, KernelTimeModel.timeoutMs(0, 3_000_000_000L), "4 x 3 s");
        assertEquals(250, KernelTimeModel.timeoutMs(250, 3_000_000_000L), "the setting wins");
        assertEquals(Integer.MAX_VALUE, KernelTimeModel.timeoutMs(0, Long.MAX_VALUE), "capped at what xrtRunWaitFor takes");
        // the case that made the fixed 10 s default wrong: a base-preset encoder run of 8 sources
        long base8 = KernelTimeModel.nanos(KernelTimeModel.encodeCycles(BASE, new int[] {32, 32, 32, 32, 32, 32, 32, 32}));
        long t = KernelTimeModel.timeoutMs(0, base8);
        assertTrue(t > 90_000 && t < 110_000, t + " ms");
    }

    @Test
    void printsTheFiguresTheReadmeQuotes() {
        for (var e : java.util.Map.of("tiny", TINY, "small", SMALL, "base", BASE).entrySet()) {
            ModelConfig c = e.getValue();
            System.out.printf("%s: decode B=1 %.1f ms (timeout %d ms), B=64 %.0f ms; encode 8x32 %.0f ms (timeout %d ms),"
                            + " 8xP %.0f ms (timeout %d ms)%n", e.getKey(), decodeMs(c, 1, 32, 32),
                    KernelTimeModel.timeoutMs(0, (long) (decodeMs(c, 1, 32, 32) * 1e6)), decodeMs(c, 64, 32, 32),
                    encodeMs(c, 8, 32), KernelTimeModel.timeoutMs(0, (long) (encodeMs(c, 8, 32) * 1e6)),
                    encodeMs(c, 8, c.maxPositions()), KernelTimeModel.timeoutMs(0, (long) (encodeMs(c, 8, c.maxPositions()) * 1e6)));
        }
        assertTrue(encodeMs(BASE, 8, 512) > encodeMs(BASE, 8, 32));
    }
}
