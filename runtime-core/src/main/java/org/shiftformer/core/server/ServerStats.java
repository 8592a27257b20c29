package org.shiftformer.core.server;

import java.util.concurrent.atomic.LongAdder;

/**
 * Counters of one {@link Scheduler}, cheap to update from its thread and the event loops and safe to read
 * from any thread. The Micrometer binder (issue 4, later) reads these instead of keeping its own: one
 * {@code MeterBinder} over this class and the gauges of {@link Scheduler}.
 *
 * <p>Invariant, once the server is idle: {@code accepted == done + errors + cancelled + dropped}: every
 * accepted request ends exactly once ({@link Request#terminate}); {@code dropped} are those whose
 * connection was gone, so no frame could be sent.
 */
public final class ServerStats {
    final LongAdder accepted = new LongAdder();
    final LongAdder rejected = new LongAdder();
    final LongAdder done = new LongAdder();
    final LongAdder errors = new LongAdder();
    final LongAdder cancelled = new LongAdder();
    final LongAdder dropped = new LongAdder();
    final LongAdder tokens = new LongAdder();
    final LongAdder steps = new LongAdder();
    final LongAdder stepRows = new LongAdder();
    final LongAdder connectionErrors = new LongAdder();
    final LongAdder backpressureSkips = new LongAdder();

    /** Translate requests handed to the scheduler (each owes one terminal frame). */
    public long accepted() {
        return accepted.sum();
    }

    /** Translate requests answered at once with an Error (invalid, over a limit): not accepted. */
    public long rejected() {
        return rejected.sum();
    }

    /** Accepted requests ended by Done. */
    public long done() {
        return done.sum();
    }

    /** Accepted requests ended by Error (deadline, backend failure, shutdown, connection error). */
    public long errors() {
        return errors.sum();
    }

    /** Accepted requests ended by Cancelled. */
    public long cancelled() {
        return cancelled.sum();
    }

    /** Accepted requests ended because their connection closed (no frame sent). */
    public long dropped() {
        return dropped.sum();
    }

    /** Sum of all terminal outcomes: equals {@link #accepted()} when nothing is in flight. */
    public long terminated() {
        return done() + errors() + cancelled() + dropped();
    }

    /** Output tokens produced. */
    public long tokens() {
        return tokens.sum();
    }

    /** Batched decoder steps run. */
    public long steps() {
        return steps.sum();
    }

    /** Decoder rows over all steps (divide by {@link #steps()} for the mean batch size). */
    public long stepRows() {
        return stepRows.sum();
    }

    /** Connections closed with an Error for request 0. */
    public long connectionErrors() {
        return connectionErrors.sum();
    }

    /** Times a live request was left out of a step because its connection was not writable. */
    public long backpressureSkips() {
        return backpressureSkips.sum();
    }

    @Override
    public String toString() {
        return "ServerStats[accepted " + accepted() + ", rejected " + rejected() + ", done " + done() + ", errors "
                + errors() + ", cancelled " + cancelled() + ", dropped " + dropped() + ", tokens " + tokens()
                + ", steps " + steps() + ", rows " + stepRows() + ", connection errors " + connectionErrors()
                + ", backpressure skips " + backpressureSkips() + "]";
    }
}
