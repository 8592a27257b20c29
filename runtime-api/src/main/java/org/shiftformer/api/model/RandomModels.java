package org.shiftformer.api.model;

import static org.shiftformer.api.model.TensorNames.beta;
import static org.shiftformer.api.model.TensorNames.bias;
import static org.shiftformer.api.model.TensorNames.dec;
import static org.shiftformer.api.model.TensorNames.enc;
import static org.shiftformer.api.model.TensorNames.gamma;
import static org.shiftformer.api.model.TensorNames.out;
import static org.shiftformer.api.model.TensorNames.weight;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.shiftformer.api.DType;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QTensor;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.spec.IntOps;
import org.shiftformer.api.spec.PositionalTable;
import org.shiftformer.api.spec.ReferenceModel;
import org.shiftformer.api.spec.Tables;

/**
 * Random-weight models of any shape, for tests and benchmarks. Weights are Gaussian int8 with
 * Xavier-like real scale; every activation exponent is chosen from the expected standard deviation of
 * its input (about four standard deviations fill the integer range), which is what calibration would
 * choose, so outputs are neither saturated nor zero. Deterministic for a seed.
 *
 * <p>{@link Style#REALISTIC} (the default) then calibrates the decoder's output the way training shapes
 * it, by running the model ({@link ReferenceModel}) on random sources and prefixes: the final LayerNorm
 * centres every feature and scales the logits to a standard deviation of {@value #LOGIT_STD} (int32
 * units), so no token wins everywhere and top-two margins are a few hundred, not tens of thousands; and
 * the EOS embedding row points along the direction in which the decoder's output moves with position,
 * so outputs end, after a length that depends on the source. {@link Style#PEAKED} is the older
 * generator without that calibration: its greedy output mostly repeats one token, with a median top-two
 * margin of about 18,500 on the tiny preset.
 */
public final class RandomModels {
    /** Standard deviation of the int8 weight values. */
    private static final double WEIGHT_STD_Q = 24;
    private static final int EMBED_EXP = -7;
    private static final int LN_GAMMA_EXP = -12;
    private static final int LN_OUT_EXP = -5;
    private static final double LN_OUT_STD = 1.0;

    /** How a random model's decoder output is shaped. */
    public enum Style {
        /** Calibrated final LayerNorm and EOS row: varied outputs, small margins, outputs that end. */
        REALISTIC,
        /** The uncalibrated generator: one token wins almost every step by a wide margin. */
        PEAKED
    }

    /** Target standard deviation of the int32 logits of a realistic model. */
    static final int LOGIT_STD = 400;
    /** Random sources and decoder steps per source the realistic calibration runs. */
    private static final int CALIBRATION_SOURCES = 12;
    private static final int CALIBRATION_STEPS = 24;

    private final ModelConfig cfg;
    private final SplittableRandom rnd;
    private final List<QTensor> tensors = new ArrayList<>();
    private final Map<String, Integer> exponents = new LinkedHashMap<>();

    private final Style style;

    private RandomModels(ModelConfig cfg, long seed, Style style) {
        this.cfg = cfg.validate();
        this.style = style;
        this.rnd = new SplittableRandom(seed);
    }

    /** The preset shapes of SPEC.md section 2 with the given vocabulary size. */
    public static ModelConfig preset(String name, int vocabSize) {
        return switch (name) {
            case "tiny" -> new ModelConfig(64, 2, 256, 2, 2, vocabSize, 128, 3, 0, 1, 2);
            case "small" -> new ModelConfig(256, 4, 1024, 3, 3, vocabSize, 256, 4, 0, 1, 2);
            case "base" -> new ModelConfig(512, 8, 2048, 6, 6, vocabSize, 512, 4, 0, 1, 2);
            default -> throw new org.shiftformer.api.ShiftformerException(org.shiftformer.api.ErrorCode.INVALID_ARGUMENT,
                    "unknown preset '" + name + "' (tiny, small, base)");
        };
    }

