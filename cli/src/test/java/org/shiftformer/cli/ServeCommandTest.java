package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code serve}'s start-up checks that fail before anything listens (the server itself: runtime-core tests). */
class ServeCommandTest {
    private final StringWriter out = new StringWriter();
    private final StringWriter err = new StringWriter();
    private PrintWriter savedOut;
    private PrintWriter savedErr;

    @BeforeEach
    void capture() {
        savedOut = Main.OUT;
        savedErr = Main.ERR;
        Main.OUT = new PrintWriter(out, true);
        Main.ERR = new PrintWriter(err, true);
    }

    @AfterEach
    void restore() {
        Main.OUT = savedOut;
        Main.ERR = savedErr;
    }

    @Test
    void unknownBackendWithoutFallbackFailsNamingItAndTheAvailableOnes(@TempDir Path dir) {
        assertEquals(2, Main.run("serve", "--model", dir.resolve("never-read.itm").toString(), "--backend", "fpga",
                "--fallback", "none", "--port", "0", "--admin-port", "0"));
        String e = err.toString();
        assertTrue(e.contains("error: [UNKNOWN_BACKEND] backend 'fpga' is not installed"), e);
        assertTrue(e.contains("available: sim, reference"), e);
    }

    @Test
    void malformedFallbackAndAdminPortAreRejectedNamingTheSetting(@TempDir Path dir) {
        assertEquals(2, Main.run("serve", "--model", dir.resolve("m.itm").toString(), "--fallback", "sim,,reference"));
        assertTrue(err.toString().contains("[INVALID_ARGUMENT]") && err.toString().contains("shiftformer.server.fallback"),
                err::toString);
        err.getBuffer().setLength(0);
        assertEquals(2, Main.run("serve", "--model", dir.resolve("m.itm").toString(), "--admin-port", "70000"));
        assertTrue(err.toString().contains("shiftformer.server.adminPort"), err::toString);
    }
}
