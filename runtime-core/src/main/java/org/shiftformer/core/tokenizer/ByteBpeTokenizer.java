package org.shiftformer.core.tokenizer;

import java.util.Arrays;
import java.util.Objects;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ShiftformerException;

/**
 * The byte-level BPE tokenizer of SPEC.md section 7, as carried inside model artifacts.
 *
 * <h2>Vocabulary</h2>
 * Ids {@code 0, 1, 2} are {@link #PAD}, {@link #BOS}, {@link #EOS}; ids {@code 3 .. 258} are the 256
 * byte values ({@code id = 3 + unsigned byte}); id {@code 259 + r} is merge rule {@code r}, whose bytes
 * are the bytes of {@code mergeLeft[r]} followed by those of {@code mergeRight[r]}. A merge may only
 * refer to byte ids and to earlier merges ({@code 3 <= id < 259 + r}), never to a special id; a pair
 * may appear in only one rule; a token may be at most {@link #MAX_TOKEN_BYTES} bytes long; the
 * vocabulary may hold at most {@link #MAX_VOCAB_SIZE} ids.
 *
 * <h2>Encoding</h2>
 * The text is encoded as UTF-8; an unpaired surrogate has no UTF-8 encoding and is rejected with
 * {@link ErrorCode#INVALID_ARGUMENT} naming its char index. The bytes are split into <em>words</em>:
 * a word is a maximal run of whitespace bytes followed by a maximal run of non-whitespace bytes
 * (either may be empty, not both), where the whitespace bytes are {@code 0x09..0x0D} and {@code 0x20};
 * that is, a new word starts at every whitespace byte that follows a non-whitespace byte, so spaces
 * stay attached to the following word ({@code "a  b\n"} is {@code "a", "  b", "\n"}). This is the
 * split {@link BpeTrainer} trains on; merges never cross a word boundary. Each word starts as its
 * byte ids and then, in rounds, the adjacent pair with the lowest rank is found and all its
 * non-overlapping occurrences are merged left to right, until no adjacent pair is a rule.
 *
 * <p>That is the same as repeatedly merging the single occurrence that has the lowest rank and, among
 * occurrences of that rank, the leftmost one (which is how it is implemented, with a priority queue
 * keyed by {@code (rank, position)} over a linked list of symbols: {@code O(n log n)} per word). The
 * two agree because a merge of rank {@code r} creates the id {@code 259 + r}, and every rule that
 * refers to that id has a rank greater than {@code r}; so merging never creates a new pair of rank
 * {@code <= r}, and the remaining occurrences of rank {@code r} are exactly the non-overlapping ones a
 * left-to-right sweep would merge.
 *
 * <h2>Decoding</h2>
 * Decoding concatenates the bytes of each id (special ids contribute none) and decodes the result as
 * UTF-8. A model may emit byte sequences that are not well-formed UTF-8; each maximal ill-formed
 * subpart becomes one U+FFFD (the Unicode-recommended practice of section 3.9, also the WHATWG and
 * Python behaviour): a byte that cannot start a sequence is one U+FFFD, and so is a lead byte together
 * with the valid continuation bytes that follow it when the sequence is cut short (by an unfitting
 * byte or by the end of the text). For example {@code E2 82 41} decodes to {@code "\uFFFDA"} and
 * {@code ED A0 80} (an encoded surrogate) to three U+FFFD. This is implemented here rather than taken
 * from {@code new String(bytes, UTF_8)}, whose replacement behaviour is unspecified and differs for
 * encoded surrogates. {@code decode(encode(s)).equals(s)} for every string without unpaired
 * surrogates. {@link StreamingDecoder} produces the same text incrementally.
 *
 * <p>Instances are immutable and safe to share between threads.
 */
public final class ByteBpeTokenizer {
    /** The padding id. */
    public static final int PAD = 0;
    /** The begin-of-sequence id. */
    public static final int BOS = 1;
    /** The end-of-sequence id. */
    public static final int EOS = 2;
    /** The number of special ids ({@code pad, bos, eos}). */
    public static final int SPECIAL_COUNT = 3;
    /** The id of byte value 0; byte {@code b} has id {@code BYTE_BASE + (b & 0xFF)}. */
    public static final int BYTE_BASE = 3;
    /** The id of merge rule 0: {@code 3 + 256}. */
    public static final int FIRST_MERGE_ID = BYTE_BASE + 256;
    /** The largest vocabulary (SPEC.md section 8: {@code vocab_size <= 2^20}). */
    public static final int MAX_VOCAB_SIZE = 1 << 20;
    /** The longest token, in bytes; bounds what a (malicious) merge table can make one id expand to. */
    public static final int MAX_TOKEN_BYTES = 1024;

