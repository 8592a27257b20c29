package org.shiftformer.fpga;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.conformance.ConformanceRunner;

/**
 * What {@code ./shiftformer conformance --backend fpga} runs ({@link ConformanceRunner}, the kit through
 * the JUnit Platform launcher), on the host emulation of the card: every check bit-exact.
 */
class FpgaConformanceCommandTest {
    @Test
    void theEmulatedCardConformsThroughTheRunnerTheCommandUses() {
        EmulatedCard.require();
        ConformanceRunner.Report r = ConformanceRunner.run(new FpgaBackendProvider(), Map.of());
        assertTrue(r.passed(), r.text());
        assertEquals(9, r.checks().size(), r.text());
        assertTrue(r.text().contains("backend fpga: CONFORMS (9 of 9 checks bit-exact)"), r.text());
    }
}
