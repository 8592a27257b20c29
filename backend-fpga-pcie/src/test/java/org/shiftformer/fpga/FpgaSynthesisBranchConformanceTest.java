package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assumptions.abort;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.conformance.BackendConformanceKit;

/**
 * The conformance kit against the kernel built with its {@code __SYNTHESIS__} branches (the {@code ap_uint<512>}
 * word type and the word-wise {@code rd_bytes} / {@code wr_bytes} of datapath.h), compiled by the native build
 * against the test stand-in {@code src/test/native/hls-mock/ap_int.h} into {@code shiftformer-synth-emu.xclbin}:
 * the port access a synthesis tool would see moves the same bytes as the emulation's. It says nothing about what
 * Vitis makes of the branches (the stand-in is not the real library).
 */
class FpgaSynthesisBranchConformanceTest extends BackendConformanceKit {
    @Override
    protected BackendProvider provider() {
        EmulatedCard.require();
        return new FpgaBackendProvider();
    }

    @Override
    protected Map<String, String> settings() {
        EmulatedCard.require();
        Path synth = Path.of(System.getProperty(FpgaSettings.EMU_XCLBIN_PROPERTY)).resolveSibling("shiftformer-synth-emu.xclbin");
        if (!Files.isRegularFile(synth)) {
            abort("the native build made no " + synth);
        }
        return Map.of("xclbin", synth.toString());
    }
}
