package org.shiftformer.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.core.artifact.ArtifactReader;

/** {@code train} then {@code eval} in process on a short run of the default task. */
class TrainCommandsTest {
    @RegisterExtension
    final CliOutput io = new CliOutput();

    @Test
    void trainWritesAScoredArtifactThatEvalDecodes(@TempDir Path dir) throws java.io.IOException {
        Path model = dir.resolve("numbers.itm");
        String[] data = {"--data", "default:1999", "--train-size", "1200", "--validation-size", "20", "--test-size", "20"};
        String[] args = concat(new String[] {"train"}, data, new String[] {"--preset", "tiny", "--vocab", "300",
            "--max-positions", "64", "--steps", "12", "--qat-steps", "2", "--batch", "16", "--eval-sentences", "10",
            "--test-sentences", "10", "--threads", "2", "-o", model.toString()});
        assertEquals(0, Main.run(args), io::err);
        String printed = io.out();
        assertTrue(printed.contains("int8 / float"), printed);
        assertTrue(Files.exists(dir.resolve("numbers.curves.csv")) && Files.exists(dir.resolve("numbers.curves.png")));
        var metrics = ArtifactReader.read(model).provenance().metrics();
        assertTrue(metrics.containsKey("fp32.exact_match") && metrics.containsKey("int8.chrf"), metrics.toString());
        // exact match per digit count: 1 and 2 digits in full (trained on), 5 held-out numbers each of 3 and 4 digits
        assertTrue(printed.lines().anyMatch(l -> l.matches("1 +10 seen( +[0-9.]+){3}")), printed);
        assertTrue(printed.lines().anyMatch(l -> l.matches("4 +5 held out( +[0-9.]+){3}")), printed);
        assertTrue(metrics.containsKey("int8.exact_match.digits_4"), metrics.toString());

        io.clearOut();
        assertEquals(0, Main.run(concat(new String[] {"eval", "--model", model.toString(), "--sentences", "10"}, data)),
                io::err);
        String scored = io.out();
        assertTrue(scored.contains("(10 segments) on default test"), scored);
        // the same 10 test pairs, the same integer model: the score recorded at export is reproduced
        String recorded = String.format(java.util.Locale.ROOT, "exact %.2f%%", metrics.get("int8.exact_match"));
        assertTrue(scored.contains(recorded), recorded + " in\n" + scored);
        // and so is the worst digit count, the headline
        String worst = String.format(java.util.Locale.ROOT, "headline: worst digits \\d %.2f%%", metrics.get("int8.worst_exact_match"));
        assertTrue(scored.lines().anyMatch(l -> l.matches(worst + " .*")), worst + " in\n" + scored);
        assertTrue(scored.lines().anyMatch(l -> l.matches("2 +90 seen +[0-9.]+")), scored);

        // the float model was checkpointed beside the artifact; --resume starts from it without float training
        Path ckpt = dir.resolve("numbers.ckpt");
        assertTrue(printed.contains("float model checkpointed: " + ckpt + " (step 12)"), printed);
        io.clearOut();
        Path again = dir.resolve("again.itm");
        String[] resumed = args.clone();
        resumed[resumed.length - 1] = again.toString();
        assertEquals(0, Main.run(concat(resumed, new String[] {"--resume", ckpt.toString()})), io::err);
        assertTrue(!io.out().contains(" 1/12 ") && io.out().contains("int8 / float"), io.out());
        assertEquals(metrics.get("int8.chrf"), ArtifactReader.read(again).provenance().metrics().get("int8.chrf"));

        // the checkpoint of another model, or a damaged one: an error naming the file and what is wrong, no stack trace
        String[] other = resumed.clone();
        other[java.util.Arrays.asList(other).indexOf("--max-positions") + 1] = "96";
        io.clearErr();
        assertEquals(2, Main.run(concat(other, new String[] {"--resume", ckpt.toString()})));
        assertTrue(io.err().contains("error: checkpoint " + ckpt + " holds a model") && io.err().contains("maxPositions=64"),
                io.err());
        assertFalse(io.err().contains("\tat "), io.err());
        byte[] bytes = Files.readAllBytes(ckpt);
        bytes[bytes.length / 2] ^= 1;
        Path damaged = Files.write(dir.resolve("damaged.ckpt"), bytes);
        io.clearErr();
        assertEquals(2, Main.run(concat(resumed, new String[] {"--resume", damaged.toString()})));
        assertTrue(io.err().startsWith("error: ") && io.err().contains("corrupt: checksum"), io.err());
        assertFalse(io.err().contains("\tat "), io.err());
    }

