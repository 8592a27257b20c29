package org.shiftformer.fpga;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.time.Duration;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.DatapathCycles;
import org.shiftformer.fpga.xrt.XrtBuffer;
import org.shiftformer.fpga.xrt.XrtKernel;
import org.shiftformer.fpga.xrt.XrtRun;

/**
 * Runs the kernel through one run handle ({@code xrtRunOpen} once): the buffer arguments are set once
 * (they never move; {@link #buffer} re-points one), each run sets only {@code op}, {@code batch} and
 * {@code flags}. One per model (and one for the op-level kernels), driven by one thread at a time.
 *
 * <p>Each run waits at most its timeout: the {@code timeout-ms} setting when given, else
 * {@link KernelTimeModel#timeoutMs} of the caller's estimate. Its status is the kernel's status word
 * {@code out[0]}, synced back after the run: a card ignores the kernel's return value; {@code out[2..3]} is the
 * run's cycle count ({@link #lastCycles}). A run that ends in
 * ERROR or ABORT, or completes with a non-zero status word, throws {@code BACKEND_FAILURE} naming the
 * kernel, the step and what happened. A run that times out is still in flight: it is never closed, the
 * compute unit is marked occupied ({@link ComputeUnit}) and the owner parks the run with its buffers when
 * it closes ({@link #closeUnlessInFlight}).
 */
final class KernelRunner {
    static final ValueLayout.OfInt INT_LE = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private final XrtKernel kernel;
    private final ComputeUnit cu;
    private final long timeoutSettingMs;
    private final XrtBuffer out;
    private final MemorySegment outMap;
    private final XrtRun run;
    private long lastCycles;

    /**
     * Opens the run and sets every buffer argument.
     *
     * @param timeoutSettingMs the {@code timeout-ms} setting, or 0 to derive each run's timeout from its estimate
     */
    KernelRunner(XrtKernel kernel, ComputeUnit cu, long timeoutSettingMs, XrtBuffer weights, XrtBuffer kv, XrtBuffer src,
                 XrtBuffer in, XrtBuffer out, XrtBuffer scratch, XrtBuffer taps, XrtBuffer[] stripes) {
        this.kernel = kernel;
        this.cu = cu;
        this.timeoutSettingMs = timeoutSettingMs;
        this.out = out;
        this.outMap = out.map();
        this.run = kernel.newRun();
        try {
            run.arg(FpgaLayout.ARG_WEIGHTS, weights).arg(FpgaLayout.ARG_KV, kv).arg(FpgaLayout.ARG_SRC, src)
                    .arg(FpgaLayout.ARG_IN, in).arg(FpgaLayout.ARG_OUT, out).arg(FpgaLayout.ARG_SCRATCH, scratch)
                    .arg(FpgaLayout.ARG_TAPS, taps);
            for (int s = 0; s < FpgaLayout.WEIGHT_STRIPES; s++) {
                run.arg(FpgaLayout.ARG_WSTRIPE0 + s, stripes[s]);
            }
        } catch (RuntimeException e) {
            run.close();
            throw e;
        }
    }

    /** Re-points buffer argument {@code arg} (e.g. the taps buffer, allocated on first use). */
    void buffer(int arg, XrtBuffer bo) {
        run.arg(arg, bo);
    }

    /**
     * Runs {@code op} and waits; syncs the status words back and checks them.
     *
     * @param estimate       the run's modelled loop nest ({@link DatapathCycles}), which sets its timeout
     * @param what           the step as users should read it in an error, e.g. "decoder step (batch 3)"
     * @return the wall time from start to completion, in nanoseconds
     */
    long run(int op, int batch, int flags, DatapathCycles estimate, String what) {
        cu.checkFree(what, kernel.name());
        long timeoutMs = KernelTimeModel.timeoutMs(timeoutSettingMs, KernelTimeModel.nanos(estimate));
        long t0 = System.nanoTime();
        try {
            run.arg(FpgaLayout.ARG_OP, op).arg(FpgaLayout.ARG_BATCH, batch).arg(FpgaLayout.ARG_FLAGS, flags);
            t0 = System.nanoTime();
            run.start();
            run.waitFor(Duration.ofMillis(timeoutMs));
        } catch (ShiftformerException e) {
            String msg = "fpga " + what + " failed on kernel " + kernel.name() + ": " + e.getMessage();
            if (inFlight()) {
                cu.hung(what + " on kernel " + kernel.name() + ", no completion within " + timeoutMs + " ms");
                msg += "; the run is parked (its handle and buffers stay allocated while the compute unit may use them)";
            }
            throw new ShiftformerException(ErrorCode.BACKEND_FAILURE, msg, e);
        }
        long ns = System.nanoTime() - t0;
        out.syncFromDevice(4L * FpgaLayout.OUT_HDR, 0);
        int status = outMap.get(INT_LE, 0);
        if (status != FpgaLayout.ST_OK) {
            throw new ShiftformerException(ErrorCode.BACKEND_FAILURE, "fpga " + what + " failed on kernel "
                    + kernel.name() + ": the kernel reported " + FpgaLayout.status(status) + " in its status word out[0]");
        }
        lastCycles = Integer.toUnsignedLong(outMap.get(INT_LE, 4L * FpgaLayout.OUT_CYCLES_LO))
                | (long) outMap.get(INT_LE, 4L * FpgaLayout.OUT_CYCLES_HI) << 32;
        return ns;
    }

    /**
     * The cycles the kernel counted for the last completed run ({@code out[2..3]}: its loop nest walked with
     * datapath.h's formulas, the same as {@link org.shiftformer.api.backend.DatapathCycles}).
     */
    long lastCycles() {
        return lastCycles;
    }

    /** True while the last run may still be on the compute unit (it timed out). */
    boolean inFlight() {
        return !run.isClosed() && run.state().isInFlight();
    }

    /** The run handle (for parking). */
    XrtRun xrtRun() {
        return run;
    }

    /**
     * Closes the run handle unless the run is in flight.
     *
     * @return false when the run is in flight and was left open: park it, with every buffer it was given
     */
    boolean closeUnlessInFlight() {
        if (inFlight()) {
            return false;
        }
        run.close();
        return true;
    }
}
