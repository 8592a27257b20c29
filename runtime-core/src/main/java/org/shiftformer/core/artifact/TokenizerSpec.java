package org.shiftformer.core.artifact;

import java.util.Arrays;
import org.shiftformer.api.ErrorCode;
import org.shiftformer.api.ModelConfig;
import org.shiftformer.api.ShiftformerException;

/**
 * The byte-level BPE tokenizer of an artifact (SPEC.md section 7): only the merge rules are stored; the
 * vocabulary is derived. Ids {@value #PAD}, {@value #BOS}, {@value #EOS} are pad, bos, eos; ids
 * {@value #FIRST_BYTE}..258 are the byte values 0..255 ({@code 3 + byte}); id {@code 259 + r} is merge
 * {@code r}, the concatenation of ids {@code mergeLeft[r]} and {@code mergeRight[r]}.
 *
 * <p>Valid merges refer only to byte ids and earlier merges ({@code 3 <= id < 259 + r}), never to a
 * special id. (A pair that repeats an earlier one is allowed: it can never apply, and its id decodes to
 * the same bytes.) The arrays are copied in and out; use {@link #left(int)} and {@link #right(int)} to
 * read without copying.
 *
 * @param mergeLeft  left id of each merge rule, by rank
 * @param mergeRight right id of each merge rule, by rank
 */
public record TokenizerSpec(int[] mergeLeft, int[] mergeRight) {
    /** The kind string of this tokenizer in the artifact. */
    public static final String KIND = "byte-bpe";
    public static final int PAD = 0;
    public static final int BOS = 1;
    public static final int EOS = 2;
    public static final int FIRST_BYTE = 3;
    public static final int FIRST_MERGE = 259;
    /** Most merges: the vocabulary may not exceed {@link ModelConfig#MAX_VOCAB}. */
    /** Longest token in bytes (SPEC.md section 7). */
    public static final int MAX_TOKEN_BYTES = 1024;
    public static final int MAX_MERGES = ModelConfig.MAX_VOCAB - FIRST_MERGE;

    /**
     * @throws ShiftformerException {@link ErrorCode#INVALID_ARGUMENT} naming the first invalid merge
     */
    public TokenizerSpec {
        if (mergeLeft.length != mergeRight.length) {
            throw invalid(mergeLeft.length + " left ids but " + mergeRight.length + " right ids");
        }
        if (mergeLeft.length > MAX_MERGES) {
            throw invalid(mergeLeft.length + " merges, at most " + MAX_MERGES + " (vocabulary limit "
                    + ModelConfig.MAX_VOCAB + ")");
        }
        mergeLeft = mergeLeft.clone();
        mergeRight = mergeRight.clone();
        java.util.HashMap<Long, Integer> seen = new java.util.HashMap<>();
        int[] tokenBytes = new int[FIRST_MERGE + mergeLeft.length];
        java.util.Arrays.fill(tokenBytes, FIRST_BYTE, FIRST_MERGE, 1);
        for (int r = 0; r < mergeLeft.length; r++) {
            int left = mergeLeft[r];
            int right = mergeRight[r];
            int limit = FIRST_MERGE + r;
            if (left < FIRST_BYTE || left >= limit || right < FIRST_BYTE || right >= limit) {
                throw invalid("merge " + r + " (" + left + ", " + right + ") must refer to byte ids or earlier merges, ids in ["
                        + FIRST_BYTE + ", " + limit + ")");
            }
            Integer earlier = seen.putIfAbsent(((long) left << 32) | right, r);
            if (earlier != null) {
                throw invalid("merge " + r + " (" + left + ", " + right + ") repeats merge " + earlier
                        + " (rules must be distinct, SPEC.md section 7)");
            }
            tokenBytes[limit] = tokenBytes[left] + tokenBytes[right];
            if (tokenBytes[limit] > MAX_TOKEN_BYTES) {
                throw invalid("merge " + r + " expands to " + tokenBytes[limit] + " bytes, more than " + MAX_TOKEN_BYTES);
            }
        }
    }

    /** A tokenizer with no merges: the 256 bytes and the three special ids. */
    public static TokenizerSpec bytesOnly() {
        return new TokenizerSpec(new int[0], new int[0]);
    }

    public int mergeCount() {
        return mergeLeft.length;
    }

    /** {@code 259 + mergeCount()}. */
    public int vocabSize() {
        return FIRST_MERGE + mergeLeft.length;
    }

    /** Left id of merge {@code r}. */
    public int left(int r) {
        return mergeLeft[r];
    }

    /** Right id of merge {@code r}. */
    public int right(int r) {
        return mergeRight[r];
    }

    @Override
    public int[] mergeLeft() {
        return mergeLeft.clone();
    }

    @Override
    public int[] mergeRight() {
        return mergeRight.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof TokenizerSpec t && Arrays.equals(mergeLeft, t.mergeLeft)
                && Arrays.equals(mergeRight, t.mergeRight);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(mergeLeft) + Arrays.hashCode(mergeRight);
    }

    @Override
    public String toString() {
        return "TokenizerSpec[" + KIND + ", " + mergeLeft.length + " merges, vocab " + vocabSize() + "]";
    }

    private static ShiftformerException invalid(String message) {
        return new ShiftformerException(ErrorCode.INVALID_ARGUMENT, "tokenizer: " + message);
    }
}