    @Test
    void splitByCatalogHoldsOutWholeCatalogsAndScoresEach(@TempDir Path dir) throws java.io.IOException {
        Path data = Files.createDirectory(dir.resolve("de"));
        for (int k = 0; k < 6; k++) {
            StringBuilder po = new StringBuilder("msgid \"Report bugs to\"\nmsgstr \"Fehler melden an\"\n\n");
            for (int j = 0; j < 8; j++) {
                po.append("msgid \"tool").append(k).append(" file ").append(j).append("\"\nmsgstr \"Werkzeug").append(k)
                    .append(" Datei ").append(j).append("\"\n\n");
            }
            Files.writeString(data.resolve("tool" + k + ".po"), po);
        }
        Path model = dir.resolve("po.itm");
        assertEquals(0, Main.run("train", "--data", "gettext:" + data, "--split-by", "catalog", "--validation-size", "4",
            "--test-size", "10", "--preset", "tiny", "--vocab", "300", "--max-positions", "64", "--steps", "4",
            "--qat-steps", "1", "--batch", "8", "--eval-sentences", "4", "--test-sentences", "16", "--threads", "2",
            "-o", model.toString()), io::err);
        String printed = io.out();
        // two whole catalogs of 8 own messages each are the test set (the shared message is trained on)
        assertTrue(printed.contains("exact match % by catalog"), printed);
        assertEquals(2, printed.lines().filter(l -> l.matches("tool\\d\\.po +8 held out( +[0-9.]+){3}")).count(), printed);
        assertTrue(printed.contains("worst catalog tool"), printed);
        var metrics = ArtifactReader.read(model).provenance().metrics();
        assertTrue(metrics.keySet().stream().anyMatch(k -> k.startsWith("int8.exact_match.catalog_tool")), metrics.toString());

        assertEquals(2, Main.run("train", "--data", "default:1999", "--split-by", "catalog", "-o", dir.resolve("x.itm").toString()));
        assertTrue(io.err().contains("split by catalog needs data made of catalogs"), io.err());
        io.clearOut();
        assertEquals(0, Main.run("train", "--help"));
        assertTrue(io.out().contains("--split-by=<splitBy>") && io.out().contains("a .mo or .po catalog"), io.out());
    }

    @Test
    void resumingFromAMissingCheckpointIsAnError(@TempDir Path dir) {
        assertEquals(2, Main.run("train", "--resume", dir.resolve("none.ckpt").toString(), "-o",
                dir.resolve("x.itm").toString()));
        assertTrue(io.err().contains("--resume " + dir.resolve("none.ckpt") + ": no such checkpoint file"), io.err());
    }

    @Test
    void aBadDataSpecIsAnErrorNamingTheAcceptedForms(@TempDir Path dir) {
        assertEquals(2, Main.run("train", "--data", "nosuch:thing", "-o", dir.resolve("x.itm").toString()));
        assertTrue(io.err().contains("moses:SRC,TGT"), io.err());
    }

    @Test
    void outOfRangeSettingsAreErrorsNamingTheSettingNotStackTraces(@TempDir Path dir) {
        String out = dir.resolve("x.itm").toString();
        String[][] cases = {
            {"--steps", "0", "train config: steps must be >= 1: 0"},
            {"--batch", "0", "train config: batchSentences must be >= 1: 0"},
            {"--threads", "0", "train config: threads must be >= 1: 0"},
            {"--qat-steps", "-1", "QAT settings: steps -1 (need >= 0)"},
            {"--test-sentences", "-1", "--test-sentences -1: must be >= 0"},
            {"--bit-exact-sentences", "-1", "--bit-exact-sentences -1: must be >= 0"},
            {"--checkpoint-every", "-1", "--checkpoint-every -1: must be >= 0"},
        };
        for (String[] c : cases) {
            io.clearErr();
            assertEquals(2, Main.run("train", "--data", "default:1999", c[0], c[1], "-o", out), c[0]);
            assertTrue(io.err().contains(c[2]), io.err());
            assertFalse(io.err().contains("\tat "), io.err());
        }
        assertFalse(Files.exists(dir.resolve("x.itm")));
        assertFalse(io.out().contains("== float training"), "refused before any work:\n" + io.out());
        io.clearErr();
        assertEquals(2, Main.run("eval", "--model", out, "--data", "default:1999", "--sentences", "-3"));
        assertTrue(io.err().contains("--sentences -3: must be >= 1"), io.err());
        io.clearErr();
        assertEquals(2, Main.run("eval", "--model", out, "--data", "default:1999", "--split", "train"));
        assertTrue(io.err().contains("error: [INVALID_ARGUMENT] --split must be test or validation, not 'train'"), io.err());
    }