    /** A realistic random model of shape {@code cfg}. */
    public static QuantizedModel generate(ModelConfig cfg, long seed) {
        return generate(cfg, seed, Style.REALISTIC);
    }

    /** A random model of shape {@code cfg} in the given style. */
    public static QuantizedModel generate(ModelConfig cfg, long seed, Style style) {
        QuantizedModel m = new RandomModels(cfg, seed, style).build();
        return style == Style.PEAKED ? m : new Calibration(m, seed).run();
    }

    private QuantizedModel build() {
        int d = cfg.dModel();
        tensors.add(QTensor.int8(TensorNames.EMBED, new int[] {cfg.vocabSize(), d}, EMBED_EXP,
                gaussianInt8(cfg.vocabSize() * d)));
        tensors.add(QTensor.int8(TensorNames.POSITIONS, new int[] {cfg.maxPositions(), d}, PositionalTable.EXPONENT,
                PositionalTable.build(cfg.maxPositions(), d)));
        // Residual stream: embedding std ~ 0.75, values up to ~32 fit int16 at 2^-10.
        boolean realistic = style == Style.REALISTIC;
        // Realistic: the decoder's cross-attention and FFN outputs are 16 times larger, so that the source and
        // the position, not the token just fed, dominate the decoder's output (else the fed token's own
        // embedding wins the tied logits and the output repeats it); the residual stream is coarser for them.
        int residualExp = realistic ? -7 : -10;
        int decoderGainLog2 = realistic ? 4 : 0;
        exponents.put(TensorNames.ENC_EMBED_OUT, residualExp);
        exponents.put(TensorNames.DEC_EMBED_OUT, residualExp);
        for (int i = 0; i < cfg.encoderLayers(); i++) {
            layerNorm(enc(i, "ln1"));
            attention(enc(i, "attn"), LN_OUT_EXP, residualExp, 0);
            layerNorm(enc(i, "ln2"));
            ffn(enc(i, "ffn"), residualExp, 0);
        }
        layerNorm(TensorNames.ENC_FINAL);
        for (int i = 0; i < cfg.decoderLayers(); i++) {
            layerNorm(dec(i, "ln1"));
            attention(dec(i, "self"), LN_OUT_EXP, residualExp, 0);
            layerNorm(dec(i, "ln2"));
            attention(dec(i, "cross"), LN_OUT_EXP, residualExp, decoderGainLog2);
            layerNorm(dec(i, "ln3"));
            ffn(dec(i, "ffn"), residualExp, decoderGainLog2);
        }
        layerNorm(TensorNames.DEC_FINAL);
        return new QuantizedModel(cfg, tensors, exponents, Tables.exp2Lut());
    }

    private void layerNorm(String prefix) {
        int d = cfg.dModel();
        short[] g = new short[d];
        int[] b = new int[d];
        for (int i = 0; i < d; i++) {
            // gamma ~ 1.0 +- 10%, beta ~ N(0, 0.1) at 2^-24
            g[i] = (short) Math.round((1.0 + 0.1 * rnd.nextGaussian()) * (1 << -LN_GAMMA_EXP));
            b[i] = (int) Math.round(0.1 * rnd.nextGaussian() * (1 << 24));
        }
        tensors.add(QTensor.int16(gamma(prefix), new int[] {d}, LN_GAMMA_EXP, g));
        tensors.add(QTensor.int32(beta(prefix), new int[] {d}, LN_GAMMA_EXP - 12, b));
        exponents.put(out(prefix), LN_OUT_EXP);
    }

    private void attention(String prefix, int inExp, int residualExp, int gainLog2) {
        int d = cfg.dModel();
        double qStd = linear(prefix + ".q", d, d, inExp, LN_OUT_STD, false, DType.INT8);
        linear(prefix + ".k", d, d, inExp, LN_OUT_STD, false, DType.INT8);
        double vStd = linear(prefix + ".v", d, d, inExp, LN_OUT_STD, false, DType.INT8);
        // attention·V is a convex combination of V rows: its std is at most V's.
        int ctxExp = exponentFor(vStd, 127);
        exponents.put(out(prefix + ".ctx"), ctxExp);
        exponents.put(out(prefix + ".o"), residualExp);
        linearWeights(prefix + ".o", d, d, ctxExp, vStd, gainLog2);
        assert qStd > 0;
    }

