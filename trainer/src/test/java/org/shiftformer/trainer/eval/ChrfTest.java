package org.shiftformer.trainer.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * chrF against sacreBLEU's own test cases (github.com/mjpost/sacrebleu, test/test_chrf.py: inputs,
 * settings and expected scores copied from there, tolerance 1e-4 as there) and a hand-computed chrF2.
 */
class ChrfTest {
    private static final double EPS = 1e-4;

    private static double score(Chrf c, String hyp, String ref) {
        return c.corpusScore(List.of(hyp), List.of(ref)).score();
    }

    @Test
    void sacrebleuEpsSmoothingCases() {
        // corpus_chrf(char_order=6, word_order=0, beta=3, eps_smoothing=True)
        Chrf c = new Chrf(6, 3, false, false, true);
        assertEquals(0.0, score(c, "abcdefg", "hijklmnop"), EPS);
        assertEquals(0.0, score(c, "a", "b"), EPS);
        assertEquals(0.0, score(c, "", "b"), EPS);
        assertEquals(0.0, score(c, "", "ref"), EPS);
        assertEquals(0.0, score(c, "", "reference"), EPS);
        assertEquals(8.3333, score(c, "aa", "ab"), EPS);
        assertEquals(8.3333, c.corpusScore(List.of("a", "b"), List.of("a", "c")).score(), EPS);
        assertEquals(16.6667, score(c, "a", "a"), EPS);
        assertEquals(50.0, score(c, "a b c", "a b c"), EPS);
        assertEquals(50.0, score(c, "a b c", "abc"), EPS);
        assertEquals(63.361730, score(c,
            " risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .",
            "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."),
            EPS);
        assertEquals(64.1302698, score(c,
            " Die    Beziehung zwischen  Obama und Netanjahu ist nicht gerade  freundlich. ",
            "Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."), EPS);
        assertEquals(100.0, score(c, "Niemand hat die Absicht, eine Mauer zu errichten",
            "Niemand hat die Absicht, eine Mauer zu errichten"), EPS);
    }

    @Test
    void sacrebleuEffectiveOrderCases() {
        // corpus_chrf(char_order=6, word_order=0, beta=3, eps_smoothing=False)
        Chrf c = new Chrf(6, 3, false, false, false);
        assertEquals(100.0, score(c, "a", "a"), EPS);
        assertEquals(0.0, score(c, "", "reference"), EPS);
        assertEquals(100.0, score(c, "a b c", "a b c"), EPS);
        assertEquals(100.0, score(c, "a b c", "abc"), EPS);
        assertEquals(0.0, score(c, "", "c"), EPS);
        assertEquals(50.0, c.corpusScore(List.of("a", "b"), List.of("a", "c")).score(), EPS);
        assertEquals(25.0, score(c, "aa", "ab"), EPS);
    }

    @Test
    void sacrebleuKeepWhitespaceCases() {
        // corpus_chrf(char_order=6, word_order=0, beta=3, remove_whitespace=False)
        Chrf c = new Chrf(6, 3, false, true, false);
        assertEquals(67.3481606, score(c, "Die Beziehung zwischen Obama und Netanjahu ist nicht gerade freundlich.",
            "Das Verhältnis zwischen Obama und Netanyahu ist nicht gerade freundschaftlich."), EPS);
        assertEquals(65.2414427, score(c,
            "risk assessment must be made of those who are qualified and expertise in the sector - these are the scientists .",
            "risk assessment has to be undertaken by those who are qualified and expert in that area - that is the scientists ."),
            EPS);
    }

    @Test
    void sacrebleuSentenceLevelChrf2Cases() {
        // sentence_chrf(hyp, [ref], eps_smoothing=True): chrF2 (beta 2), char order 6
        Chrf c = new Chrf(6, 2, false, false, true);
        assertEquals(39.14078509, score(c, "Co nás nejvíc trápí, protože lékaři si vybírají, kdo bude žít a kdo zemře.",
            "Nejvíce smutní jsme z toho, že musíme rozhodovat o tom, kdo bude žít a kdo zemře."), EPS);
        assertEquals(31.22557079, score(c, "Nebo prostě nemají vybavení, které by jim pomohlo, uvedli lékaři.",
            "A někdy nemáme ani potřebný materiál, abychom jim pomohli, popsali lékaři."), EPS);
        assertEquals(57.15704367, score(c, "Lapali po dechu, jejich životy skončily dřív, než skutečně začaly.",
            "Lapali po dechu a pak jejich život skončil - dřív, než skutečně mohl začít, připomněli."), EPS);
    }

    @Test
    void handComputedDefaultChrf2() {
        // hyp "ab", ref "abc" (default: beta 2, effective order, whitespace removed)
        //   order 1: hyp 2, ref 3, match 2 -> P 1, R 2/3
        //   order 2: hyp 1 ("ab"), ref 2 ("ab", "bc"), match 1 -> P 1, R 1/2
        //   order 3: hyp 0, ref 1, match 0 -> not effective; orders 4..6: the reference has none -> hyp counted 0
        //   avg P = 1, avg R = 7/12, F2 = 5·P·R / (4·P + R) = (35/12) / (55/12) = 7/11
        Chrf.Score s = Chrf.DEFAULT.corpusScore(List.of("a b"), List.of("abc"));
        assertArrayEquals(new long[] {2, 3, 2, 1, 2, 1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, s.statistics());
        assertEquals(700.0 / 11, s.score(), 1e-12);
        assertEquals("nrefs:1|case:mixed|eff:yes|nc:6|nw:0|space:no|version:" + Metrics.SACREBLEU_VERSION, s.signature());
        assertEquals("chrF2 = 63.64", s.format());
    }

    @Test
    void multipleReferencesTakeTheBestSegment() {
        Chrf.Score s = Chrf.DEFAULT.corpusScoreMulti(List.of("house"), List.of(List.of("mouse"), List.of("house")));
        assertEquals(100.0, s.score(), 1e-12);
    }

    @Test
    void nonBreakingSpaceIsWhitespaceAsInPython() {
        assertEquals(100.0, score(Chrf.DEFAULT, "two\u00a0hundred", "twohundred"), 1e-12);
    }
}
