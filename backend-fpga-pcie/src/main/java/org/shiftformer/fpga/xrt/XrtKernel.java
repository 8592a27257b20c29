package org.shiftformer.fpga.xrt;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.ArrayList;
import java.util.List;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * An open kernel of a loaded xclbin ({@code xrtKernelHandle}). Thread-safe; closing it is idempotent.
 * Runs opened from it are separate resources: close them first.
 */
public final class XrtKernel extends XrtHandle {
    private final XrtDevice device;
    private final String name;

    XrtKernel(XrtDevice device, MemorySegment handle, String name) {
        this.device = device;
        super(handle);
        this.name = name;
    }

    /** The name it was opened by. */
    public String name() {
        return name;
    }

    /** The device it was opened on. */
    public XrtDevice device() {
        return device;
    }

    /**
     * The memory group of a buffer argument ({@code xrtKernelArgGroupId}): allocate that argument's buffer
     * there.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} for an index the kernel does not have or
     *                              an argument that is not a buffer (XRT returns a negative value)
     */
    public int groupId(int argIndex) {
        ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = XrtApi.newCallState(arena);
            int group = (int) XrtApi.KERNEL_ARG_GROUP_ID.invokeExact(state, handle, argIndex);
            if (group < 0) {
                throw XrtApi.failure(ErrorCode.INVALID_ARGUMENT, "xrtKernelArgGroupId(kernel " + name + ", argument "
                        + argIndex + ")", "returned " + group, XrtApi.errno(state));
            }
            return group;
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtKernelArgGroupId", t);
        }
    }

    /**
     * Opens a run of this kernel ({@code xrtRunOpen}); set its arguments, then start it.
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_FAILURE} when XRT cannot create the run
     */
    public XrtRun newRun() {
        ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = XrtApi.newCallState(arena);
            MemorySegment h = (MemorySegment) XrtApi.RUN_OPEN.invokeExact(state, handle);
            if (h.equals(MemorySegment.NULL)) {
                throw XrtApi.failure(ErrorCode.BACKEND_FAILURE, "xrtRunOpen(kernel " + name + ")", "NULL",
                        XrtApi.errno(state));
            }
            return new XrtRun(h, name);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtRunOpen", t);
        }
    }

    /**
     * Sets every argument and starts a run in one call ({@code xrtKernelRun}, variadic): each of
     * {@code args} is an {@link XrtBuffer}, an {@link Integer} (a 4-byte scalar) or a {@link Long} (an 8-byte
     * scalar), in the kernel's argument order. Close the returned run. Convenient rather than fast: the
     * arguments are boxed and the call goes through {@code invokeWithArguments}; per-token code reuses an
     * {@link XrtRun} instead.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} for an argument of another type,
     *                              {@link ErrorCode#BACKEND_FAILURE} when XRT rejects the arguments or the start
     */
    public XrtRun run(Object... args) {
        ensureOpen();
        StringBuilder types = new StringBuilder(args.length);
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            if (a instanceof XrtBuffer bo) {
                bo.ensureOpen();
                types.append('P');
            } else if (a instanceof Integer) {
                types.append('I');
            } else if (a instanceof Long) {
                types.append('J');
            } else {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "xrtKernelRun(kernel " + name + ") argument "
                        + i + ": expected an XrtBuffer, an Integer or a Long, got "
                        + (a == null ? "null" : a.getClass().getName()));
            }
        }
        MethodHandle h = XrtApi.kernelRun(types.toString());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = XrtApi.newCallState(arena);
            List<Object> call = new ArrayList<>(args.length + 2);
            call.add(state);
            call.add(handle);
            for (Object a : args) {
                call.add(a instanceof XrtBuffer bo ? bo.handle() : a);
            }
            MemorySegment run = (MemorySegment) h.invokeWithArguments(call);
            if (run.equals(MemorySegment.NULL)) {
                throw XrtApi.failure(ErrorCode.BACKEND_FAILURE, "xrtKernelRun(kernel " + name + ", " + args.length
                        + " arguments)", "NULL", XrtApi.errno(state));
            }
            return new XrtRun(run, name);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtKernelRun", t);
        }
    }

    @Override
    String closedName() {
        return "kernel " + name;
    }

    /**
     * Closes the kernel ({@code xrtKernelClose}); a second call does nothing.
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_FAILURE} when XRT reports a failure
     */
    @Override
    public void close() {
        closeOnce(XrtApi.KERNEL_CLOSE, "xrtKernelClose", "kernel " + name);
    }

    @Override
    public String toString() {
        return "XrtKernel[" + name + " on " + device.name() + (isClosed() ? ", closed" : "") + "]";
    }
}
