package org.shiftformer.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.api.model.TensorNames;
import org.shiftformer.api.spec.ReferenceKernels;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.qat.QatNumerics;
import org.shiftformer.trainer.qat.Thresholds;

/**
 * KV-cached greedy decoding ({@link Seq2SeqModel#greedy}: one new decoder position per step against
 * per-layer key/value caches, finished sequences dropped from the batch) gives exactly the ids of the
 * recompute path ({@link Seq2SeqModel#greedyRecompute}: the decoder over the whole prefix at every step),
 * for the float numerics and the fake-quantized ones (bit-exact with the integer model), on random small
 * models and random batches of sources of different lengths with per-sentence limits: sequences ending at
 * EOS at different steps, at their own limit, and at {@code max_positions - 1}.
 */
class KvCacheGreedyTest {

    /** What the random cases covered, so that the test shows it exercised the cases it claims. */
    private static final class Coverage {
        int batchesWithEosAtDifferentSteps;
        int stoppedAtLimit;
        int atMaxPositions;
        int rows;
    }

    @Test
    void floatCachedGreedyEqualsRecompute() {
        List<ModelConfig> cfgs = List.of(ModelFixtures.micro(),
                new ModelConfig(16, 4, 32, 1, 3, 14, 13, 1, 0, 1, 2).validate(),
                new ModelConfig(16, 2, 32, 2, 1, 10, 9, 0, 3, 0, 1).validate());
        Coverage cov = new Coverage();
        for (int c = 0; c < cfgs.size(); c++) {
            ModelConfig cfg = cfgs.get(c);
            for (int seed = 0; seed < 6; seed++) {
                Seq2SeqModel model = new Seq2SeqModel(ModelFixtures.noisyParams(cfg, 100L * c + seed), 0f);
                check(model, FloatNumerics.plain(), 1000L * c + seed, cov);
                // the training numerics too: greedy evaluates without dropout
                check(model, FloatNumerics.training(0.3f, seed), 2000L * c + seed, cov);
                check(model, new EosByHash(FloatNumerics.plain(), cfg), 5000L * c + seed, cov);
            }
        }
        assertCovered(cov);
    }

    @Test
    void fakeQuantizedCachedGreedyEqualsRecompute() {
        Coverage cov = new Coverage();
        List<ModelConfig> cfgs = List.of(new ModelConfig(32, 2, 64, 2, 2, 16, 16, 2, 0, 1, 2).validate(),
                new ModelConfig(16, 4, 48, 1, 3, 12, 11, 1, 0, 1, 2).validate());
        for (IntKernels kernels : List.of(QatNumerics.fastestKernels(), ReferenceKernels.INSTANCE)) {
            for (int c = 0; c < cfgs.size(); c++) {
                ModelConfig cfg = cfgs.get(c);
                for (int seed = 0; seed < 3; seed++) {
                    Seq2SeqModel model = new Seq2SeqModel(ModelFixtures.noisyParams(cfg, 30L * c + seed), 0f);
                    QatNumerics qat = calibrated(model, kernels, seed);
                    check(model, qat, 3000L * c + seed, cov);
                    // an untrained model soon repeats one token and rarely says EOS: also end sequences at
                    // pseudo-random steps, by a function of each row's logits alone (equal in both paths)
                    check(model, new EosByHash(qat, cfg), 4000L * c + seed, cov);
                }
            }
        }
        assertCovered(cov);
    }

    @Test
    void sequencesWithoutEosRunToMaxPositionsMinusOneInBothNumerics() {
        ModelConfig cfg = new ModelConfig(16, 2, 32, 2, 2, 20, 12, 1, 0, 1, 2).validate();
        Seq2SeqModel model = new Seq2SeqModel(ModelFixtures.noisyParams(cfg, 9), 0f);
        List<int[]> sources = randomSources(cfg, new SplittableRandom(5), 5);
        int[] limits = {100, cfg.maxPositions() - 1, cfg.maxPositions(), 3, 1};
        for (Numerics n : List.of(FloatNumerics.plain(), calibrated(model, QatNumerics.fastestKernels(), 1))) {
            Numerics noEos = new NoEos(n, cfg);
            List<int[]> cached = model.greedy(sources, limits, noEos);
            assertSame(model.greedyRecompute(sources, limits, noEos), cached, n.getClass().getSimpleName());
            int[] want = {cfg.maxPositions() - 1, cfg.maxPositions() - 1, cfg.maxPositions() - 1, 3, 1};
            for (int i = 0; i < want.length; i++) {
                assertEquals(want[i], cached.get(i).length, "sequence " + i);
            }
        }
    }

    @Test
    void aLimitOfZeroOrLessGivesNothingWhateverTheBatch() {
        ModelConfig cfg = ModelFixtures.micro();
        Seq2SeqModel model = new Seq2SeqModel(ModelFixtures.noisyParams(cfg, 3), 0f);
        List<int[]> sources = randomSources(cfg, new SplittableRandom(8), 3);
        int[] limits = {0, 5, -1};
        List<int[]> cached = model.greedy(sources, limits, FloatNumerics.plain());
        assertSame(model.greedyRecompute(sources, limits, FloatNumerics.plain()), cached, "float");
        assertEquals(0, cached.get(0).length);
        assertEquals(0, cached.get(2).length);
        assertArrayEquals(model.greedy(List.of(sources.get(1)), new int[] {5}, FloatNumerics.plain()).get(0),
                cached.get(1));
    }

