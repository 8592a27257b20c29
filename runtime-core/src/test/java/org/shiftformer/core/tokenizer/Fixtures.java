package org.shiftformer.core.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Shared tokenizers and a naive reference encoder for the tests. */
final class Fixtures {
    private Fixtures() {
    }

    private static final class Trained {
        static final ByteBpeTokenizer NUMBERS = build();

        private static ByteBpeTokenizer build() {
            int[][] m = BpeTrainer.train(NumberWords.corpus(2000, 42), 259 + 400);
            return new ByteBpeTokenizer(m[0], m[1]);
        }
    }

    /** Trained on German/English number words with 400 merges (built once per JVM). */
    static ByteBpeTokenizer numbers() {
        return Trained.NUMBERS;
    }

    /** No merges: one id per byte. */
    static final ByteBpeTokenizer BYTES = new ByteBpeTokenizer(new int[0], new int[0]);

    static int b(char c) {
        return ByteBpeTokenizer.BYTE_BASE + c;
    }

    static int b(int unsignedByte) {
        return ByteBpeTokenizer.BYTE_BASE + unsignedByte;
    }

    /**
     * The pre-tokenization rule as the one-line regular expression given to SPEC.md, applied to the
     * UTF-8 bytes (as a Latin-1 string, one char per byte).
     */
    static final Pattern WORD = Pattern.compile("[\\t\\n\\x0B\\f\\r ]*[^\\t\\n\\x0B\\f\\r ]+|[\\t\\n\\x0B\\f\\r ]+");

    /**
     * Textbook BPE, independent of the implementation: split into words with {@link #WORD}; per word,
     * in rounds, find the lowest-rank adjacent pair and merge all its non-overlapping occurrences left
     * to right. Quadratic, for small inputs.
     */
    static int[] naiveEncode(int[] left, int[] right, String text) {
        String latin = new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
        List<Integer> out = new ArrayList<>();
        Matcher m = WORD.matcher(latin);
        int expectedStart = 0;
        while (m.find()) {
            if (m.start() != expectedStart) {
                throw new AssertionError("regex skipped bytes");
            }
            expectedStart = m.end();
            List<Integer> w = new ArrayList<>();
            for (char c : m.group().toCharArray()) {
                w.add(3 + c);
            }
            while (true) {
                int bestRank = Integer.MAX_VALUE;
                for (int i = 0; i + 1 < w.size(); i++) {
                    for (int r = 0; r < left.length && r < bestRank; r++) {
                        if (left[r] == w.get(i) && right[r] == w.get(i + 1)) {
                            bestRank = r;
                        }
                    }
                }
                if (bestRank == Integer.MAX_VALUE) {
                    break;
                }
                List<Integer> next = new ArrayList<>();
                for (int i = 0; i < w.size(); ) {
                    if (i + 1 < w.size() && w.get(i) == left[bestRank] && w.get(i + 1) == right[bestRank]) {
                        next.add(259 + bestRank);
                        i += 2;
                    } else {
                        next.add(w.get(i++));
                    }
                }
                w = next;
            }
            out.addAll(w);
        }
        if (expectedStart != latin.length()) {
            throw new AssertionError("regex did not cover the text");
        }
        return out.stream().mapToInt(Integer::intValue).toArray();
    }
}
