package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The commands end to end, in process, on a small random artifact. */
class MainTest {
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

    private Path randomModel(Path dir) {
        Path f = dir.resolve("m.itm");
        assertEquals(0, Main.run("random", "--preset", "tiny", "--vocab", "300", "--max-positions", "32", "--seed", "7",
                "-o", f.toString()), err::toString);
        return f;
    }

    @Test
    void randomThenInspectPrintsShapesExponentsProvenanceAndAVerifiedChecksum(@TempDir Path dir) {
        Path f = randomModel(dir);
        assertTrue(out.toString().contains("sha256 "), out::toString);
        out.getBuffer().setLength(0);
        assertEquals(0, Main.run("inspect", f.toString()), err::toString);
        String report = out.toString();
        for (String expected : new String[] {"enc.0.attn.q.weight", "INT8", "[64, 64]", "dec.final.out", "verified",
            "random weights"}) {
            assertTrue(report.contains(expected), () -> "inspect output lacks '" + expected + "':\n" + report);
        }
    }

    @Test
    void serveRejectsAnInvalidSettingNamingIt(@TempDir Path dir) {
        Path f = randomModel(dir);
        assertEquals(2, Main.run("serve", "--model", f.toString(), "--backend", "reference", "--port", "70000"));
        assertTrue(err.toString().contains("[INVALID_ARGUMENT]") && err.toString().contains("shiftformer.server.port"),
                err::toString);
    }

    @Test
    void translateStreamsTokensOnTheSimulatorAndTheReferenceAlike(@TempDir Path dir) {
        Path f = randomModel(dir);
        out.getBuffer().setLength(0);
        assertEquals(0, Main.run("translate", "--model", f.toString(), "--backend", "sim", "--beam", "3",
                "--max-new-tokens", "8", "--tokens", "ein test"), err::toString);
        String sim = out.toString();
        assertTrue(sim.contains("token "), sim);
        assertTrue(sim.contains("sim/cpu"), sim);
        out.getBuffer().setLength(0);
        assertEquals(0, Main.run("translate", "--model", f.toString(), "--backend", "reference", "--beam", "3",
                "--max-new-tokens", "8", "--tokens", "ein test"), err::toString);
        String ref = out.toString();
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
        Path f = randomModel(dir);
        byte[] bytes = Files.readAllBytes(f);
        bytes[bytes.length / 2] ^= 0x40;
        Files.write(f, bytes);
        assertEquals(2, Main.run("inspect", f.toString()));
        assertTrue(err.toString().startsWith("error: [INVALID_ARTIFACT]"), err::toString);
        assertTrue(err.toString().contains("m.itm"), err::toString);
    }

    @Test
    void anUnknownBackendNamesTheInstalledOnes(@TempDir Path dir) {
        Path f = randomModel(dir);
        assertEquals(2, Main.run("translate", "--model", f.toString(), "--backend", "gpu", "x"));
        assertTrue(err.toString().contains("[UNKNOWN_BACKEND] unknown backend 'gpu'; installed: sim, reference"),
                err::toString);
    }
}
