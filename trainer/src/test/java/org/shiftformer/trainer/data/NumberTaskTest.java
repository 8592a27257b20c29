package org.shiftformer.trainer.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ShiftformerException;
import org.shiftformer.core.data.NumberWords;

/**
 * The default task's sampling by magnitude (every digit count equally often), its split (held-out digit
 * counts disjoint from training, seen digit counts trained and scored in full) and its interleaved order.
 */
class NumberTaskTest {

    /** German source to number, over the whole task, short forms ("hundert") included. */
    private static final Map<String, Integer> NUMBER = new HashMap<>();

    static {
        for (int n = 0; n <= NumberWords.MAX; n++) {
            NUMBER.put(NumberWords.german(n), n);
            String shortForm = NumberTask.shortGerman(n);
            if (shortForm != null) {
                NUMBER.put(shortForm, n);
            }
        }
    }

    private static int digitsOf(Pair p) {
        return NumberTask.digits(NUMBER.get(p.source()));
    }

    @Test
    void digitCounts() {
        assertEquals(1, NumberTask.digits(0));
        assertEquals(1, NumberTask.digits(9));
        assertEquals(2, NumberTask.digits(10));
        assertEquals(3, NumberTask.digits(999));
        assertEquals(4, NumberTask.digits(1_000));
        assertEquals(6, NumberTask.digits(999_999));
    }

    @Test
    void trainingDrawsEveryDigitCountEquallyOften() {
        Dataset d = NumberTask.generate(new SplitConfig(100, 500, 60_002, 11));
        assertEquals(60_002, d.train().size());
        int[] perDigits = new int[7];
        Map<Integer, Integer> timesOfNumber = new HashMap<>();
        for (Pair p : d.train()) {
            perDigits[digitsOf(p)]++;
            timesOfNumber.merge(NUMBER.get(p.source()), 1, Integer::sum);
        }
        // 60,002 / 6 = 10,000 rest 2: the two largest digit counts get one more
        assertEquals(List.of(10_000, 10_000, 10_000, 10_000, 10_001, 10_001),
            List.of(perDigits[1], perDigits[2], perDigits[3], perDigits[4], perDigits[5], perDigits[6]));
        // all ten 1-digit numbers, 1,000 times each; all 90 2-digit ones 111 or 112 times
        for (int n = 0; n < 10; n++) {
            assertEquals(1_000, timesOfNumber.get(n), "times " + n);
        }
        for (int n = 10; n < 100; n++) {
            int times = timesOfNumber.get(n);
            assertTrue(times == 111 || times == 112, n + " drawn " + times + " times");
        }
        // the 300 trainable 3-digit numbers (900 - 500 test - 100 validation) 33 or 34 times each
        Set<Integer> threeDigits = new HashSet<>();
        timesOfNumber.forEach((n, times) -> {
            if (NumberTask.digits(n) == 3) {
                threeDigits.add(n);
                assertTrue(times == 33 || times == 34, n + " drawn " + times + " times");
            }
        });
        assertEquals(300, threeDigits.size());
        // large digit counts: distinct numbers
        timesOfNumber.forEach((n, times) -> {
            if (NumberTask.digits(n) >= 5) {
                assertEquals(1, times, "6-digit " + n);
            }
        });
    }

    @Test
    void heldOutDigitCountsAreDisjointFromTrainingAndSmallOnesAreSeenInFull() {
        Dataset d = NumberTask.generate(new SplitConfig(100, 500, 20_000, 11));
        Set<String> train = new HashSet<>();
        d.train().forEach(p -> train.add(p.source()));
        Breakdown b = d.breakdown();
        assertEquals(List.of("1", "2", "3", "4", "5", "6"), b.groups());
        assertEquals(Set.of("3", "4", "5", "6"), b.heldOut());
        assertEquals(4 * 500, d.test().size());
        assertEquals(4 * 100, d.validation().size());
        int[] testPerDigits = new int[7];
        for (Pair p : d.test()) {
            assertFalse(train.contains(p.source()), "test " + p + " is trained on");
            testPerDigits[digitsOf(p)]++;
            assertEquals(Integer.toString(digitsOf(p)), b.groupOf(p));
        }
        assertEquals(List.of(0, 0, 500, 500, 500, 500),
            List.of(testPerDigits[1], testPerDigits[2], testPerDigits[3], testPerDigits[4], testPerDigits[5], testPerDigits[6]));
        for (Pair p : d.validation()) {
            assertFalse(train.contains(p.source()), "validation " + p + " is trained on");
            assertTrue(digitsOf(p) >= 3, p.toString());
        }
        // 1 and 2 digits: every number is trained on and scored, labelled seen
        assertEquals(100, b.seen().size());
        for (int n = 0; n < 100; n++) {
            Pair p = NumberTask.pair(n);
            assertEquals(p, b.seen().get(n));
            assertTrue(train.contains(p.source()), "seen " + n + " is trained on");
            assertEquals(Integer.toString(NumberTask.digits(n)), b.groupOf(p));
        }
        assertEquals(new Pair("zwölf", "twelve"), b.seen().get(12));
    }

