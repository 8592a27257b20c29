/**
 * The XRT C API ({@code libxrt_coreutil.so.2}) through {@code java.lang.foreign}.
 *
 * <p>{@link org.shiftformer.fpga.xrt.XrtLibrary} finds and loads the library (one documented lookup order);
 * {@link org.shiftformer.fpga.xrt.XrtDevice}, {@link org.shiftformer.fpga.xrt.XrtKernel},
 * {@link org.shiftformer.fpga.xrt.XrtBuffer} and {@link org.shiftformer.fpga.xrt.XrtRun} wrap XRT's handles
 * as {@code AutoCloseable} resources whose memory is owned by arenas. Every call goes through a
 * {@code static final MethodHandle} resolved once and invoked with {@code invokeExact}; {@code errno} is
 * captured by the linker; a failure (a NULL handle, a non-zero return, a run ending in ERROR, ABORT or
 * TIMEOUT) becomes a {@link org.shiftformer.api.ShiftformerException} whose message names the call, its
 * arguments and errno's meaning. {@link org.shiftformer.fpga.xrt.XrtEmulation} controls the host-emulation
 * library when it is the one loaded.
 *
 * <pre>
 *   XrtDevice.open(0) ─ loadXclbin(file) ─ openKernel("vadd") ─ groupId(i) ─ alloc(bytes, group)
 *        buffer: map()/write() host copy ─ syncToDevice() ─┐
 *        run: newRun().arg(0, a).arg(1, b).arg(2, out).arg(3, n) ─ start() ─ waitFor(timeout)
 *        out.syncFromDevice() ─ read()/map()
 * </pre>
 */
package org.shiftformer.fpga.xrt;
