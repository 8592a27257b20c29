package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.backend.Backend;
import org.shiftformer.api.backend.Backends;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.server.ServedModel;
import org.shiftformer.core.server.ServerConfig;
import org.shiftformer.core.server.ShiftformerServer;

/** {@code translate}: per-text errors and the exit status, refused options, defaults, locally and on a server. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TranslateCommandTest {
    /** A source longer than the test model's 32 positions. */
    private static final String TOO_LONG = "x".repeat(40).replaceAll("x", "qz ");

    @RegisterExtension
    final CliOutput io = new CliOutput();

    private int run(String... args) {
        io.clearOut();
        io.clearErr();
        return Main.run(args);
    }

    /** Runs the same arguments after {@code --model F} and after {@code --server ADDRESS} (a reference server on F). */
    private void locallyAndOnAServer(Path f, java.util.function.Consumer<String[]> check) {
        check.accept(new String[] {"translate", "--model", f.toString(), "--backend", "reference"});
        Artifact artifact = ArtifactReader.read(f);
        try (Backend backend = Backends.select("reference").open(Map.of());
             ShiftformerServer server = ShiftformerServer.start(
                     ServerConfig.builder().port(0).adminPort(ServerConfig.ADMIN_DISABLED).bindAddress("127.0.0.1")
                             .drainTimeoutMs(1_000).conclude(),
                     ServedModel.of(artifact, backend.load(artifact.model()), backend.identity()))) {
            check.accept(new String[] {"translate", "--server", "127.0.0.1:" + server.localAddress().getPort()});
        }
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void everyTextGetsItsTranslationOrItsErrorAndTheStatusSaysWhetherAnyFailed(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        locallyAndOnAServer(f, cmd -> {
            String where = cmd[1];
            assertEquals(1, run(concat(cmd, "--max-new-tokens", "6", "ein test", TOO_LONG, "zweihundert")), where + ": " + io.err());
            String out = io.out();
            String[] lines = out.split("\n");
            // Three texts in order, each followed by its outcome; the one after the failure is translated.
            assertEquals(3, Arrays.stream(lines).filter(l -> l.startsWith("> ")).count(), out);
            assertEquals(2, Arrays.stream(lines).filter(l -> l.trim().startsWith("[") && l.contains(" tokens, ")).count(), out);
            int failedAt = out.indexOf("[failed: MODEL_LIMIT_EXCEEDED]");
            assertTrue(failedAt > out.indexOf("> " + TOO_LONG) && failedAt < out.indexOf("> zweihundert"), out);
            assertTrue(out.indexOf("> zweihundert") < out.lastIndexOf(" tokens, "), out);
            String err = io.err();
            assertTrue(err.startsWith("error: [MODEL_LIMIT_EXCEEDED] text 2 of 3 ('" + TOO_LONG + "'): "), where + ": " + err);
            assertEquals(1, err.lines().count(), err);

            assertEquals(0, run(concat(cmd, "--max-new-tokens", "6", "ein test", "zweihundert")), io::err);
            assertEquals("", io.err());
        });
    }

    @Test
    void aCommandThatCannotRunAtAllExitsWithTwo(@TempDir Path dir) {
        assertEquals(2, run("translate", "--model", dir.resolve("missing.itm").toString(), "ein test"));
        assertTrue(io.err().startsWith("error: ["), io::err);
        assertEquals("", io.out());
    }

    @Test
    void aLengthPenaltyWithoutBeamSearchIsRefusedNamingTheOption(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        locallyAndOnAServer(f, cmd -> {
            for (String[] beam : new String[][] {{}, {"--beam", "1"}}) {
                assertEquals(2, run(concat(concat(cmd, beam), "--length-penalty", "0.6", "ein test")));
                assertTrue(io.err().startsWith("error: [INVALID_ARGUMENT] --length-penalty applies to beam search only; "
                        + "add --beam N with N >= 2"), io::err);
                assertEquals("", io.out(), "nothing was translated");
            }
            assertEquals(2, run(concat(cmd, "--beam", "2", "--length-penalty", "2.5", "ein test")));
            assertTrue(io.err().startsWith("error: [INVALID_ARGUMENT] --length-penalty 2.5 must be in [0, 2]"), io::err);
            assertEquals(0, run(concat(cmd, "--beam", "2", "--length-penalty", "0.6", "--max-new-tokens", "4", "ein test")),
                    io::err);
            assertTrue(io.out().contains("alpha 0.6"), io::out);
        });
    }

    @Test
    void maxNewTokensAboveTheModelsLimitIsRefusedNamingTheLimit(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        locallyAndOnAServer(f, cmd -> {
            String whose = cmd[1].equals("--model") ? "the model's" : "the served model's";
            assertEquals(2, run(concat(cmd, "--max-new-tokens", "32", "ein test")));
            assertEquals("error: [INVALID_ARGUMENT] --max-new-tokens 32 exceeds " + whose
                    + " limit of 31 (max_positions 32 - 1)", io.err().trim());
            assertEquals("", io.out(), "nothing was translated");
            assertEquals(2, run(concat(cmd, "--max-new-tokens", "0", "ein test")));
            assertTrue(io.err().startsWith("error: [INVALID_ARGUMENT] --max-new-tokens 0 must be at least 1"), io::err);
            assertEquals(0, run(concat(cmd, "--max-new-tokens", "31", "ein test")), io::err);
            assertTrue(io.out().contains("greedy(max 31)"), io::out);
        });
    }

    @Test
    void theDefaultsAreTheProtocolsAndHelpSaysSo(@TempDir Path dir) {
        Path f = io.randomModel(dir);
        locallyAndOnAServer(f, cmd -> {
            // PROTOCOL.md: max_new_tokens 0 is the model's maximum (max_positions - 1), alpha_q8 0.
            assertEquals(0, run(concat(cmd, "ein test")), io::err);
            assertTrue(io.out().contains("greedy(max 31)"), io::out);
            assertEquals(0, run(concat(cmd, "--beam", "3", "ein test")), io::err);
            assertTrue(io.out().contains("beam(3, max 31, alpha 0.0)"), io::out);
        });
        assertEquals(0, run("translate", "--help"));
        String help = io.out().replaceAll("\\s+", " ");
        for (String expected : new String[] {"Default: that maximum (127 for a model of 128 positions, such as the tiny preset), as "
                + "the protocol's max_new_tokens = 0", "needs --beam 2 or more. Default 0 (no length normalization), as the protocol's "
                + "alpha_q8 = 0", "Exit status:", "1 at least one TEXT failed", "beam width, 1 to 64"}) {
            assertTrue(help.contains(expected), () -> "help lacks '" + expected + "':\n" + io.out());
        }
    }
}
