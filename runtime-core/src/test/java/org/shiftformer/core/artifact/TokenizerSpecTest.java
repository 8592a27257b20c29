package org.shiftformer.core.artifact;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

class TokenizerSpecTest {

    private static void assertInvalidMerges(int[] left, int[] right, String fragment) {
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> new TokenizerSpec(left, right));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains(fragment), e.getMessage());
    }

    @Test
    void vocabularyIsTheSpecialIdsTheBytesAndOneIdPerMerge() {
        assertEquals(259, TokenizerSpec.bytesOnly().vocabSize());
        TokenizerSpec t = new TokenizerSpec(new int[] {3 + 'a', 259}, new int[] {3 + 'b', 3 + 'c'});
        assertEquals(261, t.vocabSize());
        assertEquals(259, t.left(1));
        assertEquals(3 + 'c', t.right(1));
    }

    @Test
    void mergesMayReferOnlyToBytesAndEarlierMerges() {
        assertInvalidMerges(new int[] {259}, new int[] {3}, "merge 0 (259, 3)");
        assertInvalidMerges(new int[] {3, 261}, new int[] {3, 3}, "merge 1 (261, 3)");
        assertInvalidMerges(new int[] {3}, new int[] {-1}, "merge 0 (3, -1)");
        assertInvalidMerges(new int[] {0}, new int[] {3}, "merge 0 (0, 3)");
        assertInvalidMerges(new int[] {3}, new int[] {2}, "ids in [3, 259)");
        assertInvalidMerges(new int[] {3, 4}, new int[] {3}, "2 left ids but 1 right ids");
    }

    @Test
    void repeatedRulesAndOverlongTokensAreRejected() {
        assertInvalidMerges(new int[] {100, 101, 100}, new int[] {101, 102, 101}, "merge 2 (100, 101) repeats merge 0");
        // Doubling merges: token 259 + r has 2^(r+1) bytes; merge 9 would have 1024, merge 10 2048.
        int[] left = new int[11];
        int[] right = new int[11];
        left[0] = 100;
        right[0] = 100;
        for (int r = 1; r < 11; r++) {
            left[r] = 259 + r - 1;
            right[r] = 259 + r - 1;
        }
        assertInvalidMerges(left, right, "merge 10 expands to 2048 bytes, more than 1024");
    }

    @Test
    void valueSemanticsAndDefensiveCopies() {
        int[] left = {3 + 'a'};
        int[] right = {3 + 'b'};
        TokenizerSpec t = new TokenizerSpec(left, right);
        left[0] = 5;
        assertEquals(3 + 'a', t.left(0));
        t.mergeLeft()[0] = 7;
        assertEquals(3 + 'a', t.left(0));
        TokenizerSpec same = new TokenizerSpec(new int[] {3 + 'a'}, new int[] {3 + 'b'});
        assertEquals(same, t);
        assertEquals(same.hashCode(), t.hashCode());
        assertNotEquals(TokenizerSpec.bytesOnly(), t);
        assertArrayEquals(new int[] {3 + 'b'}, t.mergeRight());
    }

    @Test
    void provenanceKeepsMetricOrderAndRejectsOversizedText() {
        Provenance p = TestArtifacts.provenance();
        assertEquals(java.util.List.of("fp32.exact_match", "int8.exact_match", "int8.chrf"),
                java.util.List.copyOf(p.metrics().keySet()));
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> new Provenance("", 0, "", "",
                "x".repeat(ArtifactFormat.MAX_TEXT_BYTES + 1), Map.of()));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("notes"), e.getMessage());
        e = assertThrows(ShiftformerException.class, () -> new Provenance("", 0, "", "", "", Map.of("", 1.0)));
        assertTrue(e.getMessage().contains("metric name"), e.getMessage());
    }
}
