package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** {@code serve}'s start-up checks that fail before anything listens (the server itself: runtime-core tests). */
class ServeCommandTest {
    @RegisterExtension
    final CliOutput io = new CliOutput();

    @Test
    void unknownBackendWithoutFallbackFailsNamingItAndTheAvailableOnes(@TempDir Path dir) {
        assertEquals(2, Main.run("serve", "--model", dir.resolve("never-read.itm").toString(), "--backend", "tpu",
                "--fallback", "none", "--port", "0", "--admin-port", "0"));
        String e = io.err();
        assertTrue(e.contains("error: [UNKNOWN_BACKEND] backend 'tpu' is not installed"), e);
        assertTrue(e.contains("available: sim, reference"), e);
    }

    @Test
    void malformedFallbackAndAdminPortAreRejectedNamingTheSetting(@TempDir Path dir) {
        assertEquals(2, Main.run("serve", "--model", dir.resolve("m.itm").toString(), "--fallback", "sim,,reference"));
        assertTrue(io.err().contains("[INVALID_ARGUMENT]") && io.err().contains("shiftformer.server.fallback"),
                io::err);
        io.clearErr();
        assertEquals(2, Main.run("serve", "--model", dir.resolve("m.itm").toString(), "--admin-port", "70000"));
        assertTrue(io.err().contains("shiftformer.server.adminPort"), io::err);
    }

    @Test
    void aMisspeltFallbackOrAMissingModelDirectoryFailsStartUp(@TempDir Path dir) {
        assertEquals(2, Main.run("serve", "--model", dir.resolve("never-read.itm").toString(), "--fallback", "refrence",
                "--port", "0", "--admin-port", "0"));
        assertTrue(io.err().contains("error: [UNKNOWN_BACKEND] fallback policy 'refrence' names a backend that is not "
                + "installed: refrence; installed: sim, "), io::err);
        io.clearErr();
        assertEquals(2, Main.run("serve", "--model", dir.resolve("never-read.itm").toString(), "--model-dir",
                dir.resolve("models").toString(), "--port", "0", "--admin-port", "0"));
        assertTrue(io.err().contains("error: [INVALID_ARGUMENT] --model-dir " + dir.resolve("models") + " is not a directory"),
                io::err);
    }
}
