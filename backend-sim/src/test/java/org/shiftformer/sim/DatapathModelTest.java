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
import org.shiftformer.api.backend.DatapathCycles;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.StepCost;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;

class DatapathModelTest {
    static final ModelConfig CFG = new ModelConfig(64, 4, 256, 2, 2, 500, 40, 3, 0, 1, 2);

    @Test
    void defaultsAreThoseDocumented() {
        DatapathModel dp = DatapathModel.fromSettings(Map.of());
        assertEquals("u250 64x64@300MHz", dp.describe());
        assertEquals(Map.of("card", "u250", "pcie.gbps", "12.0", "pcie.latency.ns", "2000"), dp.settings());
        assertEquals("u55c 64x64@300MHz", DatapathModel.fromSettings(Map.of("card", "U55C")).describe());
    }

    @Test
    void aLinearTilesTheWeightsOverTheArrayOncePerRowBlock() {
        // 1 x 256 x 256, int8 out: the row (4 beats), then 4 weight blocks of 64 rows x 256 bytes through the dataflow
        // region load -> MAC -> store in lock-step: a block's load is its 16 rows of 4 beats on each of the 4 weight
        // stripes at once (64 beats; the bias burst beside it is shorter), its MAC the 4 tiles x 1 row and the row
        // into the stream, its store the output stage (1 row). The loads bind every slot; the first MAC and store
        // fill, the last drain
        long rowIn = DatapathCycles.pipe(4, 1, DatapathCycles.LAT_MEM);
        long block = DatapathCycles.pipe(256 / DatapathCycles.WEIGHT_STRIPES, 1, DatapathCycles.LAT_MEM);
        assertTrue(block > DatapathCycles.burst(256), "the bias burst hides beside the stripes'");
        long mac1 = DatapathCycles.pipe(4, 1, DatapathCycles.LAT_MAC) + 1;
        long out1 = DatapathCycles.pipe(1, 1, DatapathCycles.LAT_OUT);
        long one = new DatapathCycles().linear(1, 256, 256, DatapathCycles.Out.INT8, true).cycles();
        assertEquals(rowIn + 4 * block + mac1 + out1, one);
        // 64 rows: the tiles (4 x 64 rows, then 64 rows into the stream) now take longer than a striped block load,
        // so they bind every slot but the first (the first block's load) and the last (the last block's store); the
        // weights are still read once
        long full = new DatapathCycles().linear(64, 256, 256, DatapathCycles.Out.INT8, true).cycles();
        long mac64 = DatapathCycles.pipe(4 * 64, 1, DatapathCycles.LAT_MAC) + 64;
        long out64 = DatapathCycles.pipe(64, 1, DatapathCycles.LAT_OUT);
        assertTrue(mac64 > block && mac64 > out64);
        assertEquals(DatapathCycles.pipe(256, 1, DatapathCycles.LAT_MEM) + block + 4 * mac64 + out64, full);
        // 65 rows are two row blocks: every weight is read twice
        DatapathCycles two = new DatapathCycles().linear(65, 256, 256, DatapathCycles.Out.INT8, true);
        assertEquals(2 * 256 * 256 + 2 * 4 * 256, two.weightBytes());
    }

    @Test
    void costTakesTheSlowerOfLoopNestAndBanksAndAddsPcie() {
        DatapathModel u250 = new DatapathModel(DatapathCycles.Card.U250, 5, 1000);
        DatapathCycles run = DatapathCycles.decodeStep(CFG, new int[] {3}, new int[] {7}, false);
        StepCost c = u250.cost(run, 1, 5_000);
        assertEquals(run.cycles(), c.deviceCycles());
        double expected = Math.max(run.cycles() * 1000.0 / 300, DatapathCycles.Card.U250.memoryNanos(run)) + 1000 + 1000;
        assertEquals((long) Math.ceil(expected), c.deviceNanos());
        // the U55C's pseudo-channel is slower than a DDR4 channel: never faster for the same run
        assertTrue(DatapathCycles.Card.U55C.nanos(run) >= DatapathCycles.Card.U250.nanos(run));
    }

