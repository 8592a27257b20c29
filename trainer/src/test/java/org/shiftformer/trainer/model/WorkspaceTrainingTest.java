package org.shiftformer.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.trainer.autodiff.Workspace;

/**
 * Forward and backward inside {@link Workspace} scopes (reused arrays) give the bits of the same passes
 * outside (fresh arrays), across batches of changing shapes that come back.
 */
class WorkspaceTrainingTest {

    @Test
    void scopedPassesEqualUnscopedOnes() {
        // large enough that activations (>= 1024 elements) come from the pool
        ModelConfig cfg = new ModelConfig(32, 2, 64, 1, 1, 50, 16, 1, 0, 1, 2);
        Seq2SeqModel model = new Seq2SeqModel(ModelFixtures.noisyParams(cfg, 5), 0.1f);
        Batch[] batches = {
            ModelFixtures.randomBatch(cfg, 1, 12, 9, 8),
            ModelFixtures.randomBatch(cfg, 2, 12, 5, 11),
            ModelFixtures.randomBatch(cfg, 1, 12, 9, 8),
            ModelFixtures.randomBatch(cfg, 3, 12, 9, 8),
        };
        for (int i = 0; i < batches.length; i++) {
            Numerics n = FloatNumerics.training(0.1f, 40 + i);
            float[] fresh = ModelFixtures.lossAndGrads(model, batches[i], n);
            float[] scoped;
            try (var ignored = Workspace.open()) {
                scoped = ModelFixtures.lossAndGrads(model, batches[i], FloatNumerics.training(0.1f, 40 + i));
            }
            assertArrayEquals(fresh, scoped, "batch " + i);
        }
    }
}
