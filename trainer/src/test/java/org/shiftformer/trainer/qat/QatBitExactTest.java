package org.shiftformer.trainer.qat;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.backend.EncodedSource;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.api.spec.ReferenceKernels;
import org.shiftformer.api.spec.ReferenceModel;
import org.shiftformer.trainer.autodiff.MatMul;
import org.shiftformer.trainer.autodiff.Ops;
import org.shiftformer.trainer.autodiff.Tensor;

/**
 * The fake-quantized forward pass computes exactly the integer model's logits: the logits of a QAT pass
 * over a padded batch equal, bit for bit, the scalar reference's logits of the exported artifact, before
 * and after training steps that move weights and thresholds.
 */
class QatBitExactTest {
    static final ModelConfig CFG = new ModelConfig(32, 2, 64, 2, 2, 40, 16, 2, 0, 1, 2).validate();

    record Batch(int[] src, int[] srcLen, int s, int[] tgt, int[] tgtLen, int t) {
    }

    static Batch batch(long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int b = 4;
        int s = 9;
        int t = 7;
        int[] src = new int[b * s];
        int[] srcLen = new int[b];
        int[] tgt = new int[b * t];
        int[] tgtLen = new int[b];
        for (int i = 0; i < b; i++) {
            srcLen[i] = i == 0 ? s : 2 + r.nextInt(s - 1);
            for (int j = 0; j < srcLen[i]; j++) {
                src[i * s + j] = j == srcLen[i] - 1 ? CFG.eosId() : 3 + r.nextInt(CFG.vocabSize() - 3);
            }
            tgtLen[i] = i == 1 ? t : 1 + r.nextInt(t);
            tgt[i * t] = CFG.bosId();
            for (int j = 1; j < tgtLen[i]; j++) {
                tgt[i * t + j] = 3 + r.nextInt(CFG.vocabSize() - 3);
            }
        }
        return new Batch(src, srcLen, s, tgt, tgtLen, t);
    }

    @Test
    void fakeQuantizedLogitsEqualTheExportedIntegerModel() {
        trainAndCheck(ReferenceKernels.INSTANCE);
    }

    @Test
    void theSameWithTheFastestInstalledKernels() {
        IntKernels fastest = QatNumerics.fastestKernels();
        assertNotSame(ReferenceKernels.INSTANCE, fastest, "backend-sim is on the test class path");
        trainAndCheck(fastest);
    }

    @Test
    void theSameWhenEveryIntegerMatmulRunsOnTheKernels() {
        // by default the linears', logits' and attention's integer sums are read off the float surrogate
        // when provably exact (QatNumerics.floatAccumulatorsExact); the kernels must give the same model
        QatNumerics.useFloatAccumulators = false;
        try {
            trainAndCheck(QatNumerics.fastestKernels());
            trainAndCheck(ReferenceKernels.INSTANCE);
        } finally {
            QatNumerics.useFloatAccumulators = true;
        }
    }

    @Test
    void theSameWhenTheIntegerMatmulsAreSplitOverThreeThreads() {
        int before = MatMul.threads();
        MatMul.setThreads(3); // the FFN linears and the attention batch are above the parallel threshold here
        try {
            trainAndCheck(QatNumerics.fastestKernels());
        } finally {
            MatMul.setThreads(before);
        }
    }

