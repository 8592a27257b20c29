package org.shiftformer.api.spec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.DecoderState;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.api.model.TransformerWeights;

class ReferenceModelTest {
    private static final ModelConfig SMALL = new ModelConfig(32, 4, 64, 2, 2, 300, 32, 2, 0, 1, 2);

    @Test
    void kvCacheDecodingEqualsFullRecomputationAtEveryStep() {
        for (long seed = 1; seed <= 3; seed++) {
            ReferenceModel m = new ReferenceModel(TransformerWeights.of(RandomModels.generate(SMALL, seed)));
            EncodedSource src = m.encode(List.of(new int[] {7, 80, 33, 4, 250, 9}), null).sources().get(0);
            DecoderState st = m.newDecoder(src, 16);
            int v = SMALL.vocabSize();
            int[] prefix = new int[16];
            prefix[0] = SMALL.bosId();
            int[] logits = new int[v];
            for (int t = 0; t < 15; t++) {
                m.decodeStep(List.of(st), new int[] {prefix[t]}, logits, null);
                int[] full = m.recomputeLogits(src, Arrays.copyOf(prefix, t + 1));
                assertArrayEquals(Arrays.copyOfRange(full, t * v, (t + 1) * v), logits, "step " + t + " seed " + seed);
                int next = IntOps.argmax(logits, 0, v, SMALL.padId(), SMALL.bosId());
                prefix[t + 1] = next == SMALL.eosId() ? 3 + t : next;
            }
        }
    }

    @Test
    void randomModelsAreNotDegenerate() {
        ModelConfig cfg = RandomModels.preset("tiny", 400);
        ReferenceModel m = new ReferenceModel(TransformerWeights.of(RandomModels.generate(cfg, 42)));
        SplittableRandom rnd = new SplittableRandom(1);
        Set<Integer> firstTokens = new HashSet<>();
        int saturated = 0;
        int zeros = 0;
        int total = 0;
        for (int s = 0; s < 12; s++) {
            int[] src = new int[4 + rnd.nextInt(10)];
            for (int i = 0; i < src.length; i++) {
                src[i] = 3 + rnd.nextInt(cfg.vocabSize() - 3);
            }
            EncodedSource e = m.encode(List.of(src), null).sources().get(0);
            for (byte b : e.memory()) {
                saturated += (b == 127 || b == -128) ? 1 : 0;
                zeros += b == 0 ? 1 : 0;
                total++;
            }
            DecoderState st = m.newDecoder(e, 2);
            int[] logits = new int[cfg.vocabSize()];
            m.decodeStep(List.of(st), new int[] {cfg.bosId()}, logits, null);
            firstTokens.add(IntOps.argmax(logits, 0, cfg.vocabSize(), cfg.padId(), cfg.bosId()));
        }
        assertTrue(saturated < total / 20, "more than 5% of encoder outputs saturate: " + saturated + "/" + total);
        assertTrue(zeros < total / 4, "more than 25% of encoder outputs are zero: " + zeros + "/" + total);
        assertTrue(firstTokens.size() >= 4, "12 random sources give only " + firstTokens + " as first tokens");
    }
}
