package org.shiftformer.trainer.qat;

import java.util.ArrayList;
import java.util.List;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.autodiff.Workspace;
import org.shiftformer.trainer.model.Batch;
import org.shiftformer.trainer.model.Seq2SeqModel;
import org.shiftformer.trainer.optim.AdamW;
import org.shiftformer.trainer.optim.LrSchedule;
import org.shiftformer.trainer.optim.ParamGroup;
import org.shiftformer.trainer.train.BatchSampler;
import org.shiftformer.trainer.train.Trainer;

/**
 * The QAT half of training (trainer/README.md, "QAT and export"): after float training, {@link #calibrate} initialises
 * every threshold (weights from their largest magnitude, activations from the running maximum over
 * calibration batches, each measured with everything upstream already quantized), then {@link #step}
 * fine-tunes weights and thresholds through the bit-exact fake-quantized forward, with two Adam groups
 * (weights: a small learning rate with a short warm-up and cosine decay; thresholds: their own constant
 * rate, PERF.md: 2e-4 vs 1e-3), and the oscillation freeze rule after every step. {@link #export} gives
 * the integer model whose logits equal those of the fake-quantized model.
 */
public final class QatFineTuner {

    /**
     * @param steps              QAT steps (0: calibrate and export only, i.e. post-training quantization)
     * @param weightLr           peak learning rate of the weights
     * @param thresholdLr        learning rate of the thresholds
     * @param calibrationBatches batches used to calibrate the activation thresholds
     * @param clipNorm           global gradient-norm clip (0: none)
     */
    public record Settings(long steps, double weightLr, double thresholdLr, int calibrationBatches, double clipNorm) {
        public Settings {
            // (a compact constructor's fields are not assigned yet: the message names the parameters)
            String bad = steps < 0 ? "steps " + steps + " (need >= 0)"
                    : !(weightLr > 0) ? "weight learning rate " + weightLr + " (need > 0)"
                    : !(thresholdLr > 0) ? "threshold learning rate " + thresholdLr + " (need > 0)"
                    : calibrationBatches < 1 ? "calibration batches " + calibrationBatches + " (need >= 1)"
                    : !(clipNorm >= 0) ? "clip norm " + clipNorm + " (need >= 0)" : null;
            if (bad != null) {
                throw new IllegalArgumentException("QAT settings: " + bad);
            }
        }

        /** PERF.md's QAT recipe for {@code steps} steps. */
        public static Settings defaults(long steps) {
            return new Settings(steps, 2e-4, 1e-3, 8, 1.0);
        }
    }

    private final Seq2SeqModel model;
    private final BatchSampler sampler;
    private final Settings settings;
    private final QatNumerics qat;
    private AdamW optimizer;
    private Batch lastBatch;

    public QatFineTuner(Seq2SeqModel model, BatchSampler sampler, Settings settings, IntKernels kernels) {
        this.model = model;
        this.sampler = sampler;
        this.settings = settings;
        this.qat = new QatNumerics(model.config(), kernels, new Thresholds());
    }

    public QatNumerics numerics() {
        return qat;
    }

    /** Initialises every threshold from calibration batches (no gradients) and prepares the optimizer. */
    public void calibrate() {
        qat.calibrating(true);
        try (var ignored = Tensor.noGrad()) {
            for (int i = 0; i < settings.calibrationBatches(); i++) {
                lastBatch = sampler.next();
                model.logits(lastBatch, qat);
            }
        } finally {
            qat.calibrating(false);
        }
        long warmup = Math.min(100, settings.steps() / 10);
        LrSchedule weights = LrSchedule.warmupCosine(settings.weightLr(), warmup, Math.max(1, settings.steps()),
                settings.weightLr() / 10);
        List<ParamGroup> groups = new ArrayList<>(Trainer.paramGroups(model.params(), weights, 0));
        groups.add(new ParamGroup("thresholds", qat.thresholds().parameters(), LrSchedule.constant(settings.thresholdLr()), 0));
        optimizer = new AdamW(groups, 0.9, 0.98, 1e-9, settings.clipNorm());
    }

    /** Steps done. */
    public long step() {
        return optimizer == null ? 0 : optimizer.stepCount();
    }

    /** The optimizer (after {@link #calibrate}). */
    public AdamW optimizer() {
        return optimizer;
    }

    /** The loss of one step and the target tokens it learned from. */
    public record StepResult(double loss, int targetTokens) {
    }

    /** One QAT step on the next batch. */
    public StepResult trainStep() {
        if (optimizer == null) {
            throw new IllegalStateException("calibrate() first");
        }
        lastBatch = sampler.next();
        optimizer.zeroGrad();
        float value;
        try (var ignored = Workspace.open()) { // the step's arrays are reused by the next step
            Tensor loss = model.loss(lastBatch, qat, true);
            loss.backward();
            optimizer.step();
            value = loss.item();
        }
        qat.thresholds().afterStep();
        return new StepResult(value, lastBatch.targetTokens());
    }

    /**
     * The integer model: one forward pass over the last batch with the current weights and thresholds
     * (no gradients), then {@link QatExport}.
     */
    public QuantizedModel export() {
        if (lastBatch == null) {
            throw new IllegalStateException("calibrate() first");
        }
        try (var ignored = Tensor.noGrad()) {
            model.logits(lastBatch, qat);
        }
        return QatExport.export(model.config(), model.params().byName(), qat);
    }
}
