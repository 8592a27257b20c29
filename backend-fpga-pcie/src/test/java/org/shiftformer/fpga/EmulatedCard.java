package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assumptions.abort;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.shiftformer.fpga.xrt.XrtEmulation;
import org.shiftformer.fpga.xrt.XrtLibrary;

/**
 * The host-emulation XRT library and the emulated xclbin the native build made (surefire passes their
 * paths as {@code shiftformer.xrt.lib} and {@code shiftformer.fpga.emu.xclbin}). When the build had no
 * C++ compiler, {@link #require()} aborts the calling test with the reason the build recorded.
 */
final class EmulatedCard {
    private EmulatedCard() {
    }

    /** Aborts (skips, with the reason) unless both native artifacts exist. */
    static void require() {
        String lib = System.getProperty("shiftformer.xrt.lib");
        String xclbin = System.getProperty(FpgaSettings.EMU_XCLBIN_PROPERTY);
        if (lib == null || xclbin == null) {
            abort("the host-emulation library was not configured (system properties shiftformer.xrt.lib and "
                    + FpgaSettings.EMU_XCLBIN_PROPERTY + " are set by the module's surefire configuration)");
        }
        if (!Files.isRegularFile(Path.of(lib)) || !Files.isRegularFile(Path.of(xclbin))) {
            Path skipped = Path.of(lib).resolveSibling("SKIPPED");
            String why;
            try {
                why = Files.isRegularFile(skipped) ? Files.readString(skipped).trim() : "the native build did not produce them";
            } catch (IOException e) {
                why = e.toString();
            }
            abort("no host-emulation library at " + lib + " or no emulated xclbin at " + xclbin + ": " + why);
        }
    }

    /** The emulation's control interface (fault injection, live counts). */
    static XrtEmulation emulation() {
        require();
        return XrtEmulation.of(XrtLibrary.load()).orElseThrow(
                () -> new AssertionError("the XRT library at " + XrtLibrary.load().path() + " is not the host emulation"));
    }
}
