package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.shiftformer.api.DType;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.DatapathCycles;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.LayerTap;
import org.shiftformer.api.backend.StepCost;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.spec.Tables;

/**
 * Issue 16 item 3: the cycles the emulated kernel counts for itself (out[2..3], datapath.h's formulas over
 * the loop nest each run took) equal {@link DatapathCycles}' walk of the same loop nest, exactly (no
 * tolerance: both are integer arithmetic over the same trip counts), for every op-level entry point on
 * shapes that cross every tile, row-block and chunk boundary, for encoder runs, decoder steps at batch 1, 8
 * and 64 (with and without layer taps) and KV-cache copies, on four model shapes.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FpgaCycleAgreementTest {
    private FpgaBackend fpga;

    @BeforeAll
    void open() {
        EmulatedCard.require();
        fpga = (FpgaBackend) new FpgaBackendProvider().open(Map.of("kv-slots", "65", "source-slots", "64"));
    }

    @AfterAll
    void close() {
        if (fpga != null) {
            fpga.close();
        }
    }

    @Test
    void everyOpLevelEntryPointCountsWhatTheModelWalks() {
        FpgaKernels k = (FpgaKernels) fpga.kernels().orElseThrow();
        SplittableRandom rnd = new SplittableRandom(5);
        // rows across the ROW_TILE boundary, k across PE_R and K_CHUNK, n across PE_C
        int[][] linear = {{1, 1, 1}, {1, 64, 64}, {8, 256, 1000}, {64, 64, 65}, {65, 130, 63}, {3, 4097, 70},
            {2, 8200, 129}, {130, 37, 5}};
        for (int[] s : linear) {
            for (boolean bias : new boolean[] {true, false}) {
                int rows = s[0];
                int kk = s[1];
                int n = s[2];
                byte[] x = bytes(rnd, rows * kk);
                byte[] w = bytes(rnd, n * kk);
                int[] acc = new int[rows * n];
                k.linear(x, rows, kk, n % 2 == 0, w, n, bias ? new int[n] : null, acc);
                same(DatapathCycles.opLinear(rows, kk, n, bias), k.lastCycles(), "LINEAR " + Arrays.toString(s) + " bias " + bias);
            }
        }
        for (int len : new int[] {1, 63, 1000}) {
            k.requantize(new int[len], len, 3, DType.INT8, new byte[len]);
            same(DatapathCycles.opRequant(len), k.lastCycles(), "REQUANT " + len);
            k.residual(new short[len], 0, new int[len], 0, 0, len, new short[len]);
            same(DatapathCycles.opResidual(len), k.lastCycles(), "RESIDUAL " + len);
        }
        for (int[] s : new int[][] {{1, 1}, {3, 17}, {2, 300}}) {
            int rows = s[0];
            int len = s[1];
            int[] valid = new int[rows];
            Arrays.fill(valid, Math.max(1, len / 2));
            k.softmax2(new int[rows * len], rows, len, valid, -8, Tables.exp2Lut(), new byte[rows * len]);
            same(DatapathCycles.opSoftmax(rows, len), k.lastCycles(), "SOFTMAX2 " + Arrays.toString(s));
        }
        for (int[] s : new int[][] {{1, 2}, {3, 100}, {2, 1024}}) {
            int rows = s[0];
            int d = s[1];
            short[] gamma = new short[d];
            Arrays.fill(gamma, (short) 4096);
            k.layerNorm(new short[rows * d], rows, d, gamma, new int[d], -12, -4, new byte[rows * d]);
            same(DatapathCycles.opLayerNorm(rows, d), k.lastCycles(), "LAYERNORM " + Arrays.toString(s));
        }
    }

    /** FpgaMatchesSimTest's shapes, and one with d_ff above K_CHUNK (its second FFN linear reads rows in two chunks). */
    static List<ModelConfig> models() {
        List<ModelConfig> models = new ArrayList<>(FpgaMatchesSimTest.models());
        models.add(new ModelConfig(64, 2, 4160, 1, 1, 200, 16, 2, 0, 1, 2));
        return models;
    }

    @Test
    void encoderRunsDecoderStepsAndCacheCopiesCountWhatTheModelWalks() {
        for (ModelConfig cfg : models()) {
            try (FpgaModel m = (FpgaModel) fpga.load(RandomModels.generate(cfg, 7))) {
                for (int batch : new int[] {1, 8, 64}) {
                    SplittableRandom rnd = new SplittableRandom(batch);
                    List<int[]> sources = new ArrayList<>();
                    int[] lengths = new int[batch];
                    for (int b = 0; b < batch; b++) {
                        lengths[b] = 1 + rnd.nextInt(Math.min(cfg.maxPositions(), 20));
                        sources.add(rnd.ints(lengths[b], 3, cfg.vocabSize()).toArray());
                    }
                    EncodeResult enc = m.encode(sources, null);
                    long expected = 0;
                    for (int first = 0; first < batch; first += FpgaModel.ENCODE_CHUNK) {
                        expected += DatapathCycles.encode(cfg, Arrays.copyOfRange(lengths, first,
                                Math.min(batch, first + FpgaModel.ENCODE_CHUNK)), false).cycles();
                    }
                    assertEquals(expected, enc.cost().deviceCycles(), cfg + " encode batch " + batch);
                    List<DecoderState> states = new ArrayList<>();
                    for (EncodedSource s : enc.sources()) {
                        states.add(m.newDecoder(s, cfg.maxPositions()));
                    }
                    int steps = Math.min(cfg.maxPositions() - 1, 4);
                    int[] logits = new int[batch * cfg.vocabSize()];
                    for (int step = 0; step < steps; step++) {
                        int[] tokens = rnd.ints(batch, 3, cfg.vocabSize()).toArray();
                        int[] positions = new int[batch];
                        Arrays.fill(positions, step);
                        boolean tapped = step == 1 && batch == 8;
                        LayerTap tap = tapped ? (seq, point, values, length) -> { } : null;
                        StepCost cost = m.decodeStep(states, tokens, logits, tap);
                        assertEquals(DatapathCycles.decodeStep(cfg, positions, lengths, tapped).cycles(), cost.deviceCycles(),
                                cfg + " decoder step " + step + " batch " + batch + (tapped ? " with taps" : ""));
                        assertTrue(cost.deviceCycles() > 0);
                    }
                    DecoderState fork = states.get(0).fork();
                    same(DatapathCycles.copyKv(cfg, steps), m.lastCycles(), cfg + " COPY_KV of " + steps + " rows");
                    fork.close();
                    for (DecoderState s : states) {
                        s.close();
                    }
                    for (EncodedSource s : enc.sources()) {
                        s.close();
                    }
                }
                EncodeResult tapped = m.encode(List.of(new int[] {5, 6, 7}), (seq, point, values, length) -> { });
                assertEquals(DatapathCycles.encode(cfg, new int[] {3}, true).cycles(), tapped.cost().deviceCycles(),
                        cfg + " encode with taps");
                tapped.sources().get(0).close();
            }
        }
    }

    /**
     * A head of 260 positions x d_k 1024 exceeds KV_ON_CHIP: the encoder streams its keys per query row, the decoder's
     * cross-attention per key.
     */
    @Test
    void headsTooLargeForTheChipStreamTheirKeysAndStillAgree() {
        ModelConfig cfg = new ModelConfig(1024, 1, 64, 1, 1, 50, 264, 1, 0, 1, 2);
        assertTrue(260L * cfg.dHead() > DatapathCycles.KV_ON_CHIP);
        try (FpgaModel m = (FpgaModel) fpga.load(RandomModels.generate(cfg, 9))) {
            int[] lengths = {260, 3};
            List<int[]> sources = List.of(new SplittableRandom(1).ints(260, 3, 50).toArray(), new int[] {4, 5, 6});
            EncodeResult enc = m.encode(sources, null);
            assertEquals(DatapathCycles.encode(cfg, lengths, false).cycles(), enc.cost().deviceCycles(), "encode 260 + 3");
            // a decoder step over both: the 260-long cross-attention streams, the 3-long one and self-attention stage
            List<DecoderState> states = List.of(m.newDecoder(enc.sources().get(0), 4), m.newDecoder(enc.sources().get(1), 4));
            StepCost cost = m.decodeStep(states, new int[] {1, 1}, new int[2 * cfg.vocabSize()], null);
            assertEquals(DatapathCycles.decodeStep(cfg, new int[] {0, 0}, lengths, false).cycles(), cost.deviceCycles(),
                    "decoder step over sources of 260 and 3");
            for (DecoderState s : states) {
                s.close();
            }
            for (EncodedSource s : enc.sources()) {
                s.close();
            }
        }
    }

    private static void same(DatapathCycles model, long kernel, String what) {
        assertEquals(model.cycles(), kernel, what + ": model vs the kernel's own count");
    }

    private static byte[] bytes(SplittableRandom rnd, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) rnd.nextInt(256);
        }
        return b;
    }
}