    private static final String[] SPECIAL_NAMES = {"<pad>", "<bos>", "<eos>"};

    private final int[] left;
    private final int[] right;
    /** Byte length of every id (0 for specials). */
    private final int[] length;
    private final int maxTokenBytes;
    /** {@code pairKey(left, right) -> rank}. */
    private final LongIntMap ranks;

    /**
     * A tokenizer with the given merge rules: rule {@code r} merges {@code (mergeLeft[r],
     * mergeRight[r])} into id {@code 259 + r}. The arrays are copied.
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARTIFACT} if the arrays differ in length, a
     *     rule refers to a special id or to an id not defined before it, a pair is repeated, a token
     *     would be longer than {@link #MAX_TOKEN_BYTES} or the vocabulary larger than
     *     {@link #MAX_VOCAB_SIZE}; the message names the rule. {@link ErrorCode#INVALID_ARGUMENT} if an
     *     array is null.
     */
    public ByteBpeTokenizer(int[] mergeLeft, int[] mergeRight) {
        if (mergeLeft == null || mergeRight == null) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "tokenizer merges: " + (mergeLeft == null ? "mergeLeft" : "mergeRight") + " is null");
        }
        if (mergeLeft.length != mergeRight.length) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "tokenizer merges: mergeLeft has "
                    + mergeLeft.length + " entries but mergeRight has " + mergeRight.length);
        }
        int n = mergeLeft.length;
        if (n > MAX_VOCAB_SIZE - FIRST_MERGE_ID) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "tokenizer merges: " + n
                    + " merges make a vocabulary of " + ((long) FIRST_MERGE_ID + n) + " ids, more than "
                    + MAX_VOCAB_SIZE);
        }
        this.left = mergeLeft.clone();
        this.right = mergeRight.clone();
        this.length = new int[FIRST_MERGE_ID + n];
        Arrays.fill(length, BYTE_BASE, FIRST_MERGE_ID, 1);
        this.ranks = new LongIntMap(n);
        int longest = 1;
        for (int r = 0; r < n; r++) {
            int a = left[r];
            int b = right[r];
            checkRef(r, "left", a);
            checkRef(r, "right", b);
            int len = length[a] + length[b];
            if (len > MAX_TOKEN_BYTES) {
                throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "tokenizer merge " + r + " ("
                        + a + ", " + b + "): its token would be " + len + " bytes long, more than "
                        + MAX_TOKEN_BYTES);
            }
            int prior = ranks.putIfAbsent(LongIntMap.pairKey(a, b), r);
            if (prior != r) {
                throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "tokenizer merge " + r + " ("
                        + a + ", " + b + ") repeats merge " + prior);
            }
            length[FIRST_MERGE_ID + r] = len;
            longest = Math.max(longest, len);
        }
        this.maxTokenBytes = longest;
    }

    private static void checkRef(int r, String side, int id) {
        if (id >= 0 && id < SPECIAL_COUNT) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "tokenizer merge " + r + ": "
                    + side + " id " + id + " is the special id " + SPECIAL_NAMES[id]
                    + "; merges may only refer to byte ids and earlier merges");
        }
        if (id < 0 || id >= FIRST_MERGE_ID + r) {
            throw new ShiftformerException(ErrorCode.INVALID_ARTIFACT, "tokenizer merge " + r + ": "
                    + side + " id " + id + " is not defined before it (merge " + r
                    + " may only refer to ids in [3, " + (FIRST_MERGE_ID + r) + "))");
        }
    }

    /** The number of ids: {@code 259 + mergeCount()}. */
    public int vocabSize() {
        return length.length;
    }

    /** The number of merge rules. */
    public int mergeCount() {
        return left.length;
    }

    /** A copy of the left ids of the merge rules (for writing an artifact). */
    public int[] mergeLeft() {
        return left.clone();
    }

    /** A copy of the right ids of the merge rules (for writing an artifact). */
    public int[] mergeRight() {
        return right.clone();
    }

    /** The byte length of the longest token (at least 1). */
    public int maxTokenBytes() {
        return maxTokenBytes;
    }

    /** Whether {@code id} is one of {@link #PAD}, {@link #BOS}, {@link #EOS}. */
    public static boolean isSpecial(int id) {
        return id >= 0 && id < SPECIAL_COUNT;
    }

    /** A new streaming decoder over this tokenizer. */
    public StreamingDecoder newStreamingDecoder() {
        return new StreamingDecoder(this);
    }

    // ------------------------------------------------------------------------------------ encoding

    /**
     * The ids of {@code text} (no {@link #BOS} or {@link #EOS} is added).
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} if the text holds an unpaired
     *     surrogate (the message names its char index)
     */
    public int[] encode(String text) {
        Objects.requireNonNull(text, "text");
        byte[] bytes = Utf8.encode(text);
        int n = bytes.length;
        int[] out = new int[n];
        if (n == 0) {
            return out;
        }
        int count = 0;
        if (left.length == 0) {
            for (int i = 0; i < n; i++) {
                out[i] = BYTE_BASE + (bytes[i] & 0xFF);
            }
            return out;
        }
        Workspace ws = new Workspace(n);
        for (int start = 0; start < n; ) {
            int end = Utf8.wordEnd(bytes, start, n);
            count = encodeWord(bytes, start, end, ws, out, count);
            start = end;
        }
        return count == n ? out : Arrays.copyOf(out, count);
    }

    /** Per-call scratch: symbol id, previous and next position of every byte position, and the heap. */
    private static final class Workspace {
        final int[] sym;
        final int[] prev;
        final int[] next;
        final LongMinHeap heap = new LongMinHeap(64);

        Workspace(int n) {
            sym = new int[n];
            prev = new int[n];
            next = new int[n];
        }
    }

    private int rank(int a, int b) {
        return ranks.get(LongIntMap.pairKey(a, b), -1);
    }

    /** Encodes the word {@code bytes[start, end)} into {@code out} from {@code count}; returns the new count. */
    private int encodeWord(byte[] bytes, int start, int end, Workspace ws, int[] out, int count) {
        if (end - start == 1) {
            out[count++] = BYTE_BASE + (bytes[start] & 0xFF);
            return count;
        }
        int[] sym = ws.sym;
        int[] prev = ws.prev;
        int[] next = ws.next;
        LongMinHeap heap = ws.heap;
        heap.clear();
        for (int i = start; i < end; i++) {
            sym[i] = BYTE_BASE + (bytes[i] & 0xFF);
            prev[i] = i - 1;
            next[i] = i + 1;
        }
        prev[start] = -1;
        next[end - 1] = -1;
        for (int i = start; i + 1 < end; i++) {
            int r = rank(sym[i], sym[i + 1]);
            if (r >= 0) {
                heap.push(((long) r << 32) | i);
            }
        }
        while (!heap.isEmpty()) {
            long key = heap.pop();
            int r = (int) (key >>> 32);
            int p = (int) key;
            int a = sym[p];
            if (a < 0) {
                continue; // p was merged into its left neighbour
            }
            int q = next[p];
            if (q < 0 || rank(a, sym[q]) != r) {
                continue; // stale: the pair at p changed since this entry was pushed
            }
            int merged = FIRST_MERGE_ID + r;
            sym[p] = merged;
            sym[q] = -1;
            int nq = next[q];
            next[p] = nq;
            if (nq >= 0) {
                prev[nq] = p;
                int r2 = rank(merged, sym[nq]);
                if (r2 >= 0) {
                    heap.push(((long) r2 << 32) | p);
                }
            }
            int pp = prev[p];
            if (pp >= 0) {
                int r1 = rank(sym[pp], merged);
                if (r1 >= 0) {
                    heap.push(((long) r1 << 32) | pp);
                }
            }
        }
        for (int i = start; i >= 0; i = next[i]) {
            out[count++] = sym[i];
        }
        return count;
    }

    // ------------------------------------------------------------------------------------ decoding

    /**
     * The text of {@code ids}: the UTF-8 decoding of their concatenated bytes (special ids contribute
     * none; each maximal ill-formed subpart becomes one U+FFFD, see the class comment).
     *
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} if an id is outside
     *     {@code [0, vocabSize())} (the message names its index)
     */
    public String decode(int[] ids) {
        Objects.requireNonNull(ids, "ids");
        return decode(ids, 0, ids.length);
    }

    /** The text of {@code ids[offset, offset + count)}; see {@link #decode(int[])}. */
    public String decode(int[] ids, int offset, int count) {
        Objects.requireNonNull(ids, "ids");
        Objects.checkFromIndexSize(offset, count, ids.length);
        long total = 0;
        for (int i = offset; i < offset + count; i++) {
            total += length[checkId(ids[i], i)];
        }
        if (total > Integer.MAX_VALUE - 16) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT,
                    "ids decode to " + total + " bytes, too many for one string");
        }
        byte[] buf = new byte[(int) total];
        int p = 0;
        for (int i = offset; i < offset + count; i++) {
            p = writeBytes(ids[i], buf, p);
        }
        return Utf8.decode(buf, 0, buf.length);
    }

    /** A copy of the bytes of {@code id} (empty for a special id). */
    public byte[] bytesOf(int id) {
        byte[] b = new byte[length[checkId(id, -1)]];
        writeBytes(id, b, 0);
        return b;
    }

    /** The byte length of {@code id} (0 for a special id). */
    public int byteLength(int id) {
        return length[checkId(id, -1)];
    }

    /**
     * A readable form of {@code id} for logs and debugging: {@code <pad>}, {@code <bos>}, {@code <eos>}
     * for the special ids; otherwise the token's text, where printable ASCII stands for itself (a
     * backslash is doubled), a complete UTF-8 sequence of a printable non-ASCII character stands for that
     * character, and every other byte (controls including tab and newline, partial or malformed
     * sequences, invisible characters) is written {@code \xNN} with two upper-case hex digits.
     */
    public String pieceForDisplay(int id) {
        if (isSpecial(id)) {
            return SPECIAL_NAMES[id];
        }
        byte[] b = bytesOf(id);
        StringBuilder sb = new StringBuilder(b.length + 8);
        int i = 0;
        while (i < b.length) {
            int c = b[i] & 0xFF;
            if (c >= 0x20 && c < 0x7F) {
                if (c == '\\') {
                    sb.append('\\');
                }
                sb.append((char) c);
                i++;
                continue;
            }
            int need = Utf8.sequenceLength(c);
            int cp = -1;
            if (need > 0 && i + need <= b.length) {
                boolean ok = true;
                for (int k = 1; k < need && ok; k++) {
                    ok = Utf8.validContinuation(c, k, b[i + k] & 0xFF);
                }
                if (ok) {
                    cp = Utf8.decode(b, i, need).codePointAt(0);
                }
            }
            if (cp >= 0 && isPrintable(cp)) {
                sb.appendCodePoint(cp);
                i += need;
            } else {
                sb.append(String.format("\\x%02X", c));
                i++;
            }
        }
        return sb.toString();
    }

    private static boolean isPrintable(int cp) {
        switch (Character.getType(cp)) {
            case Character.CONTROL:
            case Character.FORMAT:
            case Character.SURROGATE:
            case Character.PRIVATE_USE:
            case Character.UNASSIGNED:
            case Character.LINE_SEPARATOR:
            case Character.PARAGRAPH_SEPARATOR:
            case Character.SPACE_SEPARATOR:
                return false;
            default:
                return true;
        }
    }

    /** Validates {@code id}; {@code index >= 0} is named in the message. Returns {@code id}. */
    int checkId(int id, int index) {
        if (id < 0 || id >= length.length) {
            throw new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "token id " + id
                    + (index >= 0 ? " at index " + index : "") + " is outside the vocabulary [0, "
                    + length.length + ")");
        }
        return id;
    }

    /**
     * Writes the bytes of the valid id {@code id} to {@code dst[off ..]}; returns the offset after them.
     * Expands the merge tree: recursion on the left child, iteration on the right, so the depth is at
     * most {@link #MAX_TOKEN_BYTES}.
     */
    int writeBytes(int id, byte[] dst, int off) {
        while (id >= FIRST_MERGE_ID) {
            int r = id - FIRST_MERGE_ID;
            off = writeBytes(left[r], dst, off);
            id = right[r];
        }
        if (id >= BYTE_BASE) {
            dst[off++] = (byte) (id - BYTE_BASE);
        }
        return off;
    }
}
