package org.shiftformer.fpga.xrt;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.concurrent.atomic.AtomicBoolean;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * What {@link XrtDevice}, {@link XrtKernel}, {@link XrtBuffer} and {@link XrtRun} share: the XRT handle, the
 * closed flag, the "is closed" check and the XRT call that releases the handle exactly once.
 */
abstract class XrtHandle implements AutoCloseable {
    /** The XRT handle ({@code xrtDeviceHandle}, {@code xrtKernelHandle}, ...). */
    final MemorySegment handle;
    private final AtomicBoolean closed = new AtomicBoolean();

    XrtHandle(MemorySegment handle) {
        this.handle = handle;
    }

    /** What the "is closed" message names after "XRT ", e.g. "device 0" or "kernel shiftformer". */
    abstract String closedName();

    /** True once {@link #close()} ran. */
    public final boolean isClosed() {
        return closed.get();
    }

    final MemorySegment handle() {
        return handle;
    }

    /**
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} "XRT <i>what</i> is closed" once
     *                              {@link #close()} ran
     */
    final void ensureOpen() {
        if (closed.get()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "XRT " + closedName() + " is closed");
        }
    }

    /**
     * Releases the handle the first time it is called: {@code int fn(handle)} (xrtDeviceClose,
     * xrtKernelClose, ...; errno captured), with a call state of its own (for objects shared between
     * threads); a later call does nothing.
     *
     * @param target what the failure message names in the call's parentheses
     * @throws ShiftformerException {@link ErrorCode#BACKEND_FAILURE} naming the call when it returns non-zero
     */
    final void closeOnce(MethodHandle fn, String fnName, String target) {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try (Arena arena = Arena.ofConfined()) {
            release(fn, fnName, target, XrtApi.newCallState(arena));
        }
    }

    /** {@link #closeOnce(MethodHandle, String, String)} with the object's own call state. */
    final void closeOnce(MethodHandle fn, String fnName, String target, MemorySegment callState) {
        closeOnce(fn, fnName, target, callState, () -> { });
    }

    /**
     * {@link #closeOnce(MethodHandle, String, String)} with the object's own call state; {@code after} runs
     * once the call returned or failed (the errno is read before), only on the first call.
     */
    final void closeOnce(MethodHandle fn, String fnName, String target, MemorySegment callState, Runnable after) {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            release(fn, fnName, target, callState);
        } finally {
            after.run();
        }
    }

    private void release(MethodHandle fn, String fnName, String target, MemorySegment callState) {
        int rc;
        int errno;
        try {
            rc = (int) fn.invokeExact(callState, handle);
            errno = XrtApi.errno(callState);
        } catch (Throwable t) {
            throw XrtApi.unexpected(fnName, t);
        }
        if (rc != 0) {
            throw XrtApi.failure(ErrorCode.BACKEND_FAILURE, fnName + "(" + target + ")", "returned " + rc, errno);
        }
    }

    /** Releases the handle ({@code xrtXxxClose} or {@code xrtBOFree}); a second call does nothing. */
    @Override
    public abstract void close();
}
