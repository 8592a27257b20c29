package org.shiftformer.core.tokenizer;

import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Strict UTF-8 encoding, the pre-tokenization rule and the UTF-8 sequence table shared by
 * {@link ByteBpeTokenizer}, {@link StreamingDecoder} and {@link BpeTrainer}.
 */
final class Utf8 {
    private Utf8() {
    }

    /**
     * The UTF-8 bytes of {@code text}. An unpaired surrogate (a high surrogate not followed by a low
     * one, or a low surrogate not preceded by a high one) has no UTF-8 encoding: it is rejected with
     * {@link ErrorCode#INVALID_ARGUMENT} naming its char index, rather than silently replaced.
     */
    static byte[] encode(CharSequence text) {
        int n = text.length();
        long len = 0;
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (c < 0x80) {
                len += 1;
            } else if (c < 0x800) {
                len += 2;
            } else if (Character.isSurrogate(c)) {
                if (Character.isHighSurrogate(c) && i + 1 < n && Character.isLowSurrogate(text.charAt(i + 1))) {
                    len += 4;
                    i++;
                } else {
                    throw unpaired(c, i);
                }
            } else {
                len += 3;
            }
        }
        if (len > Integer.MAX_VALUE - 16) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "text is too long: its UTF-8 encoding has " + len + " bytes");
        }
        byte[] out = new byte[(int) len];
        int p = 0;
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (c < 0x80) {
                out[p++] = (byte) c;
            } else if (c < 0x800) {
                out[p++] = (byte) (0xC0 | (c >> 6));
                out[p++] = (byte) (0x80 | (c & 0x3F));
            } else if (Character.isHighSurrogate(c)) {
                int cp = Character.toCodePoint(c, text.charAt(++i));
                out[p++] = (byte) (0xF0 | (cp >> 18));
                out[p++] = (byte) (0x80 | ((cp >> 12) & 0x3F));
                out[p++] = (byte) (0x80 | ((cp >> 6) & 0x3F));
                out[p++] = (byte) (0x80 | (cp & 0x3F));
            } else {
                out[p++] = (byte) (0xE0 | (c >> 12));
                out[p++] = (byte) (0x80 | ((c >> 6) & 0x3F));
                out[p++] = (byte) (0x80 | (c & 0x3F));
            }
        }
        return out;
    }

    private static ShiftformerException unpaired(char c, int index) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, String.format(
                "text has an unpaired %s surrogate U+%04X at char index %d; it has no UTF-8 encoding",
                Character.isHighSurrogate(c) ? "high" : "low", (int) c, index));
    }

    /**
     * The whitespace bytes of the pre-tokenization rule: HT, LF, VT, FF, CR ({@code 0x09..0x0D}) and
     * SPACE ({@code 0x20}). All are ASCII, so they never occur inside a multi-byte UTF-8 sequence.
     */
    static boolean isSpace(byte b) {
        return b == 0x20 || (b >= 0x09 && b <= 0x0D);
    }

    /**
     * The end (exclusive) of the word that starts at {@code start < end}: a word is a maximal run of
     * whitespace bytes followed by a maximal run of non-whitespace bytes (either may be empty, not
     * both), i.e. a new word begins at every whitespace byte that follows a non-whitespace byte.
     */
    static int wordEnd(byte[] b, int start, int end) {
        int i = start;
        while (i < end && isSpace(b[i])) {
            i++;
        }
        while (i < end && !isSpace(b[i])) {
            i++;
        }
        return i;
    }

    /**
     * The total length of the well-formed UTF-8 sequence that {@code lead} starts (2, 3 or 4), or 0 if
     * {@code lead} is ASCII, a continuation byte or a byte that never starts a sequence
     * ({@code C0, C1, F5..FF}).
     */
    static int sequenceLength(int lead) {
        if (lead >= 0xC2 && lead <= 0xDF) {
            return 2;
        }
        if (lead >= 0xE0 && lead <= 0xEF) {
            return 3;
        }
        if (lead >= 0xF0 && lead <= 0xF4) {
            return 4;
        }
        return 0;
    }

    /**
     * Whether {@code b} may be the byte at position {@code k >= 1} of a well-formed sequence led by
     * {@code lead} (Unicode table 3-7: the second byte's range is narrowed after E0, ED, F0 and F4).
     */
    static boolean validContinuation(int lead, int k, int b) {
        if (k == 1) {
            switch (lead) {
                case 0xE0:
                    return b >= 0xA0 && b <= 0xBF;
                case 0xED:
                    return b >= 0x80 && b <= 0x9F;
                case 0xF0:
                    return b >= 0x90 && b <= 0xBF;
                case 0xF4:
                    return b >= 0x80 && b <= 0x8F;
                default:
                    return b >= 0x80 && b <= 0xBF;
            }
        }
        return b >= 0x80 && b <= 0xBF;
    }

    /**
     * Decodes {@code b[off, off + len)} as UTF-8, replacing every maximal ill-formed subpart by one
     * U+FFFD (Unicode 15, section 3.9, "U+FFFD Substitution of Maximal Subparts"; the same as the WHATWG
     * Encoding Standard and Python's {@code bytes.decode("utf-8", "replace")}). At each position: an ASCII
     * byte is a character; a byte that cannot start a sequence ({@code 80..C1, F5..FF}) is one U+FFFD; a
     * lead byte followed by all the continuation bytes it needs, each within its range of table 3-7, is
     * a character; otherwise the lead byte and the valid continuation bytes after it (fewer than needed,
     * possibly none, possibly cut off by the end of the input) are one U+FFFD, and decoding resumes at the
     * first byte that did not fit.
     *
     * <p>This is not {@code new String(bytes, UTF_8)}: the JDK decoder agrees on well-formed input and on
     * most ill-formed input but not all (it turns the encoded surrogate {@code ED A0 80} into one U+FFFD
     * where this gives three), and its treatment is not specified; this one is, so streaming and batch
     * decoding agree by construction and other implementations can match it.
     */
    static String decode(byte[] b, int off, int len) {
        char[] out = new char[len]; // at most one char per byte (4 bytes give 2 chars)
        return new String(out, 0, decodeInto(b, off, len, out));
    }

    /** {@link #decode} into {@code out} (at least {@code len} chars); returns the number of chars. */
    static int decodeInto(byte[] b, int off, int len, char[] out) {
        int o = 0;
        int i = off;
        int end = off + len;
        while (i < end) {
            int c = b[i] & 0xFF;
            if (c < 0x80) {
                out[o++] = (char) c;
                i++;
                continue;
            }
            int need = sequenceLength(c);
            int k = 1;
            while (k < need && i + k < end && validContinuation(c, k, b[i + k] & 0xFF)) {
                k++;
            }
            if (k < need || need == 0) {
                out[o++] = '\uFFFD';
                i += k;
                continue;
            }
            int cp;
            if (need == 2) {
                cp = ((c & 0x1F) << 6) | (b[i + 1] & 0x3F);
            } else if (need == 3) {
                cp = ((c & 0x0F) << 12) | ((b[i + 1] & 0x3F) << 6) | (b[i + 2] & 0x3F);
            } else {
                cp = ((c & 0x07) << 18) | ((b[i + 1] & 0x3F) << 12) | ((b[i + 2] & 0x3F) << 6) | (b[i + 3] & 0x3F);
            }
            if (cp < 0x10000) {
                out[o++] = (char) cp;
            } else {
                out[o++] = Character.highSurrogate(cp);
                out[o++] = Character.lowSurrogate(cp);
            }
            i += need;
        }
        return o;
    }

    /**
     * Where a trailing incomplete UTF-8 sequence of {@code buf[0, len)} starts, or {@code len} if there
     * is none. A trailing incomplete sequence is a lead byte among the last three bytes followed only by
     * bytes that are valid continuations for it, fewer than the sequence needs: its decoding depends on
     * bytes yet to come. Under {@link #decode} every other byte decodes (to a character or to U+FFFD) the
     * same way whatever follows, because a non-continuation byte always starts a new sequence, and an
     * incomplete sequence cut off by the end of the input is one U+FFFD just as it is when an unfitting
     * byte follows. So {@code decode(x) + decode(y) == decode(x ++ y)} whenever {@code x} has no
     * incomplete tail.
     */
    static int incompleteTailStart(byte[] buf, int len) {
        int lo = Math.max(0, len - 3);
        for (int j = len - 1; j >= lo; j--) {
            int b = buf[j] & 0xFF;
            if (b >= 0x80 && b <= 0xBF) {
                continue;
            }
            int need = sequenceLength(b);
            int have = len - j;
            if (have >= need) {
                return len;
            }
            for (int k = 1; k < have; k++) {
                if (!validContinuation(b, k, buf[j + k] & 0xFF)) {
                    return len;
                }
            }
            return j;
        }
        return len;
    }
}
