package org.shiftformer.fpga;

import java.util.HexFormat;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.QuantizedModel;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendIdentity;
import org.shiftformer.api.backend.IntKernels;
import org.shiftformer.api.backend.LoadedModel;
import org.shiftformer.api.model.TransformerWeights;
import org.shiftformer.fpga.xrt.XrtDevice;
import org.shiftformer.fpga.xrt.XrtEmulation;
import org.shiftformer.fpga.xrt.XrtKernel;
import org.shiftformer.fpga.xrt.XrtLibrary;

/**
 * An opened card: the device, the loaded xclbin and the opened kernel, shared by the models it loads
 * (each model owns its device buffers). The identity names the device, the xclbin UUID and whether the
 * XRT library is the host emulation.
 */
final class FpgaBackend implements Backend {
    private final FpgaSettings settings;
    private final XrtDevice device;
    private final XrtKernel kernel;
    private final BackendIdentity identity;
    private final Set<FpgaModel> open = ConcurrentHashMap.newKeySet();
    private final ComputeUnit cu = new ComputeUnit();
    private FpgaKernels kernels;
    private volatile boolean closed;

    FpgaBackend(FpgaSettings settings) {
        this.settings = settings;
        XrtLibrary lib = XrtLibrary.load();
        XrtDevice dev = settings.bdf() != null ? XrtDevice.openByBdf(settings.bdf()) : XrtDevice.open(settings.deviceIndex());
        try {
            byte[] uuid = dev.loadXclbin(settings.xclbin());
            this.kernel = dev.openKernel(settings.kernel());
            boolean emulated = XrtEmulation.of(lib).isPresent();
            this.identity = new BackendIdentity(FpgaBackendProvider.NAME,
                    (emulated ? "host-emulation " : "") + settings.deviceName() + " xclbin " + HexFormat.of().formatHex(uuid),
                    "spec-1 layout " + FpgaLayout.LAYOUT_VERSION);
        } catch (RuntimeException e) {
            dev.close();
            throw e;
        }
        this.device = dev;
    }

    XrtDevice device() {
        return device;
    }

    XrtKernel kernel() {
        return kernel;
    }

    ComputeUnit computeUnit() {
        return cu;
    }

    @Override
    public BackendIdentity identity() {
        return identity;
    }

    @Override
    public LoadedModel load(QuantizedModel model) {
        checkOpen();
        FpgaModel m = new FpgaModel(this, TransformerWeights.of(model), settings);
        open.add(m);
        m.onClose(() -> open.remove(m));
        if (closed) {
            m.close();
            checkOpen();
        }
        return m;
    }

    /** Op-level kernels run on the card (the same kernel, op codes 16 to 20), for the conformance kit. */
    @Override
    public synchronized Optional<IntKernels> kernels() {
        checkOpen();
        if (kernels == null) {
            kernels = new FpgaKernels(device, kernel, cu, settings);
        }
        return Optional.of(kernels);
    }

    private void checkOpen() {
        if (closed) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "backend 'fpga' is closed");
        }
    }

    /**
     * Closes models still open, then the kernel and the device. Runs parked after a timeout are released
     * once they reach a final state (the emulation aborts them when the device closes); one still in flight
     * after that stays allocated (logged), since closing it would abort the process on real XRT.
     */
    @Override
    public void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        for (FpgaModel m : open.toArray(new FpgaModel[0])) {
            m.close();
        }
        synchronized (this) {
            if (kernels != null) {
                kernels.close();
            }
        }
        try {
            cu.release(false);
            kernel.close();
        } finally {
            device.close();
            cu.release(true);
        }
    }
}
