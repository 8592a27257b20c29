package org.shiftformer.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;

class ModelConfigTest {
    private static ModelConfig withEmbedScale(int embedScaleLog2) {
        return new ModelConfig(16, 2, 32, 1, 1, 270, 8, embedScaleLog2, 0, 1, 2);
    }

    @Test
    void embedScaleLog2IsAcceptedExactlyInTheRangeOfSpecSection8() {
        assertEquals(0, withEmbedScale(ModelConfig.MIN_EMBED_SCALE_LOG2).validate().embedScaleLog2());
        assertEquals(16, withEmbedScale(ModelConfig.MAX_EMBED_SCALE_LOG2).validate().embedScaleLog2());
        for (int outside : new int[] {-1, 17, Integer.MIN_VALUE}) {
            ShiftformerException e = assertThrows(ShiftformerException.class, () -> withEmbedScale(outside).validate());
            assertEquals(ErrorCode.INVALID_ARTIFACT, e.code());
            assertEquals("model config: embed_scale_log2 " + outside + " must be in [0, 16]", e.getMessage());
        }
    }
}
