package org.shiftformer.trainer.model;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.model.TensorNames;
import org.shiftformer.api.spec.PositionalTable;
import org.shiftformer.trainer.autodiff.Tensor;

/**
 * Every trainable parameter of the SPEC.md section 2 model as a float tensor, keyed by its SPEC.md 2.3 /
 * {@link TensorNames} name, in a fixed order (embedding, encoder layers, {@code enc.final}, decoder layers,
 * {@code dec.final}), plus the fixed positional table.
 *
 * <p>Initialisation (seeded, deterministic): the tied embedding is normal with standard deviation
 * {@code d^-1/2} (so the tied logits of a unit-variance LayerNorm output start near unit variance);
 * every linear weight is Xavier-uniform, biases 0; LayerNorm gamma 1, beta 0. {@code W_Q} is then
 * multiplied by {@code log2(e)/sqrt(d_k)} (SPEC.md 3.3: scores are base-2 logits, so the usual
 * {@code 1/sqrt(d_k)} and the change of base live in the query projection; its bias starts at 0 and is
 * trained in the same units).
 *
 * <p>The positional table is not trained: it is exactly what an artifact stores and the runtime reads,
 * {@link PositionalTable#build}'s int8 sinusoid times {@code 2^}{@link PositionalTable#EXPONENT}, so the
 * float model sees the same positions as the integer one.
 */
public final class TransformerParams {

    /** {@code log2(e)}, folded with {@code 1/sqrt(d_k)} into {@code W_Q}. */
    public static final double LOG2_E = 1.0 / Math.log(2.0);

    private final ModelConfig config;
    private final Map<String, Tensor> params;
    private final Tensor positions;

    private TransformerParams(ModelConfig config, Map<String, Tensor> params) {
        this.config = config;
        this.params = Collections.unmodifiableMap(params);
        this.positions = positionTable(config);
    }

    /** Fresh parameters for {@code config}, initialised from {@code seed}. */
    public static TransformerParams init(ModelConfig config, long seed) {
        config.validate();
        SplittableRandom rnd = new SplittableRandom(seed);
        Map<String, Tensor> p = new LinkedHashMap<>();
        int d = config.dModel();
        float[] emb = new float[config.vocabSize() * d];
        double std = 1.0 / Math.sqrt(d);
        for (int i = 0; i < emb.length; i++) {
            emb[i] = (float) (rnd.nextGaussian() * std);
        }
        p.put(TensorNames.EMBED, Tensor.param(emb, config.vocabSize(), d).named(TensorNames.EMBED));
        float qScale = (float) (LOG2_E / Math.sqrt(config.dHead()));
        for (int i = 0; i < config.encoderLayers(); i++) {
            layerNorm(p, TensorNames.enc(i, "ln1"), d);
            attention(p, TensorNames.enc(i, "attn"), d, qScale, rnd);
            layerNorm(p, TensorNames.enc(i, "ln2"), d);
            linear(p, TensorNames.enc(i, "ffn.1"), config.dFf(), d, 1f, rnd);
            linear(p, TensorNames.enc(i, "ffn.2"), d, config.dFf(), 1f, rnd);
        }
        layerNorm(p, TensorNames.ENC_FINAL, d);
        for (int i = 0; i < config.decoderLayers(); i++) {
            layerNorm(p, TensorNames.dec(i, "ln1"), d);
            attention(p, TensorNames.dec(i, "self"), d, qScale, rnd);
            layerNorm(p, TensorNames.dec(i, "ln2"), d);
            attention(p, TensorNames.dec(i, "cross"), d, qScale, rnd);
            layerNorm(p, TensorNames.dec(i, "ln3"), d);
            linear(p, TensorNames.dec(i, "ffn.1"), config.dFf(), d, 1f, rnd);
            linear(p, TensorNames.dec(i, "ffn.2"), d, config.dFf(), 1f, rnd);
        }
        layerNorm(p, TensorNames.DEC_FINAL, d);
        return new TransformerParams(config, p);
    }

    private static void layerNorm(Map<String, Tensor> p, String prefix, int d) {
        float[] g = new float[d];
        java.util.Arrays.fill(g, 1f);
        put(p, TensorNames.gamma(prefix), Tensor.param(g, d));
        put(p, TensorNames.beta(prefix), Tensor.param(new float[d], d));
    }

    private static void attention(Map<String, Tensor> p, String prefix, int d, float qScale, SplittableRandom rnd) {
        linear(p, prefix + ".q", d, d, qScale, rnd);
        linear(p, prefix + ".k", d, d, 1f, rnd);
        linear(p, prefix + ".v", d, d, 1f, rnd);
        linear(p, prefix + ".o", d, d, 1f, rnd);
    }

    private static void linear(Map<String, Tensor> p, String prefix, int out, int in, float scale,
                               SplittableRandom rnd) {
        float[] w = new float[out * in];
        double a = Math.sqrt(6.0 / (in + out));
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) ((rnd.nextDouble() * 2 - 1) * a * scale);
        }
        put(p, TensorNames.weight(prefix), Tensor.param(w, out, in));
        put(p, TensorNames.bias(prefix), Tensor.param(new float[out], out));
    }

    private static void put(Map<String, Tensor> p, String name, Tensor t) {
        if (p.put(name, t.named(name)) != null) {
            throw new IllegalStateException("duplicate parameter " + name);
        }
    }

    /** The factor {@code W_Q} is initialised with, {@code log2(e)/sqrt(d_k)} (the class comment). */
    public double queryScale() {
        return (float) (LOG2_E / Math.sqrt(config.dHead()));
    }

    /** Whether {@code name} is a query projection's weight or bias ({@code enc.0.attn.q}'s, {@code dec.1.cross.q}'s). */
    public static boolean isQueryProjection(String name) {
        int dot = name.lastIndexOf('.');
        String prefix = dot < 0 ? "" : name.substring(0, dot);
        return prefix.endsWith(".q") && (name.equals(TensorNames.weight(prefix)) || name.equals(TensorNames.bias(prefix)));
    }

    /** {@link PositionalTable#build} dequantized: {@code [max_positions, d]}, a constant. */
    public static Tensor positionTable(ModelConfig config) {
        int d = config.dModel();
        byte[] q = PositionalTable.build(config.maxPositions(), d);
        float[] v = new float[q.length];
        float s = (float) Math.scalb(1.0, PositionalTable.EXPONENT);
        for (int i = 0; i < v.length; i++) {
            v[i] = q[i] * s;
        }
        return Tensor.of(v, config.maxPositions(), d).named(TensorNames.POSITIONS);
    }

    public ModelConfig config() {
        return config;
    }

    /** The tensor named {@code name}; throws naming it if there is none. */
    public Tensor get(String name) {
        Tensor t = params.get(name);
        if (t == null) {
            throw new IllegalArgumentException("no parameter named '" + name + "'");
        }
        return t;
    }

    /** Name to tensor, in the fixed order (unmodifiable). */
    public Map<String, Tensor> byName() {
        return params;
    }

    /** All trainable tensors in the fixed order. */
    public List<Tensor> list() {
        return new ArrayList<>(params.values());
    }

    /** The fixed positional table {@code [max_positions, d]}. */
    public Tensor positions() {
        return positions;
    }

    /** Number of trainable scalars. */
    public long count() {
        long n = 0;
        for (Tensor t : params.values()) {
            n += t.size();
        }
        return n;
    }

    /** Zeroes every parameter's gradient. */
    public void zeroGrad() {
        for (Tensor t : params.values()) {
            t.zeroGrad();
        }
    }
}
