package org.shiftformer.fpga.xrt;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;

/**
 * The fixture of the tests against the host emulation: before each test the emulation is loaded (the test
 * skips when it was not built) with no faults configured; after it, the faults are cleared, no device,
 * kernel, buffer or run may be left open, and the emulation may have recorded no fatal error beyond the
 * {@link #expectedFatal} ones the test provoked on purpose.
 */
abstract class EmulatedXrtTest {
    static final Duration TIMEOUT = Duration.ofSeconds(60); // a hang guard only

    XrtEmulation emu;
    Path xclbin;
    /** Fatal errors the test provokes on purpose. */
    int expectedFatal;
    private long fatalBefore;

    @BeforeEach
    void loadEmulation() {
        emu = XrtTestSupport.emulation();
        xclbin = XrtTestSupport.testXclbin();
        emu.configure("");
        fatalBefore = emu.fatalErrors();
    }

    @AfterEach
    void resetAndCheckLeaks() {
        if (emu != null) {
            emu.configure("");
            assertEquals(0, emu.liveRuns(), "live runs");
            assertEquals(0, emu.liveBuffers(), "live buffers");
            assertEquals(0, emu.liveKernels(), "live kernels");
            assertEquals(0, emu.liveDevices(), "live devices");
            assertEquals(fatalBefore + expectedFatal, emu.fatalErrors(), () -> "fatal errors; the last: " + emu.lastFatal());
        }
    }
}
