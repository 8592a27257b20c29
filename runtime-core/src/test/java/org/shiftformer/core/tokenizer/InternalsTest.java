package org.shiftformer.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.PriorityQueue;
import java.util.Random;
import org.junit.jupiter.api.Test;

class InternalsTest {
    @Test
    void longIntMapAgreesWithHashMap() {
        Random rnd = new Random(3);
        LongIntMap m = new LongIntMap(0);
        Map<Long, Integer> ref = new HashMap<>();
        for (int i = 0; i < 100_000; i++) {
            long key = LongIntMap.pairKey(rnd.nextInt(5000), rnd.nextInt(5000));
            int v = m.putIfAbsent(key, i);
            Integer prior = ref.putIfAbsent(key, i);
            assertEquals(prior == null ? i : prior, v);
        }
        assertEquals(ref.size(), m.size());
        for (Map.Entry<Long, Integer> e : ref.entrySet()) {
            assertEquals(e.getValue(), m.get(e.getKey(), -1));
        }
        assertEquals(-1, m.get(LongIntMap.pairKey(6000, 1), -1));
        assertEquals(7, LongIntMap.pairLeft(LongIntMap.pairKey(7, 9)));
        assertEquals(9, LongIntMap.pairRight(LongIntMap.pairKey(7, 9)));
    }

    @Test
    void longMinHeapSorts() {
        Random rnd = new Random(4);
        LongMinHeap h = new LongMinHeap(1);
        PriorityQueue<Long> ref = new PriorityQueue<>();
        for (int i = 0; i < 50_000; i++) {
            if (rnd.nextInt(3) == 0 && !ref.isEmpty()) {
                assertEquals((long) ref.poll(), h.pop());
            } else {
                long v = rnd.nextLong();
                h.push(v);
                ref.add(v);
            }
        }
        while (!ref.isEmpty()) {
            assertEquals((long) ref.poll(), h.pop());
        }
        assertEquals(true, h.isEmpty());
    }

    /**
     * The decoder agrees with the JDK's on every byte sequence up to length 4 over an alphabet covering
     * every range of the UTF-8 table, except around an encoded surrogate ({@code ED} followed by
     * {@code A0..BF}), where the JDK deviates from the maximal-subpart rule.
     */
    @Test
    void utf8DecoderAgreesWithTheJdkExceptOnEncodedSurrogates() {
        int[] alphabet = {0x41, 0x80, 0x8F, 0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED,
            0xEE, 0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xFF};
        int k = alphabet.length;
        int differ = 0;
        for (int len = 0; len <= 4; len++) {
            int combos = (int) Math.pow(k, len);
            byte[] b = new byte[len];
            for (int c = 0; c < combos; c++) {
                int x = c;
                boolean surrogate = false;
                for (int i = 0; i < len; i++) {
                    b[i] = (byte) alphabet[x % k];
                    x /= k;
                    surrogate |= i > 0 && b[i - 1] == (byte) 0xED && (b[i] & 0xFF) >= 0xA0;
                }
                String mine = Utf8.decode(b, 0, len);
                String jdk = new String(b, StandardCharsets.UTF_8);
                if (!surrogate) {
                    assertEquals(jdk, mine, () -> java.util.HexFormat.of().formatHex(b));
                } else if (!jdk.equals(mine)) {
                    differ++;
                }
            }
        }
        assertEquals(true, differ > 0);
        // well-formed text, all planes
        for (int cp = 0; cp <= Character.MAX_CODE_POINT; cp += 7) {
            if (cp < Character.MIN_SURROGATE || cp > Character.MAX_SURROGATE) {
                byte[] e = Character.toString(cp).getBytes(StandardCharsets.UTF_8);
                assertEquals(Character.toString(cp), Utf8.decode(e, 0, e.length));
            }
        }
    }

    @Test
    void utf8EncoderMatchesTheJdk() {
        Random rnd = new Random(5);
        for (int i = 0; i < 5000; i++) {
            StringBuilder sb = new StringBuilder();
            int n = rnd.nextInt(10);
            for (int k = 0; k < n; k++) {
                int cp;
                do {
                    cp = switch (rnd.nextInt(4)) {
                        case 0 -> rnd.nextInt(0x80);
                        case 1 -> rnd.nextInt(0x800);
                        case 2 -> rnd.nextInt(0x10000);
                        default -> rnd.nextInt(Character.MAX_CODE_POINT + 1);
                    };
                } while (cp >= Character.MIN_SURROGATE && cp <= Character.MAX_SURROGATE);
                sb.appendCodePoint(cp);
            }
            String s = sb.toString();
            assertArrayEquals(s.getBytes(StandardCharsets.UTF_8), Utf8.encode(s));
        }
    }
}
