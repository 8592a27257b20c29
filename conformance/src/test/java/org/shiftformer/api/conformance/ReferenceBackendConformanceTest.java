package org.shiftformer.api.conformance;

import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.spec.ReferenceBackendProvider;

/** The kit run on the reference itself: proves the kit's cases are well-formed (every case must be legal input). */
class ReferenceBackendConformanceTest extends BackendConformanceKit {
    @Override
    protected BackendProvider provider() {
        return new ReferenceBackendProvider();
    }
}
