package org.shiftformer.trainer.qat;

import static org.shiftformer.api.model.TensorNames.beta;
import static org.shiftformer.api.model.TensorNames.bias;
import static org.shiftformer.api.model.TensorNames.dec;
import static org.shiftformer.api.model.TensorNames.enc;
import static org.shiftformer.api.model.TensorNames.gamma;
import static org.shiftformer.api.model.TensorNames.weight;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.model.TensorNames;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.model.Numerics;

/**
 * SPEC.md section 2 written against {@link Numerics}, with random float parameters keyed by tensor name:
 * the test's own model so that the QAT numerics are checked independently of the trainer's model class.
 */
final class SpecForward {
    final ModelConfig cfg;
    final Map<String, Tensor> params = new LinkedHashMap<>();

    SpecForward(ModelConfig cfg, long seed) {
        this.cfg = cfg;
        SplittableRandom r = new SplittableRandom(seed);
        int d = cfg.dModel();
        param(r, TensorNames.EMBED, 0.5, cfg.vocabSize(), d);
        for (int i = 0; i < cfg.encoderLayers(); i++) {
            ln(r, enc(i, "ln1"));
            attention(r, enc(i, "attn"));
            ln(r, enc(i, "ln2"));
            ffn(r, enc(i, "ffn"));
        }
        ln(r, TensorNames.ENC_FINAL);
        for (int i = 0; i < cfg.decoderLayers(); i++) {
            ln(r, dec(i, "ln1"));
            attention(r, dec(i, "self"));
            ln(r, dec(i, "ln2"));
            attention(r, dec(i, "cross"));
            ln(r, dec(i, "ln3"));
            ffn(r, dec(i, "ffn"));
        }
        ln(r, TensorNames.DEC_FINAL);
    }

    private void ln(SplittableRandom r, String p) {
        int d = cfg.dModel();
        float[] g = new float[d];
        for (int i = 0; i < d; i++) {
            g[i] = (float) (1 + 0.1 * r.nextGaussian());
        }
        params.put(gamma(p), Tensor.param(g, d));
        param(r, beta(p), 0.1, d);
    }

    private void attention(SplittableRandom r, String p) {
        int d = cfg.dModel();
        for (String s : new String[] {"q", "k", "v", "o"}) {
            param(r, weight(p + "." + s), 1 / Math.sqrt(d), d, d);
            param(r, bias(p + "." + s), 0.05, d);
        }
    }

    private void ffn(SplittableRandom r, String p) {
        int d = cfg.dModel();
        int f = cfg.dFf();
        param(r, weight(p + ".1"), 1 / Math.sqrt(d), f, d);
        param(r, bias(p + ".1"), 0.05, f);
        param(r, weight(p + ".2"), 1 / Math.sqrt(f), d, f);
        param(r, bias(p + ".2"), 0.05, d);
    }

    private void param(SplittableRandom r, String name, double std, int... shape) {
        int n = 1;
        for (int s : shape) {
            n *= s;
        }
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (std * r.nextGaussian());
        }
        params.put(name, Tensor.param(v, shape).named(name));
    }

    Tensor p(String name) {
        return params.get(name);
    }

    /** Teacher-forced logits {@code [B, T, vocab]}: sources {@code [B, S]} with lengths, decoder inputs {@code [B, T]}. */
    Tensor logits(Numerics num, int[] src, int[] srcLen, int s, int[] tgt, int t) {
        int b = srcLen.length;
        int heads = cfg.heads();
        Tensor h = num.embed(p(TensorNames.EMBED), null, src, b, s, cfg.embedScaleLog2(), "enc");
        for (int i = 0; i < cfg.encoderLayers(); i++) {
            Tensor a = ln(num, h, enc(i, "ln1"));
            String at = enc(i, "attn");
            Tensor ctx = num.attention(lin(num, a, at + ".q"), lin(num, a, at + ".k"), lin(num, a, at + ".v"), heads,
                    srcLen, false, at);
            h = res(num, h, ctx, at + ".o");
            Tensor a2 = ln(num, h, enc(i, "ln2"));
            h = res(num, h, num.linear(a2, p(weight(enc(i, "ffn.1"))), p(bias(enc(i, "ffn.1"))), true, enc(i, "ffn.1")),
                    enc(i, "ffn.2"));
        }
        Tensor memory = ln(num, h, TensorNames.ENC_FINAL);
        int[] tgtLen = new int[b];
        java.util.Arrays.fill(tgtLen, t);
        Tensor g = num.embed(p(TensorNames.EMBED), null, tgt, b, t, cfg.embedScaleLog2(), "dec");
        for (int i = 0; i < cfg.decoderLayers(); i++) {
            Tensor a = ln(num, g, dec(i, "ln1"));
            String sa = dec(i, "self");
            g = res(num, g, num.attention(lin(num, a, sa + ".q"), lin(num, a, sa + ".k"), lin(num, a, sa + ".v"), heads,
                    tgtLen, true, sa), sa + ".o");
            Tensor a2 = ln(num, g, dec(i, "ln2"));
            String ca = dec(i, "cross");
            g = res(num, g, num.attention(lin(num, a2, ca + ".q"), lin(num, memory, ca + ".k"), lin(num, memory, ca + ".v"),
                    heads, srcLen, false, ca), ca + ".o");
            Tensor a3 = ln(num, g, dec(i, "ln3"));
            g = res(num, g, num.linear(a3, p(weight(dec(i, "ffn.1"))), p(bias(dec(i, "ffn.1"))), true, dec(i, "ffn.1")),
                    dec(i, "ffn.2"));
        }
        Tensor f = ln(num, g, TensorNames.DEC_FINAL);
        return num.logits(f, p(TensorNames.EMBED));
    }

    private Tensor ln(Numerics num, Tensor x, String prefix) {
        return num.layerNorm(x, p(gamma(prefix)), p(beta(prefix)), prefix);
    }

    private Tensor lin(Numerics num, Tensor x, String prefix) {
        return num.linear(x, p(weight(prefix)), p(bias(prefix)), false, prefix);
    }

    private Tensor res(Numerics num, Tensor r, Tensor x, String prefix) {
        return num.residual(r, x, p(weight(prefix)), p(bias(prefix)), prefix);
    }
}
