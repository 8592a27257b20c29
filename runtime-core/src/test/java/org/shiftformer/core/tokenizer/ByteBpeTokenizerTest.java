package org.shiftformer.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.core.tokenizer.Fixtures.b;

import java.nio.charset.StandardCharsets;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

class ByteBpeTokenizerTest {
    private static final int A = b('a');
    private static final int B = b('b');
    private static final int C = b('c');
    private static final int SP = b(' ');

    @Test
    void idLayout() {
        ByteBpeTokenizer t = new ByteBpeTokenizer(new int[] {A}, new int[] {B});
        assertEquals(260, t.vocabSize());
        assertEquals(0, ByteBpeTokenizer.PAD);
        assertEquals(1, ByteBpeTokenizer.BOS);
        assertEquals(2, ByteBpeTokenizer.EOS);
        assertArrayEquals(new byte[0], t.bytesOf(ByteBpeTokenizer.EOS));
        assertArrayEquals(new byte[] {0}, t.bytesOf(3));
        assertArrayEquals(new byte[] {(byte) 0xFF}, t.bytesOf(258));
        assertArrayEquals("ab".getBytes(StandardCharsets.US_ASCII), t.bytesOf(259));
        assertEquals(100, A); // 3 + 'a'
    }

    /**
     * "ababab cab" with r0 = (a,b), r1 = (r0,r0), r2 = (' ',c). Words "ababab" and " cab".
     * "ababab": r0 everywhere -> [r0 r0 r0]; r1 leftmost first -> [r1 r0].
     * " cab": lowest rank present is r0 (a,b) -> [' ' c r0]; then r2 -> [r2 r0].
     */
    @Test
    void handComputedThreeMerges() {
        ByteBpeTokenizer t = new ByteBpeTokenizer(new int[] {A, 259, SP}, new int[] {B, 259, C});
        assertArrayEquals(new int[] {260, 259, 261, 259}, t.encode("ababab cab"));
        assertArrayEquals(new int[] {260, 259, 261, 259}, Fixtures.naiveEncode(
                new int[] {A, 259, SP}, new int[] {B, 259, C}, "ababab cab"));
        assertEquals("ababab cab", t.decode(new int[] {260, 259, 261, 259}));
        assertArrayEquals(new int[] {A}, t.encode("a"));
        assertArrayEquals(new int[0], t.encode(""));
    }

    @Test
    void rankOrderDecides() {
        // "abc": merging (a,b) first gives [ab, c]; merging (b,c) first gives [a, bc].
        ByteBpeTokenizer abFirst = new ByteBpeTokenizer(new int[] {A, B}, new int[] {B, C});
        ByteBpeTokenizer bcFirst = new ByteBpeTokenizer(new int[] {B, A}, new int[] {C, B});
        assertArrayEquals(new int[] {259, C}, abFirst.encode("abc"));
        assertArrayEquals(new int[] {A, 259}, bcFirst.encode("abc"));
        // The rank wins over position: (b,c) has rank 0, so it is merged first even though (a,b) is left of it.
        assertArrayEquals(new int[] {A, 259, 259, C}, bcFirst.encode("abcbcc"));
        assertArrayEquals(new int[] {259, C, 260, C}, abFirst.encode("abcbcc"));
    }

    @Test
    void leftmostFirstAmongEqualRanks() {
        // "aaa" with (a,a): the leftmost occurrence is merged, the overlapping one is gone.
        ByteBpeTokenizer t = new ByteBpeTokenizer(new int[] {A}, new int[] {A});
        assertArrayEquals(new int[] {259, A}, t.encode("aaa"));
        assertArrayEquals(new int[] {259, 259}, t.encode("aaaa"));
        assertArrayEquals(new int[] {259, 259, A}, t.encode("aaaaa"));
        // (aa, a) exists but (a,a) outranks it: "aaa" -> [aa a] -> [aaa]
        ByteBpeTokenizer t2 = new ByteBpeTokenizer(new int[] {A, 259}, new int[] {A, A});
        assertArrayEquals(new int[] {260}, t2.encode("aaa"));
        assertArrayEquals(new int[] {259, 259}, t2.encode("aaaa")); // (a,a) twice before (aa,a) is looked at
    }

