package org.shiftformer.trainer.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.core.tokenizer.ByteBpeTokenizer;

class BatchTest {

    private final ModelConfig cfg = ModelFixtures.micro(); // pad 0, bos 1, eos 2, 10 positions

    @Test
    void padsSourcesAndBuildsBosInputsAndEosTargets() {
        Batch b = Batch.of(List.of(new int[] {5, 6, 2}, new int[] {7, 2}), List.of(new int[] {8, 9, 10}, new int[] {11}),
                cfg);
        assertEquals(2, b.size());
        assertEquals(3, b.srcLen());
        assertArrayEquals(new int[] {5, 6, 2, 7, 2, 0}, b.src());
        assertArrayEquals(new int[] {3, 2}, b.srcLengths());
        assertEquals(4, b.tgtLen());
        assertArrayEquals(new int[] {1, 8, 9, 10, 1, 11, 0, 0}, b.decoderInput());
        assertArrayEquals(new int[] {8, 9, 10, 2, 11, 2, 0, 0}, b.targets());
        assertEquals(6, b.targetTokens());
    }

    @Test
    void sourceIdsAreTheTokensFollowedByEosAsTheRuntimeFeedsThem() {
        ByteBpeTokenizer tok = new ByteBpeTokenizer(new int[0], new int[0]);
        assertArrayEquals(new int[] {3 + 'h', 3 + 'i', 2}, Seq2SeqModel.sourceIds(tok, "hi", 2));
    }

    @Test
    void rejectsBadInputNamingIt() {
        var e = assertThrows(IllegalArgumentException.class,
                () -> Batch.of(List.of(new int[] {3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2}), List.of(new int[] {4}), cfg));
        assertEquals("batch needs 11 positions but the model has 10 (source 11, decoder 2)", e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Batch.of(List.of(new int[] {3, 2}), List.of(), cfg));
        var id = assertThrows(IllegalArgumentException.class,
                () -> Batch.of(List.of(new int[] {3, 2}), List.of(new int[] {12}), cfg));
        assertEquals("target 0 holds id 12, outside [0, 12) or the pad id", id.getMessage());
        assertThrows(IllegalArgumentException.class,
                () -> Batch.of(List.of(new int[] {0, 2}), List.of(new int[] {4}), cfg));
    }
}
