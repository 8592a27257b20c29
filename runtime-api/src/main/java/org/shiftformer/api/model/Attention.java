package org.shiftformer.api.model;

/**
 * One ATTENTION_BRANCH (SPEC.md 3.3): the Q, K, V projections (requantized to int8), the context
 * exponent (the int8 output of attention·V) and the output projection, whose {@code outExp} is the
 * exponent of the residual stream after the add.
 */
public record Attention(Linear q, Linear k, Linear v, Linear o, int ctxExp) {
    /** Exponent of the int32 scores, {@code eQ + eK}. */
    public int scoreExp() {
        return q.outExp() + k.outExp();
    }
}
