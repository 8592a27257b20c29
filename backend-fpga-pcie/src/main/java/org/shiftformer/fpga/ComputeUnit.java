package org.shiftformer.fpga;

import java.util.ArrayList;
import java.util.List;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.fpga.xrt.XrtBuffer;
import org.shiftformer.fpga.xrt.XrtRun;

/**
 * The card's one compute unit as a backend sees it, and the runs parked on it.
 *
 * <p>A run that timed out may still be running: XRT's C API cannot abort it, closing it aborts the process
 * (XRT master) or recycles its command under the live kernel (2022.2-2025.2), and freeing its buffers lets
 * the kernel write into memory that is no longer ours. So such a run is <em>parked</em>: its handle and
 * every buffer it was given stay allocated, and since it keeps the compute unit every later run of the
 * backend (any model, the op-level kernels) fails at once instead of queueing behind it for another
 * timeout. A parked run is released (closed, its buffers freed) as soon as it reaches a final state, at
 * the latest when the backend closes the device; one still in flight then is left allocated (logged),
 * for the driver to reclaim when the process ends.
 */
final class ComputeUnit {
    private static final System.Logger LOG = System.getLogger(ComputeUnit.class.getName());

    private record Parked(XrtRun run, List<XrtBuffer> buffers, String what) {
    }

    private final List<Parked> parked = new ArrayList<>();
    private volatile String hungBy;

    /**
     * @throws ShiftformerException {@code BACKEND_FAILURE} naming {@code what} and the parked run when a run
     *                              that timed out holds the compute unit
     */
    void checkFree(String what, String kernel) {
        String by = hungBy;
        if (by != null) {
            throw new ShiftformerException(ErrorCode.BACKEND_FAILURE, "fpga " + what + " not started on kernel " + kernel
                    + ": the card's compute unit is still occupied by a run that timed out (" + by
                    + "); the run is parked until the card is reset or the backend closes");
        }
    }

    /** Records that the run described by {@code what} timed out and still holds the compute unit. */
    void hung(String what) {
        hungBy = what;
    }

    /** Keeps {@code run} and {@code buffers} allocated until the run reaches a final state. */
    synchronized void park(XrtRun run, List<XrtBuffer> buffers, String what) {
        parked.add(new Parked(run, List.copyOf(buffers), what));
    }

    /** Runs parked now. */
    synchronized int parkedRuns() {
        return parked.size();
    }

    /**
     * Closes every parked run that reached a final state and frees its buffers.
     *
     * @param last true once the device is closed: a run still in flight then stays allocated, and is logged
     */
    synchronized void release(boolean last) {
        for (int i = parked.size() - 1; i >= 0; i--) {
            Parked p = parked.get(i);
            if (p.run().state().isInFlight()) {
                if (last) {
                    LOG.log(System.Logger.Level.WARNING, "fpga: a run that timed out (" + p.what() + ") is still in flight "
                            + "after the device closed; its run handle and " + p.buffers().size()
                            + " device buffers stay allocated until the process ends (closing them would abort the process)");
                }
                continue;
            }
            parked.remove(i);
            p.run().close();
            for (XrtBuffer b : p.buffers()) {
                b.close();
            }
        }
    }
}
