package org.shiftformer.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.BackendProvider;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.api.backend.Capabilities;

class SimBackendProviderTest {

    @Test
    void isDiscoveredByNameAndWinsOverTheReferenceByRank() {
        assertInstanceOf(SimBackendProvider.class, Backends.select("sim"));
        assertInstanceOf(SimBackendProvider.class, Backends.select(null));
    }

    @Test
    void advertisesExactnessCyclesAndKernels() {
        BackendProvider p = new SimBackendProvider();
        assertEquals("sim", p.name());
        assertEquals(100, p.rank());
        assertTrue(p.availability().available());
        Capabilities c = p.capabilities();
        assertTrue(c.bitExact() && c.modelsCycles() && c.opKernels());
    }

    @Test
    void identityNamesTheDatapath() {
        try (Backend b = new SimBackendProvider().open(Map.of("pe.rows", "16", "pe.cols", "64", "clock.mhz", "250"))) {
            assertEquals("sim", b.identity().backend());
            assertEquals("cpu", b.identity().device());
            assertEquals("spec-1 datapath 16x64@250MHz", b.identity().version());
            assertTrue(b.kernels().isPresent());
        }
        try (Backend b = new SimBackendProvider().open(Map.of())) {
            assertEquals("spec-1 datapath 32x32@300MHz", b.identity().version());
        }
    }

    @Test
    void badSettingsFailToOpen() {
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> new SimBackendProvider().open(Map.of("device", "0")));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
    }
}
