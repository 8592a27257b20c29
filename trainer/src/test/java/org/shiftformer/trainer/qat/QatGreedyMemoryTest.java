package org.shiftformer.trainer.qat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.model.ForwardingNumerics;
import org.shiftformer.trainer.model.Seq2SeqModel;
import org.shiftformer.trainer.model.TransformerParams;

/**
 * Fake-quantized greedy decoding (the scoring after QAT) keeps a bounded amount of memory: the integers
 * {@link QatNumerics} holds beside its tensors do not grow with the number of decoded tokens. Before the fix
 * every decoder run of every step stayed in the pass (with its {@code B · T · vocab} logits), and a 4,000-word
 * vocabulary ran a 6 GB heap out of memory on 1,000 sentences. With the KV cache a step holds the encoder's
 * integers, the per-layer key/value caches (each replaced by its grown copy, the same number of tensors at
 * every step) and the one new position's decoder tensors.
 */
class QatGreedyMemoryTest {
    static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 40, 16, 2, 0, 1, 2).validate();

    @Test
    void retainedIntegersDoNotGrowWithDecodedTokens() {
        Seq2SeqModel model = new Seq2SeqModel(TransformerParams.init(CFG, 5), 0.1f);
        QatNumerics qat = new QatNumerics(CFG, QatNumerics.fastestKernels(), new Thresholds());
        List<int[]> sources = List.of(new int[] {5, 6, 7, 8, CFG.eosId()}, new int[] {9, 10, CFG.eosId()},
                new int[] {11, 12, 13, CFG.eosId()});
        qat.calibrating(true);
        model.greedy(sources, 3, qat);
        qat.calibrating(false);

        NoEos probe = new NoEos(qat);
        int steps = 12; // max_positions 16: at most 15 new tokens
        List<int[]> out = model.greedy(sources, steps, probe);
        assertEquals(steps, probe.retained.size(), "EOS suppressed: every sequence runs to its limit");
        out.forEach(o -> assertEquals(steps, o.length));
        // step 1 holds the encoder's integers, the caches and one decoder step's; every later step the same number
        int first = probe.retained.get(0);
        for (int s = 1; s < steps; s++) {
            assertEquals(first, probe.retained.get(s), "tensors held at decoding step " + (s + 1) + ": " + probe.retained);
        }
        assertTrue(first < 200, "one encoder and one decoder run of a 2 + 2-layer model: " + first);
        // sequences leaving the batch at different steps: the caches shrink, nothing is left behind
        NoEos shrinking = new NoEos(qat);
        model.greedy(sources, new int[] {4, steps, 8}, shrinking);
        assertEquals(steps, shrinking.retained.size());
        for (int s = 0; s < steps; s++) {
            assertEquals(first, shrinking.retained.get(s), "step " + (s + 1) + ": " + shrinking.retained);
        }
        // the same bound on the recompute path (greedy while calibrating), which QAT falls back to
        NoEos calibratingProbe = new NoEos(qat);
        qat.calibrating(true);
        try {
            model.greedy(sources, steps, calibratingProbe);
        } finally {
            qat.calibrating(false);
        }
        int firstRecompute = calibratingProbe.retained.get(0);
        calibratingProbe.retained.forEach(r -> assertEquals(firstRecompute, r,
                "recompute path: " + calibratingProbe.retained));
    }

    @Test
    void greedyScoresOnlyTheLastPositionAndAgreesWithTeacherForcing() {
        Seq2SeqModel model = new Seq2SeqModel(TransformerParams.init(CFG, 6), 0.1f);
        QatNumerics qat = new QatNumerics(CFG, QatNumerics.fastestKernels(), new Thresholds());
        int[] src = {5, 6, 7, 8, CFG.eosId()};
        qat.calibrating(true);
        model.greedy(List.of(src), 3, qat);
        qat.calibrating(false);
        NoEos probe = new NoEos(qat);
        int[] y = model.greedy(List.of(src), 8, probe).get(0);
        probe.rows.forEach(r -> assertEquals(1, r, "logits rows per sequence and step"));
        // the greedy tokens are the argmax of the teacher-forced integer logits of their own prefix
        int[] dec = new int[y.length];
        dec[0] = CFG.bosId();
        System.arraycopy(y, 0, dec, 1, y.length - 1);
        int[] logits;
        try (var ignored = Tensor.noGrad()) {
            Tensor memory = model.encode(src, new int[] {src.length}, 1, src.length, qat);
            Tensor f = model.decode(memory, new int[] {src.length}, dec, 1, dec.length, qat);
            logits = qat.intLogits(qat.logits(f, model.params().get("embed.weight")));
        }
        int v = CFG.vocabSize();
        for (int t = 0; t < y.length; t++) {
            int best = -1;
            for (int id = 0; id < v; id++) {
                if (id == CFG.padId() || id == CFG.bosId() || id == CFG.eosId()) {
                    continue;
                }
                if (best < 0 || logits[t * v + id] > logits[t * v + best]) {
                    best = id;
                }
            }
            assertEquals(best, y[t], "token " + t);
        }
    }

    /** Delegates to QAT, records what it holds at each step and hides EOS so decoding runs to the limit. */
    private static final class NoEos extends ForwardingNumerics {
        final QatNumerics qat;
        final List<Integer> retained = new ArrayList<>();
        final List<Integer> rows = new ArrayList<>();

        NoEos(QatNumerics qat) {
            super(qat);
            this.qat = qat;
        }

        @Override
        public Tensor logits(Tensor f, Tensor table) {
            Tensor l = qat.logits(f, table);
            retained.add(qat.retainedTensors());
            rows.add(f.dim(1));
            float[] v = l.data().clone();
            for (int i = CFG.eosId(); i < v.length; i += CFG.vocabSize()) {
                v[i] = -Float.MAX_VALUE;
            }
            return Tensor.of(v, l.shape());
        }
    }
}
