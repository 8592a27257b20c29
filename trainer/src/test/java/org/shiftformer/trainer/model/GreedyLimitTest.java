package org.shiftformer.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;

/**
 * Per-sentence decoding limits: a sentence's greedy output (here an untrained model's, which rarely emits
 * EOS, so the limit decides its length) is the same alone and in a batch with longer or shorter limits.
 */
class GreedyLimitTest {

    @Test
    void eachSequenceStopsAtItsOwnLimitWhateverItsBatch() {
        ModelConfig cfg = new ModelConfig(32, 2, 64, 1, 1, 50, 40, 2, 0, 1, 2).validate();
        Seq2SeqModel model = new Seq2SeqModel(TransformerParams.init(cfg, 11), 0.1f);
        List<int[]> sources = new ArrayList<>();
        int[] limits = {3, 17, 9, 1, 25};
        for (int i = 0; i < limits.length; i++) {
            int[] s = new int[2 + i];
            for (int j = 0; j < s.length; j++) {
                s[j] = j == s.length - 1 ? cfg.eosId() : 3 + (7 * i + 5 * j) % (cfg.vocabSize() - 3);
            }
            sources.add(s);
        }
        List<int[]> together = model.greedy(sources, limits, FloatNumerics.plain());
        for (int i = 0; i < limits.length; i++) {
            int[] alone = model.greedy(List.of(sources.get(i)), new int[] {limits[i]}, FloatNumerics.plain()).get(0);
            assertArrayEquals(alone, together.get(i), "sequence " + i);
            // without EOS a sequence has exactly its limit of tokens; with EOS fewer
            assertTrue(together.get(i).length <= limits[i], "sequence " + i);
        }
    }
}