    /** Cached and recompute greedy on a random batch (and each sequence alone) give the same ids. */
    private static void check(Seq2SeqModel model, Numerics n, long seed, Coverage cov) {
        ModelConfig cfg = model.config();
        SplittableRandom r = new SplittableRandom(seed);
        int b = 1 + r.nextInt(7);
        List<int[]> sources = randomSources(cfg, r, b);
        int[] limits = new int[b];
        for (int i = 0; i < b; i++) {
            // from 1 to beyond max_positions - 1 (capped there)
            limits[i] = 1 + r.nextInt(cfg.maxPositions() + 2);
        }
        List<int[]> cached = model.greedy(sources, limits, n);
        List<int[]> recomputed = model.greedyRecompute(sources, limits, n);
        assertSame(recomputed, cached, n.getClass().getSimpleName() + " seed " + seed);
        Set<Integer> eosSteps = new HashSet<>();
        for (int i = 0; i < b; i++) {
            int cap = Math.min(limits[i], cfg.maxPositions() - 1);
            int len = cached.get(i).length;
            cov.rows++;
            if (len < cap) {
                eosSteps.add(len); // ended by EOS
            } else {
                cov.stoppedAtLimit++;
                if (len == cfg.maxPositions() - 1) {
                    cov.atMaxPositions++;
                }
            }
        }
        if (eosSteps.size() >= 2) {
            cov.batchesWithEosAtDifferentSteps++;
        }
        // batch composition does not matter: the first sequence alone
        assertArrayEquals(cached.get(0), model.greedy(List.of(sources.get(0)), new int[] {limits[0]}, n).get(0),
                "alone, seed " + seed);
    }

    private static void assertCovered(Coverage cov) {
        String what = cov.rows + " rows, " + cov.batchesWithEosAtDifferentSteps + " batches with EOS at different "
                + "steps, " + cov.stoppedAtLimit + " at their limit, " + cov.atMaxPositions + " at max_positions - 1";
        assertTrue(cov.batchesWithEosAtDifferentSteps > 0, what);
        assertTrue(cov.stoppedAtLimit > 0, what);
        assertTrue(cov.atMaxPositions > 0, what);
    }

    private static void assertSame(List<int[]> want, List<int[]> got, String what) {
        assertEquals(want.size(), got.size(), what);
        for (int i = 0; i < want.size(); i++) {
            assertArrayEquals(want.get(i), got.get(i), what + ", sequence " + i);
        }
    }

    /** {@code b} sources of 1 to {@code max_positions} ids, the last one EOS. */
    private static List<int[]> randomSources(ModelConfig cfg, SplittableRandom r, int b) {
        List<int[]> sources = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            int[] s = new int[1 + r.nextInt(cfg.maxPositions())];
            for (int j = 0; j < s.length - 1; j++) {
                int id;
                do {
                    id = r.nextInt(cfg.vocabSize());
                } while (id == cfg.padId() || id == cfg.bosId() || id == cfg.eosId());
                s[j] = id;
            }
            s[s.length - 1] = cfg.eosId();
            sources.add(s);
        }
        return sources;
    }

    /** A QAT numerics whose activation thresholds were calibrated on random teacher-forced batches. */
    private static QatNumerics calibrated(Seq2SeqModel model, IntKernels kernels, long seed) {
        ModelConfig cfg = model.config();
        QatNumerics qat = new QatNumerics(cfg, kernels, new Thresholds());
        qat.calibrating(true);
        try (var ignored = Tensor.noGrad()) {
            for (int i = 0; i < 3; i++) {
                model.logits(ModelFixtures.randomBatch(cfg, 50 + 7 * seed + i, 4, cfg.maxPositions() - 1,
                        cfg.maxPositions() - 1), qat);
            }
        }
        qat.calibrating(false);
        return qat;
    }

    /** Hides EOS, so that decoding runs to the limit. */
    private static final class NoEos extends Delegating {
        NoEos(Numerics n, ModelConfig cfg) {
            super(n, cfg);
        }

        @Override
        void edit(float[] row, int off) {
            row[off + cfg.eosId()] = -Float.MAX_VALUE;
        }
    }

    /** Makes EOS the best id of the logits rows whose values hash to 0 mod 5 (a function of the row alone). */
    private static final class EosByHash extends Delegating {
        EosByHash(Numerics n, ModelConfig cfg) {
            super(n, cfg);
        }

        @Override
        void edit(float[] row, int off) {
            int h = 1;
            for (int i = 0; i < cfg.vocabSize(); i++) {
                h = 31 * h + Float.floatToIntBits(row[off + i] + 0f);
            }
            if (Math.floorMod(h ^ (h >>> 16), 5) == 0) {
                row[off + cfg.eosId()] = Float.MAX_VALUE;
            }
        }
    }

    /** Forwards every call; edits each row of the logits. */
    private abstract static class Delegating extends ForwardingNumerics {
        final ModelConfig cfg;

        Delegating(Numerics n, ModelConfig cfg) {
            super(n);
            this.cfg = cfg;
        }

        abstract void edit(float[] logits, int off);

        @Override
        public Tensor logits(Tensor f, Tensor table) {
            assertEquals(TensorNames.EMBED, table.name());
            Tensor l = delegate.logits(f, table);
            float[] v = l.data().clone();
            for (int off = 0; off < v.length; off += cfg.vocabSize()) {
                edit(v, off);
            }
            return Tensor.of(v, l.shape());
        }
    }
}
