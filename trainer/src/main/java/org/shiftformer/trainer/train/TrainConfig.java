package org.shiftformer.trainer.train;

import java.nio.file.Path;
import java.util.Objects;
import org.shiftformer.api.ModelConfig;

/**
 * Settings of a float training run. {@link #defaults} gives PERF.md's recipe (Adam betas 0.9/0.98, peak
 * learning rate 2e-3 after 400 warm-up steps, cosine decay to the end); the {@code with...} methods change
 * one group of settings.
 *
 * @param model              shape of the model; its {@code vocabSize} is the BPE vocabulary to train (the
 *                           model adopts the tokenizer's size if BPE learns fewer merges)
 * @param steps              optimizer steps in total
 * @param batchSentences     sentence pairs per batch (batches group pairs of similar length)
 * @param peakLr             learning rate after warm-up
 * @param warmupSteps        linear warm-up steps
 * @param minLr              learning rate at the end of the cosine decay
 * @param weightDecay        decoupled weight decay (0: none)
 * @param clipNorm           global gradient-norm clip (0: none)
 * @param dropout            residual-branch dropout in float training
 * @param labelSmoothing     label smoothing of the cross-entropy
 * @param seed               seeds initialisation, data order and dropout
 * @param threads            matmul kernel threads (results do not depend on it)
 * @param checkpoint         checkpoint file (null: none); an existing one is resumed from
 * @param checkpointInterval save every this many steps (0: only at the end)
 * @param evalInterval       validate every this many steps (0: only at the end)
 * @param evalSentences      validation pairs used per evaluation (the first ones)
 */
public record TrainConfig(ModelConfig model, long steps, int batchSentences, double peakLr, long warmupSteps,
                          double minLr, double weightDecay, double clipNorm, float dropout, float labelSmoothing,
                          long seed, int threads, Path checkpoint, long checkpointInterval, long evalInterval,
                          int evalSentences) {

    public TrainConfig {
        Objects.requireNonNull(model, "model");
        model.validate();
        check(steps >= 1, "steps must be >= 1: " + steps);
        check(batchSentences >= 1, "batchSentences must be >= 1: " + batchSentences);
        check(peakLr > 0 && minLr >= 0 && minLr <= peakLr, "need 0 <= minLr <= peakLr, peakLr > 0: peakLr "
                + peakLr + ", minLr " + minLr);
        check(warmupSteps >= 0 && warmupSteps <= steps, "warmupSteps must be in [0, steps]: " + warmupSteps);
        check(weightDecay >= 0, "weightDecay must be >= 0: " + weightDecay);
        check(clipNorm >= 0, "clipNorm must be >= 0: " + clipNorm);
        check(dropout >= 0 && dropout < 1, "dropout must be in [0, 1): " + dropout);
        check(labelSmoothing >= 0 && labelSmoothing < 1, "labelSmoothing must be in [0, 1): " + labelSmoothing);
        check(threads >= 1, "threads must be >= 1: " + threads);
        check(checkpointInterval >= 0, "checkpointInterval must be >= 0: " + checkpointInterval);
        check(evalInterval >= 0, "evalInterval must be >= 0: " + evalInterval);
        check(evalSentences >= 0, "evalSentences must be >= 0: " + evalSentences);
    }

    private static void check(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException("train config: " + message);
        }
    }

    /** PERF.md's recipe for {@code steps} steps: batch 128, lr 2e-3 after min(400, steps/5) warm-up steps. */
    public static TrainConfig defaults(ModelConfig model, long steps) {
        return new TrainConfig(model, steps, 128, 2e-3, Math.min(400, steps / 5), 0.0, 0.0, 1.0, 0.1f, 0.1f, 1L,
                Runtime.getRuntime().availableProcessors(), null, 0, 0, 500);
    }

    public TrainConfig withSteps(long s, long warmup) {
        return new TrainConfig(model, s, batchSentences, peakLr, warmup, minLr, weightDecay, clipNorm, dropout,
                labelSmoothing, seed, threads, checkpoint, checkpointInterval, evalInterval, evalSentences);
    }

    public TrainConfig withBatch(int sentences) {
        return new TrainConfig(model, steps, sentences, peakLr, warmupSteps, minLr, weightDecay, clipNorm, dropout,
                labelSmoothing, seed, threads, checkpoint, checkpointInterval, evalInterval, evalSentences);
    }

    public TrainConfig withLr(double peak, double min) {
        return new TrainConfig(model, steps, batchSentences, peak, warmupSteps, min, weightDecay, clipNorm, dropout,
                labelSmoothing, seed, threads, checkpoint, checkpointInterval, evalInterval, evalSentences);
    }

    public TrainConfig withRegularization(float drop, float smoothing, double decay) {
        return new TrainConfig(model, steps, batchSentences, peakLr, warmupSteps, minLr, decay, clipNorm, drop,
                smoothing, seed, threads, checkpoint, checkpointInterval, evalInterval, evalSentences);
    }

    public TrainConfig withSeed(long s) {
        return new TrainConfig(model, steps, batchSentences, peakLr, warmupSteps, minLr, weightDecay, clipNorm, dropout,
                labelSmoothing, s, threads, checkpoint, checkpointInterval, evalInterval, evalSentences);
    }

    public TrainConfig withThreads(int n) {
        return new TrainConfig(model, steps, batchSentences, peakLr, warmupSteps, minLr, weightDecay, clipNorm, dropout,
                labelSmoothing, seed, n, checkpoint, checkpointInterval, evalInterval, evalSentences);
    }

    public TrainConfig withCheckpoint(Path path, long interval) {
        return new TrainConfig(model, steps, batchSentences, peakLr, warmupSteps, minLr, weightDecay, clipNorm, dropout,
                labelSmoothing, seed, threads, path, interval, evalInterval, evalSentences);
    }

    public TrainConfig withEval(long interval, int sentences) {
        return new TrainConfig(model, steps, batchSentences, peakLr, warmupSteps, minLr, weightDecay, clipNorm, dropout,
                labelSmoothing, seed, threads, checkpoint, checkpointInterval, interval, sentences);
    }
}
