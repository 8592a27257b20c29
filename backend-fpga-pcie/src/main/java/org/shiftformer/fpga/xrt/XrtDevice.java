package org.shiftformer.fpga.xrt;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Objects;
import java.util.regex.Pattern;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * An open XRT device ({@code xrtDeviceHandle}). Thread-safe; closing it is idempotent. Kernels and buffers
 * opened on it are separate resources: close them first (XRT allows closing the device while they are open,
 * and the host emulation counts them as still live).
 */
public final class XrtDevice extends XrtHandle {
    /** Bytes of an xclbin UUID ({@code xuid_t}). */
    public static final int UUID_BYTES = 16;
    /** {@code XRT_BO_FLAGS_NONE}: an ordinary buffer with a host and a device copy. */
    public static final long BO_FLAGS_NONE = 0;
    /**
     * {@code XRT_BO_FLAGS_DEV_ONLY} ({@code 1U << 28}, xrt_mem.h): device memory only, no host copy. For
     * buffers only kernels touch (caches, scratch); such a buffer cannot be mapped, written, read or synced.
     */
    public static final long BO_FLAGS_DEV_ONLY = 1L << 28;

    private static final Pattern BDF = Pattern.compile("([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7]");

    private final String name;
    /** The UUID of the xclbin this object loaded last (null until then); read by openKernel. */
    private volatile byte[] loadedUuid;

    private XrtDevice(MemorySegment handle, String name) {
        super(handle);
        this.name = name;
    }

