package org.shiftformer.api.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QTensor;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.spec.Tables;

class TransformerWeightsTest {
    private static final ModelConfig CFG = new ModelConfig(16, 2, 32, 1, 1, 270, 8, 2, 0, 1, 2);

    private static QuantizedModel base() {
        return RandomModels.generate(CFG, 3);
    }

    private static String rejects(QuantizedModel m) {
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> TransformerWeights.of(m));
        assertEquals(ErrorCode.INVALID_ARTIFACT, e.code());
        return e.getMessage();
    }

    private static QuantizedModel withTensor(String name, UnaryOperator<QTensor> change) {
        QuantizedModel m = base();
        List<QTensor> ts = new ArrayList<>();
        for (QTensor t : m.tensors().values()) {
            ts.add(t.name().equals(name) ? change.apply(t) : t);
        }
        return new QuantizedModel(m.config(), ts, m.exponents(), m.softmaxLut());
    }

    @Test
    void acceptsAGeneratedModel() {
        TransformerWeights w = TransformerWeights.of(base());
        assertEquals(1, w.encoder().size());
        assertEquals(w.decFinal().outExp() + w.embedExp(), w.logitsExp());
    }

    @Test
    void rejectsBiasAtTheWrongExponent() {
        String msg = rejects(withTensor("enc.0.attn.q.bias",
                t -> QTensor.int32(t.name(), t.shape(), t.exponent() + 1, t.toIntArray())));
        assertTrue(msg.contains("enc.0.attn.q.bias") && msg.contains("accumulator exponent"), msg);
    }

    @Test
    void rejectsARowThatCouldOverflowTheInt32Accumulator() {
        String msg = rejects(withTensor("dec.0.ffn.2.bias", t -> {
            int[] b = t.toIntArray();
            b[3] = Integer.MAX_VALUE - 10;
            return QTensor.int32(t.name(), t.shape(), t.exponent(), b);
        }));
        assertTrue(msg.contains("accumulator bound of dec.0.ffn.2 row 3"), msg);
    }

    @Test
    void rejectsAWrongShape() {
        String msg = rejects(withTensor("embed.weight", t -> QTensor.int8(t.name(), new int[] {t.dim(1), t.dim(0)},
                t.exponent(), t.toByteArray())));
        assertTrue(msg.contains("embed.weight has shape [16, 270], expected [270, 16]"), msg);
    }

    @Test
    void rejectsAnAlteredSoftmaxTable() {
        QuantizedModel m = base();
        int[] lut = Tables.exp2Lut();
        lut[5]++;
        String msg = rejects(new QuantizedModel(m.config(), List.copyOf(m.tensors().values()), m.exponents(), lut));
        assertTrue(msg.contains("softmax table"), msg);
    }

    @Test
    void rejectsMissingAndUnexpectedNamesAndOutOfRangeExponents() {
        QuantizedModel m = base();
        Map<String, Integer> exps = new LinkedHashMap<>(m.exponents());
        exps.remove("enc.0.attn.ctx.out");
        assertTrue(rejects(new QuantizedModel(m.config(), List.copyOf(m.tensors().values()), exps, m.softmaxLut()))
                .contains("missing exponent enc.0.attn.ctx.out"));
        exps = new LinkedHashMap<>(m.exponents());
        exps.put("enc.9.bogus.out", 0);
        assertTrue(rejects(new QuantizedModel(m.config(), List.copyOf(m.tensors().values()), exps, m.softmaxLut()))
                .contains("unexpected exponent(s) [enc.9.bogus.out]"));
        exps = new LinkedHashMap<>(m.exponents());
        exps.put("dec.final.out", 40);
        assertTrue(rejects(new QuantizedModel(m.config(), List.copyOf(m.tensors().values()), exps, m.softmaxLut()))
                .contains("exponent of dec.final.out is 40"));
    }
}
