package org.shiftformer.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;
import net.jqwik.api.constraints.IntRange;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/** Round-trip and streaming properties over generated text (jqwik). */
class RoundTripProperties {
    @Provide
    Arbitrary<String> texts() {
        Arbitrary<String> piece = Arbitraries.frequencyOf(
                Tuple.of(3, Arbitraries.strings().ascii().ofMaxLength(8)),
                Tuple.of(3, Arbitraries.of("ä", "ö", "ü", "ß", "Ä", "Ö", "Ü", "é", "ñ", "中", "文",
                        "日本語", "한국어", "😀", "👍🏽", "🇩🇪", "\u0000", "\u00A0", "\uFFFD", "\uFEFF", "€")),
                Tuple.of(3, Arbitraries.of(" ", "  ", "   ", "\t", "\n", "\r\n", " \n ", "\u000B\f")),
                Tuple.of(3, Arbitraries.integers().between(0, 999_999)
                        .map(n -> n % 2 == 0 ? NumberWords.german(n) : NumberWords.english(n))),
                Tuple.of(2, Arbitraries.integers().between(0, Character.MAX_CODE_POINT)
                        .filter(cp -> cp < Character.MIN_SURROGATE || cp > Character.MAX_SURROGATE)
                        .map(Character::toString)));
        return piece.list().ofMaxSize(24).map(l -> String.join("", l));
    }

    @Property(tries = 1000)
    void roundTrip(@ForAll("texts") String s) {
        ByteBpeTokenizer t = Fixtures.numbers();
        int[] ids = t.encode(s);
        assertEquals(s, t.decode(ids));
        assertEquals(s, Fixtures.BYTES.decode(Fixtures.BYTES.encode(s)));
        for (int id : ids) {
            assertTrue(id >= ByteBpeTokenizer.BYTE_BASE && id < t.vocabSize());
        }
    }

    @Property(tries = 300)
    void encodeIsTextbookBpe(@ForAll("texts") String s) {
        ByteBpeTokenizer t = Fixtures.numbers();
        assertArrayEquals(Fixtures.naiveEncode(t.mergeLeft(), t.mergeRight(), s), t.encode(s));
    }

    @Property(tries = 500)
    void streamingEqualsBatch(@ForAll("texts") String s, @ForAll List<@IntRange(max = 2) Integer> specials) {
        ByteBpeTokenizer t = Fixtures.numbers();
        int[] ids = t.encode(s);
        // sprinkle special ids in; they must change nothing
        int[] withSpecials = new int[ids.length + specials.size()];
        int p = 0;
        int q = 0;
        for (int i = 0; i < withSpecials.length; i++) {
            boolean special = q < specials.size() && (p >= ids.length || i % 3 == 1);
            withSpecials[i] = special ? specials.get(q++) : ids[p++];
        }
        StreamingDecoder d = t.newStreamingDecoder();
        StringBuilder sb = new StringBuilder();
        for (int id : withSpecials) {
            sb.append(d.push(id));
            assertTrue(d.pendingBytes() <= 3);
        }
        sb.append(d.finish());
        assertEquals(s, sb.toString());
        assertEquals(s, t.decode(withSpecials));
    }

    /** Any Java string (unpaired surrogates included): a round trip, or a rejection naming the right index. */
    @Property(tries = 1000)
    void anyJavaString(@ForAll String s) {
        ByteBpeTokenizer t = Fixtures.numbers();
        int bad = firstUnpairedSurrogate(s);
        if (bad < 0) {
            assertEquals(s, t.decode(t.encode(s)));
        } else {
            ShiftformerException e = assertThrows(ShiftformerException.class, () -> t.encode(s));
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains("char index " + bad + ";"), e.getMessage());
        }
    }

    @Provide
    Arbitrary<String> surrogateSoup() {
        return Arbitraries.strings().withChars('a', ' ', '\u00FC', '\u20AC', '\uD83D', '\uDE00', '\uDC00')
                .ofMaxLength(12);
    }

    @Property(tries = 1000)
    void stringsWithSurrogates(@ForAll("surrogateSoup") String s) {
        anyJavaString(s);
    }

    private static int firstUnpairedSurrogate(String s) {
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isHighSurrogate(c) && i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1))) {
                i++;
            } else if (Character.isSurrogate(c)) {
                return i;
            }
        }
        return -1;
    }
}
