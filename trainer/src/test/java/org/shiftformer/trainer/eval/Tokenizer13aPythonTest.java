package org.shiftformer.trainer.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;

/**
 * The 13a tokenizer against Python's {@code re}: the expected outputs were produced by running
 * sacreBLEU's 13a regular expressions and replacements (copied from mjpost/sacrebleu
 * {@code tokenizers/tokenizer_13a.py} and {@code tokenizer_re.py}) with Python 3.11 on these inputs, so
 * the test checks that Java's regex engine and whitespace split behave like Python's on punctuation,
 * digits, non-ASCII letters, non-breaking and thin spaces, supplementary characters and entities.
 */
class Tokenizer13aPythonTest {
    private static final String[][] CASES = {
            {"Mr. Smith's car, 3.5 km/h (approx.)!",
                "Mr . Smith's car , 3.5 km / h ( approx . ) !"},
            {"U.S.A. e.g. 1,000,000.",
                "U . S . A . e . g . 1,000,000 ."},
            {"x.y,z 1.a a.1 ,5 5,",
                "x . y , z 1 . a a . 1 , 5 5 ,"},
            {"\u00fcber-gr\u00fc\u00dfe \u2014 na\u00efve caf\u00e9",
                "\u00fcber-gr\u00fc\u00dfe \u2014 na\u00efve caf\u00e9"},
            {"tab\there\u00a0nbsp\u2009thin",
                "tab here nbsp thin"},
            {"a--b 3--4 -5 5-",
                "a--b 3 - -4 -5 5 -"},
            {"<skipped>keep &amp;amp; &lt;tag&gt;",
                "keep & amp ; < tag >"},
            {"emoji \ud83d\ude00.end",
                "emoji \ud83d\ude00 . end"},
            {"100% #1 @user ~tilde^caret_under`back|pipe",
                "100 % # 1 @ user ~ tilde ^ caret _ under ` back | pipe"},
            {"end with dash-\nnext line",
                "end with dashnext line"},
            {"...,,,",
                ". . . , , ,"},
            {"'quoted' \"double\"",
                "'quoted' \" double \""}
    };

    @Test
    void matchesPythonOnTrickyInputs() {
        for (String[] c : CASES) {
            assertEquals(c[1], Tokenizer13a.tokenize(c[0]), c[0]);
        }
    }
}