    @Test
    void mergesNeverCrossWordBoundaries() {
        // (b,' ') would apply to "b b" if encoding ignored the words "b" and " b".
        ByteBpeTokenizer t = new ByteBpeTokenizer(new int[] {B}, new int[] {SP});
        assertArrayEquals(new int[] {B, SP, B}, t.encode("b b"));
        // A whitespace run belongs to the following word, so (' ',' ') applies inside it.
        ByteBpeTokenizer s = new ByteBpeTokenizer(new int[] {SP, SP}, new int[] {SP, B});
        assertArrayEquals(new int[] {A, 259, 260}, s.encode("a   b"));
        // Trailing whitespace forms its own word.
        assertArrayEquals(new int[] {A, 259, SP}, s.encode("a   "));
        // Other whitespace bytes: "a\t\n b" -> "a", "\t\n b"
        ByteBpeTokenizer tab = new ByteBpeTokenizer(new int[] {A, b('\t')}, new int[] {b('\t'), b('\n')});
        assertArrayEquals(new int[] {A, 260, SP, B}, tab.encode("a\t\n b"));
        // U+00A0 (no-break space) is not whitespace for the split.
        assertArrayEquals(Fixtures.naiveEncode(new int[] {A}, new int[] {b(0xC2)}, "a\u00A0b"),
                new ByteBpeTokenizer(new int[] {A}, new int[] {b(0xC2)}).encode("a\u00A0b"));
        assertArrayEquals(new int[] {259, b(0xA0), B},
                new ByteBpeTokenizer(new int[] {A}, new int[] {b(0xC2)}).encode("a\u00A0b"));
    }

    @Test
    void encodeMatchesTextbookBpeOnRandomText() {
        ByteBpeTokenizer t = Fixtures.numbers();
        int[] left = t.mergeLeft();
        int[] right = t.mergeRight();
        Random rnd = new Random(7);
        String[] pieces = {"zwei", "hundert", "und", "dreißig", " ", "  ", "\n", "twenty", "-", "ä", "ü", "ß",
            "sieben", "seven", "中文", "😀", "x", "e", "n", "ei", "\t"};
        for (int iter = 0; iter < 400; iter++) {
            StringBuilder sb = new StringBuilder();
            int k = rnd.nextInt(12);
            for (int i = 0; i < k; i++) {
                sb.append(rnd.nextInt(3) == 0 ? NumberWords.line(rnd.nextInt(1_000_000))
                        : pieces[rnd.nextInt(pieces.length)]);
            }
            String s = sb.toString();
            assertArrayEquals(Fixtures.naiveEncode(left, right, s), t.encode(s), s);
            assertEquals(s, t.decode(t.encode(s)));
        }
    }

    @Test
    void encodeMatchesTextbookBpeOnRandomMergeTables() {
        // Random (valid) merge tables over a tiny alphabet stress the priority-queue bookkeeping.
        Random rnd = new Random(11);
        for (int table = 0; table < 200; table++) {
            int n = 1 + rnd.nextInt(30);
            int[] l = new int[n];
            int[] r = new int[n];
            java.util.Set<Long> seen = new java.util.HashSet<>();
            for (int i = 0; i < n; i++) {
                do {
                    l[i] = pick(rnd, i);
                    r[i] = pick(rnd, i);
                } while (!seen.add(((long) l[i] << 32) | r[i]));
            }
            ByteBpeTokenizer t = new ByteBpeTokenizer(l, r);
            for (int k = 0; k < 20; k++) {
                StringBuilder sb = new StringBuilder();
                int len = rnd.nextInt(40);
                for (int i = 0; i < len; i++) {
                    sb.append("abc ".charAt(rnd.nextInt(rnd.nextInt(10) == 0 ? 4 : 3)));
                }
                String s = sb.toString();
                assertArrayEquals(Fixtures.naiveEncode(l, r, s), t.encode(s), s);
                assertEquals(s, t.decode(t.encode(s)));
            }
        }
    }

    private static int pick(Random rnd, int rule) {
        return rule > 0 && rnd.nextBoolean() ? 259 + rnd.nextInt(rule) : b("abc".charAt(rnd.nextInt(3)));
    }