    @Test
    void outOfMemoryDuringFloatTrainingKeepsTheStepsAndEndsInOneErrorLine(@TempDir Path dir) {
        // the heap runs out (here: where step 1's progress line is printed); train keeps step 1 and says what to
        // change, and the command ends in one error line and exit status 1, not a stack trace
        java.io.Writer captured = new java.io.StringWriter();
        Main.OUT = new java.io.PrintWriter(new java.io.Writer() {
            boolean thrown;

            @Override
            public void write(char[] c, int off, int len) throws java.io.IOException {
                captured.write(c, off, len);
                if (!thrown && captured.toString().contains(" 1/12 ")) {
                    thrown = true;
                    throw new OutOfMemoryError("Java heap space");
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        }, true);
        Path model = dir.resolve("m.itm");
        assertEquals(1, Main.run("train", "--data", "default:1999", "--train-size", "1200", "--validation-size", "20",
                "--test-size", "20", "--preset", "tiny", "--vocab", "300", "--max-positions", "64", "--steps", "12",
                "--batch", "16", "--threads", "2", "-o", model.toString()));
        String printed = captured.toString();
        assertTrue(printed.contains("!! float training failed after step 1 of 12: java.lang.OutOfMemoryError: Java heap "
                + "space"), printed);
        assertTrue(printed.contains("the float model of step 1 is saved in " + dir.resolve("m.ckpt")), printed);
        assertTrue(printed.contains("out of memory: give the JVM a larger heap"), printed);
        assertEquals("error: out of memory (Java heap space): give the JVM a larger heap, e.g. JDK_JAVA_OPTIONS=-Xmx8g",
                io.err().strip());
        assertFalse(Files.exists(model));
    }

    @Test
    void aTimeBudgetMustBeADuration(@TempDir Path dir) {
        assertEquals(2, Main.run("train", "--time-budget", "soon", "-o", dir.resolve("x.itm").toString()));
        assertTrue(io.err().contains("--time-budget soon: need a positive duration such as 900, 900s, 15m or 1.5h"),
                io.err());
        assertEquals(900.0, TrainCommands.Train.seconds("--time-budget", "15m"));
        assertEquals(5400.0, TrainCommands.Train.seconds("--time-budget", "1.5h"));
        assertEquals(30.0, TrainCommands.Train.seconds("--time-budget", "30s"));
        assertEquals(2.0, TrainCommands.Train.seconds("--time-budget", "2"));
    }

    /**
     * A real interrupt: a {@code train} process is sent SIGTERM (what Ctrl-C's SIGINT also triggers: the JVM's
     * shutdown hooks) in the middle of float training; it checkpoints at the next step boundary, says how to
     * resume, and exits.
     */
    @Test
    void anInterruptDuringFloatTrainingCheckpointsAndSaysHowToResume(@TempDir Path dir) throws Exception {
        Path model = dir.resolve("m.itm");
        Path ckpt = dir.resolve("m.ckpt");
        String javaBin = ProcessHandle.current().info().command().orElseThrow();
        Process p = new ProcessBuilder(javaBin, "--add-modules", "jdk.incubator.vector", "-cp",
                System.getProperty("java.class.path"), Main.class.getName(), "train", "--data", "default:1999",
                "--train-size", "1200", "--validation-size", "20", "--test-size", "20", "--preset", "tiny", "--vocab",
                "300", "--max-positions", "64", "--steps", "1000000", "--batch", "16", "--eval-every", "0",
                "--threads", "1", "-o", model.toString()).redirectErrorStream(true).start();
        StringBuffer out = new StringBuffer();
        Thread reader = Thread.ofPlatform().daemon().start(() -> {
            try (var r = p.inputReader(java.nio.charset.StandardCharsets.UTF_8)) {
                for (String line; (line = r.readLine()) != null; ) {
                    out.append(line).append('\n');
                }
            } catch (java.io.IOException ignored) {
                // the process is gone
            }
        });
        try {
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (!out.toString().contains("/1000000") && p.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertTrue(out.toString().contains("/1000000"), "float training never started:\n" + out);
            p.toHandle().destroy(); // SIGTERM (Process.destroy would also close our end of its output)
            assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), "still running after the interrupt:\n" + out);
            reader.join(10_000);
        } finally {
            p.destroyForcibly();
        }
        String printed = out.toString();
        var stopped = java.util.regex.Pattern.compile("float training stopped at step (\\d+) of 1000000: the float model "
                + "is saved in " + java.util.regex.Pattern.quote(ckpt.toString()) + "; continue with  --resume "
                + java.util.regex.Pattern.quote(ckpt.toString())).matcher(printed);
        assertTrue(stopped.find(), printed);
        long step = Long.parseLong(stopped.group(1));
        assertTrue(step >= 1, printed);
        assertEquals(step, org.shiftformer.trainer.train.Checkpoint.read(ckpt).step(), "the checkpoint is at that step");
        assertTrue(!Files.exists(model) && !printed.contains("== QAT"), printed);
    }

    private static String[] concat(String[]... parts) {
        return java.util.Arrays.stream(parts).flatMap(java.util.Arrays::stream).toArray(String[]::new);
    }
}
