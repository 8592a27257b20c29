package org.shiftformer.fpga;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.fpga.xrt.XrtBuffer;
import org.shiftformer.fpga.xrt.XrtKernel;
import org.shiftformer.fpga.xrt.XrtRun;

/**
 * Runs the kernel with one fixed set of buffers (set once: they never move) and per-run scalars. One per
 * model (and one for the op-level kernels), driven by one thread at a time. A run that ends in ERROR,
 * ABORT or TIMEOUT, or completes with a non-zero status word, throws {@code BACKEND_FAILURE} naming the
 * kernel, the op and what happened.
 */
final class KernelRunner implements AutoCloseable {
    static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final XrtKernel kernel;
    private final Duration timeout;
    private final XrtBuffer[] buffers = new XrtBuffer[FpgaLayout.ARG_COUNT];
    private final XrtBuffer out;
    private final MemorySegment outMap;

    /** {@code buffers[i]} is the buffer of kernel argument {@code i} (scalar slots are null). */
    KernelRunner(XrtKernel kernel, Duration timeout, XrtBuffer weights, XrtBuffer kv, XrtBuffer src, XrtBuffer in,
                 XrtBuffer out, XrtBuffer scratch, XrtBuffer taps) {
        this.kernel = kernel;
        this.timeout = timeout;
        buffers[FpgaLayout.ARG_WEIGHTS] = weights;
        buffers[FpgaLayout.ARG_KV] = kv;
        buffers[FpgaLayout.ARG_SRC] = src;
        buffers[FpgaLayout.ARG_IN] = in;
        buffers[FpgaLayout.ARG_OUT] = out;
        buffers[FpgaLayout.ARG_SCRATCH] = scratch;
        buffers[FpgaLayout.ARG_TAPS] = taps;
        this.out = out;
        this.outMap = out.map();
    }

    /** Replaces the buffer of argument {@code arg} (e.g. the taps buffer, allocated on first use). */
    void buffer(int arg, XrtBuffer bo) {
        buffers[arg] = bo;
    }

    /**
     * Runs {@code op} and waits; syncs the status words back and checks them.
     *
     * @param what the step as users should read it in an error, e.g. "decoder step (batch 3)"
     * @return the wall time from start to completion, in nanoseconds
     */
    long run(int op, int batch, int flags, String what) {
        long t0 = System.nanoTime();
        try (XrtRun run = kernel.newRun()) {
            run.arg(FpgaLayout.ARG_OP, op).arg(FpgaLayout.ARG_BATCH, batch).arg(FpgaLayout.ARG_FLAGS, flags);
            for (int i = FpgaLayout.ARG_WEIGHTS; i < FpgaLayout.ARG_COUNT; i++) {
                run.arg(i, buffers[i]);
            }
            run.start();
            run.waitFor(timeout);
        } catch (ShiftformerException e) {
            throw new ShiftformerException(ErrorCode.BACKEND_FAILURE, "fpga " + what + " failed on kernel "
                    + kernel.name() + ": " + e.getMessage(), e);
        }
        long ns = System.nanoTime() - t0;
        out.syncFromDevice(4L * FpgaLayout.OUT_HDR, 0);
        int status = outMap.get(INT_LE, 0);
        if (status != FpgaLayout.ST_OK) {
            throw new ShiftformerException(ErrorCode.BACKEND_FAILURE, "fpga " + what + " failed on kernel "
                    + kernel.name() + ": the kernel reported " + FpgaLayout.status(status));
        }
        return ns;
    }

    @Override
    public void close() {
        // the runs are closed after each wait; the buffers belong to the caller
    }
}
