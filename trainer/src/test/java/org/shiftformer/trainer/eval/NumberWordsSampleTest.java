package org.shiftformer.trainer.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.junit.jupiter.api.Test;

/**
 * Corpus BLEU, chrF2 and exact match on 300 number-word hypotheses (half exact, the rest with a wrong
 * unit, an unrelated number, a truncation or an extra word and period) against a Python reference.
 * The sample and the expected values come from {@code number_words_sample.py} next to the sample, a
 * direct Python transcription of sacreBLEU 2.x's BLEU (13a, exp smoothing) and chrF (default chrF2)
 * code, run with Python 3.11: {@code BLEU 83.82835030281323, chrF2 90.42610670183814, 158 exact}.
 */
class NumberWordsSampleTest {

    @Test
    void matchesThePythonTranscriptionOfSacrebleu() throws IOException {
        List<String> hyps = new ArrayList<>();
        List<String> refs = new ArrayList<>();
        try (InputStream in = NumberWordsSampleTest.class.getResourceAsStream("number-words-sample.tsv")) {
            assertNotNull(in, "test resource");
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                String[] f = line.split("\t");
                hyps.add(f[0]);
                refs.add(f[1]);
            }
        }
        assertEquals(300, hyps.size());
        Metrics m = Metrics.evaluate(hyps, refs);
        assertEquals(83.82835030281323, m.bleu(), 1e-9);
        assertEquals(90.42610670183814, m.chrf(), 1e-9);
        assertEquals(100.0 * 158 / 300, m.exactMatch(), 1e-12);
    }
}
