package org.shiftformer.fpga.xrt;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.Objects;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * One reusable execution context of a kernel ({@code xrtRunHandle}): set the arguments, {@link #start()},
 * {@link #waitFor(Duration)}; start again for another execution (arguments keep their values).
 *
 * <p>Not thread-safe: drive a run from one thread at a time. A second close does nothing.
 */
public final class XrtRun extends XrtHandle {
    private final String kernelName;
    /** Where the linker captures errno; GC-managed, so a run costs no arena close. */
    private final MemorySegment callState = XrtApi.newCallState(Arena.ofAuto());

    XrtRun(MemorySegment handle, String kernelName) {
        super(handle);
        this.kernelName = kernelName;
    }

    /** The kernel this run executes. */
    public String kernelName() {
        return kernelName;
    }

    /**
     * Sets a buffer argument ({@code xrtRunSetArg} with the buffer handle). The kernel will read the
     * buffer's device copy: sync it first.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} when XRT rejects the index or type
     */
    public XrtRun arg(int index, XrtBuffer bo) {
        Objects.requireNonNull(bo, "bo");
        bo.ensureOpen();
        ensureOpen();
        int rc;
        try {
            rc = (int) XrtApi.RUN_SET_ARG_POINTER.invokeExact(callState, handle, index, bo.handle());
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtRunSetArg", t);
        }
        if (rc != 0) {
            throw argFailure(index, "buffer " + XrtApi.hex(bo.handle()), rc);
        }
        return this;
    }

    /**
     * Sets a 4-byte scalar argument ({@code xrtRunSetArg} with an {@code int}).
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} when XRT rejects the index or type
     */
    public XrtRun arg(int index, int value) {
        ensureOpen();
        int rc;
        try {
            rc = (int) XrtApi.RUN_SET_ARG_INT.invokeExact(callState, handle, index, value);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtRunSetArg", t);
        }
        if (rc != 0) {
            throw argFailure(index, "int " + value, rc);
        }
        return this;
    }

    /**
     * Sets an 8-byte scalar argument ({@code xrtRunSetArg} with a 64-bit integer).
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} when XRT rejects the index or type
     */
    public XrtRun arg(int index, long value) {
        ensureOpen();
        int rc;
        try {
            rc = (int) XrtApi.RUN_SET_ARG_LONG.invokeExact(callState, handle, index, value);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtRunSetArg", t);
        }
        if (rc != 0) {
            throw argFailure(index, "long " + value, rc);
        }
        return this;
    }

    private ShiftformerException argFailure(int index, String value, int rc) {
        return XrtApi.failure(ErrorCode.INVALID_ARGUMENT, "xrtRunSetArg(run of kernel " + kernelName + ", index " + index
                + ", " + value + ")", "returned " + rc, XrtApi.errno(callState));
    }

    /**
     * Starts the run ({@code xrtRunStart}); it returns before the kernel finished.
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_FAILURE} when XRT cannot start it (e.g. it is still
     *                              in flight, or an argument was never set)
     */
    public void start() {
        ensureOpen();
        int rc;
        try {
            rc = (int) XrtApi.RUN_START.invokeExact(callState, handle);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtRunStart", t);
        }
        if (rc != 0) {
            throw XrtApi.failure(ErrorCode.BACKEND_FAILURE, "xrtRunStart(run of kernel " + kernelName + ")",
                    "returned " + rc, XrtApi.errno(callState));
        }
    }

    /**
     * Waits for the started run to complete ({@code xrtRunWaitFor}) and returns {@link RunState#COMPLETED}.
     *
     * @param timeout at least 1 ms (rounded up to whole milliseconds), at most {@link Integer#MAX_VALUE} ms
     * @throws ShiftformerException {@link ErrorCode#BACKEND_FAILURE} naming the kernel, the call and the state
     *                              when the run ends in any other state (ERROR, ABORT, TIMEOUT, ...);
     *                              {@link ErrorCode#INVALID_ARGUMENT} for a run never started or a bad timeout
     */
    public RunState waitFor(Duration timeout) {
        int timeoutMs = timeoutMs(timeout);
        RunState state = waitForState(timeoutMs);
        if (state == RunState.COMPLETED) {
            return state;
        }
        String call = "xrtRunWaitFor(run of kernel " + kernelName + ", " + timeoutMs + " ms)";
        if (state == RunState.NEW) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, call + ": the run was never started");
        }
        String why = switch (state) {
            case TIMEOUT -> "the run did not complete within " + timeoutMs + " ms";
            case ERROR -> "the device reported an error"; // XRT ignores the kernel's return value
            case ABORT -> "the run was aborted";
            default -> "the run did not complete";
        };
        // not XrtApi.failure: the wait itself worked, so errno and the emulation's last message say nothing
        throw new ShiftformerException(ErrorCode.BACKEND_FAILURE, call + " failed: state " + state + " (" + why + ")");
    }

    /**
     * Waits like {@link #waitFor(Duration)} but returns whatever state {@code xrtRunWaitFor} returned
     * ({@link RunState#TIMEOUT} when the time ran out) instead of throwing for it.
     */
    public RunState waitForState(Duration timeout) {
        return waitForState(timeoutMs(timeout));
    }

    private RunState waitForState(int timeoutMs) {
        ensureOpen();
        int state;
        try {
            state = (int) XrtApi.RUN_WAIT_FOR.invokeExact(callState, handle, timeoutMs);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtRunWaitFor", t);
        }
        return RunState.of(state);
    }

    /** The current state ({@code xrtRunState}), without waiting. */
    public RunState state() {
        ensureOpen();
        int state;
        try {
            state = (int) XrtApi.RUN_STATE.invokeExact(handle);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtRunState", t);
        }
        return RunState.of(state);
    }

    private static int timeoutMs(Duration timeout) {
        Objects.requireNonNull(timeout, "timeout");
        if (timeout.isNegative() || timeout.isZero()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "run timeout must be positive, got " + timeout);
        }
        long ms;
        try {
            ms = Math.addExact(timeout.toMillis(), timeout.toNanosPart() % 1_000_000 == 0 ? 0 : 1);
        } catch (ArithmeticException e) {
            ms = Long.MAX_VALUE;
        }
        if (ms > Integer.MAX_VALUE) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "run timeout must be at most " + Integer.MAX_VALUE
                    + " ms, got " + timeout);
        }
        return (int) ms;
    }

    @Override
    String closedName() {
        return "run of kernel " + kernelName;
    }

    /**
     * Closes the run ({@code xrtRunClose}); a second call does nothing. A run still in flight
     * ({@link RunState#isInFlight()}, asked with {@code xrtRunState}) is not closed: XRT master calls
     * {@code std::abort()} when such a run is destroyed and XRT 2022.2-2025.2 recycle its command under the
     * live compute unit. Keep it ("park" it) until a wait returns a final state or the device is gone.
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_FAILURE} when the run is in flight (it stays
     *                              open) or XRT reports a failure
     */
    @Override
    public void close() {
        if (isClosed()) {
            return;
        }
        RunState state = state();
        if (state.isInFlight()) {
            throw new ShiftformerException(ErrorCode.BACKEND_FAILURE, "xrtRunClose(run of kernel " + kernelName
                    + ") refused: the run is still in flight (" + state + "); closing it would abort the process on "
                    + "real XRT. Keep the run and its buffers until a wait returns a final state");
        }
        closeOnce(XrtApi.RUN_CLOSE, "xrtRunClose", "run of kernel " + kernelName, callState);
    }

    @Override
    public String toString() {
        return "XrtRun[" + kernelName + (isClosed() ? ", closed" : "") + "]";
    }
}
