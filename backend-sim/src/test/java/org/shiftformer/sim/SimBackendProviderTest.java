package org.shiftformer.sim;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
        BackendProvider p = new SimBackendProvider(256);
        assertEquals("sim", p.name());
        assertEquals(100, p.rank());
        assertTrue(p.availability().available());
        Capabilities c = p.capabilities();
        assertTrue(c.bitExact() && c.modelsCycles() && c.opKernels());
    }

    @Test
    void rankDependsOnWhetherTheCpuPrefersTheKernels256BitVectors() {
        int reference = Backends.select("reference").rank();
        for (int bits : new int[] {256, 512, 2048}) {
            SimBackendProvider p = new SimBackendProvider(bits);
            assertEquals(SimBackendProvider.RANK, p.rank(), bits + "-bit");
            assertTrue(p.availability().available());
            assertFalse(p.capabilities().description().contains("fallback"), p.capabilities().description());
        }
        for (int bits : new int[] {64, 128}) {
            SimBackendProvider p = new SimBackendProvider(bits);
            assertTrue(p.rank() < reference, bits + "-bit: below reference, which then wins by default");
            assertTrue(p.availability().available(), "still usable by name: the bits are the same");
            assertTrue(p.capabilities().description().endsWith("this CPU's preferred vectors are " + bits
                    + "-bit, so the kernels' 256-bit vectors run in the Vector API's slow Java fallback (rank -10, below "
                    + "reference)"), p.capabilities().description());
        }
        SimBackendProvider none = new SimBackendProvider(0);
        assertFalse(none.availability().available());
        assertEquals("the Vector API module jdk.incubator.vector is not loaded: run the JVM with --add-modules "
                + "jdk.incubator.vector", none.availability().reason());
        assertEquals(jdk.incubator.vector.ByteVector.SPECIES_PREFERRED.vectorBitSize(),
                SimBackendProvider.detectPreferredVectorBits(), "this machine's value is the one used");
    }

    @Test
    void identityNamesTheDatapath() {
        try (Backend b = new SimBackendProvider().open(Map.of("card", "u55c"))) {
            assertEquals("sim", b.identity().backend());
            assertEquals("cpu", b.identity().device());
            assertEquals("spec-1 datapath u55c 64x64@300MHz", b.identity().version());
            assertTrue(b.kernels().isPresent());
        }
        try (Backend b = new SimBackendProvider().open(Map.of())) {
            assertEquals("spec-1 datapath u250 64x64@300MHz", b.identity().version());
        }
    }

    @Test
    void badSettingsFailToOpen() {
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> new SimBackendProvider().open(Map.of("device", "0")));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
    }
}
