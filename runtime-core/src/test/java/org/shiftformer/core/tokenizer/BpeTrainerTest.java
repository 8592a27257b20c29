package org.shiftformer.core.tokenizer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.shiftformer.core.tokenizer.Fixtures.b;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.regex.Matcher;
import org.junit.jupiter.api.Test;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

class BpeTrainerTest {
    @Test
    void tiesGoToTheSmallerPairAndTrainingStopsWhenNoPairRepeats() {
        // "abcd" twice: (a,b), (b,c), (c,d) all count 2 -> (a,b) first (smallest left).
        // Then (ab,c) and (c,d) count 2 -> (c,d) (left 102 < 259). Then (ab,cd). Then nothing is left.
        int[][] m = BpeTrainer.train(List.of("abcd", "abcd"), 400);
        assertArrayEquals(new int[] {b('a'), b('c'), 259}, m[0]);
        assertArrayEquals(new int[] {b('b'), b('d'), 260}, m[1]);
        assertArrayEquals(new int[] {261}, new ByteBpeTokenizer(m[0], m[1]).encode("abcd"));
    }

    @Test
    void aPairSeenOnceIsNeverMerged() {
        assertEquals(0, BpeTrainer.train(List.of("abc"), 300)[0].length);
        assertEquals(0, BpeTrainer.train(List.of(), 300)[0].length);
        assertEquals(0, BpeTrainer.train(List.of(""), 300)[0].length);
    }

    @Test
    void spacesAttachToTheFollowingWord() {
        // words "a", " b", " a", " b": (' ',b) counts 2, (' ',a) 1; (a,' ') crosses a word boundary, never counts.
        int[][] m = BpeTrainer.train(List.of("a b a b"), 300);
        assertArrayEquals(new int[] {b(' ')}, m[0]);
        assertArrayEquals(new int[] {b('b')}, m[1]);
    }

    @Test
    void overlappingPairsAreMergedLeftToRightLikeTheEncoder() {
        // words "aaa" x 1, " aaa" x 2: (a,a) counts 6 -> merge; "aaa" becomes [aa a], not [a aa].
        // Then (aa,a) counts 3, (' ',aa) 2 -> merge (aa,a); then (' ',aaa) counts 2 -> merge.
        int[][] m = BpeTrainer.train(List.of("aaa aaa aaa"), 300);
        assertArrayEquals(new int[] {b('a'), 259, b(' ')}, m[0]);
        assertArrayEquals(new int[] {b('a'), b('a'), 260}, m[1]);
    }

    @Test
    void stopsAtTheRequestedVocabulary() {
        List<String> corpus = NumberWords.corpus(200, 3);
        assertEquals(0, BpeTrainer.train(corpus, 259)[0].length);
        assertEquals(1, BpeTrainer.train(corpus, 260)[0].length);
        assertEquals(250, BpeTrainer.train(corpus, 259 + 250)[1].length);
    }

    @Test
    void deterministicAndIndependentOfTextOrder() {
        List<String> corpus = NumberWords.corpus(3000, 17);
        int[][] a = BpeTrainer.train(corpus, 259 + 300);
        int[][] b = BpeTrainer.train(corpus, 259 + 300);
        List<String> shuffled = new ArrayList<>(corpus);
        Collections.shuffle(shuffled, new Random(1));
        int[][] c = BpeTrainer.train(shuffled, 259 + 300);
        assertEquals(300, a[0].length);
        assertArrayEquals(a[0], b[0]);
        assertArrayEquals(a[1], b[1]);
        assertArrayEquals(a[0], c[0]);
        assertArrayEquals(a[1], c[1]);
    }

    @Test
    void trainedMergesAreValidAndCompressNumberWords() {
        List<String> corpus = NumberWords.corpus(3000, 23);
        int[][] m = BpeTrainer.train(corpus, 259 + 250);
        assertEquals(250, m[0].length);
        ByteBpeTokenizer t = new ByteBpeTokenizer(m[0], m[1]);
        long ids = 0;
        long bytes = 0;
        for (String line : corpus) {
            int[] enc = t.encode(line);
            assertEquals(line, t.decode(enc));
            ids += enc.length;
            bytes += line.getBytes(StandardCharsets.UTF_8).length;
        }
        double ratio = (double) ids / bytes;
        assertTrue(ratio < 0.5, "ids per byte " + ratio);
        // the frequent German pieces became tokens
        assertEquals(1, t.encode("hundert").length);
        assertEquals(1, t.encode(" hundred").length);
    }