    @Test
    void aReusedWalkCountsEachRunAsAFreshOneDoes() {
        // backend-sim counts every decoder step in one walker (reset between runs) so a step allocates nothing:
        // after any earlier run, including a longer one that left the DATAFLOW region's fill and drain state
        // behind, the reset walk must give the fresh walk's cycles and every port's bytes
        DatapathCycles walk = DatapathCycles.encode(CFG, new int[] {39, 5}, true).linear(130, 5000, 700,
                DatapathCycles.Out.RESIDUAL, true);
        int[][] positions = {{0}, {3, 17, 38}, {39, 0}};
        int[][] sources = {{1}, {40, 2, 9}, {7, 39}};
        for (int i = 0; i < positions.length; i++) {
            DatapathCycles fresh = DatapathCycles.decodeStep(CFG, positions[i], sources[i], false);
            walk.reset().addDecodeStep(CFG, positions[i], sources[i], false);
            assertEquals(fresh.cycles(), walk.cycles(), "cycles, run " + i);
            assertEquals(fresh.weightBytes(), walk.weightBytes(), "weight bytes, run " + i);
            for (int s = 0; s < DatapathCycles.WEIGHT_STRIPES; s++) {
                assertEquals(fresh.stripeBytes(s), walk.stripeBytes(s), "stripe " + s + " bytes, run " + i);
            }
            assertEquals(fresh.kvBytes(), walk.kvBytes(), "kv bytes, run " + i);
            assertEquals(fresh.srcBytes(), walk.srcBytes(), "src bytes, run " + i);
            assertEquals(fresh.scratchBytes(), walk.scratchBytes(), "scratch bytes, run " + i);
            assertEquals(fresh.ioBytes(), walk.ioBytes(), "io bytes, run " + i);
            DatapathModel u250 = DatapathModel.defaults();
            assertEquals(u250.decodeStepCost(CFG, positions[i], sources[i]),
                    u250.decodeStepCost(CFG, positions[i], sources[i], walk), "step cost, run " + i);
        }
    }

    @Test
    void unknownKeysAndBadValuesAreRejectedNamingTheKeyAndRange() {
        ShiftformerException unknown = assertThrows(ShiftformerException.class,
                () -> DatapathModel.fromSettings(Map.of("pe.rows", "8")));
        assertEquals(ErrorCode.INVALID_ARGUMENT, unknown.code());
        assertTrue(unknown.getMessage().contains("pe.rows") && unknown.getMessage().contains("card"), unknown.getMessage());
        for (Map.Entry<String, String> bad : List.of(Map.entry("card", "u280"), Map.entry("pcie.gbps", "NaN"),
                Map.entry("pcie.latency.ns", "-1"))) {
            ShiftformerException e = assertThrows(ShiftformerException.class,
                    () -> DatapathModel.fromSettings(Map.of(bad.getKey(), bad.getValue())), bad.toString());
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains(bad.getKey()), e.getMessage());
        }
    }

    @Test
    void theSimulatorReportsTheKernelsCyclesForEveryStep() {
        TransformerWeights w = TransformerWeights.of(RandomModels.generate(CFG, 3));
        try (SimModel m = new SimModel(w, DatapathModel.defaults())) {
            int[] src = {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19};
            EncodeResult enc = m.encode(List.of(src), null);
            assertEquals(DatapathCycles.encode(CFG, new int[] {src.length}, false).cycles(), enc.cost().deviceCycles());
            try (DecoderState s = m.newDecoder(enc.sources().get(0), 8)) {
                int[] logits = new int[CFG.vocabSize()];
                m.decodeStep(List.of(s), new int[] {1}, logits, null);
                StepCost c = m.decodeStep(List.of(s), new int[] {2}, logits, null);
                assertEquals(DatapathCycles.decodeStep(CFG, new int[] {1}, new int[] {src.length}, false).cycles(),
                        c.deviceCycles());
            }
            enc.sources().get(0).close();
        }
    }
}
