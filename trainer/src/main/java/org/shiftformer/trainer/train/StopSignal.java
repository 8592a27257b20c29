package org.shiftformer.trainer.train;

import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * When float training stops before its last step: at a wall-clock budget ({@code train --time-budget}), or
 * when asked to from another thread (Ctrl-C: the CLI's shutdown hook calls {@link #request()} and waits in
 * {@link #awaitHandled} until the run has written its checkpoint and said how to resume).
 *
 * <p>{@link Trainer#run(StopSignal)} checks it between optimizer steps, so a stop always lands on a step
 * boundary and the checkpoint written there resumes bit for bit like any other.
 */
public final class StopSignal {
    /** Why float training ended. */
    public enum Reason {
        /** It reached {@code --steps}. */
        STEPS,
        /** The wall-clock budget ran out; the flow goes on with QAT and export. */
        TIME_BUDGET,
        /** {@link #request()} was called (Ctrl-C); the flow checkpoints and stops. */
        REQUESTED
    }

    private final long budgetNanos;
    private volatile boolean requested;
    private volatile Path checkpoint;
    private final CountDownLatch handled = new CountDownLatch(1);

    /** @param budgetSeconds float-training wall-clock budget in seconds, or {@code 0} for none */
    public StopSignal(double budgetSeconds) {
        if (!(budgetSeconds >= 0) || Double.isInfinite(budgetSeconds)) {
            throw new IllegalArgumentException("time budget must be a finite number of seconds >= 0: " + budgetSeconds);
        }
        this.budgetNanos = (long) (budgetSeconds * 1e9);
    }

    /** No budget: only {@link #request()} stops early. */
    public static StopSignal none() {
        return new StopSignal(0);
    }

    /** Asks the run to stop at the next step boundary (callable from any thread, e.g. a shutdown hook). */
    public void request() {
        requested = true;
    }

    public boolean requested() {
        return requested;
    }

    /** The budget in seconds ({@code 0}: none). */
    public double budgetSeconds() {
        return budgetNanos * 1e-9;
    }

    /** Why to stop after a step, given the nanoseconds float training has run, or {@code null} to go on. */
    Reason check(long elapsedNanos) {
        if (requested) {
            return Reason.REQUESTED;
        }
        return budgetNanos > 0 && elapsedNanos >= budgetNanos ? Reason.TIME_BUDGET : null;
    }

    /**
     * The float model is on disk at {@code checkpoint} (or float training failed: {@code null}): a stop requested
     * from now on no longer stops anything, and a {@link Reason#REQUESTED} stop has been reported.
     */
    public void handled(Path checkpoint) {
        this.checkpoint = checkpoint;
        handled.countDown();
    }

    /** Whether {@link #handled} has been called. */
    public boolean isHandled() {
        return handled.getCount() == 0;
    }

    /** The float checkpoint {@link #handled} named, or {@code null}. */
    public Path checkpoint() {
        return checkpoint;
    }

    /** Waits up to {@code seconds} for {@link #handled()}; returns whether it came. */
    public boolean awaitHandled(long seconds) throws InterruptedException {
        return handled.await(seconds, TimeUnit.SECONDS);
    }
}
