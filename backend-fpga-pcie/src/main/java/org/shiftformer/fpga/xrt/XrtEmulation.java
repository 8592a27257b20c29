package org.shiftformer.fpga.xrt;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.util.Objects;
import java.util.Optional;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Control of shiftformer's host-emulation XRT library (present only when {@link XrtLibrary} loaded it):
 * fault injection and latency, and counters of what is open.
 *
 * <p>Configuration spec (also read from the environment variable {@value #ENV} when the library loads):
 * comma-separated items
 * <ul>
 *   <li>{@code fail-open}: every {@code xrtDeviceOpen} / {@code xrtDeviceOpenByBDF} fails (ENODEV);</li>
 *   <li>{@code fail-xclbin}: every {@code xrtDeviceLoadXclbinFile} fails (EIO);</li>
 *   <li>{@code run-error=N}: the N-th {@code xrtRunStart} after configuring (1-based) ends in ERROR;</li>
 *   <li>{@code run-timeout=N}: the N-th run never completes (waits return TIMEOUT) and holds the device's compute
 *       unit, so later runs of that device stay QUEUED, until the device closes (then both end in ABORT);</li>
 *   <li>{@code run-abort=N}: the N-th run ends in ABORT;</li>
 *   <li>{@code launch-us=U}: every run spends U more microseconds before its kernel starts;</li>
 *   <li>{@code gbps=G}: every sync sleeps bytes / G nanoseconds (a modelled G GB/s link).</li>
 * </ul>
 * An empty spec clears everything. An unknown item makes {@link #configure} fail (and, in the environment
 * variable, makes every device open fail naming it).
 *
 * <p>Misuse that real XRT punishes with {@code std::abort()} or silent memory corruption (closing a run
 * still in flight, freeing a buffer an in-flight run uses, a kernel writing past the end of a buffer) is a
 * <em>fatal error</em>: the call fails, the emulation prints it to stderr and counts it
 * ({@link #fatalErrors()}, {@link #lastFatal()}). Tests require the count not to grow.
 */
public final class XrtEmulation {
    /** Environment variable read by the emulation library when it loads. */
    public static final String ENV = "SHIFTFORMER_XRT_EMU";
    /** The symbol whose presence identifies the emulation. */
    static final String MARKER_SYMBOL = "xrtEmuConfigure";

    private final XrtLibrary library;

    private XrtEmulation(XrtLibrary library) {
        this.library = library;
    }

    /** The emulation's controls, or empty when {@code library} is a real XRT. */
    public static Optional<XrtEmulation> of(XrtLibrary library) {
        Objects.requireNonNull(library, "library");
        return library.isEmulation() ? Optional.of(new XrtEmulation(library)) : Optional.empty();
    }

    /** The emulation library. */
    public XrtLibrary library() {
        return library;
    }

    /**
     * Replaces the fault and latency configuration ({@code xrtEmuConfigure}) and restarts the run count that
     * {@code run-error=N} and friends refer to.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} naming the bad item (the previous
     *                              configuration stays)
     */
    public void configure(String spec) {
        Objects.requireNonNull(spec, "spec");
        int rc;
        try (Arena arena = Arena.ofConfined()) {
            rc = (int) Api.CONFIGURE.invokeExact(arena.allocateFrom(spec));
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtEmuConfigure", t);
        }
        if (rc != 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, XrtApi.emulationLastError());
        }
    }

    /** Devices open now. */
    public long liveDevices() {
        return counter(Api.LIVE_DEVICES);
    }

    /** Kernels open now. */
    public long liveKernels() {
        return counter(Api.LIVE_KERNELS);
    }

    /** Buffers allocated and not freed. */
    public long liveBuffers() {
        return counter(Api.LIVE_BUFFERS);
    }

    /** Runs open now. */
    public long liveRuns() {
        return counter(Api.LIVE_RUNS);
    }

    /** Runs started since the library loaded. */
    public long runsStarted() {
        return counter(Api.RUNS_STARTED);
    }

    /** Bytes synced host to device since the library loaded. */
    public long bytesSyncedToDevice() {
        return synced(0);
    }

    /** Bytes synced device to host since the library loaded. */
    public long bytesSyncedFromDevice() {
        return synced(1);
    }

    /** Nanoseconds the emulation slept to model launch and transfer latency since it loaded. */
    public long modelledNanos() {
        return counter(Api.MODELLED_NANOS);
    }

    /** Bytes of host copies of buffers alive now; a device-only buffer ({@link XrtDevice#BO_FLAGS_DEV_ONLY}) has none. */
    public long hostCopyBytes() {
        return counter(Api.HOST_COPY_BYTES);
    }

    /** Fatal errors (misuse real XRT would abort on or corrupt memory with) since the library loaded. */
    public long fatalErrors() {
        return counter(Api.FATAL_ERRORS);
    }

    /** The message of the last fatal error, or "" when there was none. */
    @SuppressWarnings("restricted") // a NUL-terminated string owned by the emulation, read at once
    public String lastFatal() {
        try {
            MemorySegment p = (MemorySegment) Api.LAST_FATAL.invokeExact();
            return p.equals(MemorySegment.NULL) ? "" : p.reinterpret(4096).getString(0);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtEmuLastFatal", t);
        }
    }

    private static long counter(MethodHandle h) {
        try {
            return (long) h.invokeExact();
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtEmu counter", t);
        }
    }

    private static long synced(int direction) {
        try {
            return (long) Api.BYTES_SYNCED.invokeExact(direction);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtEmuBytesSynced", t);
        }
    }

    @Override
    public String toString() {
        return "XrtEmulation[" + library.path() + "]";
    }

    /** The emulation-only calls; initialised only once {@link #of} found them. */
    @SuppressWarnings("restricted") // links the emulation's control calls
    private static final class Api {
        private static final Linker LINKER = Linker.nativeLinker();
        private static final SymbolLookup LIB = XrtLibrary.loaded().lookup();
        static final MethodHandle CONFIGURE = handle("xrtEmuConfigure", FunctionDescriptor.of(JAVA_INT, ADDRESS));
        static final MethodHandle LIVE_DEVICES = handle("xrtEmuLiveDevices", FunctionDescriptor.of(JAVA_LONG));
        static final MethodHandle LIVE_KERNELS = handle("xrtEmuLiveKernels", FunctionDescriptor.of(JAVA_LONG));
        static final MethodHandle LIVE_BUFFERS = handle("xrtEmuLiveBuffers", FunctionDescriptor.of(JAVA_LONG));
        static final MethodHandle LIVE_RUNS = handle("xrtEmuLiveRuns", FunctionDescriptor.of(JAVA_LONG));
        static final MethodHandle RUNS_STARTED = handle("xrtEmuRunsStarted", FunctionDescriptor.of(JAVA_LONG));
        static final MethodHandle BYTES_SYNCED = handle("xrtEmuBytesSynced", FunctionDescriptor.of(JAVA_LONG, JAVA_INT));
        static final MethodHandle MODELLED_NANOS = handle("xrtEmuModelledNanos", FunctionDescriptor.of(JAVA_LONG));
        static final MethodHandle HOST_COPY_BYTES = handle("xrtEmuHostCopyBytes", FunctionDescriptor.of(JAVA_LONG));
        static final MethodHandle FATAL_ERRORS = handle("xrtEmuFatalErrors", FunctionDescriptor.of(JAVA_LONG));
        static final MethodHandle LAST_FATAL = handle("xrtEmuLastFatal", FunctionDescriptor.of(ADDRESS));

        private static MethodHandle handle(String name, FunctionDescriptor fd) {
            MemorySegment symbol = LIB.find(name).orElseThrow(() -> new ShiftformerException(ErrorCode.BACKEND_UNAVAILABLE,
                    XrtLibrary.loaded().path() + " exports " + MARKER_SYMBOL + " but not " + name
                            + ": an emulation library of another version"));
            return LINKER.downcallHandle(symbol, fd);
        }
    }
}
