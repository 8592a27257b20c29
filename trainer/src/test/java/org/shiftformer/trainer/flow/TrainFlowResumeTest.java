package org.shiftformer.trainer.flow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.core.artifact.Artifact;
import org.shiftformer.core.artifact.ArtifactReader;
import org.shiftformer.core.artifact.ArtifactWriter;
import org.shiftformer.core.artifact.Provenance;
import org.shiftformer.trainer.data.Dataset;
import org.shiftformer.trainer.data.NumberTask;
import org.shiftformer.trainer.data.SplitConfig;
import org.shiftformer.trainer.qat.QatFineTuner;
import org.shiftformer.trainer.report.CurveCsv;
import org.shiftformer.trainer.train.Checkpoint;
import org.shiftformer.trainer.train.StopSignal;
import org.shiftformer.trainer.train.TrainConfig;

/**
 * A run never loses finished work: the float model is checkpointed before QAT, a failure in QAT or in the
 * scoring after it leaves the checkpoint (and the artifact, once exported) and says how to resume, and a run
 * resumed from that checkpoint skips float training and writes the same model as an uninterrupted run, bit
 * for bit.
 */
class TrainFlowResumeTest {
    static final ModelConfig SHAPE = new ModelConfig(32, 2, 64, 1, 1, 300, 64, 2, 0, 1, 2);
    static final Dataset DATA = NumberTask.generate(new SplitConfig(20, 20, 2_000, 7));

    static TrainConfig train() {
        return TrainConfig.defaults(SHAPE, 30).withBatch(32).withEval(0, 20).withThreads(2);
    }

    static TrainFlow.Settings settings(TrainConfig train, Path out) {
        return new TrainFlow.Settings(train, QatFineTuner.Settings.defaults(10), 20, out, "test", "sim", 16);
    }

    @Test
    void aFailureAfterFloatTrainingLeavesACheckpointAndResumingGivesTheSameArtifact(@TempDir Path dir) throws Exception {
        // uninterrupted; the float model is checkpointed by default beside the artifact
        Path a = dir.resolve("a/m.itm");
        Files.createDirectories(a.getParent());
        TrainFlow.Result ra = TrainFlow.run(settings(train(), a), DATA, new Failing(null));
        Path ckptA = dir.resolve("a/m.ckpt");
        assertEquals(ckptA, TrainFlow.defaultCheckpoint(a));
        assertEquals(30, Checkpoint.read(ckptA).step());

        // a failure injected when QAT starts: no artifact, the checkpoint and a message saying how to resume
        Path b = dir.resolve("b/m.itm");
        Files.createDirectories(b.getParent());
        Failing log = new Failing("== QAT");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> TrainFlow.run(settings(train(), b), DATA, log));
        assertEquals("injected at == QAT", e.getMessage());
        Path ckptB = dir.resolve("b/m.ckpt");
        assertEquals(30, Checkpoint.read(ckptB).step());
        assertFalse(Files.exists(b));
        String printed = log.text();
        assertTrue(printed.contains("QAT failed after float training"), printed);
        assertTrue(printed.contains("the float model is saved in " + ckptB + " (step 30 of 30)"), printed);
        assertTrue(printed.contains("--resume " + ckptB), printed);

        // resumed from it (what --resume does): float training is skipped, the model is the uninterrupted run's
        Failing resumed = new Failing(null);
        TrainFlow.Result rb = TrainFlow.run(settings(train().withCheckpoint(ckptB, 0), b), DATA, resumed);
        assertFalse(resumed.text().contains(" 1/30 "), "no float step was run:\n" + resumed.text());
        assertEquals(modelSha(a, dir), modelSha(b, dir), "the resumed run's artifact equals the uninterrupted one's");
        assertEquals(ra.floatModel(), rb.floatModel());
        assertEquals(ra.int8(), rb.int8());
        assertEquals(java.util.List.of(20L, 30L), CurveCsv.read(dir.resolve("b/m.curves.csv")).stream()
                .map(p -> (long) p.step()).toList(), "the float curve of the interrupted run is kept");