    /** The incremental trainer picks exactly the merges a from-scratch recount at every step picks. */
    @Test
    void equalsNaiveTraining() {
        List<String> corpus = new ArrayList<>(NumberWords.corpus(0, 0).subList(0, 300));
        corpus.add("aaaa aaaaa  bbb\t\tbbb ÜÜÜ ÜÜ 😀😀😀");
        int merges = 120;
        int[][] fast = BpeTrainer.train(corpus, 259 + merges);
        int[][] slow = naiveTrain(corpus, merges);
        assertArrayEquals(slow[0], fast[0]);
        assertArrayEquals(slow[1], fast[1]);
    }

    private static int[][] naiveTrain(List<String> corpus, int merges) {
        Map<String, Integer> wordFreq = new HashMap<>();
        for (String text : corpus) {
            String latin = new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.ISO_8859_1);
            Matcher m = Fixtures.WORD.matcher(latin);
            while (m.find()) {
                wordFreq.merge(m.group(), 1, Integer::sum);
            }
        }
        List<List<Integer>> words = new ArrayList<>();
        List<Integer> freqs = new ArrayList<>();
        for (Map.Entry<String, Integer> e : wordFreq.entrySet()) {
            List<Integer> w = new ArrayList<>();
            for (char c : e.getKey().toCharArray()) {
                w.add(3 + c);
            }
            words.add(w);
            freqs.add(e.getValue());
        }
        List<Integer> left = new ArrayList<>();
        List<Integer> right = new ArrayList<>();
        for (int r = 0; r < merges; r++) {
            Map<Long, Long> counts = new HashMap<>();
            for (int w = 0; w < words.size(); w++) {
                List<Integer> s = words.get(w);
                for (int i = 0; i + 1 < s.size(); i++) {
                    counts.merge(((long) s.get(i) << 32) | s.get(i + 1), (long) freqs.get(w), Long::sum);
                }
            }
            long bestKey = -1;
            long bestCount = 1;
            for (Map.Entry<Long, Long> e : counts.entrySet()) {
                if (e.getValue() > bestCount || (e.getValue() == bestCount && bestKey >= 0 && e.getKey() < bestKey)) {
                    bestKey = e.getKey();
                    bestCount = e.getValue();
                }
            }
            if (bestKey < 0) {
                break;
            }
            int a = (int) (bestKey >>> 32);
            int c = (int) bestKey;
            left.add(a);
            right.add(c);
            for (List<Integer> s : words) {
                List<Integer> next = new ArrayList<>();
                for (int i = 0; i < s.size(); ) {
                    if (i + 1 < s.size() && s.get(i) == a && s.get(i + 1) == c) {
                        next.add(259 + r);
                        i += 2;
                    } else {
                        next.add(s.get(i++));
                    }
                }
                s.clear();
                s.addAll(next);
            }
        }
        return new int[][] {left.stream().mapToInt(Integer::intValue).toArray(),
            right.stream().mapToInt(Integer::intValue).toArray()};
    }

    @Test
    void neverBuildsATokenLongerThanTheLimit() {
        String run = "x".repeat(3000);
        int[][] m = BpeTrainer.train(List.of(run, run), 259 + 40);
        ByteBpeTokenizer t = new ByteBpeTokenizer(m[0], m[1]); // would throw if a token exceeded the limit
        assertEquals(ByteBpeTokenizer.MAX_TOKEN_BYTES, t.maxTokenBytes());
        assertEquals(run, t.decode(t.encode(run)));
    }

    @Test
    void rejectsBadArguments() {
        assertEquals(ErrorCode.INVALID_ARGUMENT,
                assertThrows(ShiftformerException.class, () -> BpeTrainer.train(List.of("a"), 258)).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                () -> BpeTrainer.train(List.of("a"), (1 << 20) + 1)).code());
        ShiftformerException e = assertThrows(ShiftformerException.class,
                () -> BpeTrainer.train(List.of("ok", "bad \uD800 text"), 300));
        assertEquals(ErrorCode.INVALID_ARGUMENT, e.code());
        assertTrue(e.getMessage().contains("corpus text 1") && e.getMessage().contains("char index 4"),
                e.getMessage());
        List<String> withNull = new ArrayList<>();
        withNull.add(null);
        assertTrue(assertThrows(ShiftformerException.class, () -> BpeTrainer.train(withNull, 300))
                .getMessage().contains("corpus text 0 is null"));
    }

    /** Not a timing assertion: a corpus of about 200k words and 740 merges must simply complete. */
    @Test
    void largeCorpus() {
        List<String> corpus = NumberWords.corpus(40_000, 8);
        long words = corpus.stream().mapToLong(s -> s.split("\\s+").length).sum();
        assertTrue(words > 200_000, "words " + words);
        int[][] m = BpeTrainer.train(corpus, 999);
        assertEquals(740, m[0].length);
        new ByteBpeTokenizer(m[0], m[1]);
    }

    /** Software messages: the same placeholders quoted and punctuated differently in each language. */
    private static final List<String> MESSAGES = List.of(
            "cannot open '%s': %s", "kann »%s« nicht öffnen: %s", "file '%s' exists", "Datei »%s« existiert",
            "value %1$d of %2$d.", "Wert %1$d von %2$d.", "(%s)", "(%s)", "error in {0}:", "Fehler in {0}:",
            "'%s' '%s' '%s'", "»%s« »%s«", "%s: %s", "%s:%d:", "%s:%d:", "50% sure", "%%s literally");

    private static List<String> pieces(ByteBpeTokenizer t, String text) {
        List<String> out = new ArrayList<>();
        for (int id : t.encode(text)) {
            out.add(new String(t.bytesOf(id), StandardCharsets.UTF_8));
        }
        return out;
    }

    @Test
    void atomicStringsStayOneTokenInEveryContextTheEncoderSees() {
        List<String> atoms = List.of("%s", "%d", "%1$d", "%2$d", "{0}", "%%");
        int[][] m = BpeTrainer.train(MESSAGES, 400, atoms);
        ByteBpeTokenizer t = new ByteBpeTokenizer(m[0], m[1]);
        for (String text : List.of("cannot open '%s': %s", "kann »%s« nicht öffnen", "(%s)", "'%s'.", "x%sy", "%s:%d:",
                "Wert %1$d von %2$d.", "in {0}:", "»{0}«")) {
            List<String> p = pieces(t, text);
            for (String atom : atoms) {
                int occurrences = text.split(java.util.regex.Pattern.quote(atom), -1).length - 1;
                if (atom.equals("%d") || atom.equals("%%")) {
                    continue; // "%d" is also inside "%1$d"; checked below
                }
                assertEquals(occurrences, Collections.frequency(p, atom), atom + " in " + text + ": " + p);
            }
            assertEquals(text, t.decode(t.encode(text)));
        }
        assertEquals(List.of("%s", ":", "%d", ":"), pieces(t, "%s:%d:"));
        assertEquals(List.of("%%", "s"), pieces(t, "%%s"), "leftmost: the escape, then a letter");
        // the chains come first, shorter strings first, a shared prefix merged once
        ByteBpeTokenizer chains = new ByteBpeTokenizer(java.util.Arrays.copyOf(m[0], 7), java.util.Arrays.copyOf(m[1], 7));
        assertEquals(List.of("%%", "%d", "%s", "{0", "{0}", "%1", "%1$"), java.util.stream.IntStream.range(0, 7)
                .mapToObj(i -> new String(chains.bytesOf(ByteBpeTokenizer.FIRST_MERGE_ID + i), StandardCharsets.UTF_8))
                .toList());

        // without atoms the same corpus fuses placeholders with their quotes and punctuation
        int[][] plain = BpeTrainer.train(MESSAGES, 400);
        ByteBpeTokenizer fused = new ByteBpeTokenizer(plain[0], plain[1]);
        assertTrue(!pieces(fused, "'%s'").contains("%s") || !pieces(fused, "»%s«").contains("%s"),
                pieces(fused, "'%s'") + " " + pieces(fused, "»%s«"));
    }

    @Test
    void noAtomsIsPlainBpeAndBadAtomsAreRefused() {
        int[][] plain = BpeTrainer.train(MESSAGES, 400);
        int[][] none = BpeTrainer.train(MESSAGES, 400, List.of());
        assertArrayEquals(plain[0], none[0]);
        assertArrayEquals(plain[1], none[1]);
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                () -> BpeTrainer.train(MESSAGES, 400, List.of("% s"))).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(ShiftformerException.class,
                () -> BpeTrainer.train(MESSAGES, 400, List.of(""))).code());
        ShiftformerException tooMany = assertThrows(ShiftformerException.class,
                () -> BpeTrainer.train(MESSAGES, 261, List.of("%1$d", "%2$d")));
        assertTrue(tooMany.getMessage().contains("need more than the 2 merges"), tooMany.getMessage());
    }
}
