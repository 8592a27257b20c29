package org.shiftformer.trainer.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.core.data.NumberWords;
import org.shiftformer.trainer.autodiff.MatMul;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.data.Pair;

class CheckpointResumeTest {

    @TempDir
    Path dir;

    @AfterEach
    void resetThreads() {
        MatMul.setThreads(Runtime.getRuntime().availableProcessors());
    }

    static List<Pair> numbers(int count) {
        List<Pair> out = new ArrayList<>();
        for (int n = 0; n < count; n++) {
            out.add(new Pair(NumberWords.german(n * 37 + 5), NumberWords.english(n * 37 + 5)));
        }
        return out;
    }

    private static TrainConfig config(long steps, int threads) {
        ModelConfig model = new ModelConfig(32, 2, 64, 1, 1, 300, 48, 2, 0, 1, 2);
        // 7 batches per epoch of 48 pairs (batch 7): the runs below cross an epoch boundary; dropout is on.
        return TrainConfig.defaults(model, steps).withSteps(steps, 2).withBatch(7).withThreads(threads)
                .withRegularization(0.1f, 0.1f, 0.01).withEval(0, 0);
    }

    /** Parameters and both Adam moments of every tensor, concatenated. */
    private static float[] state(Trainer t) {
        List<Float> all = new ArrayList<>();
        for (Tensor p : t.optimizer().params()) {
            float[][] mv = t.optimizer().moments(p);
            for (float[] a : new float[][] {p.data(), mv[0], mv[1]}) {
                for (float v : a) {
                    all.add(v);
                }
            }
        }
        float[] out = new float[all.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = all.get(i);
        }
        return out;
    }

    @Test
    void resumedRunEqualsUninterruptedRunBitForBit() {
        List<Pair> data = numbers(48);
        Trainer straight = new Trainer(config(10, 2), data, List.of(), null);
        straight.run();
        float[] want = state(straight);

        Path ckpt = dir.resolve("run.ckpt");
        Trainer first = new Trainer(config(10, 1).withCheckpoint(ckpt, 4), data, List.of(), null);
        for (int i = 0; i < 4; i++) {
            first.trainStep();
        }
        first.saveCheckpoint();
        assertTrue(Files.exists(ckpt));
        // A fresh trainer (another thread count) picks the checkpoint up and finishes the run.
        Trainer resumed = new Trainer(config(10, 3).withCheckpoint(ckpt, 0), data, List.of(), null);
        assertEquals(4, resumed.step());
        resumed.run();
        assertEquals(10, resumed.step());
        assertArrayEquals(want, state(resumed));
        // And the run itself moved the parameters (the comparison is not between two untouched models).
        Trainer untouched = new Trainer(config(10, 1), data, List.of(), null);
        assertTrue(!java.util.Arrays.equals(want, state(untouched)));
    }

    @Test
    void aStepThatFailsBeforeItsUpdateDidNotHappenAndACheckpointOfItResumesExactly() {
        List<Pair> data = numbers(48);
        Trainer straight = new Trainer(config(10, 2), data, List.of(), null);
        straight.run();
        float[] want = state(straight);

        // step 8 (the first batch of the second epoch: 7 batches an epoch) runs out of memory after its backward pass
        Trainer failing = new Trainer(config(10, 1), data, List.of(), null);
        int[] calls = {0};
        failing.beforeUpdate(() -> {
            if (++calls[0] == 8) {
                throw new OutOfMemoryError("injected in step 8");
            }
        });
        OutOfMemoryError e = assertThrows(OutOfMemoryError.class, failing::run);
        assertEquals("injected in step 8", e.getMessage());
        assertEquals(7, failing.step());
        assertTrue(failing.consistent());
        Path ckpt = dir.resolve("failed.ckpt");
        failing.saveCheckpoint(ckpt);
        Checkpoint saved = Checkpoint.read(ckpt);
        assertEquals(7, saved.step());

        // the failed step's batch comes again: resumed (or retried in place), the run is the uninterrupted one
        Trainer resumed = new Trainer(config(10, 2).withCheckpoint(ckpt, 0), data, List.of(), null);
        assertEquals(7, resumed.step());
        resumed.run();
        assertArrayEquals(want, state(resumed));
        failing.run();
        assertEquals(10, failing.step());
        assertArrayEquals(want, state(failing));
    }

    @Test
    void checkpointRoundTripsAndCorruptionIsRejected() throws IOException {
        List<Pair> data = numbers(20);
        Path ckpt = dir.resolve("c.ckpt");
        Trainer t = new Trainer(config(3, 1).withCheckpoint(ckpt, 0), data, List.of(), null);
        t.run();
        Checkpoint c = Checkpoint.read(ckpt);
        assertEquals(3, c.step());
        assertEquals(t.model().config(), c.config());
        assertArrayEquals(t.tokenizer().mergeLeft(), c.mergeLeft());
        assertArrayEquals(t.model().params().get("dec.0.cross.k.weight").data(), c.tensors().get("dec.0.cross.k.weight")[0]);

        byte[] bytes = Files.readAllBytes(ckpt);
        bytes[bytes.length / 2] ^= 1;
        Path bad = dir.resolve("bad.ckpt");
        Files.write(bad, bytes);
        var e = assertThrows(IllegalArgumentException.class, () -> Checkpoint.read(bad));
        assertTrue(e.getMessage().contains("corrupt: checksum"), e.getMessage());

        Files.write(bad, java.util.Arrays.copyOf(Files.readAllBytes(ckpt), 200));
        assertThrows(IllegalArgumentException.class, () -> Checkpoint.read(bad));

        Files.writeString(bad, "not a checkpoint at all");
        var magic = assertThrows(IllegalArgumentException.class, () -> Checkpoint.read(bad));
        assertTrue(magic.getMessage().contains("bad magic"), magic.getMessage());

        // A checkpoint of another model shape is refused with both shapes named.
        TrainConfig other = TrainConfig.defaults(new ModelConfig(64, 2, 64, 1, 1, 300, 48, 2, 0, 1, 2), 3)
                .withCheckpoint(ckpt, 0).withBatch(7);
        var shape = assertThrows(IllegalArgumentException.class, () -> new Trainer(other, data, List.of(), null));
        assertTrue(shape.getMessage().contains("holds a model"), shape.getMessage());
    }
}
