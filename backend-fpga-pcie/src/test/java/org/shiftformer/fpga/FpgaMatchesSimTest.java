package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodeResult;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.spec.IntOps;
import org.shiftformer.sim.SimBackendProvider;

/**
 * Whole greedy decodes on the fpga backend (host emulation) against backend-sim: for several random
 * models and batch sizes 1, 3 and 8, every step's int32 logits and every chosen token are identical.
 * Also proves the host-device syncs: the emulation keeps separate host and device copies, so a missing
 * sync of the inputs, the weights or the logits shows up here as different bits.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class FpgaMatchesSimTest {
    private Backend fpga;
    private Backend sim;

    @BeforeAll
    void open() {
        EmulatedCard.require();
        fpga = new FpgaBackendProvider().open(Map.of("kv-slots", "16", "source-slots", "16"));
        sim = new SimBackendProvider().open(Map.of("threads", "1"));
    }

    @AfterAll
    void close() {
        if (fpga != null) {
            fpga.close();
        }
        if (sim != null) {
            sim.close();
        }
    }

    static List<ModelConfig> models() {
        return List.of(
                RandomModels.preset("tiny", 300),
                new ModelConfig(32, 4, 96, 1, 3, 280, 48, 1, 0, 1, 2),
                new ModelConfig(128, 2, 64, 2, 1, 600, 30, 2, 0, 1, 2));
    }

    @Test
    void greedyDecodesGiveTheSimulatorsLogitsAtEveryStepAndTokens() {
        int seed = 11;
        for (ModelConfig cfg : models()) {
            QuantizedModel model = RandomModels.generate(cfg, seed);
            try (LoadedModel f = fpga.load(model); LoadedModel s = sim.load(model)) {
                for (int batch : new int[] {1, 3, 8}) {
                    List<int[]> sources = sources(new SplittableRandom(seed * 31L + batch), cfg, batch);
                    int steps = Math.min(cfg.maxPositions() - 1, 16);
                    List<int[]> logitsF = new ArrayList<>();
                    List<int[]> logitsS = new ArrayList<>();
                    List<int[]> tf = decode(f, sources, steps, logitsF);
                    List<int[]> ts = decode(s, sources, steps, logitsS);
                    for (int step = 0; step < steps; step++) {
                        assertArrayEquals(logitsS.get(step), logitsF.get(step),
                                cfg + " batch " + batch + ": int32 logits of step " + step);
                    }
                    for (int i = 0; i < batch; i++) {
                        assertArrayEquals(ts.get(i), tf.get(i), cfg + " batch " + batch + " sequence " + i + " tokens");
                    }
                }
            }
            seed++;
        }
    }

    @Test
    void forkedHypothesesContinueLikeTheSimulators() {
        ModelConfig cfg = models().get(1);
        QuantizedModel model = RandomModels.generate(cfg, 8);
        try (LoadedModel f = fpga.load(model); LoadedModel s = sim.load(model)) {
            int[] a = forkAndContinue(f, cfg);
            int[] b = forkAndContinue(s, cfg);
            assertArrayEquals(b, a, "logits after forking and diverging");
        }
    }

    /**
     * A head of 260 positions x d_k 1024 exceeds the kernel's KV_ON_CHIP: the encoder and the decoder's
     * cross-attention stream its keys and values per row instead of staging them on chip (the self-attention, a few
     * positions long, still goes through the heads' dataflow region). Same logits as the simulator.
     */
    @Test
    void headsTooLongForTheChipStreamAndStillGiveTheSimulatorsLogits() {
        ModelConfig cfg = new ModelConfig(1024, 1, 64, 1, 1, 50, 264, 1, 0, 1, 2);
        QuantizedModel model = RandomModels.generate(cfg, 9);
        List<int[]> sources = List.of(new SplittableRandom(1).ints(260, 3, 50).toArray());
        try (LoadedModel f = fpga.load(model); LoadedModel s = sim.load(model)) {
            List<int[]> logitsF = new ArrayList<>();
            List<int[]> logitsS = new ArrayList<>();
            assertArrayEquals(decode(s, sources, 3, logitsS).get(0), decode(f, sources, 3, logitsF).get(0), "tokens");
            for (int step = 0; step < 3; step++) {
                assertArrayEquals(logitsS.get(step), logitsF.get(step), "int32 logits of step " + step);
            }
        }
    }

    /** Feeds BOS and two tokens, forks, feeds different tokens to both, returns both logits rows. */
    private static int[] forkAndContinue(LoadedModel m, ModelConfig cfg) {
        int v = cfg.vocabSize();
        EncodeResult enc = m.encode(List.of(new int[] {7, 8, 9, 10, 11}), null);
        DecoderState a = m.newDecoder(enc.sources().get(0), 10);
        int[] l1 = new int[v];
        m.decodeStep(List.of(a), new int[] {cfg.bosId()}, l1, null);
        m.decodeStep(List.of(a), new int[] {20}, l1, null);
        DecoderState b = a.fork();
        int[] l2 = new int[2 * v];
        m.decodeStep(List.of(a, b), new int[] {30, 40}, l2, null);
        m.decodeStep(List.of(b, a), new int[] {50, 60}, l2, null);
        a.close();
        b.close();
        enc.sources().get(0).close();
        return l2;
    }

    /** Greedy without stopping at EOS (an EOS choice feeds a fixed token): tokens per sequence; each step's logits to {@code logitsOut}. */
    private static List<int[]> decode(LoadedModel m, List<int[]> sources, int steps, List<int[]> logitsOut) {
        ModelConfig cfg = m.config();
        int n = sources.size();
        int v = cfg.vocabSize();
        EncodeResult enc = m.encode(sources, null);
        List<DecoderState> states = new ArrayList<>();
        for (int s = 0; s < n; s++) {
            states.add(m.newDecoder(enc.sources().get(s), steps));
        }
        int[] tokens = new int[n];
        Arrays.fill(tokens, cfg.bosId());
        int[][] produced = new int[n][steps];
        int[] logits = new int[n * v];
        for (int step = 0; step < steps; step++) {
            m.decodeStep(states, tokens, logits, null);
            logitsOut.add(logits.clone());
            for (int s = 0; s < n; s++) {
                int t = IntOps.argmax(logits, s * v, v, cfg.padId(), cfg.bosId());
                produced[s][step] = t;
                tokens[s] = t == cfg.eosId() ? 3 + step % 7 : t;
            }
        }
        for (DecoderState st : states) {
            st.close();
        }
        enc.sources().forEach(src -> src.close());
        return Arrays.asList(produced);
    }

    private static List<int[]> sources(SplittableRandom rnd, ModelConfig cfg, int batch) {
        List<int[]> out = new ArrayList<>();
        for (int s = 0; s < batch; s++) {
            int[] src = new int[1 + rnd.nextInt(Math.min(cfg.maxPositions(), 24))];
            for (int i = 0; i < src.length; i++) {
                src[i] = 3 + rnd.nextInt(cfg.vocabSize() - 3);
            }
            out.add(src);
        }
        return out;
    }
}
