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
import org.shiftformer.api.spec.Tables;

/**
 * Random-weight models of any shape, for tests and benchmarks. Weights are Gaussian int8 with
 * Xavier-like real scale; every activation exponent is chosen from the expected standard deviation of
 * its input (about four standard deviations fill the integer range), which is what calibration would
 * choose, so outputs are neither saturated nor zero. Deterministic for a seed.
 */
public final class RandomModels {
    /** Standard deviation of the int8 weight values. */
    private static final double WEIGHT_STD_Q = 24;
    private static final int EMBED_EXP = -7;
    private static final int LN_GAMMA_EXP = -12;
    private static final int LN_OUT_EXP = -5;
    private static final double LN_OUT_STD = 1.0;

    private final ModelConfig cfg;
    private final SplittableRandom rnd;
    private final List<QTensor> tensors = new ArrayList<>();
    private final Map<String, Integer> exponents = new LinkedHashMap<>();

    private RandomModels(ModelConfig cfg, long seed) {
        this.cfg = cfg.validate();
        this.rnd = new SplittableRandom(seed);
    }

    /** The preset shapes of SPEC.md section 2 with the given vocabulary size. */
    public static ModelConfig preset(String name, int vocabSize) {
        return switch (name) {
            case "tiny" -> new ModelConfig(64, 2, 256, 2, 2, vocabSize, 128, 2, 0, 1, 2);
            case "small" -> new ModelConfig(256, 4, 1024, 3, 3, vocabSize, 256, 2, 0, 1, 2);
            case "base" -> new ModelConfig(512, 8, 2048, 6, 6, vocabSize, 512, 2, 0, 1, 2);
            default -> throw new org.shiftformer.api.ShiftformerException(org.shiftformer.api.ErrorCode.INVALID_ARGUMENT,
                    "unknown preset '" + name + "' (tiny, small, base)");
        };
    }

    /** A random model of shape {@code cfg}. */
    public static QuantizedModel generate(ModelConfig cfg, long seed) {
        return new RandomModels(cfg, seed).build();
    }

    private QuantizedModel build() {
        int d = cfg.dModel();
        tensors.add(QTensor.int8(TensorNames.EMBED, new int[] {cfg.vocabSize(), d}, EMBED_EXP,
                gaussianInt8(cfg.vocabSize() * d)));
        tensors.add(QTensor.int8(TensorNames.POSITIONS, new int[] {cfg.maxPositions(), d}, PositionalTable.EXPONENT,
                PositionalTable.build(cfg.maxPositions(), d)));
        // Residual stream: embedding std ~ 0.75, values up to ~32 fit int16 at 2^-10.
        int residualExp = -10;
        exponents.put(TensorNames.ENC_EMBED_OUT, residualExp);
        exponents.put(TensorNames.DEC_EMBED_OUT, residualExp);
        for (int i = 0; i < cfg.encoderLayers(); i++) {
            layerNorm(enc(i, "ln1"));
            attention(enc(i, "attn"), LN_OUT_EXP, residualExp);
            layerNorm(enc(i, "ln2"));
            ffn(enc(i, "ffn"), residualExp);
        }
        layerNorm(TensorNames.ENC_FINAL);
        for (int i = 0; i < cfg.decoderLayers(); i++) {
            layerNorm(dec(i, "ln1"));
            attention(dec(i, "self"), LN_OUT_EXP, residualExp);
            layerNorm(dec(i, "ln2"));
            attention(dec(i, "cross"), LN_OUT_EXP, residualExp);
            layerNorm(dec(i, "ln3"));
            ffn(dec(i, "ffn"), residualExp);
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

    private void attention(String prefix, int inExp, int residualExp) {
        int d = cfg.dModel();
        double qStd = linear(prefix + ".q", d, d, inExp, LN_OUT_STD, false, DType.INT8);
        linear(prefix + ".k", d, d, inExp, LN_OUT_STD, false, DType.INT8);
        double vStd = linear(prefix + ".v", d, d, inExp, LN_OUT_STD, false, DType.INT8);
        // attention·V is a convex combination of V rows: its std is at most V's.
        int ctxExp = exponentFor(vStd, 127);
        exponents.put(out(prefix + ".ctx"), ctxExp);
        exponents.put(out(prefix + ".o"), residualExp);
        linearWeights(prefix + ".o", d, d, ctxExp, vStd);
        assert qStd > 0;
    }

    private void ffn(String prefix, int residualExp) {
        int d = cfg.dModel();
        double hStd = linear(prefix + ".1", cfg.dFf(), d, LN_OUT_EXP, LN_OUT_STD, false, DType.UINT8);
        exponents.put(out(prefix + ".2"), residualExp);
        linearWeights(prefix + ".2", d, cfg.dFf(), exponents.get(out(prefix + ".1")), hStd * 0.6);
    }

    /** Adds weights, bias and a calibrated output exponent; returns the output's real std. */
    private double linear(String prefix, int n, int k, int inExp, double inStd, boolean unsignedInput, DType outType) {
        double outStd = linearWeights(prefix, n, k, inExp, inStd);
        exponents.put(out(prefix), exponentFor(outStd, outType == DType.UINT8 ? 255 : 127));
        return outStd;
    }

    private double linearWeights(String prefix, int n, int k, int inExp, double inStd) {
        int wExp = (int) Math.round(Math.log(1.0 / (Math.sqrt(k) * WEIGHT_STD_Q)) / Math.log(2));
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
}
