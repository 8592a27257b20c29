package org.shiftformer.trainer.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ShiftformerException;

/** Exact match, the combined evaluation and the 13a tokenizer. */
class MetricsTest {

    @Test
    void exactMatchIgnoresOuterAndRepeatedWhitespaceOnly() {
        assertEquals(50.0, Metrics.exactMatch(List.of(" two  hundred ", "Two hundred"), List.of("two hundred", "two hundred")));
        assertEquals(0.0, Metrics.exactMatch(List.of(), List.of()));
        assertEquals(100.0 / 3, Metrics.exactMatch(List.of("a", "b", "c"), List.of("a", "x", "y")), 1e-12);
    }

    @Test
    void evaluateCombinesTheThreeMetrics() {
        List<String> refs = List.of("two hundred forty-three", "one thousand two hundred");
        Metrics perfect = Metrics.evaluate(refs, refs);
        assertEquals(2, perfect.segments());
        assertEquals(100.0, perfect.exactMatch());
        assertEquals(100.0, perfect.chrf(), 1e-9);
        assertEquals(100.0, perfect.bleu(), 1e-9); // exp(log 100) is 100 up to rounding, as in sacreBLEU
        Metrics m = Metrics.evaluate(List.of("two hundred forty-three", "one thousand"), refs);
        assertEquals(50.0, m.exactMatch());
        assertEquals(Chrf.DEFAULT.corpusScore(List.of("two hundred forty-three", "one thousand"), refs).score(), m.chrf());
        assertEquals("exact 50.00%  chrF2 " + String.format(java.util.Locale.ROOT, "%.2f", m.chrf()) + "  BLEU "
            + String.format(java.util.Locale.ROOT, "%.2f", m.bleu()) + "  (2 segments)", m.toString());
        var e = assertThrows(ShiftformerException.class, () -> Metrics.evaluate(List.of("a"), refs));
        assertEquals("evaluation: 1 hypotheses but 2 references", e.getMessage());
    }

    @Test
    void tokenizer13aSplitsLikeMteval() {
        assertEquals("Hello , world !", Tokenizer13a.tokenize("Hello, world!"));
        assertEquals("It costs $ 3,000.50 .", Tokenizer13a.tokenize("It costs $3,000.50."));
        assertEquals("1990 - 2000 and forty-three", Tokenizer13a.tokenize("1990-2000 and forty-three"));
        assertEquals("don't \" quoted \" & < >", Tokenizer13a.tokenize("don't &quot;quoted&quot; &amp; &lt; &gt;"));
        assertEquals("a ( b ) [ c ] { d } / e", Tokenizer13a.tokenize("  a(b)[c]{d}/e  "));
        assertEquals("joined", Tokenizer13a.tokenize("join-\ned"));
    }
}