        // a failure while scoring the fake-quantized model: the artifact was written before it, and is said so
        Path c = dir.resolve("c/m.itm");
        Files.createDirectories(c.getParent());
        Failing scoring = new Failing("   fake-quantized:");
        assertThrows(IllegalStateException.class,
                () -> TrainFlow.run(settings(train().withCheckpoint(ckptB, 0), c), DATA, scoring));
        assertTrue(scoring.text().contains("fake-quantized scoring failed after float training"), scoring.text());
        assertTrue(scoring.text().contains("the artifact " + c + " was written before the failure"), scoring.text());
        assertEquals(modelSha(a, dir), modelSha(c, dir));
    }

    @Test
    void aStopRequestedDuringFloatTrainingCheckpointsAtAStepBoundaryAndResumesToTheSameModel(@TempDir Path dir)
            throws Exception {
        TrainConfig train = train().withEval(10, 20);
        Path a = uninterrupted(dir, train);

        // Ctrl-C's shutdown hook calls request() from another thread; here the flow's own output does, right
        // after the validation of step 10
        Path b = Files.createDirectories(dir.resolve("b")).resolve("m.itm");
        StopSignal stop = StopSignal.none();
        Failing log = new Failing("step 10: validation", stop::request);
        TrainFlow.Stopped e = assertThrows(TrainFlow.Stopped.class, () -> TrainFlow.run(settings(train, b), DATA, log, stop));
        Path ckptB = dir.resolve("b/m.ckpt");
        assertEquals(ckptB, e.checkpoint());
        assertEquals(10, Checkpoint.read(ckptB).step(), "stopped at the step boundary after the request");
        assertFalse(Files.exists(b), "nothing after float training ran");
        assertTrue(stop.isHandled() && ckptB.equals(stop.checkpoint()), "the hook waiting on the signal is released");
        assertTrue(log.text().contains("float training stopped at step 10 of 30: the float model is saved in " + ckptB
                + "; continue with  --resume " + ckptB), log.text());
        assertFalse(log.text().contains("== QAT"), log.text());

        // resumed: float training goes on from step 11 and the model is the uninterrupted run's, bit for bit
        Failing resumed = new Failing(null);
        TrainFlow.run(settings(train.withCheckpoint(ckptB, 0), b), DATA, resumed);
        assertTrue(resumed.text().contains("step 20: validation") && !resumed.text().contains("step 10: validation"),
                resumed.text());
        assertEquals(modelSha(a, dir), modelSha(b, dir), "the resumed run's artifact equals the uninterrupted one's");
    }

    @Test
    void aFailureDuringFloatTrainingKeepsTheStepsDoneAndResumesToTheSameModel(@TempDir Path dir) throws Exception {
        TrainConfig train = train().withEval(10, 20);
        Path a = uninterrupted(dir, train);

        // a failure after step 10's validation (no --checkpoint given): the ten steps are not lost
        Path b = Files.createDirectories(dir.resolve("b")).resolve("m.itm");
        StopSignal stop = StopSignal.none();
        Failing log = new Failing("step 10: validation");
        IllegalStateException e = assertThrows(IllegalStateException.class,
                () -> TrainFlow.run(settings(train, b), DATA, log, stop));
        assertEquals("injected at step 10: validation", e.getMessage());
        Path ckptB = dir.resolve("b/m.ckpt");
        assertEquals(10, Checkpoint.read(ckptB).step());
        assertFalse(Files.exists(b));
        assertTrue(stop.isHandled() && ckptB.equals(stop.checkpoint()), "the hook waiting on the signal is released");
        assertTrue(log.text().contains("!! float training failed after step 10 of 30: " + e), log.text());
        assertTrue(log.text().contains("the float model of step 10 is saved in " + ckptB + "; continue with  --resume "
                + ckptB), log.text());
        assertFalse(log.text().contains("out of memory"), log.text());

        // resumed: float training goes on from step 11 and the model is the uninterrupted run's, bit for bit
        TrainFlow.run(settings(train.withCheckpoint(ckptB, 0), b), DATA, new Failing(null));
        assertEquals(modelSha(a, dir), modelSha(b, dir), "the resumed run's artifact equals the uninterrupted one's");

        // out of memory (here in the progress line of step 1): step 1 is kept, and the message says what to change
        Path c = dir.resolve("c/m.itm");
        Files.createDirectories(c.getParent());
        Failing oom = new Failing(" 1/30 ", () -> {
            throw new OutOfMemoryError("Java heap space");
        });
        assertThrows(OutOfMemoryError.class, () -> TrainFlow.run(settings(train, c), DATA, oom));
        assertEquals(1, Checkpoint.read(dir.resolve("c/m.ckpt")).step());
        assertTrue(oom.text().contains("out of memory: give the JVM a larger heap (JDK_JAVA_OPTIONS=-Xmx...) or train a "
                + "smaller --batch"), oom.text());
    }

    @Test
    void aTimeBudgetStopsFloatTrainingAndTheFlowStillExports(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("m.itm");
        StopSignal budget = new StopSignal(1e-9); // spent before the first step
        Failing log = new Failing(null);
        TrainFlow.Result r = TrainFlow.run(settings(train(), out), DATA, log, budget);
        long step = Checkpoint.read(dir.resolve("m.ckpt")).step();
        assertTrue(step < 30, "stopped early at step " + step);
        assertTrue(log.text().contains("float training stopped at its time budget (0 s) at step " + step + " of 30; "
                + "QAT and export go on"), log.text());
        assertTrue(log.text().contains("== QAT") && Files.exists(out), log.text());
        Artifact artifact = ArtifactReader.read(out);
        assertTrue(artifact.provenance().notes().contains("float " + step + " of 30 steps (stopped at the time budget)"),
                artifact.provenance().notes());
        assertEquals(r.int8(), r.fakeQuantized(), "the flow scored the model it exported");
        assertThrows(IllegalArgumentException.class, () -> new StopSignal(-1));
        assertThrows(IllegalArgumentException.class, () -> new StopSignal(Double.NaN));
    }

    /** The artifact {@code dir/a/m.itm} of a run of {@code train} that nothing interrupts. */
    private static Path uninterrupted(Path dir, TrainConfig train) throws Exception {
        Path a = Files.createDirectories(dir.resolve("a")).resolve("m.itm");
        TrainFlow.run(settings(train, a), DATA, new Failing(null));
        return a;
    }

    /** SHA-256 of the artifact's model and tokenizer under a fixed provenance (the real one has a timestamp). */
    private static String modelSha(Path artifact, Path dir) throws Exception {
        Artifact x = ArtifactReader.read(artifact);
        Path tmp = Files.createTempFile(dir, "model", ".itm");
        return ArtifactWriter.write(x.model(), x.tokenizer(), new Provenance("t", 0, "sha256:0", "", "", Map.of()), tmp);
    }

    /** Collects what the flow prints and throws (or runs {@code action}) once when {@code trigger} has been printed. */
    private static final class Failing extends PrintStream {
        Failing(String trigger) {
            this(trigger, null);
        }

        Failing(String trigger, Runnable action) {
            super(new Trigger(trigger, action), true, StandardCharsets.UTF_8);
        }

        String text() {
            return ((Trigger) out).buf.toString(StandardCharsets.UTF_8);
        }
    }

    private static final class Trigger extends OutputStream {
        final ByteArrayOutputStream buf = new ByteArrayOutputStream();
        String trigger;
        final Runnable action;

        Trigger(String trigger, Runnable action) {
            this.trigger = trigger;
            this.action = action;
        }

        @Override
        public void write(int b) {
            write(new byte[] {(byte) b}, 0, 1);
        }

        @Override
        public void write(byte[] b, int off, int len) {
            buf.write(b, off, len);
            if (trigger != null && buf.toString(StandardCharsets.UTF_8).contains(trigger)) {
                String t = trigger;
                trigger = null;
                if (action != null) {
                    action.run();
                    return;
                }
                throw new IllegalStateException("injected at " + t);
            }
        }
    }
}
