package org.shiftformer.trainer.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.model.RandomModels;
import org.shiftformer.trainer.autodiff.Tensor;
import org.shiftformer.trainer.model.TransformerParams;
import org.shiftformer.trainer.optim.LrSchedule;
import org.shiftformer.trainer.optim.ParamGroup;

/** The query projections train at the rate the usual unfolded model's queries do (Trainer.paramGroups). */
class ParamGroupsTest {
    @Test
    void queryProjectionsGetTheirFoldedScaleAsLearningRateFactor() {
        TransformerParams p = TransformerParams.init(RandomModels.preset("small", 500), 1);
        List<ParamGroup> groups = Trainer.paramGroups(p, LrSchedule.constant(2e-3), 0.01);
        assertEquals(2, groups.size());
        ParamGroup rest = groups.get(0);
        ParamGroup queries = groups.get(1);
        // 3 encoder self-attentions, 3 decoder self- and 3 cross-attentions: a weight and a bias each
        assertEquals(18, queries.params().size());
        assertEquals(p.list().size(), rest.params().size() + queries.params().size());
        for (Tensor t : queries.params()) {
            assertTrue(t.name().matches("(enc|dec)\\.\\d\\.(attn|self|cross)\\.q\\.(weight|bias)"), t.name());
        }
        for (Tensor t : rest.params()) {
            assertFalse(TransformerParams.isQueryProjection(t.name()), t.name());
        }
        double scale = TransformerParams.LOG2_E / 8; // d_k 64
        assertEquals(scale, p.queryScale(), 1e-7);
        assertEquals(2e-3 * p.queryScale(), queries.schedule().lr(7), 1e-15);
        assertEquals(2e-3, rest.schedule().lr(7));
        assertEquals(0.01 / p.queryScale(), queries.weightDecay(), 1e-12, "decoupled decay per step unchanged");
        assertFalse(TransformerParams.isQueryProjection("enc.0.attn.k.weight"));
        assertFalse(TransformerParams.isQueryProjection("enc.0.ln1.gamma"));
    }
}
