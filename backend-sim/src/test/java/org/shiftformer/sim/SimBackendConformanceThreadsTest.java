package org.shiftformer.sim;

import java.util.Map;
import org.shiftformer.api.backend.Availability;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Capabilities;
import org.shiftformer.api.conformance.BackendConformanceKit;

/**
 * runtime-api's conformance kit against the sim backend on 3 threads with every splittable op split
 * (the kit's small models stay below the default threshold, so it is lowered to 0 here).
 */
class SimBackendConformanceThreadsTest extends BackendConformanceKit {
    @Override
    protected BackendProvider provider() {
        SimBackendProvider sim = new SimBackendProvider();
        return new BackendProvider() {
            @Override
            public int spiVersion() {
                return SPI_VERSION;
            }

            @Override
            public String name() {
                return sim.name();
            }

            @Override
            public int rank() {
                return sim.rank();
            }

            @Override
            public Availability availability() {
                return sim.availability();
            }

            @Override
            public Capabilities capabilities() {
                return sim.capabilities();
            }

            @Override
            public Backend open(Map<String, String> settings) {
                return new SimBackendProvider.SimBackend(DatapathModel.fromSettings(settings), 3, 0);
            }
        };
    }
}
