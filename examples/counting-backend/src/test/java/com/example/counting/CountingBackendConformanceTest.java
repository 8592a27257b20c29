package com.example.counting;

import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.conformance.BackendConformanceKit;

/** The conformance kit in the plugin's own build, as every backend runs it. */
class CountingBackendConformanceTest extends BackendConformanceKit {
    @Override
    protected BackendProvider provider() {
        return new CountingBackendProvider();
    }
}