    private static void trainAndCheck(IntKernels kernels) {
        SpecForward model = new SpecForward(CFG, 7);
        QatNumerics qat = new QatNumerics(CFG, kernels, new Thresholds());
        qat.calibrating(true);
        for (int i = 0; i < 3; i++) {
            Batch c = batch(100 + i);
            try (var _ = Tensor.noGrad()) {
                model.logits(qat, c.src, c.srcLen, c.s, c.tgt, c.t);
            }
        }
        qat.calibrating(false);
        checkExact(model, qat, batch(1));

        // train a few steps (plain SGD on weights and thresholds), then the same must hold
        List<Tensor> thresholds = qat.thresholds().parameters();
        for (int step = 0; step < 4; step++) {
            Batch tr = batch(200 + step);
            Tensor logits = model.logits(qat, tr.src, tr.srcLen, tr.s, tr.tgt, tr.t);
            int[] targets = new int[tr.tgt.length];
            for (int i = 0; i < targets.length; i++) {
                targets[i] = (i + 1) % tr.t == 0 ? CFG.eosId() : tr.tgt[i + 1];
            }
            Tensor loss = Ops.crossEntropy(Ops.reshape(logits, tr.tgt.length, CFG.vocabSize()), targets, 0.1f, 0);
            for (Tensor p : model.params.values()) {
                p.zeroGrad();
            }
            for (Tensor p : thresholds) {
                p.zeroGrad();
            }
            loss.backward();
            for (Tensor p : model.params.values()) {
                sgd(p, 0.05f);
            }
            for (Tensor p : thresholds) {
                assertTrue(p.hasGrad(), "threshold " + p.name() + " got no gradient");
                sgd(p, 0.5f);
            }
            qat.thresholds().afterStep();
        }
        checkExact(model, qat, batch(2));
    }

    @Test
    void exportWithoutAFreshPassIsRefused() {
        SpecForward model = new SpecForward(CFG, 8);
        QatNumerics qat = new QatNumerics(CFG, ReferenceKernels.INSTANCE, new Thresholds());
        qat.calibrating(true);
        Batch c = batch(3);
        try (var _ = Tensor.noGrad()) {
            model.logits(qat, c.src, c.srcLen, c.s, c.tgt, c.t);
        }
        String name = "dec.0.ffn.2.weight";
        qat.thresholds().set(name, qat.thresholds().get(name).item() + 3);
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> QatExport.export(CFG, model.params, qat));
        assertTrue(e.getMessage().contains(name), e.getMessage());
    }

    @Test
    void oscillatingThresholdsFreeze() {
        Thresholds th = new Thresholds();
        th.set("a", 0.5f);
        th.set("b", 0.5f);
        for (int step = 0; step < 10; step++) {
            th.get("a").data()[0] = step % 2 == 0 ? 0.9f : 1.1f; // flips between exponents 1 and 2
            th.get("b").data()[0] += 0.01f;                      // drifts within one exponent
            th.afterStep();
        }
        assertEquals(Float.valueOf(1.5f), th.frozen().get("a"));
        assertEquals(1.5f, th.get("a").item());
        assertFalse(th.frozen().containsKey("b"));
        th.get("a").data()[0] = -3f; // an optimizer step moves it: the rule puts it back
        th.afterStep();
        assertEquals(1.5f, th.get("a").item());
    }

    private static void sgd(Tensor p, float lr) {
        if (!p.hasGrad()) {
            return;
        }
        float[] v = p.data();
        float[] g = p.grad();
        for (int i = 0; i < v.length; i++) {
            v[i] -= lr * g[i];
        }
    }

    private static void checkExact(SpecForward model, QatNumerics qat, Batch b) {
        int[] logits;
        try (var _ = Tensor.noGrad()) {
            logits = qat.intLogits(model.logits(qat, b.src, b.srcLen, b.s, b.tgt, b.t));
        }
        QuantizedModel qm = QatExport.export(CFG, model.params, qat);
        ReferenceModel ref = new ReferenceModel(TransformerWeights.of(qm));
        int v = CFG.vocabSize();
        int distinctRows = 0;
        for (int i = 0; i < b.srcLen.length; i++) {
            EncodedSource src = ref.encode(List.of(Arrays.copyOfRange(b.src, i * b.s, i * b.s + b.srcLen[i])), null)
                    .sources().get(0);
            int[] expected = ref.recomputeLogits(src, Arrays.copyOfRange(b.tgt, i * b.t, i * b.t + b.tgtLen[i]));
            int[] actual = Arrays.copyOfRange(logits, i * b.t * v, (i * b.t + b.tgtLen[i]) * v);
            assertArrayEquals(expected, actual, "sequence " + i);
            for (int row = 1; row < b.tgtLen[i]; row++) {
                if (!Arrays.equals(actual, (row - 1) * v, row * v, actual, row * v, (row + 1) * v)) {
                    distinctRows++;
                }
            }
        }
        assertNotEquals(0, distinctRows, "degenerate logits (every row the same) prove nothing");
    }
}
