package org.shiftformer.fpga.xrt;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** The state of an XRT run: XRT's {@code enum ert_cmd_state} (ert.h), with the same numeric values. */
public enum RunState {
    /** Opened (or set up) but not started. */
    NEW(1),
    /** Started, waiting for the compute unit. */
    QUEUED(2),
    /** On the compute unit. */
    RUNNING(3),
    /** Finished successfully. */
    COMPLETED(4),
    /** Finished with an error (the kernel or the command failed). */
    ERROR(5),
    /** Aborted by the scheduler. */
    ABORT(6),
    /** Submitted to the scheduler. */
    SUBMITTED(7),
    /** A wait ran out of time (returned by xrtRunWaitFor, or set when the scheduler reset a hung command). */
    TIMEOUT(8),
    /** The command timed out and the compute unit could not be reset. */
    NORESPONSE(9),
    /** A soft kernel returned an error. */
    SKERROR(10),
    /** A soft kernel crashed. */
    SKCRASHED(11);

    private static final RunState[] BY_VALUE = new RunState[12];

    static {
        for (RunState s : values()) {
            BY_VALUE[s.value] = s;
        }
    }

    private final int value;

    RunState(int value) {
        this.value = value;
    }

    /** The {@code ert_cmd_state} value. */
    public int value() {
        return value;
    }

    /** True for a state a run never leaves by itself (it completed, failed or was aborted). */
    public boolean isFinal() {
        return this == COMPLETED || this == ERROR || this == ABORT || this == NORESPONSE || this == SKERROR
                || this == SKCRASHED;
    }

    /**
     * True while the compute unit may still hold the run (QUEUED, SUBMITTED, RUNNING): its handle must not be
     * closed nor its buffers freed (real XRT aborts the process on {@code xrtRunClose} of such a run).
     */
    public boolean isInFlight() {
        return this == QUEUED || this == SUBMITTED || this == RUNNING;
    }

    /**
     * The state with this {@code ert_cmd_state} value.
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_FAILURE} for a value XRT does not define
     */
    public static RunState of(int value) {
        if (value < 0 || value >= BY_VALUE.length || BY_VALUE[value] == null) {
            throw new ShiftformerException(ErrorCode.BACKEND_FAILURE, "XRT returned ert_cmd_state " + value
                    + ", which ert.h does not define (known: 1..11)");
        }
        return BY_VALUE[value];
    }
}
