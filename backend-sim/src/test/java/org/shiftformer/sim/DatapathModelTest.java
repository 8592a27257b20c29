package org.shiftformer.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.StepCost;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;

class DatapathModelTest {

    @Test
    void defaultsAreThoseDocumented() {
        DatapathModel dp = DatapathModel.fromSettings(Map.of());
        assertEquals("32x32@300MHz", dp.describe());
        assertEquals("4096", dp.settings().get("onchip.kib"));
        assertEquals("19.2", dp.settings().get("offchip.gbps"));
    }

    @Test
    void matmulTilesOverTheArray() {
        DatapathModel dp = new DatapathModel(32, 32, 300, 4096, 19.2, 12, 2000);
        // 64x256x256: 8 x 8 tiles of 64 streamed rows, plus fill and drain
        assertEquals(8 * 8 * 64 + 64, dp.matmulCycles(64, 256, 256));
        // one row still occupies a tile for R cycles (weights load one row per cycle)
        assertEquals(8 * 250 * 32 + 64, dp.matmulCycles(1, 256, 8000));
        assertEquals(3 * 8 + 64, dp.layerNormCycles(1, 256));
        assertEquals(2 * 3 * 1 + 48, dp.softmaxCycles(2, 20));
    }

    @Test
    void costOverlapsOffChipTrafficAndAddsPcie() {
        DatapathModel dp = new DatapathModel(32, 32, 250, 4096, 10, 5, 1000);
        // 2500 cycles at 250 MHz = 10 us; 50 kB at 10 GB/s = 5 us (hidden); 1 transfer of 5 kB = 1 us + 1 us
        StepCost c = dp.cost(2500, 50_000, 1, 5_000);
        assertEquals(2500, c.deviceCycles());
        assertEquals(12_000, c.deviceNanos());
        // memory-bound: 200 kB = 20 us
        assertEquals(20_000 + 2_000, dp.cost(2500, 200_000, 1, 5_000).deviceNanos());
    }

    @Test
    void unknownKeysAndBadValuesAreRejectedNamingTheKeyAndRange() {
        ShiftformerException unknown = assertThrows(ShiftformerException.class,
                () -> DatapathModel.fromSettings(Map.of("pe.row", "8")));
        assertEquals(ErrorCode.INVALID_ARGUMENT, unknown.code());
        assertTrue(unknown.getMessage().contains("pe.row") && unknown.getMessage().contains("pe.rows"), unknown.getMessage());
        for (Map.Entry<String, String> bad : List.of(Map.entry("pe.rows", "0"), Map.entry("pe.cols", "x"),
                Map.entry("clock.mhz", "-3"), Map.entry("onchip.kib", "1e3"), Map.entry("offchip.gbps", "0"),
                Map.entry("pcie.gbps", "NaN"), Map.entry("pcie.latency.ns", "-1"))) {
            ShiftformerException e = assertThrows(ShiftformerException.class,
                    () -> DatapathModel.fromSettings(Map.of(bad.getKey(), bad.getValue())), bad.toString());
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains(bad.getKey()) && e.getMessage().matches(".*[\\[(]\\d+, \\d+].*"), e.getMessage());
        }
    }

    @Test
    void aBiggerArrayIsFasterAndSmallOnChipMemoryStreamsWeights() {
        ModelConfig cfg = new ModelConfig(64, 4, 256, 2, 2, 500, 40, 3, 0, 1, 2);
        TransformerWeights w = TransformerWeights.of(RandomModels.generate(cfg, 3));
        SimModel small = new SimModel(w, new DatapathModel(8, 8, 300, 4096, 19.2, 12, 2000));
        SimModel big = new SimModel(w, new DatapathModel(64, 64, 300, 4096, 19.2, 12, 2000));
        SimModel starved = new SimModel(w, new DatapathModel(64, 64, 300, 16, 1, 12, 2000));
        assertTrue(small.weightsResident() && !starved.weightsResident());
        List<int[]> src = List.of(new int[] {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19});
        StepCost cs = small.encode(src, null).cost();
        StepCost cb = big.encode(src, null).cost();
        StepCost cw = starved.encode(src, null).cost();
        assertTrue(cs.deviceCycles() > cb.deviceCycles(), cs + " vs " + cb);
        assertEquals(cb.deviceCycles(), cw.deviceCycles());
        assertTrue(cw.deviceNanos() > cb.deviceNanos(), cw + " vs " + cb);
    }
}