    @Test
    void longWordWithoutSpacesIsEncodedCorrectly() {
        ByteBpeTokenizer t = Fixtures.numbers();
        StringBuilder sb = new StringBuilder();
        for (int n = 1; sb.length() < 100_000; n += 7919) {
            sb.append(NumberWords.german(n % 1_000_000));
        }
        String s = sb.toString();
        int[] ids = t.encode(s);
        assertEquals(s, t.decode(ids));
        assertTrue(ids.length < s.length() / 3, "ids " + ids.length + " for " + s.length() + " chars");
        // A long run of one byte: every merge chain of "a"s is exercised.
        String as = "a".repeat(50_000);
        ByteBpeTokenizer doubling = new ByteBpeTokenizer(new int[] {A, 259, 260}, new int[] {A, 259, 260});
        int[] aIds = doubling.encode(as);
        assertEquals(50_000 / 8, aIds.length);
        assertEquals(as, doubling.decode(aIds));
    }

    @Test
    void decodeSkipsSpecialIdsAndReplacesMalformedUtf8() {
        ByteBpeTokenizer t = Fixtures.BYTES;
        assertEquals("ab", t.decode(new int[] {1, A, 0, B, 2}));
        assertEquals("", t.decode(new int[] {0, 1, 2}));
        assertEquals("\uFFFDA", t.decode(new int[] {b(0xE2), b('A')}));
        assertEquals("\uFFFDA", t.decode(new int[] {b(0xE2), b(0x82), b('A')})); // maximal subpart: one U+FFFD
        assertEquals("\uFFFD\uFFFDA", t.decode(new int[] {b(0xC0), b(0x80), b('A')})); // C0 never starts a sequence
        assertEquals("\uFFFD", t.decode(new int[] {b(0xF0), b(0x9F), b(0x98)})); // truncated at the end
        assertEquals("\uFFFD\uFFFD\uFFFD", t.decode(new int[] {b(0xED), b(0xA0), b(0x80)})); // encoded surrogate
        assertEquals("\uFFFD\uFFFD", t.decode(new int[] {b(0xF4), b(0x90)})); // above U+10FFFF
        assertEquals("\uFFFD\uFFFDA", t.decode(new int[] {b(0xE0), b(0x80), b('A')})); // overlong
        assertEquals("€", t.decode(new int[] {b(0xE2), 2, b(0x82), 0, b(0xAC)})); // specials add no bytes
        assertEquals("b", t.decode(new int[] {A, B, C}, 1, 1));
        assertThrows(IndexOutOfBoundsException.class, () -> t.decode(new int[] {A}, 1, 1));
    }

