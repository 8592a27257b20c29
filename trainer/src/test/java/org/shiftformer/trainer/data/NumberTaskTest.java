package org.shiftformer.trainer.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashSet;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.core.data.NumberWords;

/** The default task's split: all of 0..999 in training, unseen numbers >= 1,000 in validation and test. */
class NumberTaskTest {

    @Test
    void heldOutNumbersAreUnseenAndAtLeastOneThousand() {
        Dataset d = NumberTask.generate(new SplitConfig(500, 5_000, 20_000, 11));
        assertEquals(20_000, d.train().size());
        assertEquals(500, d.validation().size());
        assertEquals(5_000, d.test().size());
        Set<String> train = new HashSet<>();
        d.train().forEach(p -> train.add(p.source()));
        for (int n = 0; n < 1000; n++) {
            assertTrue(train.contains(NumberWords.german(n)), "training has " + n);
        }
        Set<String> small = new HashSet<>();
        for (int n = 0; n < 1000; n++) {
            small.add(NumberWords.german(n));
        }
        for (Pair p : d.test()) {
            assertTrue(!train.contains(p.source()) && !small.contains(p.source()), p.toString());
        }
        for (Pair p : d.validation()) {
            assertTrue(!train.contains(p.source()) && !small.contains(p.source()), p.toString());
        }
        // pairs are the generator's: "zweitausendeins" -> "two thousand one" style
        Pair first = d.test().get(0);
        assertTrue(first.target().contains("thousand"), first.toString());
    }

    @Test
    void sameSeedSameDataAndTestSetDoesNotDependOnTrainingSize() {
        Dataset a = NumberTask.generate(new SplitConfig(100, 1_000, 5_000, 3));
        Dataset b = NumberTask.generate(new SplitConfig(100, 1_000, 5_000, 3));
        Dataset bigger = NumberTask.generate(new SplitConfig(100, 1_000, 50_000, 3));
        Dataset otherSeed = NumberTask.generate(new SplitConfig(100, 1_000, 5_000, 4));
        assertEquals(a, b);
        assertEquals(a.test(), bigger.test());
        assertEquals(a.validation(), bigger.validation());
        assertTrue(!a.test().equals(otherSeed.test()));
    }

    @Test
    void narrowerRangeHoldsOutUnseenNumbersAndTrainsOnTheRest() {
        Dataset d = new DataSpec.Default(9_999).load(new SplitConfig(500, 2_000, 0, 5));
        assertEquals(2_000, d.test().size());
        assertEquals(500, d.validation().size());
        assertEquals(10_000 - 2_500, d.train().size(), "0..999 plus every number not held out");
        Set<String> inRange = new HashSet<>();
        for (int n = 1_000; n <= 9_999; n++) {
            inRange.add(NumberWords.german(n));
        }
        d.test().forEach(p -> assertTrue(inRange.contains(p.source()), p.toString()));
        d.validation().forEach(p -> assertTrue(inRange.contains(p.source()), p.toString()));
        var e = assertThrows(ShiftformerException.class,
            () -> NumberTask.generate(new SplitConfig(1_000, 5_000, 0, 1), 5_000));
        assertTrue(e.getMessage().contains("exceed the 5001 numbers 0..5000"), e.getMessage());
    }

    @Test
    void pairIsTheEmbeddedGenerator() {
        assertEquals(new Pair("zweihundertdreiundvierzig", "two hundred forty-three"), NumberTask.pair(243));
    }

    @Test
    void impossibleSizesAreRejectedWithTheReason() {
        var small = assertThrows(ShiftformerException.class, () -> NumberTask.generate(new SplitConfig(0, 0, 999, 1)));
        assertTrue(small.getMessage().contains("below 1000"), small.getMessage());
        var big = assertThrows(ShiftformerException.class,
            () -> NumberTask.generate(new SplitConfig(1, 1, 1_000_000, 1)));
        assertTrue(big.getMessage().contains("exceed"), big.getMessage());
    }
}
