package org.shiftformer.trainer.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** Hash splits: disjoint, deduplicated, sized, deterministic and independent of input order. */
class CorpusTest {
    /** Corpus.hash(1, "Haus"), pinned: a changed hash would silently reshuffle the splits of earlier runs. */
    private static final long PINNED_HAUS = 0x76e1521470f6e992L; // also computed by a 5-line Python FNV-1a + SplitMix64

    private static List<Pair> pairs(int n) {
        List<Pair> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            out.add(new Pair("quelle " + i, "source " + i));
        }
        return out;
    }

    private static Set<String> sources(List<Pair> pairs) {
        Set<String> s = new HashSet<>();
        for (Pair p : pairs) {
            s.add(p.source());
        }
        return s;
    }

    @Test
    void splitsAreDisjointAndSized() {
        Dataset d = Corpus.split("t", pairs(1000), new SplitConfig(100, 150, 0, 7));
        assertEquals(150, d.test().size());
        assertEquals(100, d.validation().size());
        assertEquals(750, d.train().size());
        Set<String> train = sources(d.train());
        Set<String> validation = sources(d.validation());
        Set<String> test = sources(d.test());
        assertEquals(1000, train.size() + validation.size() + test.size());
        assertTrue(Collections.disjoint(train, test));
        assertTrue(Collections.disjoint(train, validation));
        assertTrue(Collections.disjoint(validation, test));
    }

    @Test
    void duplicateSourcesAreCollapsedToTheFirstPair() {
        List<Pair> in = new ArrayList<>(pairs(50));
        in.add(new Pair("quelle 3", "another reference"));
        in.add(new Pair("quelle 3", "source 3"));
        Dataset d = Corpus.split("t", in, new SplitConfig(10, 10, 0, 1));
        assertEquals(50, d.size());
        List<Pair> all = new ArrayList<>(d.train());
        all.addAll(d.validation());
        all.addAll(d.test());
        assertTrue(all.contains(new Pair("quelle 3", "source 3")));
        assertTrue(!all.contains(new Pair("quelle 3", "another reference")));
    }

    @Test
    void sameSeedSameSplitWhateverTheInputOrder() {
        List<Pair> in = pairs(500);
        List<Pair> shuffled = new ArrayList<>(in);
        Collections.shuffle(shuffled, new Random(3));
        SplitConfig c = new SplitConfig(40, 60, 0, 42);
        Dataset a = Corpus.split("a", in, c);
        Dataset b = Corpus.split("b", shuffled, c);
        assertEquals(a.test(), b.test());
        assertEquals(a.validation(), b.validation());
        assertEquals(a.train(), b.train());
        Dataset other = Corpus.split("a", in, new SplitConfig(40, 60, 0, 43));
        assertNotEquals(sources(a.test()), sources(other.test()));
    }

    @Test
    void addingPairsDoesNotMoveTestPairsIntoTraining() {
        SplitConfig c = new SplitConfig(20, 20, 0, 5);
        Dataset small = Corpus.split("s", pairs(400), c);
        Dataset large = Corpus.split("l", pairs(800), c);
        // held out = the 40 smallest keys; a source held out among 800 ranks even lower among 400
        Set<String> heldOutLarge = sources(large.test());
        heldOutLarge.addAll(sources(large.validation()));
        heldOutLarge.retainAll(sources(pairs(400)));
        assertTrue(!heldOutLarge.isEmpty());
        assertTrue(Collections.disjoint(heldOutLarge, sources(small.train())));
    }

    @Test
    void sizesAreClippedAndTrainingCanBeCapped() {
        Dataset tiny = Corpus.split("t", pairs(30), new SplitConfig(20, 25, 0, 1));
        assertEquals(25, tiny.test().size());
        assertEquals(5, tiny.validation().size());
        assertEquals(0, tiny.train().size());
        Dataset capped = Corpus.split("t", pairs(300), new SplitConfig(10, 10, 100, 1));
        assertEquals(100, capped.train().size());
    }

    @Test
    void hashIsStableAndSeeded() {
        assertEquals(Corpus.hash(1, "Haus"), Corpus.hash(1, "Haus"));
        assertNotEquals(Corpus.hash(1, "Haus"), Corpus.hash(2, "Haus"));
        assertNotEquals(Corpus.hash(1, "Haus"), Corpus.hash(1, "Maus"));
        assertEquals(PINNED_HAUS, Corpus.hash(1, "Haus"));
    }

    @Test
    void datasetRejectsOverlappingSplits() {
        Pair p = new Pair("a", "b");
        var e = assertThrows(ShiftformerException.class, () -> new Dataset("x", List.of(p), List.of(), List.of(p)));
        assertEquals(ErrorCode.INTERNAL, e.code());
        assertTrue(e.getMessage().contains("\"a\" occurs in train and in test"), e.getMessage());
    }

    @Test
    void trainingMayRepeatAPairButNotASourceWithAnotherTarget() {
        Pair p = new Pair("a", "b");
        assertEquals(3, new Dataset("x", List.of(p, p, p), List.of(), List.of()).train().size());
        var e = assertThrows(ShiftformerException.class,
            () -> new Dataset("x", List.of(p, new Pair("a", "c")), List.of(), List.of()));
        assertTrue(e.getMessage().contains("\"a\" occurs in train with two targets"), e.getMessage());
        var twiceInTest = assertThrows(ShiftformerException.class, () -> new Dataset("x", List.of(), List.of(), List.of(p, p)));
        assertTrue(twiceInTest.getMessage().contains("occurs in test twice"), twiceInTest.getMessage());
    }

    @Test
    void seenPairsOfABreakdownMustBeTrainingPairs() {
        Pair p = new Pair("a", "b");
        Pair q = new Pair("c", "d");
        Breakdown b = new Breakdown("digits", List.of("1"), java.util.Map.of("a", "1", "c", "1"), java.util.Set.of(),
            List.of(p));
        assertEquals(b, new Dataset("x", List.of(p), List.of(), List.of(), b).breakdown());
        var e = assertThrows(ShiftformerException.class, () -> new Dataset("x", List.of(q), List.of(), List.of(), b));
        assertTrue(e.getMessage().contains("is not a training pair"), e.getMessage());
    }

    @Test
    void negativeSizesAreRejected() {
        var e = assertThrows(ShiftformerException.class, () -> new SplitConfig(-1, 0, 0, 0));
        assertTrue(e.getMessage().contains("validation size"), e.getMessage());
    }
}