    private void ffn(String prefix, int residualExp, int gainLog2) {
        int d = cfg.dModel();
        double hStd = linear(prefix + ".1", cfg.dFf(), d, LN_OUT_EXP, LN_OUT_STD, false, DType.UINT8);
        exponents.put(out(prefix + ".2"), residualExp);
        linearWeights(prefix + ".2", d, cfg.dFf(), exponents.get(out(prefix + ".1")), hStd * 0.6, gainLog2);
    }

    /** Adds weights, bias and a calibrated output exponent; returns the output's real std. */
    private double linear(String prefix, int n, int k, int inExp, double inStd, boolean unsignedInput, DType outType) {
        double outStd = linearWeights(prefix, n, k, inExp, inStd);
        exponents.put(out(prefix), exponentFor(outStd, outType == DType.UINT8 ? 255 : 127));
        return outStd;
    }

    private double linearWeights(String prefix, int n, int k, int inExp, double inStd) {
        return linearWeights(prefix, n, k, inExp, inStd, 0);
    }

    /** {@code gainLog2} scales the weights' real value by a power of two (the output's std with it). */
    private double linearWeights(String prefix, int n, int k, int inExp, double inStd, int gainLog2) {
        int wExp = (int) Math.round(Math.log(1.0 / (Math.sqrt(k) * WEIGHT_STD_Q)) / Math.log(2)) + gainLog2;
        tensors.add(QTensor.int8(weight(prefix), new int[] {n, k}, wExp, gaussianInt8(n * k)));
        int accExp = inExp + wExp;
        double wStd = WEIGHT_STD_Q * Math.pow(2, wExp);
        double outStd = Math.sqrt(k) * inStd * wStd;
        int[] b = new int[n];
        for (int i = 0; i < n; i++) {
            b[i] = (int) Math.round(0.05 * outStd * rnd.nextGaussian() * Math.pow(2, -accExp));
        }
        tensors.add(QTensor.int32(bias(prefix), new int[] {n}, accExp, b));
        return outStd;
    }

    /** The exponent that maps four standard deviations onto {@code maxQ}. */
    private static int exponentFor(double std, int maxQ) {
        return (int) Math.ceil(Math.log(4 * std / maxQ) / Math.log(2));
    }

    private byte[] gaussianInt8(int count) {
        byte[] v = new byte[count];
        for (int i = 0; i < count; i++) {
            v[i] = (byte) IntOps.sat(Math.round(rnd.nextGaussian() * WEIGHT_STD_Q), DType.INT8);
        }
        return v;
    }

    /**
     * Shapes the decoder's output of a generated model from statistics of its own final LayerNorm output
     * over random sources and random prefixes: every feature centred and scaled so that the logits have
     * a standard deviation of {@link #LOGIT_STD}, then the EOS row of the embedding set along the
     * regression direction of that output on the position, scaled so that EOS overtakes the other tokens
     * after about {@code horizon} steps. The statistics are measured twice, because the EOS row is also
     * the encoder's last input.
     */
    private static final class Calibration {
        private final QuantizedModel model;
        private final ModelConfig cfg;
        private final long seed;
        private final int d;
        private final int steps;

        Calibration(QuantizedModel model, long seed) {
            this.model = model;
            this.cfg = model.config();
            this.seed = seed;
            this.d = cfg.dModel();
            this.steps = Math.min(CALIBRATION_STEPS, cfg.maxPositions() - 1);
        }