    @Test
    void aDigitCountIsHeldOutOnlyIfAThirdOfItIsLeftForTraining() {
        // 900 3-digit numbers: 500 + 100 held out leave 300 = a third; 500 + 101 leave less
        Dataset third = NumberTask.generate(new SplitConfig(100, 500, 20_000, 3), 9_999);
        assertEquals(Set.of("3", "4"), third.breakdown().heldOut());
        Dataset less = NumberTask.generate(new SplitConfig(101, 500, 20_000, 3), 9_999);
        assertEquals(Set.of("4"), less.breakdown().heldOut());
        assertEquals(1_000, less.breakdown().seen().size(), "0..999 all seen");
        less.test().forEach(p -> assertEquals(4, digitsOf(p), p.toString()));
        // a top digit count cut short by the range: 1000..1500 has 501 numbers, too few for 500 + 100
        Dataset cut = NumberTask.generate(new SplitConfig(100, 500, 20_000, 3), 1_500);
        assertEquals(Set.of("3"), cut.breakdown().heldOut());
        assertEquals(100 + 501, cut.breakdown().seen().size());
        var none = assertThrows(ShiftformerException.class,
            () -> NumberTask.generate(new SplitConfig(500, 500, 20_000, 3), 1_000));
        assertTrue(none.getMessage().contains("none can be held out"), none.getMessage());
    }

    @Test
    void heldOutDigitCountsTakeTurnsSoAnyPrefixIsBalanced() {
        Dataset d = NumberTask.generate(new SplitConfig(10, 50, 20_000, 5));
        List<Pair> t = d.test();
        for (int i = 0; i < t.size(); i++) {
            assertEquals(3 + i % 4, digitsOf(t.get(i)), "test pair " + i);
        }
        for (int i = 0; i < d.validation().size(); i++) {
            assertEquals(3 + i % 4, digitsOf(d.validation().get(i)), "validation pair " + i);
        }
        // within a digit count, ascending
        for (int i = 4; i < t.size(); i++) {
            assertTrue(NUMBER.get(t.get(i).source()) > NUMBER.get(t.get(i - 4).source()), t.get(i).toString());
        }
    }

    @Test
    void sameSeedSameDataAndTestSetDoesNotDependOnTrainingSize() {
        Dataset a = NumberTask.generate(new SplitConfig(100, 300, 5_000, 3));
        Dataset b = NumberTask.generate(new SplitConfig(100, 300, 5_000, 3));
        Dataset bigger = NumberTask.generate(new SplitConfig(100, 300, 50_000, 3));
        Dataset otherSeed = NumberTask.generate(new SplitConfig(100, 300, 5_000, 4));
        assertEquals(a, b);
        assertEquals(a.test(), bigger.test());
        assertEquals(a.validation(), bigger.validation());
        assertNotEquals(a.test(), otherSeed.test());
    }

    @Test
    void numbersStartingWithEinhundertOrEintausendAreAlsoDrawnInTheirShortForm() {
        assertEquals("hundert", NumberTask.shortGerman(100));
        assertEquals("tausendeins", NumberTask.shortGerman(1_001));
        assertEquals("hundertdreitausendzwölf", NumberTask.shortGerman(103_012));
        assertEquals(null, NumberTask.shortGerman(200));
        assertEquals(null, NumberTask.shortGerman(1));
        Dataset d = NumberTask.generate(new SplitConfig(100, 500, 60_000, 11));
        Map<String, String> targetOf = new HashMap<>();
        int shortForms = 0;
        int couldBeShort = 0;
        for (Pair p : d.train()) {
            targetOf.put(p.source(), p.target());
            int n = NUMBER.get(p.source());
            if (!p.source().equals(NumberWords.german(n))) {
                assertEquals(NumberTask.shortGerman(n), p.source());
                shortForms++;
            } else if (NumberTask.shortGerman(n) != null) {
                couldBeShort++;
            }
        }
        // about half of the draws of such numbers are short (4,000 of each of 4, 5 and 6 digits start with ein...)
        assertTrue(shortForms > 0.4 * (shortForms + couldBeShort) && shortForms < 0.6 * (shortForms + couldBeShort),
            shortForms + " short of " + (shortForms + couldBeShort));
        Set<String> heldOutShort = new HashSet<>();
        d.test().forEach(p -> heldOutShort.add(NumberTask.shortGerman(NUMBER.get(p.source()))));
        d.validation().forEach(p -> heldOutShort.add(NumberTask.shortGerman(NUMBER.get(p.source()))));
        for (Map.Entry<String, String> e : targetOf.entrySet()) {
            assertFalse(heldOutShort.contains(e.getKey()), "short form of a held-out number trained on: " + e);
            assertEquals(NumberWords.english(NUMBER.get(e.getKey())), e.getValue(), e.getKey());
        }
    }

    @Test
    void pairIsTheEmbeddedGenerator() {
        assertEquals(new Pair("zweihundertdreiundvierzig", "two hundred forty-three"), NumberTask.pair(243));
    }

    @Test
    void aTrainingSizeThatCannotCoverTheSeenNumbersIsRejectedWithTheReason() {
        // 6 digit counts x 89 draws < the 90 2-digit numbers
        var small = assertThrows(ShiftformerException.class, () -> NumberTask.generate(new SplitConfig(1, 1, 534, 1)));
        assertTrue(small.getMessage().contains("gives 89 draws to the 2-digit numbers, fewer than the 90"), small.getMessage());
        assertEquals(540, NumberTask.generate(new SplitConfig(1, 1, 540, 1)).train().size());
        var range = assertThrows(ShiftformerException.class, () -> NumberTask.generate(new SplitConfig(1, 1, 540, 1), 999));
        assertTrue(range.getMessage().contains("outside [1000, 999999]"), range.getMessage());
    }
}
