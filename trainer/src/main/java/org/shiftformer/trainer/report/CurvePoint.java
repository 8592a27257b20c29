package org.shiftformer.trainer.report;

import org.shiftformer.trainer.eval.Metrics;

/**
 * One point of a training curve.
 *
 * @param step            optimizer step (1-based)
 * @param wallSeconds     seconds since training started
 * @param trainLoss       training loss (mean over the logging window), NaN if unknown
 * @param learningRate    learning rate at this step
 * @param tokensPerSecond training throughput, NaN if unknown
 * @param validation      validation metrics if they were evaluated at this step, else {@code null}
 */
public record CurvePoint(long step, double wallSeconds, double trainLoss, double learningRate, double tokensPerSecond,
                         Metrics validation) {
    /** Whether this point carries validation metrics. */
    public boolean evaluated() {
        return validation != null;
    }
}
