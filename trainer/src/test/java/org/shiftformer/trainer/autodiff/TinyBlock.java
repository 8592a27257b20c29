package org.shiftformer.trainer.autodiff;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * A tiny pre-LN Transformer decoder-style block built from the autodiff ops, for end-to-end gradient and
 * determinism tests: tied embedding (scaled) + positional table → LN → masked (causal + key padding)
 * multi-head self-attention with base-2 softmax → residual → LN → ReLU FFN → residual → final LN → tied
 * logits → cross-entropy with label smoothing, ignoring pad targets.
 */
final class TinyBlock {
    static final int PAD = 0;

    final int batch;
    final int len;
    final int d;
    final int heads;
    final int ff;
    final int vocab;
    final Tensor emb;
    final Tensor pos;
    final Tensor ln1g;
    final Tensor ln1b;
    final Tensor wq;
    final Tensor bq;
    final Tensor wk;
    final Tensor bk;
    final Tensor wv;
    final Tensor bv;
    final Tensor wo;
    final Tensor bo;
    final Tensor ln2g;
    final Tensor ln2b;
    final Tensor w1;
    final Tensor b1;
    final Tensor w2;
    final Tensor b2;
    final Tensor lnfg;
    final Tensor lnfb;
    final int[] ids;
    final int[] targets;
    final int[] lengths;

    TinyBlock(long seed, int batch, int len, int d, int heads, int ff, int vocab) {
        this.batch = batch;
        this.len = len;
        this.d = d;
        this.heads = heads;
        this.ff = ff;
        this.vocab = vocab;
        SplittableRandom r = new SplittableRandom(seed);
        double ws = 1.0 / Math.sqrt(d);
        emb = GradCheck.param(r, 0.5, vocab, d);
        pos = GradCheck.param(r, 0.5, len, d).detach();
        ln1g = ones(r, d);
        ln1b = GradCheck.param(r, 0.1, d);
        wq = GradCheck.param(r, ws, d, d);
        bq = GradCheck.param(r, 0.1, d);
        wk = GradCheck.param(r, ws, d, d);
        bk = GradCheck.param(r, 0.1, d);
        wv = GradCheck.param(r, ws, d, d);
        bv = GradCheck.param(r, 0.1, d);
        wo = GradCheck.param(r, ws, d, d);
        bo = GradCheck.param(r, 0.1, d);
        ln2g = ones(r, d);
        ln2b = GradCheck.param(r, 0.1, d);
        w1 = GradCheck.param(r, ws, ff, d);
        b1 = GradCheck.param(r, 0.1, ff);
        w2 = GradCheck.param(r, 1.0 / Math.sqrt(ff), d, ff);
        b2 = GradCheck.param(r, 0.1, d);
        lnfg = ones(r, d);
        lnfb = GradCheck.param(r, 0.1, d);
        lengths = new int[batch];
        ids = new int[batch * len];
        targets = new int[batch * len];
        for (int b = 0; b < batch; b++) {
            lengths[b] = b == 0 ? len : Math.max(1, len - 1 - r.nextInt(len / 2 + 1));
            for (int t = 0; t < len; t++) {
                boolean real = t < lengths[b];
                ids[b * len + t] = real ? 1 + r.nextInt(vocab - 1) : PAD;
                targets[b * len + t] = real ? 1 + r.nextInt(vocab - 1) : PAD;
            }
        }
    }

    private static Tensor ones(SplittableRandom r, int d) {
        float[] v = new float[d];
        for (int i = 0; i < d; i++) {
            v[i] = (float) (1 + 0.2 * (r.nextDouble() - 0.5));
        }
        return Tensor.param(v, d);
    }

    List<Tensor> params() {
        return List.of(emb, ln1g, ln1b, wq, bq, wk, bk, wv, bv, wo, bo, ln2g, ln2b, w1, b1, w2, b2, lnfg, lnfb);
    }

    private Tensor heads(Tensor x) { // [B,T,D] -> [B,H,T,dk]
        return Ops.transpose(Ops.reshape(x, batch, len, heads, d / heads), 1, 2);
    }

    Tensor loss() {
        Tensor h = Ops.scale(Ops.embedding(emb, ids), (float) Math.sqrt(d));
        h = Ops.reshape(h, batch, len, d);
        h = Ops.add(h, pos);
        Tensor a = Ops.layerNorm(h, ln1g, ln1b, 1e-5f);
        Tensor q = heads(Ops.linear(a, wq, bq));
        Tensor k = heads(Ops.linear(a, wk, bk));
        Tensor v = heads(Ops.linear(a, wv, bv));
        Tensor s = Ops.matmulBT(q, k);                                   // [B,H,T,T]
        RowMask mask = RowMask.causal(len).and(RowMask.keyPadding(lengths, heads, len));
        Tensor p = Ops.softmax(s, mask, null, true);
        Tensor ctx = Ops.reshape(Ops.transpose(Ops.matmul(p, v), 1, 2), batch, len, d);
        h = Ops.add(h, Ops.linear(ctx, wo, bo));
        a = Ops.layerNorm(h, ln2g, ln2b, 1e-5f);
        Tensor f = Ops.linear(Ops.relu(Ops.linear(a, w1, b1)), w2, b2);
        h = Ops.add(h, f);
        Tensor out = Ops.layerNorm(h, lnfg, lnfb, 1e-5f);
        Tensor logits = Ops.reshape(Ops.matmulBT(out, emb), batch * len, vocab); // tied embedding
        return Ops.crossEntropy(logits, targets, 0.1f, PAD);
    }

    /** Concatenated gradients of all parameters after one fresh forward/backward. */
    float[] lossAndGrads() {
        List<Tensor> ps = params();
        for (Tensor t : ps) {
            t.zeroGrad();
        }
        Tensor l = loss();
        l.backward();
        List<Float> all = new ArrayList<>();
        all.add(l.item());
        for (Tensor t : ps) {
            for (float g : t.grad()) {
                all.add(g);
            }
        }
        float[] r = new float[all.size()];
        for (int i = 0; i < r.length; i++) {
            r[i] = all.get(i);
        }
        return r;
    }
}
