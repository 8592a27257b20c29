package org.shiftformer.core.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import org.junit.jupiter.api.Test;
import org.shiftformer.api.ShiftformerException;

class NumberWordsTest {
    @Test
    void germanFollowsTheUnitsBeforeTensOrder() {
        assertEquals("null", NumberWords.german(0));
        assertEquals("eins", NumberWords.german(1));
        assertEquals("einundzwanzig", NumberWords.german(21));
        assertEquals("zweihundertdreiundvierzig", NumberWords.german(243));
        assertEquals("einhunderteins", NumberWords.german(101));
        assertEquals("eintausend", NumberWords.german(1000));
        assertEquals("eintausendeins", NumberWords.german(1001));
        assertEquals("dreißigtausendsiebzehn", NumberWords.german(30017));
        assertEquals("neunhundertneunundneunzigtausendneunhundertneunundneunzig", NumberWords.german(999_999));
        assertEquals("einhunderteinundzwanzigtausendzwölf", NumberWords.german(121_012));
    }

    @Test
    void englishUsesHyphenatedTens() {
        assertEquals("zero", NumberWords.english(0));
        assertEquals("two hundred forty-three", NumberWords.english(243));
        assertEquals("one thousand", NumberWords.english(1000));
        assertEquals("one thousand one", NumberWords.english(1001));
        assertEquals("nine hundred ninety-nine thousand nine hundred ninety-nine", NumberWords.english(999_999));
        assertEquals("twelve", NumberWords.english(12));
    }

    @Test
    void outOfRangeIsRejected() {
        assertThrows(ShiftformerException.class, () -> NumberWords.german(1_000_000));
        assertThrows(ShiftformerException.class, () -> NumberWords.english(-1));
    }
}
