package org.shiftformer.sim;

import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.conformance.BackendConformanceKit;

/** runtime-api's conformance kit against the sim backend: zero tolerance, op by op and whole decodes. */
class SimBackendConformanceTest extends BackendConformanceKit {
    @Override
    protected BackendProvider provider() {
        return new SimBackendProvider();
    }
}
