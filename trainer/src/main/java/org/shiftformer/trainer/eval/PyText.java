package org.shiftformer.trainer.eval;

import java.util.ArrayList;
import java.util.List;

/**
 * Python's {@code str.split()} and {@code str.rstrip()} whitespace, which sacreBLEU's metrics rely on.
 * Python counts as whitespace what {@link Character#isWhitespace} does plus U+0085, U+00A0, U+2007 and
 * U+202F; matching it exactly keeps scores identical on text with non-breaking spaces.
 */
public final class PyText {
    private PyText() {
    }

    static boolean isSpace(int cp) {
        return Character.isWhitespace(cp) || cp == 0x85 || cp == 0xA0 || cp == 0x2007 || cp == 0x202F;
    }

    /** {@code s.split()}: maximal runs of non-whitespace. */
    public static List<String> split(String s) {
        List<String> out = new ArrayList<>();
        int i = 0;
        int n = s.length();
        while (i < n) {
            while (i < n && isSpace(s.codePointAt(i))) {
                i += Character.charCount(s.codePointAt(i));
            }
            int start = i;
            while (i < n && !isSpace(s.codePointAt(i))) {
                i += Character.charCount(s.codePointAt(i));
            }
            if (i > start) {
                out.add(s.substring(start, i));
            }
        }
        return out;
    }

    /** {@code s.rstrip()}. */
    static String rstrip(String s) {
        int end = s.length();
        while (end > 0) {
            int cp = s.codePointBefore(end);
            if (!isSpace(cp)) {
                break;
            }
            end -= Character.charCount(cp);
        }
        return s.substring(0, end);
    }

    /** {@code "".join(s.split())}: the text with all whitespace removed, as code points. */
    static int[] withoutSpaces(String s) {
        return s.codePoints().filter(cp -> !isSpace(cp)).toArray();
    }
}
