package org.shiftformer.trainer.qat;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QTensor;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.spec.ReferenceKernels;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.model.Batch;
import org.shiftformer.trainer.model.Seq2SeqModel;
import org.shiftformer.trainer.model.TransformerParams;

/** The check the flow runs on validation pairs passes on the exported model and names a one-weight change. */
class BitExactCheckTest {

    @Test
    void passesOnTheExportAndNamesTheFirstDifference() {
        ModelConfig cfg = new ModelConfig(32, 2, 64, 1, 2, 60, 24, 2, 0, 1, 2).validate();
        Seq2SeqModel model = new Seq2SeqModel(TransformerParams.init(cfg, 3), 0.1f);
        SplittableRandom r = new SplittableRandom(5);
        List<int[]> src = new ArrayList<>();
        List<int[]> tgt = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            int[] s = new int[2 + r.nextInt(8)];
            for (int j = 0; j < s.length; j++) {
                s[j] = j == s.length - 1 ? cfg.eosId() : 3 + r.nextInt(cfg.vocabSize() - 3);
            }
            int[] t = new int[r.nextInt(7)];
            for (int j = 0; j < t.length; j++) {
                t[j] = 3 + r.nextInt(cfg.vocabSize() - 3);
            }
            src.add(s);
            tgt.add(t);
        }
        QatNumerics qat = new QatNumerics(cfg, ReferenceKernels.INSTANCE, new Thresholds());
        qat.calibrating(true);
        try (var ignored = Tensor.noGrad()) {
            model.logits(Batch.of(src, tgt, cfg), qat);
        }
        qat.calibrating(false);
        try (var ignored = Tensor.noGrad()) {
            model.logits(Batch.of(src, tgt, cfg), qat);
        }
        QuantizedModel exported = QatExport.export(cfg, model.params().byName(), qat);
        assertTrue(BitExactCheck.check(model, qat, exported, src, tgt) > 20 * cfg.vocabSize());

        // one weight of the last decoder FFN changed by one step: the check must name where it shows
        List<QTensor> changed = new ArrayList<>();
        for (QTensor t : exported.tensors().values()) {
            if (t.name().equals("dec.1.ffn.2.weight")) {
                byte[] v = t.toByteArray();
                v[0] = (byte) (v[0] == 127 ? 126 : v[0] + 1);
                t = QTensor.int8(t.name(), t.shape(), t.exponent(), v);
            }
            changed.add(t);
        }
        QuantizedModel other = new QuantizedModel(cfg, changed, exported.exponents(), exported.softmaxLut());
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> BitExactCheck.check(model, qat, other, src, tgt));
        assertTrue(e.getMessage().startsWith("fake-quantized and integer logits differ: sequence "), e.getMessage());
    }
}
