package org.shiftformer.trainer.train;

import java.nio.file.Path;

/** Progress of a {@link Trainer} run (for a progress bar, logs, CSV curves). Called on the training thread. */
public interface TrainListener {

    /** A listener that ignores everything. */
    TrainListener NONE = new TrainListener() {
    };

    /** After every optimizer step. */
    default void onStep(StepInfo info) {
    }

    /** After every validation. */
    default void onEval(EvalInfo info) {
    }

    /** After a checkpoint was written. */
    default void onCheckpoint(long step, Path path) {
    }

    /**
     * One step.
     *
     * @param step            1-based step just done
     * @param totalSteps      steps of the whole run
     * @param loss            the batch's training loss (label-smoothed, with dropout)
     * @param lr              learning rate used by this step
     * @param gradNorm        global gradient norm before clipping
     * @param targetTokens    non-pad target tokens in the batch
     * @param tokensPerSecond target tokens per second of this step (forward, backward and update)
     * @param elapsedSeconds  wall time since the run (or the resume) started
     */
    record StepInfo(long step, long totalSteps, double loss, double lr, double gradNorm, int targetTokens,
                    double tokensPerSecond, double elapsedSeconds) {
    }

    /**
     * One validation.
     *
     * @param step       steps done
     * @param loss       mean validation loss per batch (no dropout)
     * @param exactMatch fraction of greedy translations equal to the reference
     * @param sentences  validation pairs used
     */
    record EvalInfo(long step, double loss, double exactMatch, int sentences) {
    }
}
