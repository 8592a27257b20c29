package org.shiftformer.fpga;

import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.conformance.BackendConformanceKit;

/**
 * The conformance kit (module conformance) against the fpga backend on the host-emulation XRT library: the HLS
 * kernel source, op by op (1,000+ random cases each, through the kernel's op-level entry points) and
 * whole decodes of random models with every layer output compared, must equal the scalar reference bit
 * for bit. Skipped, with the reason, when the native build had no C++ compiler.
 */
class FpgaBackendConformanceTest extends BackendConformanceKit {
    @Override
    protected BackendProvider provider() {
        EmulatedCard.require();
        return new FpgaBackendProvider();
    }
}