    @Test
    void decodeRejectsIdsOutsideTheVocabulary() {
        ByteBpeTokenizer t = Fixtures.BYTES;
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> t.decode(new int[] {A, 259}));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("259") && e.getMessage().contains("index 1"), e.getMessage());
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(ShiftformerException.class, () -> t.bytesOf(-1)).code());
    }

    @Test
    void unpairedSurrogatesAreRejectedWithTheirIndex() {
        ByteBpeTokenizer t = Fixtures.numbers();
        String[] bad = {"ab\uD83D", "ab\uDE00c", "\uDE00\uD83D", "x\uD83D\uD83D\uDE00"};
        int[] index = {2, 2, 0, 1};
        for (int i = 0; i < bad.length; i++) {
            String s = bad[i];
            ShiftformerException e = assertThrows(ShiftformerException.class, () -> t.encode(s));
            assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
            assertTrue(e.getMessage().contains("unpaired") && e.getMessage().contains("char index " + index[i]),
                    e.getMessage());
        }
        assertEquals("😀", t.decode(t.encode("😀")));
    }

    @Test
    void invalidMergeTablesAreRejectedNamingTheMerge() {
        assertRejected(new int[] {A, B}, new int[] {B}, "mergeLeft has 2 entries but mergeRight has 1");
        assertRejected(new int[] {A, 1}, new int[] {B, B}, "merge 1: left id 1 is the special id <bos>");
        assertRejected(new int[] {A, A}, new int[] {B, 0}, "merge 1: right id 0 is the special id <pad>");
        assertRejected(new int[] {A, A, 261}, new int[] {B, A, A}, "merge 2: left id 261 is not defined before it");
        assertRejected(new int[] {A, 259}, new int[] {B, 300}, "merge 1: right id 300 is not defined before it");
        assertRejected(new int[] {A, -5}, new int[] {B, A}, "merge 1: left id -5");
        assertRejected(new int[] {A, C, A}, new int[] {B, C, B}, "merge 2 (100, 101) repeats merge 0");
        // Doubling "a": merge k is 2^(k+1) bytes; merge 9 is 1024 bytes (allowed), merge 10 is 2048.
        int[] l = new int[11];
        int[] r = new int[11];
        l[0] = A;
        r[0] = A;
        for (int k = 1; k < 11; k++) {
            l[k] = 258 + k;
            r[k] = 258 + k;
        }
        assertRejected(l, r, "merge 10 (268, 268): its token would be 2048 bytes long");
        assertEquals(1024, new ByteBpeTokenizer(java.util.Arrays.copyOf(l, 10), java.util.Arrays.copyOf(r, 10))
                .maxTokenBytes());
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> new ByteBpeTokenizer(null, r));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
    }

    private static void assertRejected(int[] left, int[] right, String messagePart) {
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> new ByteBpeTokenizer(left, right));
        assertEquals(ErrorCode.INVALID_ARTIFACT, e.code());
        assertTrue(e.getMessage().contains(messagePart), e.getMessage());
    }

    @Test
    void mergeTablesAreCopied() {
        int[] l = {A};
        int[] r = {B};
        ByteBpeTokenizer t = new ByteBpeTokenizer(l, r);
        l[0] = C;
        assertArrayEquals(new int[] {259}, t.encode("ab"));
        t.mergeLeft()[0] = C;
        assertArrayEquals(new int[] {A}, t.mergeLeft());
    }

    @Test
    void pieceForDisplay() {
        ByteBpeTokenizer t = new ByteBpeTokenizer(
                new int[] {b(0xC3), SP, b(0xE2), b(0xE2), b(0xF0)},
                new int[] {b(0xBC), A, b(0x82), 261, b(0x9F)});
        assertEquals("<pad>", t.pieceForDisplay(0));
        assertEquals("<bos>", t.pieceForDisplay(1));
        assertEquals("<eos>", t.pieceForDisplay(2));
        assertEquals("a", t.pieceForDisplay(A));
        assertEquals(" ", t.pieceForDisplay(SP));
        assertEquals("\\\\", t.pieceForDisplay(b('\\')));
        assertEquals("\\x0A", t.pieceForDisplay(b('\n')));
        assertEquals("\\x00", t.pieceForDisplay(3));
        assertEquals("\\xFF", t.pieceForDisplay(258));
        assertEquals("ü", t.pieceForDisplay(259));
        assertEquals(" a", t.pieceForDisplay(260));
        assertEquals("\\xE2\\x82", t.pieceForDisplay(261)); // an incomplete sequence
        assertEquals("\\xE2\\xE2\\x82", t.pieceForDisplay(262));
        assertEquals("\\xF0\\x9F", t.pieceForDisplay(263));
        ByteBpeTokenizer nbsp = new ByteBpeTokenizer(new int[] {b(0xC2)}, new int[] {b(0xA0)});
        assertEquals("\\xC2\\xA0", nbsp.pieceForDisplay(259)); // invisible: escaped
    }

    @Test
    void trainedTokenizerCompressesNumberWords() {
        ByteBpeTokenizer t = Fixtures.numbers();
        long ids = 0;
        long bytes = 0;
        for (String line : NumberWords.corpus(500, 99)) {
            ids += t.encode(line).length;
            bytes += line.getBytes(StandardCharsets.UTF_8).length;
        }
        double ratio = (double) ids / bytes;
        assertTrue(ratio < 0.5, "ids per byte " + ratio);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "   ", "\t\n\r\u000B\f", "zweihundertdreiundvierzig",
        "two hundred forty-three", "Grüße aus Köln, Übermaß", "日本語のテキスト", "😀👍🏽🇩🇪", "a\u0000b",
        "trailing  ", "  leading"})
    void roundTripExamples(String s) {
        ByteBpeTokenizer t = Fixtures.numbers();
        assertEquals(s, t.decode(t.encode(s)));
        assertEquals(s, Fixtures.BYTES.decode(Fixtures.BYTES.encode(s)));
    }
}
