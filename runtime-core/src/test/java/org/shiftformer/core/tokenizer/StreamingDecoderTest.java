package org.shiftformer.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.core.tokenizer.Fixtures.b;

import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

class StreamingDecoderTest {
    /** Bytes covering the UTF-8 table: ASCII, each continuation range, each lead class, never-leads. */
    private static final int[] ALPHABET = {0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC2, 0xDF, 0xE0, 0xE1,
        0xED, 0xEF, 0xF0, 0xF1, 0xF4, 0xF5, 0xFF};

    /** Streams {@code ids} one at a time and checks the invariants; returns the streamed text. */
    private static String stream(ByteBpeTokenizer t, StreamingDecoder d, int[] ids) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < ids.length; i++) {
            sb.append(d.push(ids[i]));
            assertTrue(d.pendingBytes() <= 3);
            // What was emitted so far is final: it is a prefix of the batch decoding of the prefix ...
            String prefix = t.decode(ids, 0, i + 1);
            assertTrue(prefix.startsWith(sb.toString()), () -> "emitted text is not a prefix");
        }
        sb.append(d.finish());
        assertEquals(0, d.pendingBytes());
        return sb.toString();
    }

    @Test
    void everyByteSequenceUpToLength4EqualsBatchDecode() {
        ByteBpeTokenizer t = Fixtures.BYTES;
        StreamingDecoder d = t.newStreamingDecoder();
        int k = ALPHABET.length;
        int cases = 0;
        for (int len = 0; len <= 4; len++) {
            int combos = (int) Math.pow(k, len);
            int[] ids = new int[len];
            for (int c = 0; c < combos; c++) {
                int x = c;
                for (int i = 0; i < len; i++) {
                    ids[i] = b(ALPHABET[x % k]);
                    x /= k;
                }
                assertEquals(t.decode(ids), stream(t, d, ids), () -> Arrays.toString(ids));
                cases++;
            }
        }
        assertEquals(1 + 19 + 361 + 6859 + 130321, cases);
    }

    @Test
    void everySplitOfMultiByteCharacters() {
        // Every way to cut the bytes of a text into consecutive tokens: a merge table makes each piece one id.
        String text = "aü€😀中b";
        byte[] bytes = text.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        int n = bytes.length;
        for (int mask = 0; mask < (1 << (n - 1)); mask++) { // bit i set: a token boundary after byte i
            // build one merge chain per piece: piece bytes b0 b1 b2 -> (b0,b1) -> ((b0b1), b2)
            java.util.List<int[]> rules = new java.util.ArrayList<>();
            java.util.Map<Long, Integer> existing = new java.util.HashMap<>();
            int[] ids = new int[n];
            int count = 0;
            int start = 0;
            for (int i = 0; i < n; i++) {
                if (i == n - 1 || (mask & (1 << i)) != 0) {
                    int id = b(bytes[start] & 0xFF);
                    for (int j = start + 1; j <= i; j++) {
                        int right = b(bytes[j] & 0xFF);
                        long key = ((long) id << 32) | right;
                        Integer have = existing.get(key);
                        if (have == null) {
                            have = 259 + rules.size();
                            rules.add(new int[] {id, right});
                            existing.put(key, have);
                        }
                        id = have;
                    }
                    ids[count++] = id;
                    start = i + 1;
                }
            }
            int[] l = rules.stream().mapToInt(r -> r[0]).toArray();
            int[] r = rules.stream().mapToInt(x -> x[1]).toArray();
            ByteBpeTokenizer t = new ByteBpeTokenizer(l, r);
            int[] tokens = Arrays.copyOf(ids, count);
            assertEquals(text, t.decode(tokens));
            assertEquals(text, stream(t, t.newStreamingDecoder(), tokens), "mask " + mask);
        }
    }

    @Test
    void holdsBackOnlyIncompleteSequences() {
        ByteBpeTokenizer t = Fixtures.BYTES;
        StreamingDecoder d = t.newStreamingDecoder();
        assertEquals("", d.push(b(0xE2)));
        assertEquals(1, d.pendingBytes());
        assertEquals("", d.push(ByteBpeTokenizer.EOS)); // a special id does not interrupt the sequence
        assertEquals("", d.push(b(0x82)));
        assertEquals("€", d.push(b(0xAC)));
        assertEquals(0, d.pendingBytes());
        assertEquals("", d.push(b(0xF0)));
        assertEquals("", d.push(b(0x9F)));
        assertEquals("", d.push(b(0x98)));
        assertEquals(3, d.pendingBytes());
        assertEquals("😀", d.push(b(0x80)));
        assertEquals("a", d.push(b('a')));
        // malformed: emitted as soon as it is known to be malformed
        assertEquals("", d.push(b(0xE2)));
        assertEquals("\uFFFDb", d.push(b('b')));
        assertEquals("\uFFFD", d.push(b(0x80))); // a stray continuation byte never waits
        assertEquals("\uFFFD", d.push(b(0xC0)));  // nor does a byte that never starts a sequence
        assertEquals("", d.push(b(0xF0)));
        assertEquals("", d.push(b(0x9F)));
        assertEquals("\uFFFD", d.finish()); // truncated at the end
        assertEquals("", d.finish());
        assertEquals("x", d.push(b('x'))); // reusable after finish
    }

    @Test
    void multiByteTokenWithTrailingPartialCharacter() {
        // r0 = (a, E2), r1 = (82, AC): "a€" is [r0, r1], the euro sign split across the two tokens.
        ByteBpeTokenizer t = new ByteBpeTokenizer(new int[] {b('a'), b(0x82)}, new int[] {b(0xE2), b(0xAC)});
        StreamingDecoder d = t.newStreamingDecoder();
        assertEquals("a", d.push(259));
        assertEquals(1, d.pendingBytes());
        assertEquals("€", d.push(260));
    }

    @Test
    void trainedTokenizerEverySplitPoint() {
        ByteBpeTokenizer t = Fixtures.numbers();
        String[] texts = {"zweihundertdreiundvierzig two hundred forty-three",
            "Grüße, Übermaß! 日本語 😀👍🏽",
            "fünfhundertdreißig\n\n  neunzehn", "", "\uD83C\uDDE9\uD83C\uDDEA ß"};
        for (String s : texts) {
            int[] ids = t.encode(s);
            for (int k = 0; k <= ids.length; k++) {
                int[] prefix = Arrays.copyOf(ids, k);
                assertEquals(t.decode(prefix), stream(t, t.newStreamingDecoder(), prefix));
            }
        }
    }

    @Test
    void randomIdsEqualBatchDecode() {
        ByteBpeTokenizer t = Fixtures.numbers();
        Random rnd = new Random(5);
        StreamingDecoder d = t.newStreamingDecoder();
        for (int iter = 0; iter < 3000; iter++) {
            int[] ids = new int[rnd.nextInt(12)];
            for (int i = 0; i < ids.length; i++) {
                ids[i] = rnd.nextInt(4) == 0 ? b(0x80 + rnd.nextInt(0x80)) : rnd.nextInt(t.vocabSize());
            }
            assertEquals(t.decode(ids), stream(t, d, ids), () -> Arrays.toString(ids));
        }
    }

    @Test
    void rejectsIdsOutsideTheVocabularyAndStaysUsable() {
        ByteBpeTokenizer t = Fixtures.BYTES;
        StreamingDecoder d = t.newStreamingDecoder();
        assertEquals("", d.push(b(0xC3)));
        ShiftformerException e = assertThrows(ShiftformerException.class, () -> d.push(259));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertEquals("ü", d.push(b(0xBC)));
    }
}
