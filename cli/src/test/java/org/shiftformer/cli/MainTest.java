package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The commands end to end, in process, on a small random artifact. */
class MainTest {
    @RegisterExtension
    final CliOutput io = new CliOutput();

    @Test
    void randomThenInspectPrintsShapesExponentsProvenanceAndAVerifiedChecksum(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        assertTrue(io.out().contains("sha256 "), io::out);
        io.clearOut();
        assertEquals(0, Main.run("inspect", f.toString()), io::err);
        String report = io.out();
        for (String expected : new String[] {"enc.0.attn.q.weight", "INT8", "[64, 64]", "dec.final.out", "verified",
            "random weights"}) {
            assertTrue(report.contains(expected), () -> "inspect output lacks '" + expected + "':\n" + report);
        }
    }

    @Test
    void serveRejectsAnInvalidSettingNamingIt(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        assertEquals(2, Main.run("serve", "--model", f.toString(), "--backend", "reference", "--port", "70000"));
        assertTrue(io.err().contains("[INVALID_ARGUMENT]") && io.err().contains("shiftformer.server.port"),
                io::err);
    }

    @Test
    void translateStreamsTokensOnTheSimulatorAndTheReferenceAlike(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        io.clearOut();
        assertEquals(0, Main.run("translate", "--model", f.toString(), "--backend", "sim", "--beam", "3",
                "--max-new-tokens", "8", "--tokens", "ein test"), io::err);
        String sim = io.out();
        assertTrue(sim.contains("token "), sim);
        assertTrue(sim.contains("sim/cpu"), sim);
        io.clearOut();
        assertEquals(0, Main.run("translate", "--model", f.toString(), "--backend", "reference", "--beam", "3",
                "--max-new-tokens", "8", "--tokens", "ein test"), io::err);
        String ref = io.out();
        // Same tokens line for line (timings and identity differ).
        assertEquals(tokenLines(sim), tokenLines(ref));
    }

    private static String tokenLines(String s) {
        StringBuilder sb = new StringBuilder();
        for (String line : s.split("\n")) {
            if (line.trim().startsWith("token ")) {
                sb.append(line.trim().replaceAll("\\s+[\\d,]+ cycles$", "")).append('\n');
            }
        }
        return sb.toString();
    }

    @Test
    void aCorruptArtifactIsAnErrorWithItsCodeNotAStackTrace(@TempDir Path dir) throws Exception {
        Path f = io.randomModel(dir);
        byte[] bytes = Files.readAllBytes(f);
        bytes[bytes.length / 2] ^= 0x40;
        Files.write(f, bytes);
        assertEquals(2, Main.run("inspect", f.toString()));
        assertTrue(io.err().startsWith("error: [INVALID_ARTIFACT]"), io::err);
        assertTrue(io.err().contains("m.itm"), io::err);
    }

    @Test
    void anUnknownBackendNamesTheInstalledOnes(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        assertEquals(2, Main.run("translate", "--model", f.toString(), "--backend", "gpu", "x"));
        assertTrue(io.err().contains("[UNKNOWN_BACKEND] unknown backend 'gpu'; installed: sim, fpga, reference"),
                io::err);
    }
}
