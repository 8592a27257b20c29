package org.shiftformer.trainer.qat;

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
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QTensor;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.model.TensorNames;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.api.spec.PositionalTable;
import org.shiftformer.api.spec.Tables;
import org.shiftformer.trainer.autodiff.FakeQuant;
import org.shiftformer.trainer.autodiff.StraightThrough;
import org.shiftformer.trainer.autodiff.Tensor;

/**
 * Export of a fake-quantized model to the integers the runtime executes: the same quantization
 * {@link QatNumerics} applied in the last forward pass, so the artifact's integer model computes exactly
 * the logits that pass computed (the acceptance test compares them bit for bit).
 *
 * <p>Run one forward pass with the {@link QatNumerics} after the last optimizer step (any batch that goes
 * through the encoder and the decoder), then call {@link #export}: the exponents come from that pass, and
 * the weights are requantized from the current parameters and thresholds; a mismatch (a step between the
 * pass and the export) is an error rather than a silently different model.
 */
public final class QatExport {

    private QatExport() {
    }

    /**
     * The integer model of {@code params} (float parameters keyed by their SPEC.md tensor names) under the
     * thresholds and exponents of {@code qat}'s last pass, validated by {@link TransformerWeights#of}.
     */
    public static QuantizedModel export(ModelConfig cfg, Map<String, Tensor> params, QatNumerics qat) {
        Map<String, Integer> used = qat.used();
        Thresholds th = qat.thresholds();
        List<QTensor> tensors = new ArrayList<>();
        Map<String, Integer> exponents = new LinkedHashMap<>();
        int d = cfg.dModel();
        tensors.add(int8Weight(TensorNames.EMBED, param(params, TensorNames.EMBED), th, used));
        tensors.add(QTensor.int8(TensorNames.POSITIONS, new int[] {cfg.maxPositions(), d}, PositionalTable.EXPONENT,
                PositionalTable.build(cfg.maxPositions(), d)));
        exponent(exponents, used, TensorNames.ENC_EMBED_OUT);
        exponent(exponents, used, TensorNames.DEC_EMBED_OUT);
        for (int i = 0; i < cfg.encoderLayers(); i++) {
            layerNorm(enc(i, "ln1"), params, used, tensors, exponents);
            attention(enc(i, "attn"), params, th, used, tensors, exponents);
            layerNorm(enc(i, "ln2"), params, used, tensors, exponents);
            ffn(enc(i, "ffn"), params, th, used, tensors, exponents);
        }
        layerNorm(TensorNames.ENC_FINAL, params, used, tensors, exponents);
        for (int i = 0; i < cfg.decoderLayers(); i++) {
            layerNorm(dec(i, "ln1"), params, used, tensors, exponents);
            attention(dec(i, "self"), params, th, used, tensors, exponents);
            layerNorm(dec(i, "ln2"), params, used, tensors, exponents);
            attention(dec(i, "cross"), params, th, used, tensors, exponents);
            layerNorm(dec(i, "ln3"), params, used, tensors, exponents);
            ffn(dec(i, "ffn"), params, th, used, tensors, exponents);
        }
        layerNorm(TensorNames.DEC_FINAL, params, used, tensors, exponents);
        QuantizedModel model = new QuantizedModel(cfg, tensors, exponents, Tables.exp2Lut());
        TransformerWeights.of(model); // SPEC.md section 8: the loader's checks, at export time
        return model;
    }

    private static void attention(String prefix, Map<String, Tensor> params, Thresholds th, Map<String, Integer> used,
                                  List<QTensor> tensors, Map<String, Integer> exponents) {
        for (String part : new String[] {"q", "k", "v"}) {
            linear(prefix + "." + part, params, th, used, tensors);
            exponent(exponents, used, out(prefix + "." + part));
        }
        exponent(exponents, used, out(prefix + ".ctx"));
        linear(prefix + ".o", params, th, used, tensors);
        exponent(exponents, used, out(prefix + ".o"));
    }

    private static void ffn(String prefix, Map<String, Tensor> params, Thresholds th, Map<String, Integer> used,
                            List<QTensor> tensors, Map<String, Integer> exponents) {
        linear(prefix + ".1", params, th, used, tensors);
        exponent(exponents, used, out(prefix + ".1"));
        linear(prefix + ".2", params, th, used, tensors);
        exponent(exponents, used, out(prefix + ".2"));
    }

    private static void linear(String prefix, Map<String, Tensor> params, Thresholds th, Map<String, Integer> used,
                               List<QTensor> tensors) {
        QTensor w = int8Weight(weight(prefix), param(params, weight(prefix)), th, used);
        tensors.add(w);
        int eAcc = need(used, "in:" + prefix) + w.exponent();
        Tensor b = param(params, bias(prefix));
        int[] ints = new int[b.size()];
        long[] q = new long[b.size()];
        StraightThrough.quantizeFixed(b, eAcc, 32, q);
        for (int i = 0; i < ints.length; i++) {
            ints[i] = (int) q[i];
        }
        tensors.add(QTensor.int32(bias(prefix), new int[] {ints.length}, eAcc, ints));
    }

    private static void layerNorm(String prefix, Map<String, Tensor> params, Map<String, Integer> used,
                                  List<QTensor> tensors, Map<String, Integer> exponents) {
        int eG = need(used, "gamma:" + prefix);
        Tensor g = param(params, gamma(prefix));
        Tensor b = param(params, beta(prefix));
        long[] gq = new long[g.size()];
        long[] bq = new long[b.size()];
        StraightThrough.quantizeFixed(g, eG, 16, gq);
        StraightThrough.quantizeFixed(b, eG - 12, 32, bq);
        short[] gs = new short[gq.length];
        int[] bs = new int[bq.length];
        for (int i = 0; i < gs.length; i++) {
            gs[i] = (short) gq[i];
            bs[i] = (int) bq[i];
        }
        tensors.add(QTensor.int16(gamma(prefix), new int[] {gs.length}, eG, gs));
        tensors.add(QTensor.int32(beta(prefix), new int[] {bs.length}, eG - 12, bs));
        exponent(exponents, used, out(prefix));
    }

    private static QTensor int8Weight(String name, Tensor w, Thresholds th, Map<String, Integer> used) {
        float lt = th.get(name).data()[0];
        int e = FakeQuant.exponent(lt, 8, true);
        Integer passed = used.get(name);
        if (passed == null || passed != e) {
            throw new IllegalStateException("weight " + name + " has exponent " + e + " but the last forward pass used "
                    + passed + ": run a forward pass after the last optimizer step before exporting");
        }
        return QTensor.int8(name, w.shape(), e, QatNumerics.int8Values(w, lt));
    }

    private static void exponent(Map<String, Integer> exponents, Map<String, Integer> used, String name) {
        exponents.put(name, need(used, name));
    }

    private static int need(Map<String, Integer> used, String key) {
        Integer v = used.get(key);
        if (v == null) {
            throw new IllegalStateException("the last forward pass did not record '" + key
                    + "': export after a pass through the whole encoder and decoder");
        }
        return v;
    }

    private static Tensor param(Map<String, Tensor> params, String name) {
        Tensor t = params.get(name);
        if (t == null) {
            throw new IllegalArgumentException("missing parameter " + name);
        }
        return t;
    }
}