    /**
     * Opens the device with this index ({@code xrtDeviceOpen}).
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} for a negative index,
     *                              {@link ErrorCode#BACKEND_UNAVAILABLE} when XRT or the device is missing
     */
    public static XrtDevice open(int index) {
        if (index < 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "XRT device index must be >= 0, got " + index);
        }
        XrtLibrary.load();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = XrtApi.newCallState(arena);
            MemorySegment h = (MemorySegment) XrtApi.DEVICE_OPEN.invokeExact(state, index);
            if (h.equals(MemorySegment.NULL)) {
                throw XrtApi.failure(ErrorCode.BACKEND_UNAVAILABLE, "xrtDeviceOpen(" + index + ")", "NULL",
                        XrtApi.errno(state));
            }
            return new XrtDevice(h, "device " + index);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtDeviceOpen", t);
        }
    }

    /**
     * Opens the device at this PCIe address ({@code xrtDeviceOpenByBDF}), e.g. {@code 0000:65:00.1}.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} for a string that is not a BDF,
     *                              {@link ErrorCode#BACKEND_UNAVAILABLE} when XRT or the device is missing
     */
    public static XrtDevice openByBdf(String bdf) {
        Objects.requireNonNull(bdf, "bdf");
        if (!BDF.matcher(bdf).matches()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "'" + bdf + "' is not a PCIe BDF (expected [dddd:]bb:dd.f in hex, e.g. 0000:65:00.1)");
        }
        XrtLibrary.load();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = XrtApi.newCallState(arena);
            MemorySegment h = (MemorySegment) XrtApi.DEVICE_OPEN_BY_BDF.invokeExact(state, arena.allocateFrom(bdf));
            if (h.equals(MemorySegment.NULL)) {
                throw XrtApi.failure(ErrorCode.BACKEND_UNAVAILABLE, "xrtDeviceOpenByBDF(" + bdf + ")", "NULL",
                        XrtApi.errno(state));
            }
            return new XrtDevice(h, "device " + bdf);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtDeviceOpenByBDF", t);
        }
    }

    /**
     * Loads an xclbin file onto the device ({@code xrtDeviceLoadXclbinFile}) and returns its 16-byte UUID.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} when the file does not exist,
     *                              {@link ErrorCode#BACKEND_UNAVAILABLE} when XRT cannot load it
     */
    public byte[] loadXclbin(Path xclbin) {
        Objects.requireNonNull(xclbin, "xclbin");
        ensureOpen();
        if (!Files.isRegularFile(xclbin)) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "xclbin file " + xclbin + " does not exist");
        }
        String file = xclbin.toAbsolutePath().toString();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = XrtApi.newCallState(arena);
            int rc = (int) XrtApi.DEVICE_LOAD_XCLBIN_FILE.invokeExact(state, handle, arena.allocateFrom(file));
            if (rc != 0) {
                throw XrtApi.failure(ErrorCode.BACKEND_UNAVAILABLE, "xrtDeviceLoadXclbinFile(" + name + ", " + file + ")",
                        "returned " + rc, XrtApi.errno(state));
            }
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtDeviceLoadXclbinFile", t);
        }
        byte[] uuid = xclbinUuid();
        loadedUuid = uuid;
        return uuid.clone();
    }

    /**
     * The UUID of the xclbin loaded on the device now ({@code xrtDeviceGetXclbinUUID}); it can differ from
     * the one this process loaded if another process loaded a different xclbin since.
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_UNAVAILABLE} when XRT cannot tell (no xclbin)
     */
    public byte[] xclbinUuid() {
        ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = XrtApi.newCallState(arena);
            MemorySegment out = arena.allocate(UUID_BYTES);
            int rc = (int) XrtApi.DEVICE_GET_XCLBIN_UUID.invokeExact(state, handle, out);
            if (rc != 0) {
                throw XrtApi.failure(ErrorCode.BACKEND_UNAVAILABLE, "xrtDeviceGetXclbinUUID(" + name + ")",
                        "returned " + rc, XrtApi.errno(state));
            }
            return out.toArray(ValueLayout.JAVA_BYTE);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtDeviceGetXclbinUUID", t);
        }
    }

    /**
     * Opens a kernel of the loaded xclbin ({@code xrtPLKernelOpen}, shared compute-unit access). The xclbin
     * is the one {@link #loadXclbin} loaded last, or else the one on the device now.
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_UNAVAILABLE} when the xclbin has no such kernel
     */
    public XrtKernel openKernel(String kernelName) {
        Objects.requireNonNull(kernelName, "kernelName");
        if (kernelName.isEmpty()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "kernel name is empty");
        }
        ensureOpen();
        byte[] uuid = loadedUuid != null ? loadedUuid : xclbinUuid();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = XrtApi.newCallState(arena);
            MemorySegment id = arena.allocate(UUID_BYTES);
            MemorySegment.copy(uuid, 0, id, ValueLayout.JAVA_BYTE, 0, UUID_BYTES);
            MemorySegment h = (MemorySegment) XrtApi.PL_KERNEL_OPEN.invokeExact(state, handle, id, arena.allocateFrom(kernelName));
            if (h.equals(MemorySegment.NULL)) {
                throw XrtApi.failure(ErrorCode.BACKEND_UNAVAILABLE, "xrtPLKernelOpen(" + name + ", xclbin "
                        + HexFormat.of().formatHex(uuid) + ", \"" + kernelName + "\")", "NULL", XrtApi.errno(state));
            }
            return new XrtKernel(this, h, kernelName);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtPLKernelOpen", t);
        }
    }

    /** {@link #alloc(long, long, int)} with {@link #BO_FLAGS_NONE}. */
    public XrtBuffer alloc(long bytes, int memoryGroup) {
        return alloc(bytes, BO_FLAGS_NONE, memoryGroup);
    }

    /**
     * Allocates a buffer ({@code xrtBOAlloc}) in a memory group (take it from {@link XrtKernel#groupId}).
     *
     * @param flags {@code xrtBufferFlags} (xrt_mem.h), normally {@link #BO_FLAGS_NONE}
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} for a size below 1 or a negative group,
     *                              {@link ErrorCode#BACKEND_FAILURE} when XRT cannot allocate it
     */
    public XrtBuffer alloc(long bytes, long flags, int memoryGroup) {
        if (bytes < 1) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "buffer size must be >= 1 byte, got " + bytes);
        }
        if (memoryGroup < 0) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "memory group must be >= 0, got " + memoryGroup);
        }
        ensureOpen();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment state = XrtApi.newCallState(arena);
            MemorySegment h = (MemorySegment) XrtApi.BO_ALLOC.invokeExact(state, handle, bytes, flags, memoryGroup);
            if (h.equals(MemorySegment.NULL)) {
                throw XrtApi.failure(ErrorCode.BACKEND_FAILURE, "xrtBOAlloc(" + name + ", " + bytes + " bytes, flags 0x"
                        + Long.toHexString(flags) + ", group " + memoryGroup + ")", "NULL", XrtApi.errno(state));
            }
            return new XrtBuffer(h, bytes, name);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtBOAlloc", t);
        }
    }

    /** "device 0" or "device 0000:65:00.1", as messages name it. */
    public String name() {
        return name;
    }

    @Override
    String closedName() {
        return name;
    }

    /**
     * Closes the device ({@code xrtDeviceClose}); a second call does nothing.
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_FAILURE} when XRT reports a failure
     */
    @Override
    public void close() {
        closeOnce(XrtApi.DEVICE_CLOSE, "xrtDeviceClose", name);
    }

    @Override
    public String toString() {
        return "XrtDevice[" + name + (isClosed() ? ", closed" : "") + "]";
    }
}
