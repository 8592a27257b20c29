package org.shiftformer.fpga.xrt;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Objects;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * A device buffer ({@code xrtBufferHandle}) with its host backing memory. {@link #map()}, {@link #write} and
 * {@link #read} touch the host memory only; {@link #syncToDevice} and {@link #syncFromDevice} move bytes
 * between it and the device (a kernel sees only what was synced to the device).
 *
 * <p>Not thread-safe: use a buffer from one thread at a time (the mapped segment itself may be read and
 * written from any thread). Closing it frees the buffer and invalidates the mapped segment; a second close
 * does nothing.
 */
public final class XrtBuffer extends XrtHandle {
    private static final int TO_DEVICE = 0; // XCL_BO_SYNC_BO_TO_DEVICE
    private static final int FROM_DEVICE = 1; // XCL_BO_SYNC_BO_FROM_DEVICE

    private final long size;
    private final String deviceName;
    /** Owns the mapped view: closing the buffer closes it, so no Java code can touch freed memory. */
    private final Arena arena = Arena.ofShared();
    private final MemorySegment callState = XrtApi.newCallState(arena);
    private MemorySegment mapped;

    XrtBuffer(MemorySegment handle, long size, String deviceName) {
        super(handle);
        this.size = size;
        this.deviceName = deviceName;
    }

    /** Size in bytes. */
    public long size() {
        return size;
    }

    /**
     * The host backing memory ({@code xrtBOMap}) as a segment of {@link #size()} bytes, valid until the
     * buffer is closed. Writing it changes only the host copy: sync to the device before a run reads it.
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_FAILURE} when XRT cannot map the buffer
     */
    @SuppressWarnings("restricted") // sizes XRT's mapping to the buffer, owned by the buffer's arena
    public MemorySegment map() {
        ensureOpen();
        if (mapped == null) {
            try {
                MemorySegment p = (MemorySegment) XrtApi.BO_MAP.invokeExact(callState, handle);
                if (p.equals(MemorySegment.NULL)) {
                    throw XrtApi.failure(ErrorCode.BACKEND_FAILURE, "xrtBOMap(" + describe() + ")", "NULL",
                            XrtApi.errno(callState));
                }
                mapped = p.reinterpret(size, arena, null);
            } catch (Throwable t) {
                throw XrtApi.unexpected("xrtBOMap", t);
            }
        }
        return mapped;
    }

    /**
     * Copies all of {@code src} into the host memory at {@code offset} ({@code xrtBOWrite}). A heap segment
     * (e.g. {@code MemorySegment.ofArray}) is passed to XRT directly, without a copy.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} when the bytes do not fit,
     *                              {@link ErrorCode#BACKEND_FAILURE} when XRT reports a failure
     */
    public void write(MemorySegment src, long offset) {
        Objects.requireNonNull(src, "src");
        long bytes = src.byteSize();
        checkRange("write", bytes, offset);
        ensureOpen();
        int rc;
        try {
            rc = src.isNative()
                    ? (int) XrtApi.BO_WRITE.invokeExact(callState, handle, src, bytes, offset)
                    : (int) XrtApi.BO_WRITE_HEAP.invokeExact(handle, src, bytes, offset);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtBOWrite", t);
        }
        if (rc != 0) {
            throw XrtApi.failure(ErrorCode.BACKEND_FAILURE, "xrtBOWrite(" + describe() + ", " + bytes + " bytes at offset "
                    + offset + ")", "returned " + rc, src.isNative() ? XrtApi.errno(callState) : 0);
        }
    }

    /**
     * Fills all of {@code dst} from the host memory at {@code offset} ({@code xrtBORead}).
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} when the range does not fit or
     *                              {@code dst} is read-only, {@link ErrorCode#BACKEND_FAILURE} when XRT fails
     */
    public void read(MemorySegment dst, long offset) {
        Objects.requireNonNull(dst, "dst");
        if (dst.isReadOnly()) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "cannot read " + describe() + " into a read-only segment");
        }
        long bytes = dst.byteSize();
        checkRange("read", bytes, offset);
        ensureOpen();
        int rc;
        try {
            rc = dst.isNative()
                    ? (int) XrtApi.BO_READ.invokeExact(callState, handle, dst, bytes, offset)
                    : (int) XrtApi.BO_READ_HEAP.invokeExact(handle, dst, bytes, offset);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtBORead", t);
        }
        if (rc != 0) {
            throw XrtApi.failure(ErrorCode.BACKEND_FAILURE, "xrtBORead(" + describe() + ", " + bytes + " bytes at offset "
                    + offset + ")", "returned " + rc, dst.isNative() ? XrtApi.errno(callState) : 0);
        }
    }

    /** Copies the whole host memory to the device. */
    public void syncToDevice() {
        syncToDevice(size, 0);
    }

    /**
     * Copies {@code bytes} at {@code offset} from the host memory to the device
     * ({@code xrtBOSync(XCL_BO_SYNC_BO_TO_DEVICE)}).
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} when the range does not fit,
     *                              {@link ErrorCode#BACKEND_FAILURE} when the transfer fails
     */
    public void syncToDevice(long bytes, long offset) {
        sync(TO_DEVICE, "XCL_BO_SYNC_BO_TO_DEVICE", bytes, offset);
    }

    /** Copies the whole device memory to the host. */
    public void syncFromDevice() {
        syncFromDevice(size, 0);
    }

    /**
     * Copies {@code bytes} at {@code offset} from the device to the host memory
     * ({@code xrtBOSync(XCL_BO_SYNC_BO_FROM_DEVICE)}).
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} when the range does not fit,
     *                              {@link ErrorCode#BACKEND_FAILURE} when the transfer fails
     */
    public void syncFromDevice(long bytes, long offset) {
        sync(FROM_DEVICE, "XCL_BO_SYNC_BO_FROM_DEVICE", bytes, offset);
    }

    private void sync(int direction, String directionName, long bytes, long offset) {
        checkRange("sync", bytes, offset);
        ensureOpen();
        int rc;
        try {
            rc = (int) XrtApi.BO_SYNC.invokeExact(callState, handle, direction, bytes, offset);
        } catch (Throwable t) {
            throw XrtApi.unexpected("xrtBOSync", t);
        }
        if (rc != 0) {
            throw XrtApi.failure(ErrorCode.BACKEND_FAILURE, "xrtBOSync(" + describe() + ", " + directionName + ", "
                    + bytes + " bytes at offset " + offset + ")", "returned " + rc, XrtApi.errno(callState));
        }
    }

    private void checkRange(String what, long bytes, long offset) {
        if (offset < 0 || bytes < 0 || offset > size || bytes > size - offset) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "cannot " + what + " " + bytes + " bytes at offset "
                    + offset + " of " + describe() + ": outside [0, " + size + ")");
        }
    }

    @Override
    String closedName() {
        return "buffer " + describe();
    }

    private String describe() {
        return size + "-byte buffer " + XrtApi.hex(handle) + " on " + deviceName;
    }

    /**
     * Frees the buffer ({@code xrtBOFree}) and invalidates the mapped segment; a second call does nothing.
     *
     * @throws ShiftformerException {@link ErrorCode#BACKEND_FAILURE} when XRT reports a failure
     */
    @Override
    public void close() {
        closeOnce(XrtApi.BO_FREE, "xrtBOFree", describe(), callState, arena::close);
    }

    @Override
    public String toString() {
        return "XrtBuffer[" + describe() + (isClosed() ? ", closed" : "") + "]";
    }
}