        QuantizedModel run() {
            byte[] embed = model.tensor(TensorNames.EMBED).toByteArray();
            QuantizedModel m = withFinal(model, embed, unitGamma(), new int[d]);
            Stats st = measure(m);
            double[] scale = new double[d];
            double fStd = LOGIT_STD / (WEIGHT_STD_Q * Math.sqrt(d));   // int8 units of the final output
            for (int i = 0; i < d; i++) {
                scale[i] = fStd / Math.max(st.std[i], 0.5);
            }
            if (steps >= 2) {
                // EOS row: c * w, where w is the direction in which the centred, scaled output moves per step,
                // so logit_eos(t) - logit_eos(mean t) ~ c |w|^2 (t - mean t): three standard deviations of the
                // logits after half the calibration horizon more.
                double[] w = positionDirection(st, scale);
                double w2 = 0;
                for (double x : w) {
                    w2 += x * x;
                }
                double c = 3.0 * LOGIT_STD / (w2 * (steps / 2.0));
                int e = cfg.eosId();
                for (int i = 0; i < d; i++) {
                    embed[e * d + i] = (byte) IntOps.sat(Math.round(c * w[i]), DType.INT8);
                }
                st = measure(withFinal(model, embed, unitGamma(), new int[d]));
                for (int i = 0; i < d; i++) {
                    scale[i] = fStd / Math.max(st.std[i], 0.5);
                }
            }
            return withFinal(model, embed, finalGamma(scale), finalBeta(st, scale, embed));
        }

        private short[] unitGamma() {
            short[] g = new short[d];
            java.util.Arrays.fill(g, (short) (1 << -LN_GAMMA_EXP));
            return g;
        }

        /** gamma_i = scale_i (in units of the final output's int8 over the unit-gamma output's). */
        private short[] finalGamma(double[] scale) {
            short[] g = new short[d];
            for (int i = 0; i < d; i++) {
                g[i] = (short) IntOps.sat(Math.round(scale[i] * (1 << -LN_GAMMA_EXP)), DType.INT16);
            }
            return g;
        }

        /** beta_i = -gamma_i * mean_i, at eG - 12: the mean of the unit-gamma output is in int8 units at LN_OUT_EXP. */
        private int[] finalBeta(Stats st, double[] scale, byte[] embed) {
            // The first step (BOS at position 0) is unlike the others; where the EOS row makes EOS likely there,
            // lower EOS's logit by a constant (a shift of the output along the EOS row) so that its mean at the
            // first step is one standard deviation below the others' mean: fewer outputs are empty (25 of 40 of
            // a 32/4/64 model were without it, 2 with it).
            int e = cfg.eosId();
            double eos2 = 0;
            for (int i = 0; i < d; i++) {
                eos2 += (double) embed[e * d + i] * embed[e * d + i];
            }
            double first = 0;
            int firstCount = 0;
            for (int k = 0; k < st.rows.length; k++) {
                if (st.positions[k] == 0) {
                    for (int i = 0; i < d; i++) {
                        first += (st.rows[k][i] - st.mean[i]) * scale[i] * embed[e * d + i];
                    }
                    firstCount++;
                }
            }
            double lower = firstCount == 0 || eos2 == 0 ? 0 : Math.max(0, first / firstCount + LOGIT_STD);
            int[] b = new int[d];
            for (int i = 0; i < d; i++) {
                double shift = eos2 == 0 ? 0 : -lower * embed[e * d + i] / eos2;
                double real = (-scale[i] * st.mean[i] + shift) * Math.pow(2, LN_OUT_EXP);
                b[i] = (int) IntOps.sat(Math.round(real * Math.pow(2, 12 - LN_GAMMA_EXP)), DType.INT32);
            }
            return b;
        }

        /** Per-feature mean and std of the final LayerNorm's output, and every sample with its position. */
        private record Stats(double[] mean, double[] std, double[][] rows, double[] positions) {
        }

