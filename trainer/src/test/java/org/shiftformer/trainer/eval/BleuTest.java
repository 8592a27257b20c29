package org.shiftformer.trainer.eval;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ShiftformerException;

/**
 * BLEU against sacreBLEU's own test cases (github.com/mjpost/sacrebleu, test/test_bleu.py: the inputs
 * and expected scores are copied from there, tolerance 1e-8 as there) and a hand-computed example.
 */
class BleuTest {
    private static final double EPS = 1e-8;

    // sacreBLEU's README example, two reference streams
    private static final List<String> HYPS = List.of("The dog bit the man.", "It wasn't surprising.", "The man had just bitten him.");
    private static final List<List<String>> REFS = List.of(
        List.of("The dog bit the man.", "It was not unexpected.", "The man bit him first."),
        List.of("The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."));

    /** sacreBLEU's {@code raw_corpus_bleu}: floor smoothing, no tokenization, effective order. */
    private static Bleu raw(double floor) {
        return new Bleu(false, false, Bleu.Smoothing.FLOOR, floor, true);
    }

    @Test
    void sacrebleuCorpusCases() {
        assertEquals(48.530827, Bleu.DEFAULT.corpusScoreMulti(HYPS, REFS).score(), EPS);
        assertEquals(0.0, Bleu.DEFAULT.corpusScoreMulti(List.of("", "", ""), REFS).score(), 0.0);
        assertEquals(49.1919566, new Bleu(false, false, Bleu.Smoothing.EXP, Double.NaN, false)
            .corpusScoreMulti(HYPS, REFS).score(), EPS);
        assertEquals(48.530827, new Bleu(false, true, Bleu.Smoothing.NONE, Double.NaN, false)
            .corpusScoreMulti(HYPS, REFS).score(), EPS);
    }

    @Test
    void sacrebleuStatisticsCase() {
        // test_statistics: counts [4, 2, 1, 0], totals [6, 5, 4, 3]
        Bleu.Score s = raw(0.01).corpusScore(List.of("am I am a character sequence"), List.of("I am a symbol string sequence a a"));
        assertArrayEquals(new long[] {4, 2, 1, 0}, s.correct());
        assertArrayEquals(new long[] {6, 5, 4, 3}, s.total());
        assertEquals(6, s.sysLen());
        assertEquals(8, s.refLen());
    }

    @Test
    void sacrebleuOffsetCase() {
        // test_offset: floor 0.1 -> 0.1555722182; floor 0 -> 0 (log 0 -> -9999999999)
        List<String> h = List.of("am I am a character sequence");
        List<String> r = List.of("I am a symbol string sequence a a");
        assertEquals(15.55722182, raw(0.1).corpusScore(h, r).score(), 1e-6);
        assertEquals(0.0, raw(0.0).corpusScore(h, r).score(), EPS);
    }

    @Test
    void sacrebleuScoringAndEffectiveOrderCases() {
        // test_scoring: compute_bleu([9, 7, 5, 3], [10, 8, 6, 4], 11, 11) = 0.8375922397 (no smoothing)
        Bleu none = new Bleu(false, true, Bleu.Smoothing.NONE, Double.NaN, false);
        assertEquals(83.75922397, none.compute(new long[] {9, 7, 5, 3}, new long[] {10, 8, 6, 4}, 11, 11, 1).score(), 1e-6);
        // test_effective_order
        assertEquals(36.78794411714425, raw(0.01).corpusScore(List.of("test"), List.of("a test")).score(), 1e-6);
        assertEquals(100.0, raw(0.01).corpusScore(List.of("a test"), List.of("a test")).score(), 1e-6);
        assertEquals(3.218297948685433, raw(0.01).corpusScore(List.of("a little test"), List.of("a test")).score(), 1e-6);
    }

    @Test
    void handComputedDefaultBleuWithExpSmoothing() {
        // hyp "two hundred forty-three" vs ref "two hundred forty-four" (13a keeps "forty-three" whole):
        //   1-grams: two hundred forty-three  -> 2/3 match; 2-grams: "two hundred" -> 1/2;
        //   3-grams: 0/1 -> exp smoothing 100/(2·1) = 50; 4-grams: total 0 -> loop stops, p4 = 0 -> log 0
        // the zero 4-gram precision (no effective order) makes BLEU 0, as sacreBLEU prints for short lines
        Bleu.Score s = Bleu.DEFAULT.corpusScore(List.of("two hundred forty-three"), List.of("two hundred forty-four"));
        assertArrayEquals(new long[] {2, 1, 0, 0}, s.correct());
        assertArrayEquals(new long[] {3, 2, 1, 0}, s.total());
        assertArrayEquals(new double[] {200.0 / 3, 50.0, 50.0, 0.0}, s.precisions(), 1e-12);
        assertEquals(0.0, s.score(), 1e-9);
        // the same pair twice plus a 4-word exact match: corpus counts 1: 4+4=... computed from sums
        Bleu.Score c = Bleu.DEFAULT.corpusScore(
            List.of("two hundred forty-three", "one thousand two hundred"),
            List.of("two hundred forty-four", "one thousand two hundred"));
        // correct [2+4, 1+3, 0+2, 0+1] = [6, 4, 2, 1], total [3+4, 2+3, 1+2, 0+1] = [7, 5, 3, 1], len 7 = 7
        assertArrayEquals(new long[] {6, 4, 2, 1}, c.correct());
        assertArrayEquals(new long[] {7, 5, 3, 1}, c.total());
        double expected = 100 * Math.pow(6.0 / 7 * 4.0 / 5 * 2.0 / 3 * 1.0, 0.25);
        assertEquals(expected, c.score(), 1e-9);
        assertEquals(1.0, c.bp(), 0.0);
    }

    @Test
    void brevityPenaltyAndFormat() {
        Bleu.Score s = Bleu.DEFAULT.corpusScoreMulti(HYPS, REFS);
        // sacreBLEU's verbose line for the README example (hyp_len 17, closest ref lengths 6+5+7 = 18 tokens)
        assertEquals(17, s.sysLen());
        assertEquals(18, s.refLen());
        assertEquals(Math.exp(1 - 18.0 / 17), s.bp(), 1e-12);
        assertTrue(s.format().startsWith("BLEU = 48.53 "), s.format());
        assertTrue(s.format().endsWith("(BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)"), s.format());
    }

    @Test
    void signatureLooksLikeSacrebleus() {
        assertEquals("nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:" + Metrics.SACREBLEU_VERSION,
            Bleu.DEFAULT.corpusScore(List.of("a"), List.of("a")).signature());
        assertEquals("nrefs:2|case:lc|eff:yes|tok:none|smooth:floor[0.01]|version:" + Metrics.SACREBLEU_VERSION,
            new Bleu(true, false, Bleu.Smoothing.FLOOR, 0.01, true).signature(2));
    }

    @Test
    void lengthMismatchIsAnError() {
        var e = assertThrows(ShiftformerException.class, () -> Bleu.DEFAULT.corpusScore(List.of("a", "b"), List.of("a")));
        assertEquals("BLEU: 2 hypotheses but reference stream 0 has 1 segments", e.getMessage());
    }
}
