package org.shiftformer.fpga;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Objects;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Availability;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Capabilities;
import org.shiftformer.fpga.xrt.XrtLibrary;

/**
 * The {@code fpga} backend: SPEC.md's model steps run by the shiftformer HLS kernel on an AMD/Xilinx PCIe
 * card through XRT (or, for tests, through the host-emulation XRT library running the same kernel
 * source on the CPU). Settings: {@link FpgaSettings}.
 *
 * <p>Always discoverable; available when the XRT library is found ({@link XrtLibrary#locate()}: system
 * property {@code shiftformer.xrt.lib}, {@code $XILINX_XRT/lib}, {@code /opt/xilinx/xrt/lib}, the system
 * path), otherwise unavailable with the places tried and how to point at the library. Opening also needs
 * an xclbin (setting {@code xclbin} or its defaults); without one it fails with
 * {@code BACKEND_UNAVAILABLE} naming the setting, which a server's fallback policy treats like an
 * unavailable backend. Rank {@value #RANK}, below {@code sim}: a card is used only when asked for by name.
 */
public final class FpgaBackendProvider implements BackendProvider {
    public static final String NAME = "fpga";
    public static final int RANK = 50;

    @Override
    public int spiVersion() {
        return SPI_VERSION;
    }

    @Override
    public String name() {
        return NAME;
    }

    @Override
    public int rank() {
        return RANK;
    }

    /** Never throws: a missing library or a broken default xclbin is a reason, not an exception. */
    @Override
    public Availability availability() {
        try {
            if (XrtLibrary.locate().isEmpty()) {
                XrtLibrary.load(); // throws with every place tried and how to point at the library
            }
            String xclbin = FpgaSettings.defaultXclbin();
            if (xclbin != null && !Files.isRegularFile(Path.of(xclbin))) {
                return Availability.no("the default xclbin " + xclbin + " (system property " + FpgaSettings.XCLBIN_PROPERTY
                        + " or environment " + FpgaSettings.XCLBIN_ENV + ") does not exist");
            }
            return Availability.yes();
        } catch (ShiftformerException e) {
            return Availability.no(e.getMessage());
        } catch (RuntimeException | LinkageError e) {
            return Availability.no("XRT library could not be loaded: " + e);
        }
    }

    @Override
    public Capabilities capabilities() {
        return new Capabilities(FpgaSettings.DEFAULT_KV_SLOTS, true, false, true,
                "the shiftformer HLS kernel on an AMD/Xilinx PCIe card through XRT (or the host-emulation library);"
                        + " one kernel run per encoder pass or batched decoder step, weights and caches resident");
    }

    /**
     * Opens the card: device, xclbin, kernel.
     *
     * @throws ShiftformerException {@code INVALID_ARGUMENT} for a bad setting, {@code BACKEND_UNAVAILABLE}
     *         when the library, the xclbin, the device or the kernel cannot be had (the message names the
     *         XRT call that failed)
     */
    @Override
    public Backend open(Map<String, String> settings) {
        Objects.requireNonNull(settings, "settings");
        return new FpgaBackend(FpgaSettings.parse(settings));
    }
}
