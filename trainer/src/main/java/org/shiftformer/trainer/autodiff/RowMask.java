package org.shiftformer.trainer.autodiff;

/**
 * A boolean validity mask for a softmax over the last dimension. {@code row} is the flattened index over
 * all leading dimensions of the softmax input (for attention scores {@code [B, H, Tq, Tk]}:
 * {@code row = (b * H + h) * Tq + i}), {@code col} the key position. Masked positions get probability
 * exactly 0; a row without a valid position yields zeros (SPEC.md section 3.4).
 */
@FunctionalInterface
public interface RowMask {
    boolean valid(int row, int col);

    /** Causal mask for query rows {@code i = row % tq}: key {@code j} valid iff {@code j <= i}. */
    static RowMask causal(int tq) {
        return (row, col) -> col <= row % tq;
    }

    /**
     * Key padding for scores {@code [B, H, Tq, Tk]}: key {@code j} of batch element {@code b} is valid iff
     * {@code j < keyLengths[b]}.
     */
    static RowMask keyPadding(int[] keyLengths, int heads, int tq) {
        int[] lens = keyLengths.clone();
        return (row, col) -> col < lens[row / (heads * tq)];
    }

    default RowMask and(RowMask other) {
        return (row, col) -> valid(row, col) && other.valid(row, col);
    }
}
