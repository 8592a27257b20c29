package org.shiftformer.trainer.model;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.trainer.autodiff.Tensor;

/** Small models and random batches for the model tests. */
final class ModelFixtures {

    private ModelFixtures() {
    }

    /** d 8, 2 heads, FFN 16, 2 + 2 layers, vocab 12, 10 positions. */
    static ModelConfig micro() {
        return new ModelConfig(8, 2, 16, 2, 2, 12, 10, 1, 0, 1, 2);
    }

    /** Parameters from {@code seed}, then every value moved by a little noise (gamma != 1, beta and biases != 0). */
    static TransformerParams noisyParams(ModelConfig cfg, long seed) {
        TransformerParams p = TransformerParams.init(cfg, seed);
        SplittableRandom r = new SplittableRandom(seed + 1);
        for (Tensor t : p.list()) {
            float[] d = t.data();
            for (int i = 0; i < d.length; i++) {
                d[i] += (float) ((r.nextDouble() * 2 - 1) * 0.2);
            }
        }
        return p;
    }

    /** {@code b} pairs of random lengths (sources 1..maxSrc tokens + EOS, targets 0..maxTgt tokens). */
    static Batch randomBatch(ModelConfig cfg, long seed, int b, int maxSrc, int maxTgt) {
        SplittableRandom r = new SplittableRandom(seed);
        List<int[]> src = new ArrayList<>();
        List<int[]> tgt = new ArrayList<>();
        for (int i = 0; i < b; i++) {
            int sl = 1 + r.nextInt(maxSrc);
            int[] s = new int[sl + 1];
            for (int j = 0; j < sl; j++) {
                s[j] = 3 + r.nextInt(cfg.vocabSize() - 3);
            }
            s[sl] = cfg.eosId();
            int[] t = new int[i == 0 ? maxTgt : r.nextInt(maxTgt + 1)];
            for (int j = 0; j < t.length; j++) {
                t[j] = 3 + r.nextInt(cfg.vocabSize() - 3);
            }
            src.add(s);
            tgt.add(t);
        }
        return Batch.of(src, tgt, cfg);
    }

    /** Loss followed by every gradient, concatenated (after a fresh zeroGrad, forward and backward). */
    static float[] lossAndGrads(Seq2SeqModel model, Batch batch, Numerics n) {
        model.params().zeroGrad();
        Tensor loss = model.loss(batch, n, true);
        loss.backward();
        int size = 1;
        for (Tensor t : model.params().list()) {
            size += t.size();
        }
        float[] out = new float[size];
        out[0] = loss.item();
        int o = 1;
        for (Tensor t : model.params().list()) {
            float[] g = t.hasGrad() ? t.grad() : new float[t.size()];
            System.arraycopy(g, 0, out, o, g.length);
            o += g.length;
        }
        return out;
    }
}
