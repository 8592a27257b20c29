package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** {@code conformance}: the kit against installed backends, in text and JSON, with the exit status a CI system reads. */
class ConformanceCommandTest {
    @RegisterExtension
    final CliOutput io = new CliOutput();

    @Test
    void theInstalledCpuBackendsConform() {
        assertEquals(0, Main.run("conformance", "--backend", "reference"), io::out);
        assertTrue(io.out().contains("backend reference: CONFORMS (9 of 9 checks bit-exact)"), io.out());
        io.clearOut();
        assertEquals(0, Main.run("conformance", "--backend", "sim", "--backend-option", "threads=2", "--json"), io::out);
        assertTrue(io.out().startsWith("{\"backend\": \"sim\", \"passed\": true"), io.out());
        assertTrue(io.out().contains("\"check\": \"requantizeMatchesReferenceIncludingTiesAndSaturation\", \"passed\": true"),
                io.out());
    }

    @Test
    void anUnknownBackendOrABadSettingIsRefusedWithItsReason() {
        assertEquals(2, Main.run("conformance", "--backend", "nosuch"));
        assertTrue(io.err().contains("[UNKNOWN_BACKEND] unknown backend 'nosuch'"), io::err);
        io.clearOut();
        assertEquals(1, Main.run("conformance", "--backend", "sim", "--backend-option", "threads=0"));
        assertTrue(io.out().contains("the kit could not run") && io.out().contains("threads"), io::out);
    }
}
