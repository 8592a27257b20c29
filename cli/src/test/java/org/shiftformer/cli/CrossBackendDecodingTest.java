package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.DecodeParams;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.core.decode.DecodeResult;
import org.shiftformer.core.decode.Decoding;
import org.shiftformer.core.decode.TokenListener;

/**
 * The decoding strategies of runtime-core on backend-sim against the scalar reference: identical
 * greedy and beam results (tokens and fixed-point scores), and batch invariance of beam search on the
 * simulator, whose decoder steps really are batched.
 */
class CrossBackendDecodingTest {
    private static final ModelConfig CFG = new ModelConfig(64, 4, 128, 2, 2, 40, 32, 2, 0, 1, 2);

    private static List<int[]> sources(int n) {
        SplittableRandom rnd = new SplittableRandom(n);
        List<int[]> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int[] s = new int[2 + rnd.nextInt(14)];
            for (int j = 0; j < s.length; j++) {
                s[j] = 3 + rnd.nextInt(CFG.vocabSize() - 3);
            }
            out.add(s);
        }
        return out;
    }

    @Test
    void greedyAndBeamGiveTheSameTokensAndScoresOnSimAndReference() {
        QuantizedModel model = RandomModels.generate(CFG, 21);
        List<int[]> srcs = sources(8);
        try (Backend sim = Backends.select("sim").open(Map.of());
             Backend ref = Backends.select("reference").open(Map.of());
             LoadedModel ms = sim.load(model);
             LoadedModel mr = ref.load(model)) {
            for (DecodeParams p : List.of(DecodeParams.greedy(20), DecodeParams.beam(4, 20, 0.6), DecodeParams.beam(8, 12, 1.0))) {
                List<DecodeResult> a = Decoding.decode(ms, srcs, p, TokenListener.NONE);
                List<DecodeResult> b = Decoding.decode(mr, srcs, p, TokenListener.NONE);
                for (int s = 0; s < srcs.size(); s++) {
                    assertArrayEquals(b.get(s).tokens(), a.get(s).tokens(), p + " sequence " + s);
                    assertEquals(b.get(s).score(), a.get(s).score(), p + " sequence " + s);
                }
            }
        }
    }

    @Test
    void beamSearchOnTheSimulatorIsBatchInvariant() {
        QuantizedModel model = RandomModels.generate(CFG, 22);
        List<int[]> srcs = sources(8);
        try (Backend sim = Backends.select("sim").open(Map.of()); LoadedModel m = sim.load(model)) {
            for (DecodeParams p : List.of(DecodeParams.greedy(16), DecodeParams.beam(4, 16, 0.6))) {
                List<DecodeResult> batched = Decoding.decode(m, srcs, p, TokenListener.NONE);
                for (int s = 0; s < srcs.size(); s++) {
                    DecodeResult alone = Decoding.decode(m, List.of(srcs.get(s)), p, TokenListener.NONE).get(0);
                    assertArrayEquals(alone.tokens(), batched.get(s).tokens(), p + " sequence " + s);
                    assertEquals(alone.score(), batched.get(s).score(), p + " sequence " + s);
                }
            }
        }
    }
}
