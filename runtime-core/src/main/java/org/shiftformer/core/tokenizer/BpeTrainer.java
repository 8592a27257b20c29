package org.shiftformer.core.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.Objects;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * Trains the merge rules of a {@link ByteBpeTokenizer} with standard BPE over pre-tokenized words.
 *
 * <p>Every corpus text is UTF-8 encoded (an unpaired surrogate is rejected, naming the text and char
 * index) and split into words by the rule of {@link ByteBpeTokenizer} (whitespace runs attach to the
 * following word), and the words are counted. Each word starts as its byte ids. Then, repeatedly, the
 * adjacent pair with the highest count is chosen, where a pair's count is the sum over distinct words
 * of (word frequency x number of adjacent positions holding the pair); ties are broken by the smaller
 * {@code (left, right)} (left first). The pair becomes the next merge rule and is applied to every word
 * containing it, left to right without overlap, exactly as the encoder applies it. Training stops after
 * {@code vocabSize - 259} merges, or earlier when no pair has a count of at least 2 (a pair seen only
 * once compresses nothing worth a vocabulary entry); a pair whose token would exceed
 * {@link ByteBpeTokenizer#MAX_TOKEN_BYTES} is never chosen. The result depends only on the multiset of
 * words, so it is deterministic for the same input (and independent of the order of the texts).
 *
 * <p>Pair counts are updated incrementally: each merge touches only the words that contain the pair
 * (found through a per-pair list of words), and the best pair is kept in a lazily updated heap.
 */
public final class BpeTrainer {
    private BpeTrainer() {
    }

    /**
     * Trains merges for a vocabulary of at most {@code vocabSize} ids.
     *
     * @return {@code {mergeLeft, mergeRight}}, of equal length {@code <= vocabSize - 259}
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} if {@code vocabSize} is outside
     *     {@code [259, 2^20]}, a text is null or holds an unpaired surrogate
     */
    public static int[][] train(Iterable<String> corpus, int vocabSize) {
        Objects.requireNonNull(corpus, "corpus");
        if (vocabSize < ByteBpeTokenizer.FIRST_MERGE_ID || vocabSize > ByteBpeTokenizer.MAX_VOCAB_SIZE) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "vocabSize " + vocabSize
                    + " is outside [" + ByteBpeTokenizer.FIRST_MERGE_ID + ", " + ByteBpeTokenizer.MAX_VOCAB_SIZE
                    + "]");
        }
        return train(corpus, vocabSize, List.of());
    }

    /**
     * Trains merges as {@link #train(Iterable, int)} with {@code atomic} strings (e.g. the placeholders
     * {@code %s}, {@code %1$d}, {@code {0}} of software messages) made single tokens that no other merge
     * touches: their merges come first, as left-to-right byte chains (shorter strings first, then by bytes;
     * a chain reuses the tokens of a shared prefix), and training counts every occurrence in a word as a word
     * of its own (leftmost, longest first), so no merge is learned across it. The encoder, which applies
     * merges by rank over whole words, then keeps every occurrence as one token however it is quoted or
     * punctuated ({@code '%s'}, {@code »%s«}, {@code %s:}), so a translation model copies one id instead of
     * learning a mapping between fused tokens. With no atomic strings the result is {@link #train(Iterable,
     * int)}'s.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} also if an atomic string is empty, holds
     *     whitespace or is longer than {@link ByteBpeTokenizer#MAX_TOKEN_BYTES}, or if their chains need more
     *     merges than the vocabulary has room for
     */
    public static int[][] train(Iterable<String> corpus, int vocabSize, Collection<String> atomic) {
        Objects.requireNonNull(corpus, "corpus");
        if (vocabSize < ByteBpeTokenizer.FIRST_MERGE_ID || vocabSize > ByteBpeTokenizer.MAX_VOCAB_SIZE) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "vocabSize " + vocabSize
                    + " is outside [" + ByteBpeTokenizer.FIRST_MERGE_ID + ", " + ByteBpeTokenizer.MAX_VOCAB_SIZE
                    + "]");
        }
        byte[][] atoms = atoms(atomic);
        return new Run(countWords(corpus, atoms)).train(vocabSize - ByteBpeTokenizer.FIRST_MERGE_ID, atoms);
    }

    /** The atomic strings as UTF-8, distinct, shorter first then by unsigned bytes; checked. */
    private static byte[][] atoms(Collection<String> atomic) {
        TreeMap<String, byte[]> byKey = new TreeMap<>();
        for (String a : atomic) {
            if (a == null || a.isEmpty()) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "an atomic string is empty");
            }
            byte[] b = Utf8.encode(a);
            for (byte x : b) {
                if (Utf8.isSpace(x)) {
                    throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "atomic string \"" + a
                            + "\" holds whitespace, which always starts a new word");
                }
            }
            if (b.length > ByteBpeTokenizer.MAX_TOKEN_BYTES) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "atomic string of " + b.length
                        + " bytes: at most " + ByteBpeTokenizer.MAX_TOKEN_BYTES);
            }
            String latin1 = new String(b, StandardCharsets.ISO_8859_1);
            byKey.put(String.format("%04d", b.length) + latin1, b); // Latin-1 chars order as unsigned bytes
        }
        return byKey.values().toArray(new byte[0][]);
    }

    /** Word (its bytes as a Latin-1 string: one char per byte) to frequency; atomic occurrences are words. */
    private static Map<String, long[]> countWords(Iterable<String> corpus, byte[][] atoms) {
        Map<String, long[]> counts = new HashMap<>();
        int index = 0;
        for (String text : corpus) {
            if (text == null) {
                throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "corpus text " + index + " is null");
            }
            byte[] b;
            try {
                b = Utf8.encode(text);
            } catch (ShiftformerException e) {
                throw new ShiftformerException(e.code(), "corpus text " + index + ": " + e.getMessage(), e);
            }
            for (int start = 0; start < b.length; ) {
                int end = Utf8.wordEnd(b, start, b.length);
                // cut the word around each atomic occurrence (leftmost, longest)
                int from = start;
                for (int i = start; i < end && atoms.length > 0; ) {
                    int n = longestAtom(atoms, b, i, end);
                    if (n == 0) {
                        i++;
                        continue;
                    }
                    count(counts, b, from, i);
                    count(counts, b, i, i + n);
                    i += n;
                    from = i;
                }
                count(counts, b, from, end);
                start = end;
            }
            index++;
        }
        return counts;
    }

    private static void count(Map<String, long[]> counts, byte[] b, int from, int to) {
        if (to > from) {
            counts.computeIfAbsent(new String(b, from, to - from, StandardCharsets.ISO_8859_1), w -> new long[1])[0]++;
        }
    }

    /** The length of the longest atomic string at {@code b[i, end)}, or 0. */
    private static int longestAtom(byte[][] atoms, byte[] b, int i, int end) {
        int best = 0;
        for (byte[] a : atoms) {
            if (a.length > best && a.length <= end - i && Arrays.equals(a, 0, a.length, b, i, i + a.length)) {
                best = a.length;
            }
        }
        return best;
    }

    /** The state of one training run. */
    private static final class Run {
        // words: symbols (compacted in place), length, frequency
        final int[][] sym;
        final int[] len;
        final long[] freq;
        /** Merge stamp per word, so a word is processed once per merge. */
        final int[] wordStamp;

        // pairs, by index
        final LongIntMap pairIndex = new LongIntMap(1 << 12);
        long[] pairKey = new long[1 << 12];
        long[] pairCount = new long[1 << 12];
        int[][] postings = new int[1 << 12][];
        int[] postingsSize = new int[1 << 12];
        int[] pairStamp = new int[1 << 12];
        boolean[] banned = new boolean[1 << 12];
        int pairs;

        final PairHeap heap = new PairHeap();
        // the merge rules so far
        int[] mergeLeft;
        int[] mergeRight;
        int merges;
        int[] tokenLength = new int[1024];
        int[] touched = new int[256];
        int touchedCount;

        Run(Map<String, long[]> counts) {
            String[] words = counts.keySet().toArray(new String[0]);
            Arrays.sort(words); // a fixed processing order; the result does not depend on it
            int n = words.length;
            sym = new int[n][];
            len = new int[n];
            freq = new long[n];
            wordStamp = new int[n];
            for (int w = 0; w < n; w++) {
                byte[] b = words[w].getBytes(StandardCharsets.ISO_8859_1);
                int[] s = new int[b.length];
                for (int i = 0; i < b.length; i++) {
                    s[i] = ByteBpeTokenizer.BYTE_BASE + (b[i] & 0xFF);
                }
                sym[w] = s;
                len[w] = s.length;
                freq[w] = counts.get(words[w])[0];
            }
            Arrays.fill(tokenLength, ByteBpeTokenizer.BYTE_BASE, ByteBpeTokenizer.FIRST_MERGE_ID, 1);
        }

        int[][] train(int maxMerges, byte[][] atoms) {
            for (int w = 0; w < sym.length; w++) {
                int[] s = sym[w];
                for (int i = 0; i + 1 < len[w]; i++) {
                    int p = pair(s[i], s[i + 1]);
                    pairCount[p] += freq[w];
                    addPosting(p, w);
                }
            }
            for (int p = 0; p < pairs; p++) {
                heap.push(pairCount[p], pairKey[p], p);
            }
            mergeLeft = new int[Math.min(maxMerges, 1 << 16)];
            mergeRight = new int[mergeLeft.length];
            // the atomic strings' chains first, applied to every word as the encoder applies them
            Map<Long, Integer> chained = new HashMap<>();
            for (byte[] atom : atoms) {
                int cur = ByteBpeTokenizer.BYTE_BASE + (atom[0] & 0xFF);
                for (int i = 1; i < atom.length; i++) {
                    int next = ByteBpeTokenizer.BYTE_BASE + (atom[i] & 0xFF);
                    long key = LongIntMap.pairKey(cur, next);
                    Integer known = chained.get(key);
                    if (known != null) {
                        cur = known;
                        continue;
                    }
                    if (merges == maxMerges) {
                        throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "the atomic strings need more "
                                + "than the " + maxMerges + " merges of the vocabulary");
                    }
                    int newId = addMerge(cur, next);
                    int p = pair(cur, next);
                    if (postings[p] != null) {
                        apply(p, cur, next, newId, merges);
                    }
                    banned[p] = true; // never learned again
                    chained.put(key, newId);
                    cur = newId;
                }
            }
            while (merges < maxMerges) {
                int best = popBest();
                if (best < 0) {
                    break;
                }
                int a = LongIntMap.pairLeft(pairKey[best]);
                int b = LongIntMap.pairRight(pairKey[best]);
                int newId = addMerge(a, b);
                apply(best, a, b, newId, merges);
            }
            return new int[][] {Arrays.copyOf(mergeLeft, merges), Arrays.copyOf(mergeRight, merges)};
        }

        /** Appends merge rule {@code (a, b)}; returns its id. */
        private int addMerge(int a, int b) {
            int newId = ByteBpeTokenizer.FIRST_MERGE_ID + merges;
            if (merges == mergeLeft.length) {
                mergeLeft = Arrays.copyOf(mergeLeft, Math.max(16, merges * 2));
                mergeRight = Arrays.copyOf(mergeRight, mergeLeft.length);
            }
            mergeLeft[merges] = a;
            mergeRight[merges] = b;
            if (newId >= tokenLength.length) {
                tokenLength = Arrays.copyOf(tokenLength, tokenLength.length * 2);
            }
            tokenLength[newId] = tokenLength[a] + tokenLength[b];
            merges++;
            return newId;
        }

        /** The pair to merge next, or -1 if no eligible pair has a count of at least 2. */
        private int popBest() {
            while (!heap.isEmpty()) {
                long count = heap.topCount();
                int p = heap.pop();
                if (count != pairCount[p] || banned[p]) {
                    continue; // stale entry
                }
                if (count < 2) {
                    return -1;
                }
                long key = pairKey[p];
                if (tokenLength[LongIntMap.pairLeft(key)] + tokenLength[LongIntMap.pairRight(key)]
                        > ByteBpeTokenizer.MAX_TOKEN_BYTES) {
                    banned[p] = true;
                    continue;
                }
                return p;
            }
            return -1;
        }

        /** Applies merge {@code (a, b) -> newId} (pair index {@code best}) to every word holding it. */
        private void apply(int best, int a, int b, int newId, int stamp) {
            int[] list = postings[best];
            int listSize = postingsSize[best];
            postings[best] = null; // the pair cannot occur again: no merge re-creates an adjacency of old ids
            postingsSize[best] = 0;
            touchedCount = 0;
            for (int k = 0; k < listSize; k++) {
                int w = list[k];
                if (wordStamp[w] == stamp) {
                    continue;
                }
                wordStamp[w] = stamp;
                len[w] = mergeWord(sym[w], len[w], a, b, newId, freq[w], w, stamp);
            }
            for (int k = 0; k < touchedCount; k++) {
                int p = touched[k];
                if (pairCount[p] > 0 && !banned[p]) {
                    heap.push(pairCount[p], pairKey[p], p);
                }
            }
        }

        /**
         * Merges {@code (a, b) -> x} in word {@code w} (symbols {@code s[0, n)}, frequency {@code f}) left
         * to right without overlap, in place, and updates the pair counts locally: per occurrence at
         * {@code i}, the pairs {@code (a, b)}, {@code (s[i-1], a)} and {@code (b, s[i+2])} vanish and
         * {@code (left, x)}, {@code (x, right)} appear, where the junction between two adjacent
         * occurrences ({@code b a} becoming {@code x x}) is counted once, by the right one. Returns the
         * new length.
         */
        private int mergeWord(int[] s, int n, int a, int b, int x, long f, int w, int stamp) {
            int m = 0;
            int lastOccEnd = -1; // old index just past the previous occurrence
            for (int i = 0; i < n; ) {
                if (i + 1 < n && s[i] == a && s[i + 1] == b) {
                    add(a, b, -f, w, stamp);
                    if (i > 0) {
                        if (lastOccEnd == i) {
                            add(b, a, -f, w, stamp);
                            add(x, x, f, w, stamp);
                        } else {
                            add(s[i - 1], a, -f, w, stamp);
                            add(s[i - 1], x, f, w, stamp);
                        }
                    }
                    boolean nextIsOcc = i + 3 < n && s[i + 2] == a && s[i + 3] == b;
                    if (i + 2 < n && !nextIsOcc) {
                        add(b, s[i + 2], -f, w, stamp);
                        add(x, s[i + 2], f, w, stamp);
                    }
                    s[m++] = x;
                    i += 2;
                    lastOccEnd = i;
                } else {
                    s[m++] = s[i++];
                }
            }
            return m;
        }

        /** Adds {@code delta} to the count of {@code (l, r)}; an appearing pair gets word {@code w} posted. */
        private void add(int l, int r, long delta, int w, int stamp) {
            int p;
            if (delta < 0) {
                p = pairIndex.get(LongIntMap.pairKey(l, r), -1);
            } else {
                p = pair(l, r);
                addPosting(p, w);
            }
            pairCount[p] += delta;
            touch(p, stamp);
        }

        private void touch(int p, int stamp) {
            if (pairStamp[p] != stamp) {
                pairStamp[p] = stamp;
                if (touchedCount == touched.length) {
                    touched = Arrays.copyOf(touched, touchedCount * 2);
                }
                touched[touchedCount++] = p;
            }
        }

        /** The index of pair {@code (a, b)}, creating it with count 0 if new. */
        private int pair(int a, int b) {
            long key = LongIntMap.pairKey(a, b);
            int p = pairIndex.putIfAbsent(key, pairs);
            if (p == pairs) {
                if (pairs == pairKey.length) {
                    int cap = pairs * 2;
                    pairKey = Arrays.copyOf(pairKey, cap);
                    pairCount = Arrays.copyOf(pairCount, cap);
                    postings = Arrays.copyOf(postings, cap);
                    postingsSize = Arrays.copyOf(postingsSize, cap);
                    pairStamp = Arrays.copyOf(pairStamp, cap);
                    banned = Arrays.copyOf(banned, cap);
                }
                pairKey[p] = key;
                pairs++;
            }
            return p;
        }

        private void addPosting(int p, int w) {
            int n = postingsSize[p];
            int[] list = postings[p];
            if (list == null) {
                list = postings[p] = new int[4];
            } else if (list[n - 1] == w) {
                return; // the same word again (its pairs are added in one go)
            } else if (n == list.length) {
                list = postings[p] = Arrays.copyOf(list, n * 2);
            }
            list[n] = w;
            postingsSize[p] = n + 1;
        }
    }

    /**
     * A max-heap of (count, pair key, pair index) ordered by count descending, then pair key ascending
     * (that is {@code (left, right)} ascending). Entries may be stale; the caller checks.
     */
    private static final class PairHeap {
        private long[] counts = new long[1 << 12];
        private long[] keys = new long[1 << 12];
        private int[] index = new int[1 << 12];
        private int size;

        boolean isEmpty() {
            return size == 0;
        }

        long topCount() {
            return counts[0];
        }

        private static boolean before(long c1, long k1, long c2, long k2) {
            return c1 > c2 || (c1 == c2 && k1 < k2);
        }

        void push(long count, long key, int p) {
            if (size == counts.length) {
                counts = Arrays.copyOf(counts, size * 2);
                keys = Arrays.copyOf(keys, size * 2);
                index = Arrays.copyOf(index, size * 2);
            }
            int i = size++;
            while (i > 0) {
                int parent = (i - 1) >>> 1;
                if (!before(count, key, counts[parent], keys[parent])) {
                    break;
                }
                counts[i] = counts[parent];
                keys[i] = keys[parent];
                index[i] = index[parent];
                i = parent;
            }
            counts[i] = count;
            keys[i] = key;
            index[i] = p;
        }

        /** Removes the top entry and returns its pair index. */
        int pop() {
            int top = index[0];
            int last = --size;
            long c = counts[last];
            long k = keys[last];
            int x = index[last];
            int i = 0;
            int half = size >>> 1;
            while (i < half) {
                int child = 2 * i + 1;
                int r = child + 1;
                if (r < size && before(counts[r], keys[r], counts[child], keys[child])) {
                    child = r;
                }
                if (!before(counts[child], keys[child], c, k)) {
                    break;
                }
                counts[i] = counts[child];
                keys[i] = keys[child];
                index[i] = index[child];
                i = child;
            }
            counts[i] = c;
            keys[i] = k;
            index[i] = x;
            return top;
        }
    }
}
