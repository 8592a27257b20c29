package org.shiftformer.fpga.xrt;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemoryLayout.PathElement;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentHashMap;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The XRT C API as method handles, resolved once from the loaded {@link XrtLibrary} (this class is
 * initialised only after {@link XrtLibrary#load()} succeeded). C types: every XRT handle is a
 * {@code void*} ({@code ADDRESS}), {@code size_t} and {@code xrtBufferFlags} are {@code JAVA_LONG},
 * {@code unsigned int}, {@code xrtMemoryGroup} and the enums are {@code JAVA_INT}.
 *
 * <p>Handles marked "errno" take a leading call-state segment ({@link #newCallState(Arena)}): XRT's C API
 * reports the reason of a failure in {@code errno}, which the JVM may overwrite before Java could read it,
 * so the linker captures it right after the call.
 */
@SuppressWarnings("restricted") // the binding itself: linking native calls is its job (run with --enable-native-access)
final class XrtApi {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIB = XrtLibrary.loaded().lookup();
    private static final Linker.Option ERRNO = Linker.Option.captureCallState("errno");
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO_VALUE = CALL_STATE.varHandle(PathElement.groupElement("errno"));

    /** {@code xrtDeviceHandle xrtDeviceOpen(unsigned int index)}; errno. */
    static final MethodHandle DEVICE_OPEN = errno("xrtDeviceOpen", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    /** {@code xrtDeviceHandle xrtDeviceOpenByBDF(const char* bdf)}; errno. */
    static final MethodHandle DEVICE_OPEN_BY_BDF = errno("xrtDeviceOpenByBDF", FunctionDescriptor.of(ADDRESS, ADDRESS));
    /** {@code int xrtDeviceClose(xrtDeviceHandle)}; errno. */
    static final MethodHandle DEVICE_CLOSE = errno("xrtDeviceClose", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    /** {@code int xrtDeviceLoadXclbinFile(xrtDeviceHandle, const char* xclbin_fnm)}; errno. */
    static final MethodHandle DEVICE_LOAD_XCLBIN_FILE =
            errno("xrtDeviceLoadXclbinFile", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));
    /** {@code int xrtDeviceGetXclbinUUID(xrtDeviceHandle, xuid_t out)} (16 bytes out); errno. */
    static final MethodHandle DEVICE_GET_XCLBIN_UUID =
            errno("xrtDeviceGetXclbinUUID", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS));

    /** {@code xrtKernelHandle xrtPLKernelOpen(xrtDeviceHandle, const xuid_t, const char* name)}; errno. */
    static final MethodHandle PL_KERNEL_OPEN =
            errno("xrtPLKernelOpen", FunctionDescriptor.of(ADDRESS, ADDRESS, ADDRESS, ADDRESS));
    /** {@code int xrtKernelClose(xrtKernelHandle)}; errno. */
    static final MethodHandle KERNEL_CLOSE = errno("xrtKernelClose", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    /** {@code int xrtKernelArgGroupId(xrtKernelHandle, int argno)}: a group id, or negative; errno. */
    static final MethodHandle KERNEL_ARG_GROUP_ID =
            errno("xrtKernelArgGroupId", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));

    /** {@code xrtBufferHandle xrtBOAlloc(xrtDeviceHandle, size_t, xrtBufferFlags, xrtMemoryGroup)}; errno. */
    static final MethodHandle BO_ALLOC =
            errno("xrtBOAlloc", FunctionDescriptor.of(ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_INT));
    /** {@code int xrtBOFree(xrtBufferHandle)}; errno. */
    static final MethodHandle BO_FREE = errno("xrtBOFree", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    /** {@code void* xrtBOMap(xrtBufferHandle)}; errno. */
    static final MethodHandle BO_MAP = errno("xrtBOMap", FunctionDescriptor.of(ADDRESS, ADDRESS));
    /** {@code int xrtBOWrite(xrtBufferHandle, const void* src, size_t size, size_t seek)}; errno. */
    static final MethodHandle BO_WRITE =
            errno("xrtBOWrite", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG));
    /** {@link #BO_WRITE} for a heap source: a critical call (no errno), which may read the Java array directly. */
    static final MethodHandle BO_WRITE_HEAP =
            critical("xrtBOWrite", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG));
    /** {@code int xrtBORead(xrtBufferHandle, void* dst, size_t size, size_t skip)}; errno. */
    static final MethodHandle BO_READ =
            errno("xrtBORead", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG));
    /** {@link #BO_READ} for a heap destination (critical, no errno). */
    static final MethodHandle BO_READ_HEAP =
            critical("xrtBORead", FunctionDescriptor.of(JAVA_INT, ADDRESS, ADDRESS, JAVA_LONG, JAVA_LONG));
    /** {@code int xrtBOSync(xrtBufferHandle, enum xclBOSyncDirection, size_t size, size_t offset)}; errno. */
    static final MethodHandle BO_SYNC =
            errno("xrtBOSync", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG, JAVA_LONG));

    /** {@code xrtRunHandle xrtRunOpen(xrtKernelHandle)}; errno. */
    static final MethodHandle RUN_OPEN = errno("xrtRunOpen", FunctionDescriptor.of(ADDRESS, ADDRESS));
    /** {@code int xrtRunSetArg(xrtRunHandle, int index, ...)} with a buffer handle; errno. */
    static final MethodHandle RUN_SET_ARG_POINTER = variadic(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, ADDRESS));
    /** {@code xrtRunSetArg} with an {@code int} (a 4-byte scalar argument); errno. */
    static final MethodHandle RUN_SET_ARG_INT = variadic(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_INT));
    /** {@code xrtRunSetArg} with a 64-bit integer (an 8-byte scalar argument); errno. */
    static final MethodHandle RUN_SET_ARG_LONG = variadic(FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT, JAVA_LONG));
    /** {@code int xrtRunStart(xrtRunHandle)}; errno. */
    static final MethodHandle RUN_START = errno("xrtRunStart", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    /** {@code enum ert_cmd_state xrtRunWaitFor(xrtRunHandle, unsigned int timeout_ms)}; errno. */
    static final MethodHandle RUN_WAIT_FOR = errno("xrtRunWaitFor", FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_INT));
    /** {@code enum ert_cmd_state xrtRunState(xrtRunHandle)} (no errno: it only reads a state). */
    static final MethodHandle RUN_STATE = plain("xrtRunState", FunctionDescriptor.of(JAVA_INT, ADDRESS));
    /** {@code int xrtRunClose(xrtRunHandle)}; errno. */
    static final MethodHandle RUN_CLOSE = errno("xrtRunClose", FunctionDescriptor.of(JAVA_INT, ADDRESS));

    /**
     * {@code xrtRunHandle xrtKernelRun(xrtKernelHandle, ...)}: one handle per sequence of variadic C types
     * ("P" pointer, "I" int, "J" 64-bit integer), linked on first use and kept; errno.
     */
    private static final ConcurrentHashMap<String, MethodHandle> KERNEL_RUN = new ConcurrentHashMap<>();

    /** {@code const char* xrtEmuLastError(void)} of the host emulation, or null for real XRT. */
    static final MethodHandle EMU_LAST_ERROR = LIB.find("xrtEmuLastError")
            .map(a -> LINKER.downcallHandle(a, FunctionDescriptor.of(ADDRESS)))
            .orElse(null);

    /** {@code char* strerror(int)} of the C library. */
    private static final MethodHandle STRERROR = LINKER.defaultLookup().find("strerror")
            .map(a -> LINKER.downcallHandle(a, FunctionDescriptor.of(ADDRESS, JAVA_INT)))
            .orElse(null);

    private XrtApi() {
    }

    /** The {@code xrtKernelRun} handle for these variadic argument types (see {@link #KERNEL_RUN}). */
    static MethodHandle kernelRun(String types) {
        return KERNEL_RUN.computeIfAbsent(types, t -> {
            MemoryLayout[] layouts = new MemoryLayout[1 + t.length()];
            layouts[0] = ADDRESS;
            for (int i = 0; i < t.length(); i++) {
                layouts[1 + i] = switch (t.charAt(i)) {
                    case 'P' -> ADDRESS;
                    case 'I' -> JAVA_INT;
                    case 'J' -> JAVA_LONG;
                    default -> throw new IllegalArgumentException("variadic type " + t.charAt(i));
                };
            }
            return LINKER.downcallHandle(symbol("xrtKernelRun"), FunctionDescriptor.of(ADDRESS, layouts),
                    Linker.Option.firstVariadicArg(1), ERRNO);
        });
    }

    /** A segment the linker writes {@code errno} into; one per thread of calls (it is reused per call). */
    static MemorySegment newCallState(Arena arena) {
        return arena.allocate(CALL_STATE);
    }

    /** The {@code errno} captured by the last call that used {@code callState}. */
    static int errno(MemorySegment callState) {
        return (int) ERRNO_VALUE.get(callState, 0L);
    }

    /**
     * The exception for a failed call: the call with its arguments, what it returned, {@code errno} and
     * its meaning, and (under the host emulation) the emulation's own message.
     */
    static ShiftformerException failure(ErrorCode code, String call, String result, int errno) {
        StringBuilder sb = new StringBuilder(call).append(" failed: ").append(result);
        if (errno != 0) {
            sb.append(", errno ").append(errno).append(" (").append(strerror(errno)).append(')');
        }
        String detail = emulationLastError();
        if (!detail.isEmpty()) {
            sb.append(" [xrt-emu: ").append(detail).append(']');
        }
        return new ShiftformerException(code, sb.toString());
    }

    /** The host emulation's message for this thread's last failed call, or "" (also for real XRT). */
    static String emulationLastError() {
        if (EMU_LAST_ERROR == null) {
            return "";
        }
        try {
            MemorySegment s = (MemorySegment) EMU_LAST_ERROR.invokeExact();
            return s.equals(MemorySegment.NULL) ? "" : s.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            throw unexpected("xrtEmuLastError", t);
        }
    }

    /** The C library's text for an errno value. */
    static String strerror(int errno) {
        if (STRERROR == null) {
            return "errno " + errno;
        }
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
            return s.equals(MemorySegment.NULL) ? "errno " + errno : s.reinterpret(1024).getString(0);
        } catch (Throwable t) {
            throw unexpected("strerror", t);
        }
    }

    /** A Throwable out of invokeExact is a bug of the binding (wrong types), never an XRT failure. */
    static ShiftformerException unexpected(String call, Throwable t) {
        if (t instanceof ShiftformerException se) {
            return se;
        }
        if (t instanceof Error e) {
            throw e;
        }
        return new ShiftformerException(ErrorCode.INTERNAL, "calling " + call + " through FFM failed: " + t, t);
    }

    /** "0x7f12..." for a handle in messages. */
    static String hex(MemorySegment handle) {
        return "0x" + Long.toHexString(handle.address());
    }

    private static MethodHandle errno(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(symbol(name), fd, ERRNO);
    }

    private static MethodHandle plain(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(symbol(name), fd);
    }

    private static MethodHandle critical(String name, FunctionDescriptor fd) {
        return LINKER.downcallHandle(symbol(name), fd, Linker.Option.critical(true));
    }

    /** One {@code xrtRunSetArg} handle per C type passed in the variadic position (argument 2). */
    private static MethodHandle variadic(FunctionDescriptor fd) {
        return LINKER.downcallHandle(symbol("xrtRunSetArg"), fd, Linker.Option.firstVariadicArg(2), ERRNO);
    }

    private static MemorySegment symbol(String name) {
        return LIB.find(name).orElseThrow(() -> new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE,
                XrtLibrary.loaded().path() + " does not export " + name));
    }
}
