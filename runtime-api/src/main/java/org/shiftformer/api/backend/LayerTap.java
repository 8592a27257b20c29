package org.shiftformer.api.backend;

/**
 * Receives intermediate layer outputs, for the conformance kit and for locating the first diverging
 * layer between two backends. Points are named {@code enc.embed}, {@code enc.{i}.attn},
 * {@code enc.{i}.ffn}, {@code enc.final}, {@code dec.embed}, {@code dec.{i}.self}, {@code dec.{i}.cross},
 * {@code dec.{i}.ffn}, {@code dec.final}, {@code logits}; values are widened to int. Encoder points carry
 * all rows of the sequence, decoder points the new row only. Passing {@code null} where a tap is
 * accepted disables tapping (the fast path).
 */
@FunctionalInterface
public interface LayerTap {
    /**
     * @param sequence index of the sequence in the batch
     * @param point    the layer output's name
     * @param values   its values, row-major (only {@code [0, length)} is meaningful)
     * @param length   number of values
     */
    void accept(int sequence, String point, int[] values, int length);
}