        /** The regression slope of the centred, scaled output on the position: {@code f'(t) ~ f'(mean t) + (t - mean t) w}. */
        private double[] positionDirection(Stats st, double[] scale) {
            int n = st.rows.length;
            double tMean = 0;
            for (double t : st.positions) {
                tMean += t / n;
            }
            double tVar = 0;
            double[] w = new double[d];
            for (int k = 0; k < n; k++) {
                double dt = st.positions[k] - tMean;
                tVar += dt * dt / n;
                for (int i = 0; i < d; i++) {
                    w[i] += (st.rows[k][i] - st.mean[i]) * scale[i] * dt / n;
                }
            }
            for (int i = 0; i < d; i++) {
                w[i] /= tVar;
            }
            return w;
        }

        private Stats measure(QuantizedModel m) {
            SplittableRandom r = new SplittableRandom(seed ^ 0x5DEECE66DL);
            int v = cfg.vocabSize();
            int sources = CALIBRATION_SOURCES;
            List<int[]> srcs = new ArrayList<>();
            for (int s = 0; s < sources; s++) {
                int len = 1 + r.nextInt(Math.max(1, Math.min(12, cfg.maxPositions() - 1)));
                int[] src = new int[len + 1];
                for (int i = 0; i < len; i++) {
                    src[i] = ordinaryToken(r, v);
                }
                src[len] = cfg.eosId();
                srcs.add(src);
            }
            double[] sum = new double[d];
            double[] sum2 = new double[d];
            double[][] samples = new double[sources * steps][];
            double[] positions = new double[sources * steps];
            int n = 0;
            ReferenceModel ref = new ReferenceModel(TransformerWeights.of(m));
            var enc = ref.encode(srcs, null);
            List<org.shiftformer.api.backend.DecoderState> states = new ArrayList<>();
            for (var src : enc.sources()) {
                states.add(ref.newDecoder(src, steps));
            }
            int[] tokens = new int[sources];
            int[] logits = new int[sources * v];
            java.util.Arrays.fill(tokens, cfg.bosId());
            double[][] rows = new double[sources][d];
            for (int t = 0; t < steps; t++) {
                ref.decodeStep(states, tokens, logits, (seq, point, values, length) -> {
                    if (point.equals("dec.final")) {
                        for (int i = 0; i < d; i++) {
                            rows[seq][i] = values[i];
                        }
                    }
                });
                for (int s = 0; s < sources; s++) {
                    for (int i = 0; i < d; i++) {
                        double x = rows[s][i];
                        sum[i] += x;
                        sum2[i] += x * x;
                    }
                    samples[n] = rows[s].clone();
                    positions[n] = t;
                    n++;
                    tokens[s] = ordinaryToken(r, v);
                }
            }
            double[] mean = new double[d];
            double[] std = new double[d];
            for (int i = 0; i < d; i++) {
                mean[i] = sum[i] / n;
                std[i] = Math.sqrt(Math.max(0, sum2[i] / n - mean[i] * mean[i]));
            }
            return new Stats(mean, std, samples, positions);
        }

        private int ordinaryToken(SplittableRandom r, int v) {
            while (true) {
                int t = r.nextInt(v);
                if (t != cfg.padId() && t != cfg.bosId() && t != cfg.eosId()) {
                    return t;
                }
            }
        }

        /** {@code base} with the embedding table and the decoder's final LayerNorm replaced. */
        private QuantizedModel withFinal(QuantizedModel base, byte[] embed, short[] gamma, int[] beta) {
            List<QTensor> ts = new ArrayList<>();
            for (QTensor t : base.tensors().values()) {
                String name = t.name();
                if (name.equals(TensorNames.EMBED)) {
                    ts.add(QTensor.int8(name, t.shape(), t.exponent(), embed.clone()));
                } else if (name.equals(gamma(TensorNames.DEC_FINAL))) {
                    ts.add(QTensor.int16(name, t.shape(), t.exponent(), gamma));
                } else if (name.equals(beta(TensorNames.DEC_FINAL))) {
                    ts.add(QTensor.int32(name, t.shape(), t.exponent(), beta));
                } else {
                    ts.add(t);
                }
            }
            return new QuantizedModel(base.config(), ts, base.exponents(), base.softmaxLut());
        }
    }
}
